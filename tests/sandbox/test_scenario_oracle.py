"""The answer key is complete and nothing unplanned exists: an independent oracle agrees with it exactly."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tieout.sandbox.metronome.wire import parse_time
from tieout.sandbox.scenario.generate import generate

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scenario_oracle import answer_findings, cross_system_findings, fresh_states, missing_records


@pytest.mark.parametrize("seed", [42, 1, 2, 3, 4, 5])
def test_oracle_findings_equal_the_answer_key(seed: int) -> None:
    states = fresh_states()
    key = generate(states, seed=seed)

    found = cross_system_findings(states)
    expected = answer_findings(key)

    assert sorted(found - expected) == [], "disagreements the answer key does not list"
    assert sorted(expected - found) == [], "planted defects the oracle cannot see"
    assert missing_records(states, key) == []


def test_the_oracle_sees_what_was_not_planned() -> None:
    states = fresh_states()
    key = generate(states, seed=3)
    planted = answer_findings(key)
    named = str(key["defects"])
    sf, st, ns, mt = states.salesforce, states.stripe, states.netsuite, states.metronome
    healthy = next(a for a in sf.tables["Account"].values() if a["Id"] not in named)
    sf.update("Account", healthy["Id"], {"Subsidiary__c": "Nowhere Ltd"})
    stray = st.create_invoice(healthy["Stripe_Customer_Id__c"], lines=[{"amount": 1000}])
    uk = ns.db.execute("SELECT id FROM subsidiary WHERE name = 'Tieout Demo Ltd'").fetchone()[0]
    receivables, tax = (
        ns.db.execute(
            "SELECT id FROM account WHERE subsidiary = ? AND sspecacct = ?", (uk, special)
        ).fetchone()[0]
        for special in ("AcctRec", "SalesTaxPay")
    )
    journal = ns.create_journal_entry(
        uk, [{"account": receivables, "debit": 10.0}, {"account": tax, "credit": 10.0}]
    )
    metered = next(
        invoice
        for invoice in mt.invoices.values()
        if invoice["id"] not in named
        and mt.customer_events(
            invoice["customer_id"],
            parse_time(invoice["start_timestamp"], "start"),
            parse_time(invoice["end_timestamp"], "end"),
        )
    )
    alias = mt.customers[metered["customer_id"]]["ingest_aliases"][0]
    mt.add_usage_events(
        [
            {
                "transaction_id": "late-usage",
                "customer_id": alias,
                "event_type": "api_calls_thousands",
                "timestamp": metered["start_timestamp"],
                "properties": {"value": 5},
            }
        ]
    )

    extra = cross_system_findings(states) - planted

    ns_customer = ns.db.execute("SELECT id FROM customer WHERE externalid = ?", (healthy["Id"],)).fetchone()[
        0
    ]
    assert extra == {
        (
            "customer_subsidiary_mismatch",
            (("netsuite", (str(ns_customer),)), ("salesforce", (healthy["Id"],))),
        ),
        ("invoice_without_source", (("stripe", (stray["id"],)),)),
        ("ar_control_mismatch", (("netsuite", (str(journal["id"]),)),)),
        ("usage_billed_not_metered", (("metronome", (metered["id"],)),)),
    }

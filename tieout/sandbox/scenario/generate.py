"""Generate a company into the four emulators and return the answer key of what was planted.

`generate()` plans the company (`company`), plants defects (`defects`), writes both into the
Salesforce, Stripe, NetSuite and Metronome states in an order that resolves cross-system ids,
unfreezes the clock and returns the `AnswerKey`:

    {"seed", "scale", "as_of", "generated_at",
     "counts": {system: {stream: records}},
     "defects": [{"defect_id", "kind", "records": {system: [native ids]}, "amount_at_risk",
                  "currency", "fixed_by_sync", "detail"}]}

The same seed and scale on fresh states (built with the same emulator seed and clock) give the
same answer key and the same records, ids included.
"""

from __future__ import annotations

import gc
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.metronome import MetronomeState
from tieout.sandbox.netsuite import NetSuiteState
from tieout.sandbox.salesforce import SalesforceState
from tieout.sandbox.scenario import write_metronome, write_netsuite, write_salesforce, write_stripe
from tieout.sandbox.scenario.company import plan_billing, plan_cash
from tieout.sandbox.scenario.context import Scenario, States
from tieout.sandbox.scenario.defects import DefectPlanner
from tieout.sandbox.scenario.value_maps import value_maps
from tieout.sandbox.stripe import StripeState


@dataclass(frozen=True)
class Scale:
    name: str
    customers: int
    months: int


SCALES = {
    "small": Scale("small", 40, 14),
    "medium": Scale("medium", 1_000, 24),
    "large": Scale("large", 10_000, 42),
}
DEFAULT_SCALE = "small"


def scale_from(text: str | int | Scale) -> Scale:
    """A named scale, or a customer count with the history of the smallest named scale that fits."""
    if isinstance(text, Scale):
        return text
    name = str(text).strip().lower()
    if name in SCALES:
        return SCALES[name]
    try:
        customers = int(name)
    except ValueError:
        raise ValueError(f"unknown scale {text!r}: use {', '.join(SCALES)} or a customer count") from None
    if customers < 1:
        raise ValueError("a scale needs at least one customer")
    fitting = [scale for scale in SCALES.values() if scale.customers >= customers]
    months = min(fitting, key=lambda s: s.customers).months if fitting else SCALES["large"].months
    return Scale(str(customers), customers, months)


class HasStates(Protocol):
    """A Sandbox, or a `States`: the four emulator states on one clock."""

    @property
    def clock(self) -> SandboxClock: ...
    @property
    def salesforce(self) -> SalesforceState: ...
    @property
    def metronome(self) -> MetronomeState: ...
    @property
    def stripe(self) -> StripeState: ...
    @property
    def netsuite(self) -> NetSuiteState: ...


class AnswerKey(dict[str, Any]):
    """The answer key: every planted defect with its records, and what was generated."""

    @property
    def defects(self) -> list[dict[str, Any]]:
        return list(self["defects"])

    def write_answer_key(self, path: str | Path) -> Path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self, indent=2, sort_keys=True) + "\n")
        return target


def generate(
    sandbox_or_states: HasStates,
    *,
    seed: int,
    scale: str | int | Scale = DEFAULT_SCALE,
    defect_rate: float = 0.01,
    as_of: datetime | None = None,
) -> AnswerKey:
    """Plan, plant and write a company into the emulators; returns the answer key."""
    chosen = scale_from(scale)
    clock = sandbox_or_states.clock
    started = clock.now()
    as_of = (as_of or started).replace(minute=0, second=0, microsecond=0)
    states = States(
        clock=clock,
        salesforce=sandbox_or_states.salesforce,
        metronome=sandbox_or_states.metronome,
        stripe=sandbox_or_states.stripe,
        netsuite=sandbox_or_states.netsuite,
    )
    company = plan_billing(seed=seed, customers=chosen.customers, months=chosen.months, as_of=as_of)
    planner = DefectPlanner(company, rate=defect_rate, seed=seed)
    planner.plant_billing()
    plan_cash(company)
    planner.plant_cash()
    scenario = Scenario(company, planner.plan, states)
    # Millions of records and no reference cycles among them: collections would only rescan them.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _write(scenario)
    finally:
        clock.unfreeze()
        if collecting:
            gc.enable()
    unrecorded = [defect.kind.value for defect in planner.plan.defects if not defect.records]
    if unrecorded:
        raise RuntimeError(f"defects planned but not written: {', '.join(unrecorded)}")
    return AnswerKey(
        seed=seed,
        scale=chosen.name,
        as_of=as_of.isoformat(),
        generated_at=started.replace(microsecond=0).isoformat(),
        counts=record_counts(states),
        defects=planner.plan.answer_key(),
        value_maps=value_maps(scenario.ids),
    )


def _write(scenario: Scenario) -> None:
    write_salesforce.write_catalog(scenario)
    write_salesforce.write_accounts(scenario)
    write_stripe.write_customers(scenario)
    write_stripe.write_tax_rates(scenario)
    write_netsuite.write_master_data(scenario)
    write_netsuite.write_customers(scenario)
    write_metronome.write_catalog(scenario)
    write_metronome.write_customers(scenario)
    write_metronome.write_invoices(scenario)
    write_metronome.write_usage(scenario)
    write_stripe.write_invoices(scenario)
    write_netsuite.write_invoices(scenario)
    write_salesforce.link_accounts(scenario)
    write_stripe.link_records(scenario)
    write_stripe.write_payments(scenario)
    write_netsuite.write_payments(scenario)
    write_stripe.write_refunds(scenario)
    write_netsuite.write_refunds(scenario)
    write_stripe.write_payouts(scenario)
    write_netsuite.write_deposits(scenario)
    write_netsuite.write_journal_entries(scenario)
    write_metronome.link_invoices(scenario)


_NETSUITE_TYPES = {
    "CustInvc": "invoice",
    "CustPymt": "customerpayment",
    "CustCred": "creditmemo",
    "CustRfnd": "customerrefund",
    "Deposit": "deposit",
    "Journal": "journalentry",
}


def record_counts(states: States) -> dict[str, dict[str, int]]:
    """Records per system and stream, as the emulators hold them."""
    salesforce = {
        name: sum(1 for record in states.salesforce.tables[name].values() if not record["IsDeleted"])
        for name in ("Account", "Opportunity", "OpportunityLineItem", "Product2", "PricebookEntry")
    }
    mt = states.metronome
    metronome = {
        "customers": len(mt.customers),
        "contracts": len(mt.contracts),
        "invoices": len(mt.invoices),
        "usage_events": sum(len(events) for events in mt.events_by_key.values()),
        "billable_metrics": len(mt.metrics),
        "products": len(mt.products),
        "rate_cards": len(mt.rate_cards),
    }
    stripe = {
        name: len(states.stripe.tables[name])
        for name in (
            "customer",
            "invoice",
            "charge",
            "refund",
            "credit_note",
            "payout",
            "balance_transaction",
        )
    }
    with states.netsuite.lock:
        db = states.netsuite.db
        netsuite = {
            "customer": int(db.execute("SELECT COUNT(*) FROM customer").fetchone()[0]),
            "item": int(db.execute("SELECT COUNT(*) FROM item").fetchone()[0]),
        }
        rows = db.execute('SELECT type, COUNT(*) FROM "transaction" GROUP BY type').fetchall()
        found = {str(row[0]): int(row[1]) for row in rows}
    netsuite.update({name: found.get(code, 0) for code, name in _NETSUITE_TYPES.items()})
    return {"salesforce": salesforce, "metronome": metronome, "stripe": stripe, "netsuite": netsuite}

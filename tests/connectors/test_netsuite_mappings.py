"""Golden tests of the NetSuite mappings, on payloads pulled from the emulator, and of the reverse builders."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from netsuite_connector_fixtures import Account, running_account, tick

from tieout.connectors.netsuite import NetSuiteConnector
from tieout.errors import MappingError
from tieout.mappings import netsuite as mappings
from tieout.mappings.context import MappingContext
from tieout.model import InvoiceStatus, PaymentStatus
from tieout.money import Money

MAPPERS = {spec.name: spec.mapper for spec in NetSuiteConnector.streams}


@pytest.fixture(scope="module")
def golden() -> Iterator[tuple[Account, dict[str, dict[str, Any]]]]:
    """One of each document, pulled back through the connector: payloads keyed by externalId (or name)."""
    with running_account() as acct:
        state, ids = acct.state, acct.ids
        state.create_invoice(
            ids["kaisha"],
            [{"item": ids["item"], "quantity": 3, "rate": 1500}],
            tax_total=450,
            external_id="metronome-jpy",
        )
        tick(acct)
        multi = state.create_invoice(
            ids["acme"],
            [
                {"item": ids["item"], "quantity": 2, "rate": 49.99},
                {"item": ids["item2"], "amount": 10.0, "description": "Seats"},
                {"item": ids["item"], "amount": -15.0, "description": "Loyalty credit"},
            ],
            tax_total=7.25,
            external_id="metronome-multi",
            start_date=date(2024, 2, 1),
            end_date=date(2024, 2, 29),
        )
        state.create_invoice(
            ids["acme"],
            [{"item": ids["item"], "amount": 80}],
            currency_id=ids["eur"],
            external_id="in_1StripeEur",
        )
        tick(acct)
        payment = state.create_customer_payment(
            ids["acme"], amount=60, applies=[(int(multi["id"]), 50)], external_id="ch_1Golden"
        )
        state.create_credit_memo(
            ids["acme"],
            [{"item": ids["item"], "amount": 20}],
            applies=[(int(multi["id"]), 20)],
            external_id="cn_1Golden",
        )
        state.create_customer_refund(
            ids["acme"],
            account_id=ids["us_bank"],
            applies=[(int(payment["id"]), 10)],
            external_id="re_1Golden",
        )
        tick(acct)
        state.create_deposit(
            ids["us_bank"],
            payment_ids=[int(payment["id"])],
            cashback=[{"account": ids["us_fees"], "amount": 1.8, "memo": "Stripe fees"}],
            external_id="po_1Golden",
        )
        state.create_journal_entry(
            ids["us"],
            [
                {"account": ids["us_fees"], "debit": 5, "memo": "fee"},
                {"account": ids["us_bank"], "credit": 5},
            ],
            external_id="txn_1Golden",
        )
        tick(acct)
        connector = acct.connector()
        payloads: dict[str, dict[str, Any]] = {}
        for stream in MAPPERS:
            for page in connector.pull(stream):
                for record in page.records:
                    key = (
                        record.payload.get("externalid")
                        or record.payload.get("companyname")
                        or record.source_id
                    )
                    payloads[f"{stream}:{key}"] = record.payload
        connector.close()
        yield acct, payloads


def mapped(golden: tuple[Account, dict[str, dict[str, Any]]], key: str) -> Any:
    stream = key.split(":", 1)[0]
    return MAPPERS[stream](golden[1][key], MappingContext(system="netsuite", stream=stream))


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


GOLDEN = [
    (
        "invoices:metronome-jpy",
        {
            "currency": "JPY",
            "total": Money.of("4950", "JPY"),
            "tax": Money.of("450", "JPY"),
            "subtotal": Money.of("4500", "JPY"),
            "status": InvoiceStatus.OPEN,
            "links": {"metronome": "metronome-jpy"},
            "subsidiary_id": "2",
        },
    ),
    (
        "invoices:metronome-multi",
        {
            "total": usd("102.23"),
            "tax": usd("7.25"),
            "subtotal": usd("94.98"),
            "amount_paid": usd("70"),
            "amount_remaining": usd("32.23"),
            "period_start": date(2024, 2, 1),
            "period_end": date(2024, 2, 29),
            "due_on": date(2024, 3, 31),
        },
    ),
    (
        "invoices:in_1StripeEur",
        {"currency": "EUR", "total": Money.of("80", "EUR"), "links": {"stripe": "in_1StripeEur"}},
    ),
    (
        "payments:ch_1Golden",
        {
            "gross": usd("60"),
            "unapplied": usd("0"),
            "status": PaymentStatus.SUCCEEDED,
            "links": {"stripe": "ch_1Golden"},
            "customer_id": "1",
        },
    ),
    ("credit_memos:cn_1Golden", {"amount": usd("20"), "links": {"stripe": "cn_1Golden"}, "customer_id": "1"}),
    ("refunds:re_1Golden", {"amount": usd("10"), "links": {"stripe": "re_1Golden"}, "status": "succeeded"}),
    (
        "deposits:po_1Golden",
        {"amount": usd("58.2"), "fees": usd("1.8"), "links": {"stripe": "po_1Golden"}, "subsidiary_id": "1"},
    ),
    ("journal_entries:txn_1Golden", {"currency": "USD", "subsidiary_id": "1"}),
    (
        "customers:001A000001AcmeAAA",
        {
            "legal_name": "Acme Corp",
            "links": {"salesforce": "001A000001AcmeAAA"},
            "payment_terms_days": 30,
            "email": "ap@acme.test",
            "currency": "USD",
        },
    ),
    (
        "customers:Kaisha KK",
        {
            "legal_name": "Kaisha KK",
            "links": {},
            "payment_terms_days": None,
            "email": None,
            "currency": "JPY",
        },
    ),
]


@pytest.mark.parametrize(("key", "expected"), GOLDEN, ids=[case[0] for case in GOLDEN])
def test_golden_records(
    golden: tuple[Account, dict[str, dict[str, Any]]], key: str, expected: dict[str, Any]
) -> None:
    record = mapped(golden, key)
    assert record.updated_at is not None and record.updated_at.tzinfo is not None
    for name, value in expected.items():
        assert getattr(record, name) == value, name


def test_multi_line_invoice_keeps_the_negative_credit_line(
    golden: tuple[Account, dict[str, dict[str, Any]]],
) -> None:
    invoice = mapped(golden, "invoices:metronome-multi")
    lines = [
        (line.product_id, line.quantity, line.unit_price, line.amount, line.description)
        for line in invoice.lines
    ]
    assert lines == [
        ("SKU-PLATFORM", Decimal(2), usd("49.99"), usd("99.98"), "SKU-PLATFORM"),
        ("SKU-SEATS", None, None, usd("10"), "Seats"),
        ("SKU-PLATFORM", None, None, usd("-15"), "Loyalty credit"),
    ]


def test_cash_documents_name_what_they_apply_to(golden: tuple[Account, dict[str, dict[str, Any]]]) -> None:
    payloads = golden[1]
    invoice_id = payloads["invoices:metronome-multi"]["id"]
    payment = mapped(golden, "payments:ch_1Golden")
    deposit = mapped(golden, "deposits:po_1Golden")
    assert [(a.invoice_id, a.amount) for a in payment.applications] == [(invoice_id, usd("50"))]
    assert payment.payout_id == deposit.native_id
    assert deposit.payment_ids == (payment.native_id,)
    assert mapped(golden, "credit_memos:cn_1Golden").invoice_id == invoice_id
    assert mapped(golden, "refunds:re_1Golden").payment_id == payment.native_id


def test_journal_entry_lines_balance_with_accounts(golden: tuple[Account, dict[str, dict[str, Any]]]) -> None:
    acct = golden[0]
    entry = mapped(golden, "journal_entries:txn_1Golden")
    assert [(line.account_id, line.debit, line.credit) for line in entry.lines] == [
        (str(acct.ids["us_fees"]), usd("5"), None),
        (str(acct.ids["us_bank"]), None, usd("5")),
    ]


def test_ar_balance_per_account_and_subsidiary(golden: tuple[Account, dict[str, dict[str, Any]]]) -> None:
    balances = {key: value for key, value in golden[1].items() if key.startswith("ar_balances:")}
    records = [mapped(golden, key) for key in balances]
    by_sub = {record.subsidiary_id: record for record in records}
    # US: 102.23 + 80 EUR x 1.08 - 60 paid - 20 credited + 10 refunded = 118.63 (base USD)
    assert by_sub["1"].balance == usd("118.63")
    assert by_sub["2"].balance == Money.of("4950", "JPY")
    assert by_sub["1"].native_id.startswith("1200-1|sub-1|USD|")


MALFORMED = [
    ("invoices:metronome-multi", {"foreigntotal": "12,x"}, "foreigntotal"),
    ("invoices:metronome-multi", {"currencycode": "ZZZ"}, "currencycode"),
    ("invoices:metronome-multi", {"status": "Q"}, "status"),
    ("invoices:metronome-multi", {"entity": None}, "entity"),
    ("payments:ch_1Golden", {"trandate": "03/01/2024"}, "trandate"),
    ("deposits:po_1Golden", {"lines": [{"foreignamount": "n/a"}]}, "lines[0].foreignamount"),
    (
        "journal_entries:txn_1Golden",
        {"lines": [{"id": "0", "account": "x1", "foreignamount": "5"}]},
        "lines[0].account",
    ),
]


@pytest.mark.parametrize(("key", "change", "path"), MALFORMED, ids=[case[2] for case in MALFORMED])
def test_malformed_payloads_name_the_field(
    golden: tuple[Account, dict[str, dict[str, Any]]], key: str, change: dict[str, Any], path: str
) -> None:
    stream = key.split(":", 1)[0]
    payload = {**golden[1][key], **change}
    payload = {name: value for name, value in payload.items() if value is not None}
    with pytest.raises(MappingError) as raised:
        MAPPERS[stream](payload, MappingContext(system="netsuite", stream=stream))
    assert raised.value.field_path == path


def test_lines_of_an_invoice_missing_amount_name_the_line() -> None:
    payload = {
        "id": "9",
        "entity": "1",
        "currencycode": "USD",
        "status": "A",
        "foreigntotal": "10",
        "lines": [{"id": "1", "item": "1", "foreignamount": "-10"}, {"id": "2", "item": "1"}],
    }
    with pytest.raises(MappingError) as raised:
        mappings.map_invoice(payload, MappingContext(system="netsuite", stream="invoices"))
    assert raised.value.field_path == "lines[1].foreignamount"

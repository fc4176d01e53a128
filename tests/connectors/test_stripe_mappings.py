"""Golden tests of the Stripe mappings on payloads as the emulator serves them through the connector.

A small account is seeded (USD with an exclusive tax rate, JPY, a negative credit line, more
lines than Stripe embeds, a bare draft with no optional fields, invoice-level tax, a refund, a
credit note, an automatic payout), every stream is pulled once, and each case names the object
and the canonical values it must map to. Malformed payloads are the same payloads with one
field broken, and must fail naming that field's path.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from stripe_connector_fixtures import START, Emulator, running

from tieout.errors import MappingError
from tieout.mappings.context import MappingContext
from tieout.mappings.stripe import (
    map_charge,
    map_credit_note,
    map_customer,
    map_invoice,
    map_payout,
    map_refund,
    stripe_exponent,
)
from tieout.model import CanonicalRecord, InvoiceStatus, PaymentMethod, PaymentStatus
from tieout.money import Money
from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.stripe import StripeState

Payloads = dict[str, dict[str, Any]]
MAPPERS: dict[str, Callable[..., CanonicalRecord]] = {
    "customers": map_customer,
    "invoices": map_invoice,
    "charges": map_charge,
    "refunds": map_refund,
    "credit_notes": map_credit_note,
    "payouts": map_payout,
}


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def jpy(amount: int) -> Money:
    return Money(amount=Decimal(amount), currency="JPY")


def seed_golden(state: StripeState, clock: SandboxClock) -> dict[str, str]:
    """The objects the cases name, by name."""
    names: dict[str, str] = {}
    vat = state.create_tax_rate("VAT", 20.0)["id"]
    acme = state.create_customer(
        name="Acme GmbH",
        email="ap@acme.example",
        currency="usd",
        metadata={
            "salesforce_account_id": "001ACME",
            "metronome_customer_id": "m-acme",
            "netsuite_customer_id": "77",
        },
    )
    names["acme"] = acme["id"]
    taxed = state.create_invoice(
        acme["id"],
        collection_method="send_invoice",
        days_until_due=30,
        lines=[
            {
                "amount": 10000,
                "description": "API calls",
                "metadata": {"sku": "API-CALLS"},
                "tax_rate_ids": [vat],
            },
            {"amount": 2500, "description": "Support"},
        ],
        metadata={"metronome_invoice_id": "m-inv-1", "netsuite_invoice_id": "ns-501"},
    )
    names["taxed"] = taxed["id"]
    state.finalize_invoice(taxed["id"])
    names["usd_charge"] = state.pay_invoice(taxed["id"])["charge"]
    names["refund"] = state.create_refund(
        charge_id=names["usd_charge"], amount=3000, reason="requested_by_customer"
    )["id"]
    names["credit_note"] = state.create_credit_note(
        taxed["id"], amount=2000, refund_amount=2000, reason="order_change"
    )["id"]

    clock.freeze(START + timedelta(hours=1))
    tokyo = state.create_customer(name="Tokyo KK", currency="jpy")
    names["tokyo"] = tokyo["id"]
    yen = state.create_invoice(tokyo["id"], lines=[{"amount": 1500}, {"amount": 2500}])
    names["jpy"] = yen["id"]
    names["jpy_charge"] = state.pay_invoice(yen["id"])["charge"]

    clock.freeze(START + timedelta(hours=2))
    credit = state.create_invoice(
        acme["id"],
        collection_method="send_invoice",
        days_until_due=14,
        lines=[
            {"amount": 10000, "description": "Platform"},
            {"amount": -1500, "description": "Applied credit"},
        ],
    )
    names["credit"] = credit["id"]
    state.finalize_invoice(credit["id"])
    long = state.create_invoice(acme["id"], lines=[{"amount": 100 * (n + 1)} for n in range(12)])
    names["long"] = long["id"]
    seeded_tax = state.create_invoice(acme["id"], lines=[{"amount": 1000}], tax=250)
    names["seeded_tax"] = seeded_tax["id"]
    state.finalize_invoice(seeded_tax["id"])

    clock.freeze(START + timedelta(hours=3))
    bare = state.create_customer(email="someone@example.com")
    names["bare"] = bare["id"]
    names["draft"] = state.create_invoice(bare["id"], currency="usd", lines=[{"amount": 700}])["id"]

    clock.freeze(START + timedelta(days=4))
    names["payout"] = state.create_payout("usd", status="paid")["id"]
    return names


@pytest.fixture(scope="module")
def golden() -> Iterator[tuple[dict[str, str], Payloads]]:
    clock = SandboxClock(START)
    state = StripeState(clock, seed=3)
    names = seed_golden(state, clock)
    with running(state, clock) as emulator:
        yield names, pull_everything(emulator)


def pull_everything(emulator: Emulator) -> Payloads:
    connector = emulator.connector(page_size=100)
    try:
        return {
            record.source_id: record.payload
            for stream in MAPPERS
            for page in connector.pull(stream)
            for record in page.records
        }
    finally:
        connector.close()


def mapped(golden: tuple[dict[str, str], Payloads], stream: str, name: str) -> Any:
    names, payloads = golden
    return MAPPERS[stream](payloads[names[name]], MappingContext(system="stripe", stream=stream))


def value_at(record: Any, path: str) -> Any:
    value = record
    for part in path.replace("]", "").replace("[", ".").split("."):
        value = value[int(part)] if part.isdigit() else getattr(value, part)
    return value


DUE = (START + timedelta(days=30)).date()
CASES = [
    pytest.param(
        "customers",
        "acme",
        {
            "legal_name": "Acme GmbH",
            "currency": "USD",
            "email": "ap@acme.example",
            "links": {"salesforce": "001ACME", "metronome": "m-acme", "netsuite": "77"},
            "is_active": True,
        },
        id="customer-with-links",
    ),
    pytest.param(
        "customers",
        "bare",
        {"legal_name": "someone@example.com", "currency": None, "links": {}, "billing_address": None},
        id="customer-missing-optional-fields",
    ),
    pytest.param(
        "invoices",
        "taxed",
        {
            "status": InvoiceStatus.PAID,
            "currency": "USD",
            "subtotal": usd("125.00"),
            "tax": usd("20.00"),
            "total": usd("145.00"),
            "amount_paid": usd("145.00"),
            "amount_remaining": usd("0.00"),
            "issued_on": START.date(),
            "due_on": DUE,
            "links": {"metronome": "m-inv-1", "netsuite": "ns-501"},
            "lines.0.product_id": "API-CALLS",
            "lines.0.amount": usd("100.00"),
            "lines.0.tax": usd("20.00"),
            "lines.0.quantity": Decimal(1),
            "lines.1.description": "Support",
            "lines.1.tax": None,
            "lines.1.product_id": None,
        },
        id="invoice-tax-rate-multi-line",
    ),
    pytest.param(
        "invoices",
        "jpy",
        {
            "currency": "JPY",
            "total": jpy(4000),
            "subtotal": jpy(4000),
            "tax": jpy(0),
            "lines.0.amount": jpy(1500),
            "lines.1.unit_price": jpy(2500),
            "status": InvoiceStatus.PAID,
        },
        id="invoice-jpy",
    ),
    pytest.param(
        "invoices",
        "credit",
        {
            "status": InvoiceStatus.OPEN,
            "subtotal": usd("85.00"),
            "total": usd("85.00"),
            "amount_due": usd("85.00"),
            "amount_remaining": usd("85.00"),
            "lines.1.amount": usd("-15.00"),
            "lines.1.description": "Applied credit",
            "due_on": START.date() + timedelta(days=14),
        },
        id="invoice-negative-credit-line",
    ),
    pytest.param(
        "invoices",
        "seeded_tax",
        {"subtotal": usd("10.00"), "tax": usd("2.50"), "total": usd("12.50"), "amount_due": usd("12.50")},
        id="invoice-level-tax",
    ),
    pytest.param(
        "invoices",
        "draft",
        {
            "status": InvoiceStatus.DRAFT,
            "number": None,
            "issued_on": None,
            "due_on": None,
            "links": {},
            "total": usd("7.00"),
            "lines.0.description": "line 1",
        },
        id="invoice-draft-missing-optional-fields",
    ),
    pytest.param(
        "charges",
        "usd_charge",
        {
            "gross": usd("145.00"),
            "fee": usd("4.51"),
            "net": usd("140.49"),
            "method": PaymentMethod.CARD,
            "status": PaymentStatus.PARTIALLY_REFUNDED,
            "applications.0.amount": usd("145.00"),
        },
        id="charge-fee-net-from-balance-transaction",
    ),
    pytest.param(
        "charges",
        "jpy_charge",
        {"gross": jpy(4000), "fee": jpy(116), "net": jpy(3884), "status": PaymentStatus.SUCCEEDED},
        id="charge-jpy",
    ),
    pytest.param(
        "refunds",
        "refund",
        {"amount": usd("30.00"), "status": "succeeded", "reason": "requested_by_customer"},
        id="refund",
    ),
    pytest.param(
        "credit_notes",
        "credit_note",
        {"amount": usd("20.00"), "reason": "order_change", "issued_on": START.date()},
        id="credit-note",
    ),
    pytest.param(
        "payouts",
        "payout",
        # 145.00 - 4.51 fee, less the 30.00 refund and the 20.00 credit note refund.
        {"amount": usd("90.49"), "fees": usd("4.51"), "status": "paid", "arrival_on": date(2026, 3, 7)},
        id="payout-composition",
    ),
]


@pytest.mark.parametrize(("stream", "name", "expected"), CASES)
def test_golden(
    golden: tuple[dict[str, str], Payloads], stream: str, name: str, expected: dict[str, Any]
) -> None:
    record = mapped(golden, stream, name)
    assert record.native_id == golden[0][name]
    for path, value in expected.items():
        assert value_at(record, path) == value, path


def test_cross_references(golden: tuple[dict[str, str], Payloads]) -> None:
    names = golden[0]
    charge = mapped(golden, "charges", "usd_charge")
    assert charge.customer_id == names["acme"]
    assert charge.applications[0].invoice_id == names["taxed"]
    assert charge.reference is not None and charge.reference.startswith("Invoice ")
    refund = mapped(golden, "refunds", "refund")
    assert (refund.payment_id, refund.customer_id) == (names["usd_charge"], names["acme"])
    note = mapped(golden, "credit_notes", "credit_note")
    assert (note.invoice_id, note.customer_id) == (names["taxed"], names["acme"])
    payout = mapped(golden, "payouts", "payout")
    assert payout.payment_ids == (names["usd_charge"],)


def test_lines_past_the_embedded_page_are_all_mapped_in_order(
    golden: tuple[dict[str, str], Payloads],
) -> None:
    names, payloads = golden
    payload = payloads[names["long"]]
    assert payload["lines"]["has_more"] is True and len(payload["lines"]["data"]) == 10
    invoice = mapped(golden, "invoices", "long")
    assert [line.amount for line in invoice.lines] == [usd(f"{n}.00") for n in range(1, 13)]
    assert len({line.line_id for line in invoice.lines}) == 12


def _break(payload: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(payload)
    node: Any = broken
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last = parts[-1]
    if value is _DROP:
        del node[last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return broken


_DROP = object()
MALFORMED = [
    pytest.param("invoices", "taxed", "total", "145.00", "total", id="amount-as-string"),
    pytest.param(
        "invoices",
        "taxed",
        "lines.data.1.amount_excluding_tax",
        25.0,
        "lines.data[1].amount_excluding_tax",
        id="line-amount-float",
    ),
    pytest.param("invoices", "taxed", "currency", "xyz", "currency", id="unknown-currency"),
    pytest.param("invoices", "taxed", "status", "pending", "status", id="unknown-status"),
    pytest.param(
        "invoices", "long", "tieout_lookups.more_lines", _DROP, "lines.has_more", id="missing-more-lines"
    ),
    pytest.param(
        "invoices",
        "long",
        "tieout_lookups.more_lines.0.id",
        None,
        "tieout_lookups.more_lines[0].id",
        id="more-line-id",
    ),
    pytest.param("invoices", "draft", "customer", _DROP, "customer", id="missing-customer"),
    pytest.param(
        "charges", "usd_charge", "balance_transaction.fee", _DROP, "balance_transaction.fee", id="fee-missing"
    ),
    pytest.param("charges", "usd_charge", "created", "2026-03-01", "created", id="created-as-string"),
    pytest.param("refunds", "refund", "amount", None, "amount", id="refund-amount-null"),
    pytest.param("credit_notes", "credit_note", "total", -2000, "total", id="negative-credit-note"),
    pytest.param(
        "payouts",
        "payout",
        "tieout_lookups.balance_transactions.1.fee",  # [0] is the payout's own transaction
        "451",
        "tieout_lookups.balance_transactions[1].fee",
        id="swept-fee-as-string",
    ),
    pytest.param("customers", "bare", "email", _DROP, "name", id="customer-without-any-name"),
]


@pytest.mark.parametrize(("stream", "name", "path", "value", "field_path"), MALFORMED)
def test_malformed_payloads_name_their_field(
    golden: tuple[dict[str, str], Payloads], stream: str, name: str, path: str, value: Any, field_path: str
) -> None:
    names, payloads = golden
    broken = _break(payloads[names[name]], path, value)
    with pytest.raises(MappingError) as caught:
        MAPPERS[stream](broken, MappingContext(system="stripe", stream=stream))
    assert caught.value.field_path == field_path


@pytest.mark.parametrize(
    ("currency", "exponent", "minor", "major"),
    [
        ("USD", 2, 1050, "10.50"),
        ("JPY", 0, 500, "500"),
        ("KWD", 3, 5120, "5.120"),
        ("ISK", 2, 50000, "500.00"),  # zero-decimal in ISO, two-decimal in Stripe's API
        ("MGA", 0, 3000, "3000"),  # two-decimal in ISO, zero-decimal in Stripe's API
        ("UGX", 0, 7000, "7000"),
        ("HUF", 2, 100000, "1000.00"),
        ("TWD", 2, 1000, "10.00"),
    ],
)
def test_stripe_exponent_table(currency: str, exponent: int, minor: int, major: str) -> None:
    payload = {
        "id": "re_x",
        "amount": minor,
        "currency": currency.lower(),
        "status": "succeeded",
        "created": 1,
    }
    refund = map_refund(payload, MappingContext(system="stripe", stream="refunds"))
    assert stripe_exponent(currency) == exponent
    assert refund.amount == Money(amount=Decimal(major), currency=currency)


def test_a_deleted_customer_answer_maps_to_a_deleted_inactive_customer() -> None:
    payload = {"id": "cus_gone", "object": "customer", "deleted": True}
    customer = map_customer(payload, MappingContext(system="stripe", stream="customers"))
    assert (customer.deleted, customer.is_active, customer.updated_at) == (True, False, None)

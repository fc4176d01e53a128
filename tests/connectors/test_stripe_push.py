"""Stripe pushes against the emulator: customers, resumable invoices, void and pay out of band.

The invoice push is crashed between its steps (the step after the one under test raises) and
pushed again with the same key: the emulator must end with exactly one invoice and one set of
invoice items, also once Stripe has forgotten the idempotency keys (24 hours later).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from stripe_connector_fixtures import START, Emulator, running

from tieout.connectors.stripe import StripeConnector
from tieout.connectors.stripe.pushes import InvoicePush, step_key
from tieout.errors import ConflictError, ConnectorError, MappingError, PushRejected
from tieout.mappings.context import MappingContext
from tieout.mappings.stripe import (
    customer_payload,
    invoice_payload,
    map_customer,
    map_invoice,
    pay_out_of_band_payload,
    void_payload,
)
from tieout.model import Customer, Invoice, InvoiceLine, InvoiceStatus
from tieout.money import Money
from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.stripe import StripeState

KEY = "tieout-0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def clock() -> SandboxClock:
    return SandboxClock(START)


@pytest.fixture
def state(clock: SandboxClock) -> StripeState:
    return StripeState(clock, seed=9)


@pytest.fixture
def emulator(state: StripeState, clock: SandboxClock) -> Iterator[Emulator]:
    with running(state, clock) as emulator:
        yield emulator


@pytest.fixture
def connector(emulator: Emulator) -> Iterator[StripeConnector]:
    connector = emulator.connector()
    yield connector
    connector.close()


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def metronome_invoice(lines: int = 3) -> Invoice:
    return Invoice(
        system="metronome",
        native_id="0f1e2d3c-aaaa-bbbb-cccc-000000000001",
        links={"netsuite": "ns-900"},
        customer_id="m-cus-1",
        currency="USD",
        status=InvoiceStatus.OPEN,
        issued_on=date(2026, 3, 1),
        due_on=date(2026, 3, 31),
        subtotal=usd("60.00"),
        tax=usd("0"),
        total=usd("60.00"),
        amount_due=usd("60.00"),
        amount_paid=usd("0"),
        amount_remaining=usd("60.00"),
        lines=tuple(
            InvoiceLine(
                line_id=f"l{n}",
                description=f"Line {n}",
                product_id=f"SKU-{n}",
                amount=usd(f"{10 * (n + 1)}.00") if n < 2 else usd("-5.00"),
                period_start=date(2026, 2, 1),
                period_end=date(2026, 2, 28),
            )
            for n in range(lines)
        ),
    )


def table_sizes(state: StripeState) -> tuple[int, int]:
    with state.lock:
        return len(state.tables["invoice"]), len(state.tables["invoiceitem"])


def new_customer(state: StripeState) -> str:
    return str(state.create_customer(name="Payer Inc", currency="usd")["id"])


class Crash(Exception):
    """Stands for the process dying between two steps of a push."""


def test_customer_push_carries_the_crosswalk_and_replays(
    connector: StripeConnector, state: StripeState
) -> None:
    customer = Customer(
        system="salesforce",
        native_id="001SF000000000001",
        links={"netsuite": "1234"},
        legal_name="Globex Corp",
        email="ap@globex.example",
    )
    payload = customer_payload(customer, {"metronome": "m-cus-77"})
    assert payload == {
        "name": "Globex Corp",
        "email": "ap@globex.example",
        "metadata": {
            "salesforce_account_id": "001SF000000000001",
            "metronome_customer_id": "m-cus-77",
            "netsuite_customer_id": "1234",
        },
    }
    first = connector.push("customers", payload, idempotency_key=KEY)
    again = connector.push("customers", payload, idempotency_key=KEY)
    assert (first.operation, again.operation) == ("created", "unchanged")
    assert first.target_id == again.target_id
    assert len(state.tables["customer"]) == 1
    pulled = [r for page in connector.pull("customers") for r in page.records]
    mapped = map_customer(pulled[0].payload, MappingContext("stripe", "customers"))
    assert mapped.links == {"salesforce": "001SF000000000001", "metronome": "m-cus-77", "netsuite": "1234"}


def test_invoice_push_creates_items_invoice_and_finalizes(
    connector: StripeConnector, state: StripeState
) -> None:
    customer_id = new_customer(state)
    payload = invoice_payload(metronome_invoice(), stripe_customer_id=customer_id)
    result = connector.push("invoices", payload, idempotency_key=KEY)
    assert result.operation == "created"
    assert table_sizes(state) == (1, 3)
    pulled = [r for page in connector.pull("invoices") for r in page.records]
    invoice = map_invoice(pulled[0].payload, MappingContext("stripe", "invoices"))
    assert invoice.native_id == result.target_id
    assert invoice.status is InvoiceStatus.OPEN and invoice.number is not None
    assert invoice.links == {"metronome": "0f1e2d3c-aaaa-bbbb-cccc-000000000001", "netsuite": "ns-900"}
    assert invoice.total == usd("25.00")
    assert [line.product_id for line in invoice.lines] == ["SKU-0", "SKU-1", "SKU-2"]
    assert [line.amount for line in invoice.lines] == [usd("10.00"), usd("20.00"), usd("-5.00")]
    assert {(line.period_start, line.period_end) for line in invoice.lines} == {
        (date(2026, 2, 1), date(2026, 2, 28))
    }
    assert invoice.issued_on is not None and invoice.due_on == invoice.issued_on + timedelta(days=30)
    again = connector.push("invoices", payload, idempotency_key=KEY)
    assert (again.operation, again.target_id) == ("unchanged", result.target_id)
    assert table_sizes(state) == (1, 3)


def test_a_crash_after_the_items_resumes_into_the_same_invoice(
    connector: StripeConnector, state: StripeState, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_id = new_customer(state)
    payload = invoice_payload(metronome_invoice(), stripe_customer_id=customer_id)

    def crash(self: InvoicePush, invoice_id: str) -> dict[str, Any]:
        raise Crash(invoice_id)

    with monkeypatch.context() as patch:
        patch.setattr(InvoicePush, "_finalize", crash)
        with pytest.raises(Crash):
            connector.push("invoices", payload, idempotency_key=KEY)
    assert table_sizes(state) == (1, 3)
    draft = next(iter(state.tables["invoice"].records.values()))
    assert draft["status"] == "draft"

    result = connector.push("invoices", payload, idempotency_key=KEY)
    assert result.operation == "updated" and result.target_id == draft["id"]
    assert table_sizes(state) == (1, 3)
    assert draft["status"] == "open"


def test_a_crash_between_items_adds_only_the_missing_ones_even_after_the_keys_expire(
    connector: StripeConnector, state: StripeState, clock: SandboxClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_id = new_customer(state)
    payload = invoice_payload(metronome_invoice(lines=3), stripe_customer_id=customer_id)
    posts: list[str] = []
    real_post = connector.api.post

    def post(path: str, params: Any, *, idempotency_key: str, push: bool = True) -> Any:
        """The connector's POSTs, dying on the third invoice item's."""
        if idempotency_key == step_key(KEY, "item:2"):
            raise Crash(path)
        posts.append(idempotency_key)
        return real_post(path, params, idempotency_key=idempotency_key, push=push)

    with monkeypatch.context() as patch:
        patch.setattr(connector.api, "post", post)
        with pytest.raises(Crash):
            connector.push("invoices", payload, idempotency_key=KEY)
    assert posts == [step_key(KEY, "invoice"), step_key(KEY, "item:0"), step_key(KEY, "item:1")]
    assert table_sizes(state) == (1, 2)

    clock.advance(timedelta(hours=25))  # Stripe keeps idempotency keys for 24 hours
    result = connector.push("invoices", payload, idempotency_key=KEY)
    assert result.operation == "updated"
    assert table_sizes(state) == (1, 3)


def test_the_same_key_with_another_invoice_is_a_conflict(
    connector: StripeConnector, state: StripeState
) -> None:
    customer_id = new_customer(state)
    connector.push(
        "invoices", invoice_payload(metronome_invoice(), stripe_customer_id=customer_id), idempotency_key=KEY
    )
    other = invoice_payload(metronome_invoice(lines=2), stripe_customer_id=customer_id)
    with pytest.raises(ConflictError):
        connector.push("invoices", other, idempotency_key=KEY)
    assert table_sizes(state) == (1, 3)


def test_void_and_pay_out_of_band_are_operations_of_their_own(
    connector: StripeConnector, state: StripeState
) -> None:
    customer_id = new_customer(state)
    first = connector.push(
        "invoices", invoice_payload(metronome_invoice(), stripe_customer_id=customer_id), idempotency_key=KEY
    )
    second = connector.push(
        "invoices",
        invoice_payload(metronome_invoice(lines=1), stripe_customer_id=customer_id),
        idempotency_key=KEY + "b",
    )
    voided = connector.push("invoices", void_payload(first.target_id), idempotency_key=KEY + "-void")
    assert (voided.operation, voided.payload["status"]) == ("updated", "void")
    assert (
        connector.push("invoices", void_payload(first.target_id), idempotency_key=KEY + "-void").operation
        == "unchanged"
    )
    paid = connector.push("invoices", pay_out_of_band_payload(second.target_id), idempotency_key=KEY + "-pay")
    assert paid.payload["status"] == "paid"
    record = state.tables["invoice"].records[second.target_id]
    assert record["paid_out_of_band"] is True and record["charge"] is None
    assert (
        connector.push(
            "invoices", pay_out_of_band_payload(second.target_id), idempotency_key=KEY + "-pay"
        ).operation
        == "unchanged"
    )


def test_a_refused_step_is_push_rejected(connector: StripeConnector, state: StripeState) -> None:
    customer_id = new_customer(state)
    payload = invoice_payload(metronome_invoice(), stripe_customer_id=customer_id)
    with pytest.raises(PushRejected):
        connector.push("invoices", {**payload, "collection_method": "by_carrier_pigeon"}, idempotency_key=KEY)
    with pytest.raises(PushRejected):
        connector.push("invoices", {**payload, "lines": []}, idempotency_key=KEY + "x")
    with pytest.raises(PushRejected):
        connector.push("invoices", {"operation": "refund"}, idempotency_key=KEY + "y")
    with pytest.raises(PushRejected):
        connector.push("customers", {"name": "X", "nickname": "unknown parameter"}, idempotency_key=KEY + "z")
    with pytest.raises(ConnectorError):
        connector.push("charges", {}, idempotency_key=KEY)


def test_a_500_on_a_post_is_retried_with_the_same_key(emulator: Emulator, state: StripeState) -> None:
    keys: list[str | None] = []
    client = httpx.Client(
        timeout=5, event_hooks={"request": [lambda r: keys.append(r.headers.get("idempotency-key"))]}
    )
    connector = emulator.connector(http_client=client)
    emulator.injector.fail_next(500)
    result = connector.push("customers", {"name": "Retried Ltd"}, idempotency_key=KEY)
    assert result.operation == "created"
    assert keys == [step_key(KEY, "customer")] * 2
    assert len(state.tables["customer"]) == 1


def test_builders_refuse_what_stripe_cannot_take() -> None:
    invoice = metronome_invoice(lines=1)
    fractional = invoice.model_copy(
        update={"lines": (invoice.lines[0].model_copy(update={"amount": usd("10.005")}),)}
    )
    with pytest.raises(MappingError) as caught:
        invoice_payload(fractional, stripe_customer_id="cus_1")
    assert caught.value.field_path == "lines[0].amount"
    with pytest.raises(MappingError):
        invoice_payload(invoice.model_copy(update={"lines": ()}), stripe_customer_id="cus_1")


def test_invoice_payload_shape() -> None:
    payload = invoice_payload(metronome_invoice(lines=1), stripe_customer_id="cus_1")
    assert payload == {
        "operation": "create",
        "customer": "cus_1",
        "currency": "usd",
        "collection_method": "send_invoice",
        "days_until_due": 30,
        "metadata": {
            "metronome_invoice_id": "0f1e2d3c-aaaa-bbbb-cccc-000000000001",
            "netsuite_invoice_id": "ns-900",
        },
        "lines": [
            {
                "amount": 1000,
                "description": "Line 0",
                "metadata": {"sku": "SKU-0"},
                "period": {"start": 1769904000, "end": 1772323200},
            }
        ],
        "finalize": True,
    }
    automatic = invoice_payload(
        metronome_invoice(lines=1), stripe_customer_id="cus_1", collection_method="charge_automatically"
    )
    assert "days_until_due" not in automatic
    jpy = Invoice(
        **{
            **metronome_invoice(lines=0).model_dump(
                exclude={"lines", "subtotal", "tax", "total", "amount_due", "amount_paid", "amount_remaining"}
            ),
            "currency": "JPY",
            **{
                name: Money(amount=Decimal(1500), currency="JPY")
                for name in ("subtotal", "total", "amount_due", "amount_remaining")
            },
            "tax": Money(amount=Decimal(0), currency="JPY"),
            "amount_paid": Money(amount=Decimal(0), currency="JPY"),
            "lines": (
                InvoiceLine(
                    line_id="l", description="Yen", amount=Money(amount=Decimal(1500), currency="JPY")
                ),
            ),
        }
    )
    assert invoice_payload(jpy, stripe_customer_id="cus_2")["lines"][0]["amount"] == 1500

"""NetSuite upserts against the emulator: eid idempotency, refusals, posted-invoice conflicts, and the reverse builders."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from netsuite_connector_fixtures import Account, Backend, running_account

from tieout.connectors.netsuite import NetSuiteConnector
from tieout.errors import ConflictError, MappingError, PushRejected
from tieout.mappings import netsuite as builders
from tieout.mappings.context import MappingContext
from tieout.model import (
    CreditNote,
    Customer,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    JournalEntry,
    JournalLine,
    Payment,
    PaymentApplication,
    Payout,
    Refund,
)
from tieout.money import Money


@pytest.fixture
def account() -> Iterator[Account]:
    with running_account() as acct:
        yield acct


@pytest.fixture
def connector(account: Account) -> Iterator[NetSuiteConnector]:
    connector = account.connector()
    yield connector
    connector.close()


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


def metronome_invoice(total_cents: int = 12000) -> Invoice:
    amount = Money.from_minor(total_cents, "USD")
    return Invoice(
        system="metronome",
        native_id="6b0e4d59-7a5e-4c0b-9a44-0d3f1b2a7c10",
        customer_id="cust-1",
        currency="USD",
        status=InvoiceStatus.OPEN,
        issued_on=date(2024, 3, 1),
        due_on=date(2024, 3, 31),
        subtotal=amount,
        tax=usd("0"),
        total=amount,
        amount_due=amount,
        amount_paid=usd("0"),
        amount_remaining=amount,
        lines=(
            InvoiceLine(
                line_id="l1",
                description="Platform",
                product_id="SKU-PLATFORM",
                quantity=Decimal(1),
                unit_price=amount,
                amount=amount,
            ),
        ),
    )


def pulled(connector: NetSuiteConnector, stream: str, native_id: str) -> Any:
    spec = connector.stream(stream)
    for page in connector.pull(stream):
        for record in page.records:
            if record.source_id == native_id:
                return spec.mapper(record.payload, MappingContext(system="netsuite", stream=stream))
    raise AssertionError(f"{stream} {native_id} not pulled")


def test_customer_upsert_by_eid_is_idempotent(account: Account, connector: NetSuiteConnector) -> None:
    backend = Backend(account)
    customer = Customer(
        system="salesforce", native_id="001A000009NewCoAAA", legal_name="NewCo", email="ap@newco.test"
    )
    body = builders.customer_payload(
        customer, subsidiary_id=str(account.ids["us"]), terms_id=str(account.ids["net30"])
    )
    before = backend.record_count("customers")
    first = connector.push("customers", body, idempotency_key="k1")
    again = connector.push("customers", body, idempotency_key="k1")
    assert (first.operation, again.operation) == ("created", "unchanged")
    assert first.target_id == again.target_id
    assert backend.record_count("customers") == before + 1
    changed = connector.push("customers", {**body, "email": "billing@newco.test"}, idempotency_key="k2")
    assert (changed.operation, changed.target_id) == ("updated", first.target_id)
    mapped = pulled(connector, "customers", first.target_id)
    assert mapped.links == {"salesforce": "001A000009NewCoAAA"} and mapped.email == "billing@newco.test"


def test_a_refused_record_is_push_rejected_with_netsuites_detail(
    account: Account, connector: NetSuiteConnector
) -> None:
    body = {
        "entity": {"id": str(account.ids["acme"])},
        "item": {"items": [{"item": {"id": "999"}, "amount": 10}]},
    }
    with pytest.raises(PushRejected) as raised:
        connector.push("invoices", body, idempotency_key="bad-item")
    message = str(raised.value)
    assert (
        "INVALID_CONTENT" in message
        and "Invalid Field Value 999" in message
        and "item.items[0].item" in message
    )
    assert raised.value.record_id == "bad-item" and raised.value.stream == "invoices"


def test_an_external_id_with_forbidden_characters_is_rejected(connector: NetSuiteConnector) -> None:
    with pytest.raises(PushRejected):
        connector.push("customers", {"companyName": "X"}, idempotency_key="a|b")


def test_a_posted_invoice_is_not_overwritten_unless_allowed(
    account: Account, connector: NetSuiteConnector
) -> None:
    items = {"SKU-PLATFORM": str(account.ids["item"])}
    ids = {"customer_id": str(account.ids["acme"]), "currency_id": str(account.ids["usd"]), "item_ids": items}
    first = connector.push(
        "invoices", builders.invoice_payload(metronome_invoice(), **ids), idempotency_key="x"
    )
    assert first.operation == "created"
    assert (
        connector.push(
            "invoices", builders.invoice_payload(metronome_invoice(), **ids), idempotency_key="x"
        ).operation
        == "unchanged"
    )
    with pytest.raises(ConflictError):
        connector.push(
            "invoices", builders.invoice_payload(metronome_invoice(15000), **ids), idempotency_key="x"
        )
    allowed = builders.invoice_payload(metronome_invoice(15000), allow_overwrite=True, **ids)
    replaced = connector.push("invoices", allowed, idempotency_key="x")
    assert (replaced.operation, replaced.target_id) == ("updated", first.target_id)
    invoice = pulled(connector, "invoices", first.target_id)
    assert invoice.total == usd("150") and invoice.links == {"metronome": metronome_invoice().native_id}
    assert [line.product_id for line in invoice.lines] == ["SKU-PLATFORM"]


def test_cash_builders_round_trip_through_the_emulator(
    account: Account, connector: NetSuiteConnector
) -> None:
    ids = account.ids
    items = {"SKU-PLATFORM": str(ids["item"])}
    invoice_id = connector.push(
        "invoices",
        builders.invoice_payload(
            metronome_invoice(), customer_id=str(ids["acme"]), currency_id=str(ids["usd"]), item_ids=items
        ),
        idempotency_key="inv",
    ).target_id
    moment = datetime(2024, 3, 2, 12, tzinfo=UTC)
    payment = Payment(
        system="stripe",
        native_id="ch_3Round",
        currency="USD",
        gross=usd("130"),
        received_at=moment,
        applications=(PaymentApplication(invoice_id="in_1", amount=usd("120")),),
    )
    payment_body = builders.payment_payload(
        payment, customer_id=str(ids["acme"]), currency_id=str(ids["usd"]), invoice_ids={"in_1": invoice_id}
    )
    payment_id = connector.push("payments", payment_body, idempotency_key="pay").target_id
    assert connector.push("payments", payment_body, idempotency_key="pay").operation == "unchanged"
    refund = Refund(
        system="stripe", native_id="re_3Round", currency="USD", amount=usd("10"), refunded_at=moment
    )
    refund_id = connector.push(
        "refunds",
        builders.refund_payload(
            refund,
            customer_id=str(ids["acme"]),
            currency_id=str(ids["usd"]),
            account_id=str(ids["us_bank"]),
            applies=[(payment_id, usd("10"))],
        ),
        idempotency_key="ref",
    ).target_id
    payout = Payout(
        system="stripe", native_id="po_3Round", currency="USD", amount=usd("126.1"), fees=usd("3.9")
    )
    deposit_body = builders.deposit_payload(
        payout, account_id=str(ids["us_bank"]), payment_ids=[payment_id], fee_account_id=str(ids["us_fees"])
    )
    deposit_id = connector.push("deposits", deposit_body, idempotency_key="dep").target_id
    assert connector.push("deposits", deposit_body, idempotency_key="dep").operation == "unchanged"

    mapped_payment = pulled(connector, "payments", payment_id)
    assert mapped_payment.links == {"stripe": "ch_3Round"}
    assert [(a.invoice_id, a.amount) for a in mapped_payment.applications] == [(invoice_id, usd("120"))]
    assert mapped_payment.payout_id == deposit_id
    mapped_refund = pulled(connector, "refunds", refund_id)
    assert (mapped_refund.amount, mapped_refund.payment_id, mapped_refund.links) == (
        usd("10"),
        payment_id,
        {"stripe": "re_3Round"},
    )
    mapped_deposit = pulled(connector, "deposits", deposit_id)
    assert (mapped_deposit.amount, mapped_deposit.fees, mapped_deposit.payment_ids) == (
        usd("126.1"),
        usd("3.9"),
        (payment_id,),
    )


def test_credit_memo_and_journal_builders_round_trip(account: Account, connector: NetSuiteConnector) -> None:
    ids = account.ids
    invoice_id = connector.push(
        "invoices",
        builders.invoice_payload(
            metronome_invoice(),
            customer_id=str(ids["acme"]),
            currency_id=str(ids["usd"]),
            item_ids={"SKU-PLATFORM": str(ids["item"])},
        ),
        idempotency_key="inv",
    ).target_id
    note = CreditNote(
        system="stripe", native_id="cn_3Round", currency="USD", amount=usd("25"), reason="goodwill"
    )
    memo_id = connector.push(
        "credit_memos",
        builders.credit_memo_payload(
            note,
            customer_id=str(ids["acme"]),
            currency_id=str(ids["usd"]),
            item_id=str(ids["item"]),
            invoice_id=invoice_id,
        ),
        idempotency_key="cm",
    ).target_id
    entry = JournalEntry(
        system="stripe",
        native_id="txn_3Fees",
        links={"stripe": "txn_3Fees"},
        posted_on=date(2024, 3, 3),
        currency="USD",
        memo="Stripe fees",
        lines=(
            JournalLine(account_id="fees", debit=usd("4.2")),
            JournalLine(account_id="bank", credit=usd("4.2")),
        ),
    )
    entry_body = builders.journal_entry_payload(
        entry,
        subsidiary_id=str(ids["us"]),
        currency_id=str(ids["usd"]),
        account_ids={"fees": str(ids["us_fees"]), "bank": str(ids["us_bank"])},
    )
    entry_id = connector.push("journal_entries", entry_body, idempotency_key="je").target_id
    assert connector.push("journal_entries", entry_body, idempotency_key="je").operation == "unchanged"
    memo = pulled(connector, "credit_memos", memo_id)
    assert (memo.amount, memo.invoice_id, memo.links) == (usd("25"), invoice_id, {"stripe": "cn_3Round"})
    journal = pulled(connector, "journal_entries", entry_id)
    assert journal.links == {"stripe": "txn_3Fees"} and journal.posted_on == date(2024, 3, 3)
    assert [(line.debit, line.credit) for line in journal.lines] == [(usd("4.2"), None), (None, usd("4.2"))]


def test_builders_refuse_what_they_cannot_resolve() -> None:
    with pytest.raises(MappingError) as raised:
        builders.invoice_payload(metronome_invoice(), customer_id="1", currency_id="1", item_ids={})
    assert raised.value.field_path == "lines[0].product_id"
    with pytest.raises(MappingError):
        builders.invoice_payload(
            metronome_invoice(), customer_id="cus_abc", currency_id="1", item_ids={"SKU-PLATFORM": "1"}
        )
    customer = Customer(system="netsuite", native_id="5", legal_name="No link")
    with pytest.raises(MappingError) as missing:
        builders.customer_payload(customer, subsidiary_id="1")
    assert missing.value.field_path == "links"

"""The canonical model's own guarantees: one currency per document, aware UTC, balanced journals."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pydantic import ValidationError

from tieout.model import (
    Contract,
    ContractLine,
    ContractStatus,
    Invoice,
    InvoiceStatus,
    JournalEntry,
    JournalLine,
    Payment,
    PaymentApplication,
    PricingModel,
    record_id_for,
)
from tieout.money import Money


def eur(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="EUR")


def invoice(**changes: object) -> Invoice:
    values: dict[str, object] = {
        "system": "netsuite",
        "native_id": "101",
        "customer_id": "42",
        "currency": "EUR",
        "status": InvoiceStatus.OPEN,
        "subtotal": eur("100"),
        "tax": eur("19"),
        "total": eur("119"),
        "amount_due": eur("119"),
        "amount_paid": eur("0"),
        "amount_remaining": eur("119"),
    }
    values.update(changes)
    return Invoice.model_validate(values)


def test_record_id_names_system_kind_and_native_id() -> None:
    assert invoice().record_id == "netsuite:invoice:101" == record_id_for("netsuite", "invoice", "101")


def test_invoice_money_must_be_in_the_invoice_currency() -> None:
    with pytest.raises(ValidationError, match="tax is in USD"):
        invoice(tax=Money.of("19", "USD"))


def test_records_are_immutable() -> None:
    with pytest.raises(ValidationError):
        invoice().native_id = "other"  # type: ignore[misc]


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        invoice(totl=eur("1"))


def test_datetimes_must_be_aware_and_are_kept_in_utc() -> None:
    received = datetime(2026, 1, 5, 9, 0, tzinfo=timezone(timedelta(hours=2)))
    payment = Payment(
        system="stripe", native_id="ch_1", currency="EUR", gross=eur("10"), received_at=received
    )
    assert payment.received_at == datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
    assert payment.received_at.tzinfo is UTC
    with pytest.raises(ValidationError, match="time zone"):
        Payment(
            system="stripe",
            native_id="ch_1",
            currency="EUR",
            gross=eur("10"),
            received_at=datetime(2026, 1, 5),
        )


def test_payment_applications_share_the_payment_currency() -> None:
    with pytest.raises(ValidationError, match="amount is in JPY"):
        Payment(
            system="netsuite",
            native_id="p1",
            currency="EUR",
            gross=eur("10"),
            received_at=datetime(2026, 1, 5, tzinfo=UTC),
            applications=(PaymentApplication(invoice_id="101", amount=Money.of(10, "JPY")),),
        )


def test_journal_entries_must_balance() -> None:
    line = JournalLine(account_id="1200", debit=eur("5"))
    other = JournalLine(account_id="6100", credit=eur("5"))
    assert (
        len(
            JournalEntry(
                system="netsuite",
                native_id="j1",
                posted_on=date(2026, 1, 31),
                currency="EUR",
                lines=(line, other),
            ).lines
        )
        == 2
    )
    with pytest.raises(ValidationError, match="does not balance"):
        JournalEntry(
            system="netsuite", native_id="j2", posted_on=date(2026, 1, 31), currency="EUR", lines=(line,)
        )


def test_contract_lines_need_what_their_pricing_model_needs() -> None:
    with pytest.raises(ValidationError, match="tiered line needs tiers"):
        ContractLine(line_id="l1", product_name="API calls", pricing_model=PricingModel.TIERED)
    with pytest.raises(ValidationError, match="ends_on is before starts_on"):
        Contract(
            system="salesforce",
            native_id="800",
            customer_id="001",
            status=ContractStatus.ACTIVE,
            currency="USD",
            starts_on=date(2026, 2, 1),
            ends_on=date(2026, 1, 1),
        )

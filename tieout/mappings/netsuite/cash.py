"""NetSuite cash documents to canonical records: payments (CustPymt), refunds (CustRfnd), deposits.

The connector hands over each `transaction` header row with the document links read from
`nexttransactionlinelink` for the same page: `applications` (what the document was applied to,
with the amount in the transaction currency) and, for payments, `deposits` (the deposit that
carries it). Deposits also carry their non-main `lines`: cash-back lines (fees) post as debits,
so positive, while payment and other-receipt lines are credits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tieout.errors import MappingError
from tieout.mappings.context import MappingContext
from tieout.mappings.netsuite import values
from tieout.model import Payment, PaymentApplication, PaymentStatus, Payout, Refund
from tieout.money import Money, sum_money

PAYMENT_STATUS: Mapping[str, PaymentStatus] = {
    "A": PaymentStatus.PENDING,
    "B": PaymentStatus.SUCCEEDED,
    "C": PaymentStatus.SUCCEEDED,
}
"""Payment status letters: A Unapproved, B Not Deposited, C Deposited."""


def _applications(payload: Mapping[str, Any], code: str, target_type: str) -> list[tuple[str, Money]]:
    found = []
    for index, row in enumerate(values.rows(payload, "applications")):
        if values.text(row, "previoustype") != target_type:
            continue
        path = f"applications[{index}]."
        found.append(
            (
                values.record_id(row, "previousdoc", path=path),
                values.money(row, "foreignamount", code, path=path),
            )
        )
    return found


def map_payment(payload: Mapping[str, Any], context: MappingContext) -> Payment:
    """externalId is the Stripe charge id; `received_at` is the transaction date at midnight UTC."""
    code = values.currency(payload)
    gross = values.money(payload, "foreigntotal", code)
    if values.flag(payload, "voided"):
        status = PaymentStatus.FAILED
    else:
        letter = values.required(payload, "status")
        if letter not in PAYMENT_STATUS:
            raise MappingError("unknown payment status letter", field_path="status", value=letter)
        status = PAYMENT_STATUS[letter]
    applications = tuple(
        PaymentApplication(invoice_id=invoice_id, amount=amount)
        for invoice_id, amount in _applications(payload, code, "CustInvc")
    )
    unused = values.optional_decimal(payload, "foreignpaymentamountunused")
    unapplied = (
        values.as_money(unused, code, path="foreignpaymentamountunused")
        if unused is not None
        else gross - sum_money([application.amount for application in applications], code)
    )
    deposits = [
        values.record_id(row, "nextdoc", path=f"deposits[{index}].")
        for index, row in enumerate(values.rows(payload, "deposits"))
    ]
    return Payment(
        system=context.system,
        native_id=values.record_id(payload, "id"),
        links=values.external_links(values.text(payload, "externalid"), "stripe", {}),
        updated_at=values.moment(payload, "lastmodifieddate"),
        customer_id=values.optional_id(payload, "entity"),
        currency=code,
        gross=gross,
        status=status,
        received_at=values.day_start(values.required_day(payload, "trandate")),
        applications=applications,
        unapplied=unapplied,
        reference=values.text(payload, "otherrefnum") or values.text(payload, "tranid"),
        payout_id=deposits[-1] if deposits else None,
        subsidiary_id=values.optional_id(payload, "subsidiary"),
        exchange_rate=values.optional_decimal(payload, "exchangerate"),
    )


def map_refund(payload: Mapping[str, Any], context: MappingContext) -> Refund:
    """externalId is the Stripe refund id; `payment_id` is set when it pays out one payment's unapplied cash."""
    code = values.currency(payload)
    payments = {doc_id for doc_id, _ in _applications(payload, code, "CustPymt")}
    return Refund(
        system=context.system,
        native_id=values.record_id(payload, "id"),
        links=values.external_links(values.text(payload, "externalid"), "stripe", {}),
        updated_at=values.moment(payload, "lastmodifieddate"),
        customer_id=values.optional_id(payload, "entity"),
        payment_id=next(iter(payments)) if len(payments) == 1 else None,
        currency=code,
        amount=values.money(payload, "foreigntotal", code),
        refunded_at=values.day_start(values.required_day(payload, "trandate")),
        status="void" if values.flag(payload, "voided") or payload.get("status") == "V" else "succeeded",
        reason=values.text(payload, "memo"),
    )


def map_deposit(payload: Mapping[str, Any], context: MappingContext) -> Payout:
    """A bank deposit as the ERP side of a payout: net amount, cash-back fees, the payments it carries."""
    code = values.currency(payload)
    fees = [
        values.money(line, "foreignamount", code, path=f"lines[{index}].")
        for index, line in enumerate(values.rows(payload, "lines"))
        if not values.flag(line, "mainline")
    ]
    cash_back = [fee for fee in fees if fee.amount > 0]
    payment_ids = tuple(doc_id for doc_id, _ in _applications(payload, code, "CustPymt"))
    return Payout(
        system=context.system,
        native_id=values.record_id(payload, "id"),
        links=values.external_links(values.text(payload, "externalid"), "stripe", {}),
        updated_at=values.moment(payload, "lastmodifieddate"),
        currency=code,
        amount=values.money(payload, "foreigntotal", code),
        fees=sum_money(cash_back, code),
        arrival_on=values.day(payload, "trandate"),
        status="void" if values.flag(payload, "voided") else "paid",
        subsidiary_id=values.optional_id(payload, "subsidiary"),
        payment_ids=payment_ids,
    )

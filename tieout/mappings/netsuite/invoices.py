"""NetSuite invoices (CustInvc) and credit memos (CustCred) to canonical `Invoice` and `CreditNote`.

The connector hands over the `transaction` header row (amounts in the transaction currency) with
its non-main `transactionline` rows under `lines` and, for credit memos, the invoices it is applied
to under `applications`. Line amounts in SuiteQL are signed as posted (an invoice's revenue lines
are credits, so negative); the canonical amount is what the document charges.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tieout.errors import MappingError
from tieout.mappings.context import MappingContext
from tieout.mappings.netsuite import values
from tieout.model import CreditNote, CreditNoteStatus, Invoice, InvoiceLine, InvoiceStatus

INVOICE_STATUS: Mapping[str, InvoiceStatus] = {
    "A": InvoiceStatus.OPEN,
    "B": InvoiceStatus.PAID,
    "D": InvoiceStatus.DRAFT,
    "E": InvoiceStatus.VOID,
    "V": InvoiceStatus.VOID,
}
"""Invoice status letters: A Open, B Paid In Full, D Pending Approval, E Rejected, V Voided."""


def invoice_status(payload: Mapping[str, Any]) -> InvoiceStatus:
    if values.flag(payload, "voided"):
        return InvoiceStatus.VOID
    letter = values.required(payload, "status")
    try:
        return INVOICE_STATUS[letter]
    except KeyError:
        raise MappingError("unknown invoice status letter", field_path="status", value=letter) from None


def _lines(payload: Mapping[str, Any], code: str, sign: int) -> tuple[InvoiceLine, ...]:
    out = []
    for index, line in enumerate(values.rows(payload, "lines")):
        path = f"lines[{index}]."
        if values.flag(line, "taxline") or values.flag(line, "mainline"):
            continue
        amount = values.decimal(line, "foreignamount", path=path) * sign
        rate = values.optional_decimal(line, "rate", path=path)
        sku = values.text(line, "itemid", path=path) or values.text(line, "item", path=path)
        out.append(
            InvoiceLine(
                line_id=values.record_id(line, "id", path=path),
                description=values.text(line, "memo", path=path) or sku or f"line {index + 1}",
                product_id=sku,
                quantity=values.optional_decimal(line, "quantity", path=path),
                unit_price=None if rate is None else values.as_money(rate, code, path=path + "rate"),
                amount=values.as_money(amount, code, path=path + "foreignamount"),
            )
        )
    return tuple(out)


def map_invoice(payload: Mapping[str, Any], context: MappingContext) -> Invoice:
    """externalId is the Metronome invoice id (a Stripe `in_` id when the stack syncs from Stripe)."""
    code = values.currency(payload)
    total = values.money(payload, "foreigntotal", code)
    tax = values.money(payload, "taxtotal", code, default_zero=True)
    paid = values.money(payload, "foreignamountpaid", code, default_zero=True)
    remaining = (
        values.money(payload, "foreignamountunpaid", code)
        if values.text(payload, "foreignamountunpaid") is not None
        else total - paid
    )
    return Invoice(
        system=context.system,
        native_id=values.record_id(payload, "id"),
        links=values.external_links(values.text(payload, "externalid"), "metronome", {"in_": "stripe"}),
        updated_at=values.moment(payload, "lastmodifieddate"),
        customer_id=values.record_id(payload, "entity"),
        number=values.text(payload, "tranid"),
        currency=code,
        status=invoice_status(payload),
        issued_on=values.day(payload, "trandate"),
        due_on=values.day(payload, "duedate"),
        subtotal=total - tax,
        tax=tax,
        total=total,
        amount_due=total,
        amount_paid=paid,
        amount_remaining=remaining,
        period_start=values.day(payload, "startdate"),
        period_end=values.day(payload, "enddate"),
        subsidiary_id=values.optional_id(payload, "subsidiary"),
        exchange_rate=values.optional_decimal(payload, "exchangerate"),
        lines=_lines(payload, code, -1),
    )


def map_credit_memo(payload: Mapping[str, Any], context: MappingContext) -> CreditNote:
    """externalId is the Stripe credit note id; `invoice_id` is set when it is applied to one invoice."""
    code = values.currency(payload)
    invoices = {
        values.record_id(row, "previousdoc", path=f"applications[{index}].")
        for index, row in enumerate(values.rows(payload, "applications"))
        if values.text(row, "previoustype") == "CustInvc"
    }
    amount = values.money(payload, "foreigntotal", code)
    if amount.amount < Decimal(0):
        raise MappingError("a credit memo total is never negative", field_path="foreigntotal", value=amount)
    return CreditNote(
        system=context.system,
        native_id=values.record_id(payload, "id"),
        links=values.external_links(values.text(payload, "externalid"), "stripe", {}),
        updated_at=values.moment(payload, "lastmodifieddate"),
        customer_id=values.optional_id(payload, "entity"),
        invoice_id=next(iter(invoices)) if len(invoices) == 1 else None,
        number=values.text(payload, "tranid"),
        currency=code,
        amount=amount,
        reason=values.text(payload, "memo"),
        issued_on=values.day(payload, "trandate"),
        status=CreditNoteStatus.VOID if values.flag(payload, "voided") else CreditNoteStatus.ISSUED,
    )

"""Stripe invoices (`in_`) and credit notes (`cn_`) to canonical `Invoice` and `CreditNote`.

Totals: `total` is the grand total with tax; `tax` is the 2024-04-10 `tax` field (or the sum of
`total_taxes` in later API versions; 0 when neither is set), so the canonical pre-tax `subtotal`
is `total - tax` (Stripe's `total_excluding_tax`: after discounts, before tax). `amount_due` can
be below `total` when customer credit or a pre-payment credit note applies; `amount_remaining`
is what is still open. Lines are the embedded first page of `lines` plus the rest the connector
fetched under `tieout_lookups.more_lines`; a line's amount is its pre-tax amount and its tax the
sum of its `tax_amounts`. The product on a line is its SKU: `metadata.sku` of the price, of the
price's product (when expanded) or of the line itself, else Stripe's product id.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from tieout.errors import MappingError
from tieout.mappings.context import MappingContext
from tieout.mappings.stripe import common
from tieout.model import CreditNote, CreditNoteStatus, Invoice, InvoiceLine, InvoiceStatus
from tieout.money import Money, sum_money, to_decimal

INVOICE_LINKS: Mapping[str, str] = {
    "metronome_invoice_id": "metronome",
    "netsuite_invoice_id": "netsuite",
}

INVOICE_STATUS: Mapping[str, InvoiceStatus] = {
    "draft": InvoiceStatus.DRAFT,
    "open": InvoiceStatus.OPEN,
    "paid": InvoiceStatus.PAID,
    "void": InvoiceStatus.VOID,
    "uncollectible": InvoiceStatus.UNCOLLECTIBLE,
}


def line_sku(line: Mapping[str, Any], path: str) -> str | None:
    """The SKU of the product a line bills (see the module docstring for the order)."""
    price = line.get("price")
    product: Any = None
    if isinstance(price, Mapping):
        sku = common.optional_text(common.mapping(price, "metadata", f"{path}.price.metadata"), "sku")
        if sku:
            return sku
        product = price.get("product")
        if isinstance(product, Mapping):
            sku = common.optional_text(
                common.mapping(product, "metadata", f"{path}.price.product.metadata"), "sku"
            )
            if sku:
                return sku
    sku = common.optional_text(common.mapping(line, "metadata", f"{path}.metadata"), "sku")
    if sku:
        return sku
    return None if product is None else common.object_id(product, f"{path}.price.product")


def _unit_price(line: Mapping[str, Any], code: str, path: str) -> Money | None:
    value = line.get("unit_amount_excluding_tax")
    if value is None:
        return None
    try:
        units = to_decimal(value)
    except ValueError:
        raise MappingError("expected a decimal string of minor units", field_path=path, value=value) from None
    return Money.from_minor(units, code, exponent=common.stripe_exponent(code))


def _line_period(line: Mapping[str, Any], path: str) -> tuple[date | None, date | None]:
    period = common.mapping(line, "period", f"{path}.period")
    start = common.optional_moment(period, "start", f"{path}.period.start")
    end = common.optional_moment(period, "end", f"{path}.period.end")
    if start is None or end is None:
        return (None if start is None else start.date()), (None if end is None else end.date())
    return start.date(), common.last_day(start, end)


def _line(line: Mapping[str, Any], code: str, index: int, path: str) -> InvoiceLine:
    amount_key = "amount_excluding_tax" if line.get("amount_excluding_tax") is not None else "amount"
    amount = common.money(
        common.field(line, amount_key, f"{path}.{amount_key}"), code, f"{path}.{amount_key}"
    )
    taxes = common.items(line.get("tax_amounts"), f"{path}.tax_amounts")
    tax = (
        sum_money(
            [
                common.money(t.get("amount"), code, f"{path}.tax_amounts[{i}].amount")
                for i, t in enumerate(taxes)
            ],
            code,
        )
        if taxes
        else None
    )
    quantity = line.get("quantity")
    sku = line_sku(line, path)
    start, end = _line_period(line, path)
    return InvoiceLine(
        line_id=common.text(line, "id", f"{path}.id"),
        description=common.optional_text(line, "description") or sku or f"line {index + 1}",
        product_id=sku,
        quantity=None if quantity is None else Decimal(common.integer(quantity, f"{path}.quantity")),
        unit_price=_unit_price(line, code, f"{path}.unit_amount_excluding_tax"),
        amount=amount,
        tax=tax,
        period_start=start,
        period_end=end,
    )


def _lines(payload: Mapping[str, Any], code: str) -> tuple[InvoiceLine, ...]:
    embedded = common.mapping(payload, "lines", "lines")
    rows = [
        (f"lines.data[{i}]", line) for i, line in enumerate(common.items(embedded.get("data"), "lines.data"))
    ]
    more = common.lookups(payload).get("more_lines")
    if embedded.get("has_more") is True and more is None:
        raise MappingError(
            "the invoice has more lines than the payload carries", field_path="lines.has_more", value=True
        )
    path = f"{common.LOOKUPS}.more_lines"
    rows += [(f"{path}[{i}]", line) for i, line in enumerate(common.items(more, path))]
    return tuple(_line(line, code, index, where) for index, (where, line) in enumerate(rows))


def _invoice_tax(payload: Mapping[str, Any], code: str) -> Money:
    if payload.get("tax") is not None:
        return common.money(payload["tax"], code, "tax")
    taxes = common.items(payload.get("total_taxes"), "total_taxes")
    amounts = [common.money(t.get("amount"), code, f"total_taxes[{i}].amount") for i, t in enumerate(taxes)]
    return sum_money(amounts, code)


def _period(payload: Mapping[str, Any], lines: tuple[InvoiceLine, ...]) -> tuple[date | None, date | None]:
    starts = [line.period_start for line in lines if line.period_start is not None]
    ends = [line.period_end for line in lines if line.period_end is not None]
    if starts and ends:
        return min(starts), max(ends)
    start = common.optional_moment(payload, "period_start", "period_start")
    end = common.optional_moment(payload, "period_end", "period_end")
    if start is None or end is None:
        return None, None
    return start.date(), common.last_day(start, end)


def invoice_status(payload: Mapping[str, Any]) -> InvoiceStatus:
    value = common.field(payload, "status", "status")
    try:
        return INVOICE_STATUS[value]
    except (KeyError, TypeError):
        raise MappingError("unknown invoice status", field_path="status", value=value) from None


def map_invoice(payload: Mapping[str, Any], context: MappingContext) -> Invoice:
    code = common.currency(payload)
    total = common.money(common.field(payload, "total", "total"), code, "total")
    tax = _invoice_tax(payload, code)
    amount_due = common.money(common.field(payload, "amount_due", "amount_due"), code, "amount_due")
    amount_paid = common.money(common.field(payload, "amount_paid", "amount_paid"), code, "amount_paid")
    remaining = common.optional_money(payload, "amount_remaining", code, "amount_remaining")
    transitions = common.mapping(payload, "status_transitions", "status_transitions")
    issued = common.optional_day(transitions, "finalized_at", "status_transitions.finalized_at")
    lines = _lines(payload, code)
    period_start, period_end = _period(payload, lines)
    return Invoice(
        system=context.system,
        native_id=common.text(payload, "id", "id"),
        links=common.links(payload, INVOICE_LINKS),
        updated_at=common.updated_at(payload),
        deleted=payload.get("deleted") is True,
        customer_id=common.object_id(common.field(payload, "customer", "customer"), "customer"),
        number=common.optional_text(payload, "number"),
        currency=code,
        status=invoice_status(payload),
        issued_on=issued or common.optional_day(payload, "effective_at", "effective_at"),
        due_on=common.optional_day(payload, "due_date", "due_date"),
        subtotal=total - tax,
        tax=tax,
        total=total,
        amount_due=amount_due,
        amount_paid=amount_paid,
        amount_remaining=amount_due - amount_paid if remaining is None else remaining,
        period_start=period_start,
        period_end=period_end,
        lines=lines,
    )


CREDIT_NOTE_STATUS: Mapping[str, CreditNoteStatus] = {
    "issued": CreditNoteStatus.ISSUED,
    "void": CreditNoteStatus.VOID,
}


def map_credit_note(payload: Mapping[str, Any], context: MappingContext) -> CreditNote:
    """`amount` is the credit note's `total` (tax included), never negative."""
    code = common.currency(payload)
    key = "total" if payload.get("total") is not None else "amount"
    amount = common.money(common.field(payload, key, key), code, key)
    if amount.amount < 0:
        raise MappingError("a credit note total is never negative", field_path=key, value=payload.get(key))
    status = common.field(payload, "status", "status")
    if status not in CREDIT_NOTE_STATUS:
        raise MappingError("unknown credit note status", field_path="status", value=status)
    return CreditNote(
        system=context.system,
        native_id=common.text(payload, "id", "id"),
        updated_at=common.updated_at(payload),
        customer_id=common.optional_id(payload, "customer", "customer"),
        invoice_id=common.optional_id(payload, "invoice", "invoice"),
        number=common.optional_text(payload, "number"),
        currency=code,
        amount=amount,
        reason=common.optional_text(payload, "reason") or common.optional_text(payload, "memo"),
        issued_on=common.optional_day(payload, "effective_at", "effective_at")
        or common.moment(common.field(payload, "created", "created"), "created").date(),
        status=CREDIT_NOTE_STATUS[status],
    )

"""Metronome invoice -> canonical `Invoice`.

The payload is the invoice as `GET /v1/customers/{id}/invoices` lists it. Amounts are in the
invoice's credit type (`credit_type`, e.g. "USD (cents)"). Metronome's `total` is before tax,
so it is the canonical `subtotal`; tax is the billing provider's `external_invoice.tax
.total_tax_amount` when it reported one (else zero), and `total` = subtotal + tax.

Status: DRAFT -> draft, VOID -> void, FINALIZED -> open, or paid / uncollectible when the
billing provider's `external_status` says PAID / UNCOLLECTIBLE. A paid invoice has nothing
remaining; a void or draft one nothing paid; anything else is open for its whole total
(Metronome does not say how much of a PARTIALLY_PAID invoice was paid).

`issued_on` is the date of `issued_at`, `due_on` that plus `net_payment_terms_days`;
`period_start`/`period_end` are the first and last days of [start_timestamp, end_timestamp).
Lines: one per line item in the invoice's credit type (a line in a custom pricing unit is left
out: its fiat value is on the invoice's `cpu_conversion` line); postpaid-commit lines are left
out too, as Metronome leaves them out of the total. `product_id` is the product's SKU. Invoice lines have
no id in Metronome, so `line_id` is the line's position (1-based).
Links: `stripe` from `external_invoice.invoice_id` (Stripe provider), `netsuite` from the
NetSuite entry of `revenue_system_invoices` (or a NetSuite `external_invoice`).
`updated_at` is `issued_at`: Metronome keeps no modification time on invoices.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from tieout.errors import MappingError
from tieout.mappings.context import MappingContext
from tieout.mappings.metronome.common import (
    credit_currency,
    field,
    items,
    last_day,
    mapping,
    minor_money,
    number,
    optional_text,
    optional_timestamp,
    product_sku,
    text,
    whole_days,
)
from tieout.model import Invoice, InvoiceLine, InvoiceStatus
from tieout.money import Money

_STATUSES = {"DRAFT": InvoiceStatus.DRAFT, "FINALIZED": InvoiceStatus.OPEN, "VOID": InvoiceStatus.VOID}
_EXTERNAL = {"PAID": InvoiceStatus.PAID, "UNCOLLECTIBLE": InvoiceStatus.UNCOLLECTIBLE}


def invoice_links(payload: Mapping[str, Any]) -> dict[str, str]:
    links: dict[str, str] = {}
    external = mapping(payload, "external_invoice", "external_invoice")
    provider = str(external.get("billing_provider_type") or "").lower()
    external_id = optional_text(external, "invoice_id")
    if external_id and provider in ("stripe", "netsuite"):
        links[provider] = external_id
    for entry in items(payload, "revenue_system_invoices", "revenue_system_invoices"):
        entity_id = optional_text(entry, "revenue_system_external_entity_id")
        if entity_id and str(entry.get("revenue_system_provider") or "").lower() == "netsuite":
            links["netsuite"] = entity_id
    return links


def invoice_status(payload: Mapping[str, Any]) -> InvoiceStatus:
    status = field(payload, "status", "status")
    if status not in _STATUSES:
        raise MappingError("unknown invoice status", field_path="status", value=status)
    if status == "FINALIZED":
        external = mapping(payload, "external_invoice", "external_invoice")
        return _EXTERNAL.get(str(external.get("external_status")), InvoiceStatus.OPEN)
    return _STATUSES[status]


def _lines(payload: Mapping[str, Any], currency: str, context: MappingContext) -> tuple[InvoiceLine, ...]:
    out: list[InvoiceLine] = []
    invoice_credit_id = mapping(payload, "credit_type", "credit_type").get("id")
    for index, line in enumerate(items(payload, "line_items", "line_items")):
        path = f"line_items[{index}]"
        applied = mapping(line, "applied_commit_or_credit", f"{path}.applied_commit_or_credit")
        if applied.get("type") == "POSTPAID" or line.get("postpaid_commit") is not None:
            continue
        line_credit = mapping(line, "credit_type", f"{path}.credit_type")
        if line_credit.get("id", invoice_credit_id) != invoice_credit_id:
            continue  # a custom pricing unit; its fiat value is on the cpu_conversion line
        starts = optional_timestamp(line, "starting_at", f"{path}.starting_at")
        ends = optional_timestamp(line, "ending_before", f"{path}.ending_before")
        quantity = line.get("quantity")
        unit_price = line.get("unit_price")
        product_id = optional_text(line, "product_id")
        out.append(
            InvoiceLine(
                line_id=str(index + 1),
                description=text(line, "name", f"{path}.name"),
                product_id=product_sku(line.get("product_custom_fields"), product_id, context),
                quantity=None if quantity is None else number(quantity, f"{path}.quantity"),
                unit_price=None
                if unit_price is None
                else minor_money(unit_price, currency, f"{path}.unit_price"),
                amount=minor_money(field(line, "total", f"{path}.total"), currency, f"{path}.total"),
                period_start=starts.date() if starts else None,
                period_end=max(last_day(ends), starts.date())
                if ends and starts
                else (last_day(ends) if ends else None),
            )
        )
    return tuple(out)


def map_invoice(payload: Mapping[str, Any], context: MappingContext) -> Invoice:
    currency = credit_currency(field(payload, "credit_type", "credit_type"), context, "credit_type")
    subtotal = minor_money(field(payload, "total", "total"), currency, "total")
    external = mapping(payload, "external_invoice", "external_invoice")
    tax_amount = mapping(external, "tax", "external_invoice.tax").get("total_tax_amount")
    tax = (
        Money.zero(currency)
        if tax_amount is None
        else minor_money(tax_amount, currency, "external_invoice.tax.total_tax_amount")
    )
    total = subtotal + tax
    status = invoice_status(payload)
    paid = total if status is InvoiceStatus.PAID else Money.zero(currency)
    remaining = Money.zero(currency) if status in (InvoiceStatus.PAID, InvoiceStatus.VOID) else total - paid
    issued_at = optional_timestamp(payload, "issued_at", "issued_at")
    terms = payload.get("net_payment_terms_days")
    due_on = None
    if issued_at is not None and terms is not None:
        due_on = (issued_at + timedelta(days=whole_days(terms, "net_payment_terms_days"))).date()
    start = optional_timestamp(payload, "start_timestamp", "start_timestamp")
    end = optional_timestamp(payload, "end_timestamp", "end_timestamp")
    return Invoice(
        system=context.system,
        native_id=text(payload, "id", "id"),
        links=invoice_links(payload),
        updated_at=issued_at,
        customer_id=text(payload, "customer_id", "customer_id"),
        contract_id=optional_text(payload, "contract_id"),
        currency=currency,
        status=status,
        issued_on=issued_at.date() if issued_at else None,
        due_on=due_on,
        subtotal=subtotal,
        tax=tax,
        total=total,
        amount_due=total,
        amount_paid=paid,
        amount_remaining=remaining,
        period_start=start.date() if start else None,
        period_end=(max(last_day(end), start.date()) if start else last_day(end)) if end else None,
        lines=_lines(payload, currency, context),
    )

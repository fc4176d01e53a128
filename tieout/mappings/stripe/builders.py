"""Reverse builders: canonical records -> the payloads `StripeConnector.push` takes.

Pure functions, no I/O; amounts in Stripe minor units (integers, Stripe's exponent table):

- `customer_payload(customer, links)` -> push("customers", ...): `{"name", "email"?, "metadata":
  {"salesforce_account_id"?, "metronome_customer_id"?, "netsuite_customer_id"?}}`; the ids come
  from the customer itself (its own system and its `links`) and from `links`.
- `invoice_payload(invoice, stripe_customer_id=)` -> push("invoices", ...): an invoice for
  collection mirroring a (Metronome) invoice: `{"operation": "create", "customer", "currency",
  "collection_method", "days_until_due"? (send_invoice only), "metadata": {"metronome_invoice_id"?,
  "netsuite_invoice_id"?}, "lines": [{"amount", "description", "period": {"start", "end"}?,
  "metadata": {"sku"?}}], "finalize": true}`. A line period ends at midnight after its last day.
- `void_payload(invoice_id)` -> `{"operation": "void", "invoice"}` and
  `pay_out_of_band_payload(invoice_id)` -> `{"operation": "pay", "invoice", "paid_out_of_band": true}`:
  the two status changes push("invoices", ...) also takes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from tieout.errors import MappingError
from tieout.mappings.stripe.common import stripe_exponent
from tieout.mappings.stripe.customers import CUSTOMER_LINKS
from tieout.model import Customer, Invoice
from tieout.money import Money

DEFAULT_DAYS_UNTIL_DUE = 30
CollectionMethod = Literal["send_invoice", "charge_automatically"]


def minor_units(money: Money, field_path: str) -> int:
    """Stripe minor units; an amount finer than the currency's unit is a MappingError, never rounded."""
    try:
        return money.to_minor(exponent=stripe_exponent(money.currency))
    except ValueError:
        raise MappingError(
            f"{money.currency} amounts go to Stripe in whole minor units", field_path=field_path, value=money
        ) from None


def _midnight(day: date) -> int:
    return int(datetime.combine(day, time(0), tzinfo=UTC).timestamp())


def customer_payload(customer: Customer, links: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A Stripe customer carrying the ids of its twins in its metadata."""
    ids = {**customer.links, **(links or {})}
    ids.setdefault(customer.system, customer.native_id)
    metadata = {key: ids[system] for key, system in CUSTOMER_LINKS.items() if ids.get(system)}
    payload: dict[str, Any] = {"name": customer.legal_name, "metadata": metadata}
    if customer.email:
        payload["email"] = customer.email
    return payload


def invoice_payload(
    invoice: Invoice,
    *,
    stripe_customer_id: str,
    collection_method: CollectionMethod = "send_invoice",
    days_until_due: int | None = None,
    finalize: bool = True,
    tax_rate_ids: Sequence[str] = (),
) -> dict[str, Any]:
    """A Stripe invoice mirroring `invoice` line by line (pre-tax: Stripe computes the tax).

    `days_until_due` defaults to the invoice's own terms (due date - issue date), else 30.
    """
    if not invoice.lines:
        raise MappingError("an invoice without lines cannot be mirrored", field_path="lines", value=())
    metronome_id = invoice.native_id if invoice.system == "metronome" else invoice.links.get("metronome")
    netsuite_id = invoice.native_id if invoice.system == "netsuite" else invoice.links.get("netsuite")
    metadata = {
        key: value
        for key, value in (("metronome_invoice_id", metronome_id), ("netsuite_invoice_id", netsuite_id))
        if value
    }
    lines = []
    for index, line in enumerate(invoice.lines):
        item: dict[str, Any] = {
            "amount": minor_units(line.amount, f"lines[{index}].amount"),
            "description": line.description,
            "metadata": {"sku": line.product_id} if line.product_id else {},
        }
        if tax_rate_ids:
            item["tax_rates"] = list(tax_rate_ids)
        if line.period_start is not None and line.period_end is not None:
            item["period"] = {
                "start": _midnight(line.period_start),
                "end": _midnight(line.period_end + timedelta(days=1)),
            }
        lines.append(item)
    payload: dict[str, Any] = {
        "operation": "create",
        "customer": stripe_customer_id,
        "currency": invoice.currency.lower(),
        "collection_method": collection_method,
        "metadata": metadata,
        "lines": lines,
        "finalize": finalize,
    }
    if collection_method == "send_invoice":
        if days_until_due is None and invoice.issued_on is not None and invoice.due_on is not None:
            days_until_due = max(0, (invoice.due_on - invoice.issued_on).days)
        payload["days_until_due"] = DEFAULT_DAYS_UNTIL_DUE if days_until_due is None else days_until_due
    return payload


def void_payload(invoice_id: str) -> dict[str, Any]:
    return {"operation": "void", "invoice": invoice_id}


def pay_out_of_band_payload(invoice_id: str) -> dict[str, Any]:
    return {"operation": "pay", "invoice": invoice_id, "paid_out_of_band": True}

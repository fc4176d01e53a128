"""Invoice lines and billing-provider records for the Metronome emulator's invoices.

Lines are checked and completed here: the total defaults to quantity x unit price, a product
line carries the product's type, tags, custom fields and NetSuite item id, and any field not in
Metronome's line item shape is refused, so a scenario cannot seed a shape the SDK would reject.
"""

from __future__ import annotations

from typing import Any

from tieout.sandbox.metronome.wire import bad_request, credit_type, iso, optional_time

Record = dict[str, Any]

PROVIDERS = {
    "aws_marketplace",
    "stripe",
    "netsuite",
    "custom",
    "azure_marketplace",
    "quickbooks_online",
    "workday",
    "gcp_marketplace",
    "metronome",
}
EXTERNAL_STATUSES = {
    "DRAFT",
    "FINALIZED",
    "PAID",
    "PARTIALLY_PAID",
    "UNCOLLECTIBLE",
    "VOID",
    "DELETED",
    "PAYMENT_FAILED",
    "INVALID_REQUEST_ERROR",
    "SKIPPED",
    "SENT",
    "QUEUED",
}
LINE_PASSTHROUGH = {
    "applied_commit_or_credit",
    "commit_custom_fields",
    "commit_id",
    "commit_netsuite_item_id",
    "commit_netsuite_sales_order_id",
    "commit_segment_id",
    "commit_type",
    "custom_fields",
    "discount_id",
    "group_key",
    "group_value",
    "is_prorated",
    "list_price",
    "metadata",
    "netsuite_invoice_billing_end",
    "netsuite_invoice_billing_start",
    "netsuite_item_id",
    "origin",
    "postpaid_commit",
    "presentation_group_values",
    "pricing_group_values",
    "professional_service_id",
    "quantity_consumed",
    "scheduled_charge_id",
    "sub_line_items",
    "subscription_id",
    "tier",
}


def external_invoice_record(value: Any) -> Record | None:
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("billing_provider_type") not in PROVIDERS:
        raise bad_request("external_invoice.billing_provider_type is required and must be a known provider")
    status = value.get("external_status")
    if status is not None and status not in EXTERNAL_STATUSES:
        raise bad_request(f"external_invoice.external_status {status!r} is not a Metronome status")
    return dict(value)


def excluded_from_total(line: Record) -> bool:
    applied = line.get("applied_commit_or_credit") or {}
    return applied.get("type") == "POSTPAID" or line.get("postpaid_commit") is not None


def build_line(line: Record, invoice_credit: dict[str, str], product: Record | None) -> Record:
    """One invoice line in Metronome's shape, with the product's NetSuite item id and tags."""
    if not isinstance(line.get("name"), str):
        raise bad_request("line_items: every line needs a name")
    quantity, unit_price, total = line.get("quantity"), line.get("unit_price"), line.get("total")
    if total is None:
        if quantity is None or unit_price is None:
            raise bad_request(f"line {line['name']!r}: give total, or quantity and unit_price")
        total = quantity * unit_price
    out: Record = {
        "credit_type": invoice_credit,
        "name": line["name"],
        "total": total,
        "type": line.get("type", "usage"),
    }
    if line.get("credit_type_id") is not None:
        out["credit_type"] = credit_type(line["credit_type_id"])
    if quantity is not None:
        out["quantity"] = quantity
    if unit_price is not None:
        out["unit_price"] = unit_price
    for key in ("starting_at", "ending_before"):
        moment = optional_time(line.get(key), f"line_items.{key}")
        if moment is not None:
            out[key] = iso(moment)
    if product is not None:
        state = product["initial"]
        out["product_id"] = product["id"]
        out["product_type"] = product["type"]
        out["product_custom_fields"] = product["custom_fields"]
        out["product_tags"] = state.get("tags", [])
        if state.get("netsuite_internal_item_id") is not None:
            out["netsuite_item_id"] = state["netsuite_internal_item_id"]
    unknown = (
        set(line)
        - LINE_PASSTHROUGH
        - {
            "name",
            "type",
            "quantity",
            "unit_price",
            "total",
            "credit_type_id",
            "starting_at",
            "ending_before",
            "product_id",
        }
    )
    if unknown:
        raise bad_request(f"unknown line item field(s): {', '.join(sorted(unknown))}")
    out.update({k: v for k, v in line.items() if k in LINE_PASSTHROUGH and v is not None})
    return out


def without_zero_quantity(record: Record) -> Record:
    """The invoice with zero-quantity lines left out (`skip_zero_qty_line_items`)."""
    lines = [line for line in record["line_items"] if line.get("quantity", 1) != 0]
    return {**record, "line_items": lines}

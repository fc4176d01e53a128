"""Metronome usage (`POST /v1/usage` rows) -> canonical `UsageSummary`.

One row is one customer's quantity of one billable metric over one window
[start_timestamp, end_timestamp). The connector asks for windows of two shapes (see the
connector's usage stream): a finalized invoice's whole usage period, or single days. The
native id joins customer, metric and window, so each window is its own record. `product_id`
is the SKU of the USAGE product metered by the metric, when the connector found exactly one
(under `tieout_lookups.products`). `updated_at` is the window's end: a window's quantity is
final only once it has closed (up to Metronome's 34-day backdating).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tieout.errors import MappingError
from tieout.mappings.context import MappingContext
from tieout.mappings.metronome.common import (
    field,
    items,
    lookups,
    number,
    optional_text,
    product_sku,
    text,
    timestamp,
)
from tieout.model import UsageSummary


def usage_native_id(row: Mapping[str, Any]) -> str:
    """`customer/metric/start/end`, from the row as Metronome wrote it."""
    parts = [
        row.get(key) for key in ("customer_id", "billable_metric_id", "start_timestamp", "end_timestamp")
    ]
    return "/".join(str(part) for part in parts)


def map_usage(payload: Mapping[str, Any], context: MappingContext) -> UsageSummary:
    start = timestamp(payload.get("start_timestamp"), "start_timestamp")
    end = timestamp(payload.get("end_timestamp"), "end_timestamp")
    if end <= start:
        raise MappingError(
            "window ends before it starts", field_path="end_timestamp", value=payload.get("end_timestamp")
        )
    products = items(lookups(payload), "products", "tieout_lookups.products")
    product_id = None
    if len(products) == 1:
        product_id = product_sku(products[0].get("custom_fields"), optional_text(products[0], "id"), context)
    metric_id = text(payload, "billable_metric_id", "billable_metric_id")
    return UsageSummary(
        system=context.system,
        native_id=usage_native_id(payload),
        updated_at=end,
        customer_id=text(payload, "customer_id", "customer_id"),
        metric=optional_text(payload, "billable_metric_name") or metric_id,
        product_id=product_id,
        period_start=start,
        period_end=end,
        quantity=number(field(payload, "value", "value"), "value"),
    )

"""What the connector knows about each Stripe stream, as data.

For each stream: the list endpoint and its object type, the expansions that save calls (the
list asks for `data.<path>`, a single retrieval for `<path>`), the event types that say an
object of the stream changed (at most 20, Stripe's cap on `types[]`; all of them event types of
API version 2024-04-10), whether an event's
`data.object` is the whole object the mapper needs, and which other objects' events point at
one of ours (a dispute names its charge, an invoice item its invoice).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StripeStream:
    name: str
    kind: str
    path: str
    object_type: str
    expand: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()
    snapshot_complete: bool = True
    """An event's `data.object` carries all the mapper needs (no expansion to fetch)."""
    related: Mapping[str, str] = field(default_factory=dict)
    """Object type -> the field of that object naming ours, for events about related objects."""


STREAMS: tuple[StripeStream, ...] = (
    StripeStream(
        name="customers",
        kind="customer",
        path="/v1/customers",
        object_type="customer",
        event_types=("customer.created", "customer.updated", "customer.deleted"),
    ),
    StripeStream(
        name="invoices",
        kind="invoice",
        path="/v1/invoices",
        object_type="invoice",
        event_types=(
            "invoice.created",
            "invoice.updated",
            "invoice.deleted",
            "invoice.finalized",
            "invoice.finalization_failed",
            "invoice.sent",
            "invoice.paid",
            "invoice.payment_succeeded",
            "invoice.payment_failed",
            "invoice.payment_action_required",
            "invoice.marked_uncollectible",
            "invoice.voided",
            "invoiceitem.created",
            "invoiceitem.deleted",
        ),
        related={"invoiceitem": "invoice"},
    ),
    StripeStream(
        name="charges",
        kind="payment",
        path="/v1/charges",
        object_type="charge",
        expand=("balance_transaction",),
        event_types=(
            "charge.succeeded",
            "charge.failed",
            "charge.pending",
            "charge.captured",
            "charge.expired",
            "charge.updated",
            "charge.refunded",
            "charge.refund.updated",
            "charge.dispute.created",
            "charge.dispute.updated",
            "charge.dispute.closed",
            "charge.dispute.funds_withdrawn",
            "charge.dispute.funds_reinstated",
        ),
        snapshot_complete=False,
        related={"dispute": "charge", "refund": "charge"},
    ),
    StripeStream(
        name="refunds",
        kind="refund",
        path="/v1/refunds",
        object_type="refund",
        expand=("charge",),
        event_types=("refund.created", "refund.updated", "charge.refund.updated"),
        snapshot_complete=False,
    ),
    StripeStream(
        name="credit_notes",
        kind="credit_note",
        path="/v1/credit_notes",
        object_type="credit_note",
        event_types=("credit_note.created", "credit_note.updated", "credit_note.voided"),
    ),
    StripeStream(
        name="payouts",
        kind="payout",
        path="/v1/payouts",
        object_type="payout",
        event_types=(
            "payout.created",
            "payout.updated",
            "payout.paid",
            "payout.failed",
            "payout.canceled",
            "payout.reconciliation_completed",
        ),
    ),
)

BY_NAME: Mapping[str, StripeStream] = {stream.name: stream for stream in STREAMS}

"""Which records a webhook event names: (system, stream, record id) for each one to resync.

Stripe events carry the object that changed in `data.object`; the connector's stream table
says which stream owns each object type and event type, and which related objects point at one
of ours (a refund names its charge, a dispute its charge, an invoice item its invoice), so one
event can name records of two streams. Metronome notifications carry ids in `properties`:
`invoice_id`, `contract_id`, and `customer_id` (the customer itself only when nothing more
specific is named). An event that names nothing tieout syncs is acknowledged and ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tieout.connectors.stripe.streams import STREAMS as STRIPE_STREAMS


@dataclass(frozen=True)
class RecordRef:
    system: str
    stream: str
    record_id: str

    def __str__(self) -> str:
        return f"{self.system}:{self.stream}:{self.record_id}"


def _id_of(value: object) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def stripe_records(event: Mapping[str, Any]) -> list[RecordRef]:
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(obj, Mapping):
        return []
    event_type, kind = str(event.get("type", "")), obj.get("object")
    found: list[RecordRef] = []
    for stream in STRIPE_STREAMS:
        if kind == stream.object_type and (
            event_type in stream.event_types or event_type.startswith(f"{kind}.")
        ):
            record_id = _id_of(obj.get("id"))
        elif isinstance(kind, str) and kind in stream.related:
            record_id = _id_of(obj.get(stream.related[kind]))
        else:
            continue
        if record_id is not None:
            found.append(RecordRef("stripe", stream.name, record_id))
    return found


_METRONOME_IDS = (("invoice_id", "invoices"), ("contract_id", "contracts"))


def metronome_records(event: Mapping[str, Any]) -> list[RecordRef]:
    properties = event.get("properties")
    if not isinstance(properties, Mapping):
        return []
    found = [
        RecordRef("metronome", stream, record_id)
        for field_name, stream in _METRONOME_IDS
        if (record_id := _id_of(properties.get(field_name))) is not None
    ]
    customer_id = _id_of(properties.get("customer_id"))
    if not found and customer_id is not None:
        found.append(RecordRef("metronome", "customers", customer_id))
    return found


def records_named(source: str, event: Mapping[str, Any]) -> list[RecordRef]:
    return stripe_records(event) if source == "stripe" else metronome_records(event)

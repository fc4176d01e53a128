"""Upsert rules for NetSuite pushes: record types, externalId checks, wire encoding, change detection.

A push is `PUT /record/v1/{type}/eid:{externalId}`, which creates the record or rewrites the one
with that externalId: idempotent by construction. Before it, the connector reads the record by
the same eid: if every field the body names already holds that value the push is "unchanged" and
nothing is written; a posted invoice whose total would change is a conflict unless the body says
`allow_overwrite`. Sublists in the body replace the record's (`replace=item,apply,...`), since
NetSuite otherwise merges the lines of an upsert into the lines the record already has.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from tieout.errors import PushRejected

RECORD_TYPES: Mapping[str, str] = {
    "customers": "customer",
    "invoices": "invoice",
    "payments": "customerPayment",
    "refunds": "customerRefund",
    "credit_memos": "creditMemo",
    "deposits": "deposit",
    "journal_entries": "journalEntry",
}
"""Pushable stream -> REST record type."""

VOIDABLE: tuple[str, ...] = ("invoices", "credit_memos", "payments", "refunds")
"""Streams whose transactions tieout may void (a payload `{"id": internal id, "voided": true}`)."""

_EXTERNAL_ID = re.compile(r"[A-Za-z0-9_\-.]{1,300}")


def external_id_of(stream: str, body: dict[str, Any], idempotency_key: str) -> str:
    """The body's externalId (removed from the body: the URL carries it), else the idempotency key."""
    value = body.pop("externalId", None) or idempotency_key
    external_id = str(value)
    if not _EXTERNAL_ID.fullmatch(external_id):
        raise PushRejected(
            "an externalId may hold only letters, digits, '_', '-' and '.' (at most 300)",
            system="netsuite",
            stream=stream,
            record_id=external_id,
        )
    return external_id


def wire(value: Any, *, stream: str, record_id: str) -> Any:
    """The body as JSON-ready data: Decimals become JSON numbers, refused if a number cannot carry them exactly."""
    if isinstance(value, Mapping):
        return {str(key): wire(item, stream=stream, record_id=record_id) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [wire(item, stream=stream, record_id=record_id) for item in value]
    if isinstance(value, Decimal):
        if value == value.to_integral_value() and abs(value) < 2**53:
            return int(value)
        number = float(value)
        if Decimal(repr(number)) != value:
            raise PushRejected(
                f"amount {value} cannot be sent exactly as a JSON number",
                system="netsuite",
                stream=stream,
                record_id=record_id,
            )
        return number
    return value


def replace_param(body: Mapping[str, Any]) -> dict[str, str]:
    """`replace=` naming every sublist the body carries: the body is the whole of each, not lines to merge."""
    sublists = sorted(key for key, value in body.items() if isinstance(value, Mapping) and "items" in value)
    return {"replace": ",".join(sublists)} if sublists else {}


def as_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def holds(existing: Any, wanted: Any) -> bool:
    """True when `existing` already carries every value `wanted` names (sublists item by item, in order)."""
    if isinstance(wanted, Mapping):
        if not isinstance(existing, Mapping):
            return False
        if "items" in wanted:
            have = existing.get("items")
            want = wanted.get("items") or []
            return (
                isinstance(have, list)
                and len(have) == len(want)
                and all(holds(h, w) for h, w in zip(have, want, strict=True))
            )
        return all(holds(existing.get(key), value) for key, value in wanted.items())
    if isinstance(wanted, bool) or wanted is None:
        return existing is wanted or existing == wanted
    if isinstance(wanted, int | float | Decimal):
        have, want = as_decimal(existing), as_decimal(wanted)
        return have is not None and have == want
    return str(existing) == str(wanted) if existing is not None else False


def invoice_total(body: Mapping[str, Any]) -> Decimal | None:
    """The total an invoice body would post (lines + taxTotal), or None when the body names no lines."""
    item = body.get("item")
    items = item.get("items") if isinstance(item, Mapping) else None
    if not isinstance(items, list) or not items:
        return None
    total = as_decimal(body.get("taxTotal")) or Decimal(0)
    for line in items:
        if not isinstance(line, Mapping):
            return None
        amount = as_decimal(line.get("amount"))
        if amount is None:
            rate, quantity = as_decimal(line.get("rate")), as_decimal(line.get("quantity"))
            if rate is None:
                return None
            amount = rate * (quantity if quantity is not None else Decimal(1))
        total += amount
    return total


def created_id(location: str | None) -> str | None:
    """The internal id at the end of a write's Location header."""
    if not location:
        return None
    tail = location.rstrip("/").rsplit("/", 1)[-1]
    return tail if tail.isdigit() else None

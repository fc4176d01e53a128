"""The values behind an exception, side by side per system, with the differing fields marked.

Two views: the rule's own comparison (the fields it checked, from the exception's details), and
each involved record in full as the store holds it (its canonical form). In the full view, ids
that are naturally different in each system (the record's own id, the customer's id there) are
shown but never marked as differences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel

from tieout.model import CanonicalRecord
from tieout.money import Money
from tieout.web.formatting import amount, day, moment, words

# Fields whose values are ids or bookkeeping local to each system, so they always differ.
PER_SYSTEM_FIELDS = frozenset(
    {
        "system",
        "native_id",
        "links",
        "updated_at",
        "deleted",
        "customer_id",
        "contract_id",
        "invoice_id",
        "payout_id",
        "parent_customer_id",
        "subsidiary_id",
        "applications",
    }
)
# The system is each column's heading already.
_NOT_SHOWN = frozenset({"system"})
_LABELS = {
    "native_id": "Id in that system",
    "links": "Ids it holds for other systems",
    "updated_at": "Last changed there",
    "subsidiary_id": "Subsidiary",
    "customer_id": "Customer id there",
    "payment_terms_days": "Payment terms (days)",
    "deleted": "Deleted there",
}
_LEAD_FIELDS = ("number", "legal_name", "status", "currency", "total", "amount_remaining", "gross")


@dataclass(frozen=True)
class Row:
    label: str
    values: tuple[str, ...]
    differs: bool


@dataclass(frozen=True)
class Column:
    system: str
    kind: str
    native_id: str
    link: str | None
    found: bool


@dataclass(frozen=True)
class Comparison:
    columns: tuple[str, ...]
    rows: tuple[Row, ...]

    @property
    def differing(self) -> int:
        return sum(1 for row in self.rows if row.differs)


def rule_comparison(details: Mapping[str, Any]) -> Comparison | None:
    """The rule's comparison from an exception's details, or None when the rule gave none."""
    systems = details.get("systems")
    fields = details.get("fields")
    if not isinstance(systems, list) or not isinstance(fields, list) or not fields:
        return None
    width = max(
        [len(systems)] + [len(entry.get("values", [])) for entry in fields if isinstance(entry, dict)]
    )
    columns = tuple(str(name) for name in systems) + ("",) * (width - len(systems))
    rows = []
    for entry in fields:
        if not isinstance(entry, dict):
            continue
        values = [_shown(value) for value in entry.get("values", [])]
        values += [""] * (width - len(values))
        label = str(entry.get("field", ""))
        rows.append(Row(label[:1].upper() + label[1:], tuple(values), bool(entry.get("differs"))))
    return Comparison(columns, tuple(rows))


def other_details(details: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What else the rule recorded (cash candidates, a refusal's reason...), as label and text."""
    shown = []
    for key, value in details.items():
        if key in ("systems", "fields", "records"):
            continue
        shown.append((words(key), _shown(value)))
    return shown


def record_link(templates: Mapping[str, str], system: str, native_id: str, stream: str | None) -> str | None:
    template = templates.get(system)
    if template is None:
        return None
    return template.replace("{id}", quote(native_id, safe="")).replace(
        "{stream}", quote(stream or "", safe="")
    )


def columns_for(
    record_ids: Sequence[str],
    found: Mapping[str, CanonicalRecord | None],
    streams: Mapping[str, str],
    links: Mapping[str, str],
) -> list[Column]:
    columns = []
    for record_id in record_ids:
        parts = record_id.split(":", 2)
        if len(parts) != 3:
            continue
        system, kind, native_id = parts
        columns.append(
            Column(
                system=system,
                kind=kind,
                native_id=native_id,
                link=record_link(links, system, native_id, streams.get(record_id)),
                found=found.get(record_id) is not None,
            )
        )
    return columns


def record_comparison(records: Sequence[CanonicalRecord | None]) -> Comparison:
    """Every field the records carry, one column per record, differing values marked.

    A field only one system fills (an email NetSuite keeps and Salesforce does not) is shown but
    not marked: the systems are not contradicting each other there.
    """
    flat = [flatten(record) if record is not None else {} for record in records]
    names = list(dict.fromkeys(name for values in flat for name in values if name not in _NOT_SHOWN))
    lead = [name for name in _LEAD_FIELDS if name in names]
    ordered = lead + [name for name in names if name not in lead]
    rows = []
    for name in ordered:
        values = tuple(values.get(name, "") for values in flat)
        if not any(values) or (name == "deleted" and set(values) <= {"no", ""}):
            continue
        filled = {value for value in values if value}
        differs = name.split(".")[0] not in PER_SYSTEM_FIELDS and len(filled) > 1
        rows.append(Row(_label(name), values, differs))
    return Comparison(tuple(record.system if record else "" for record in records), tuple(rows))


def _label(name: str) -> str:
    if name in _LABELS:
        return _LABELS[name]
    label = words(name.replace(".", " "))
    return "AR" + label[2:] if label.startswith("Ar ") else label


def flatten(record: CanonicalRecord) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in type(record).model_fields:
        _flatten_into(values, name, getattr(record, name))
    return values


def _flatten_into(values: dict[str, str], name: str, value: Any) -> None:
    if isinstance(value, Money):
        values[name] = f"{amount(value.amount, value.currency)} {value.currency}"
    elif isinstance(value, BaseModel):
        for field_name in type(value).model_fields:
            _flatten_into(values, f"{name}.{field_name}", getattr(value, field_name))
    elif isinstance(value, tuple | list):
        values[name] = _sequence(value)
    elif isinstance(value, dict):
        values[name] = ", ".join(f"{key}: {item}" for key, item in sorted(value.items()))
    else:
        values[name] = _shown(value)


def _sequence(items: Sequence[Any]) -> str:
    if not items:
        return ""
    first = items[0]
    if hasattr(first, "invoice_id") and hasattr(first, "amount"):
        return "; ".join(f"invoice {item.invoice_id}: {_shown(item.amount)}" for item in items)
    if hasattr(first, "description") and hasattr(first, "amount"):
        return f"{len(items)} line{'s' if len(items) != 1 else ''}"
    return f"{len(items)} item{'s' if len(items) != 1 else ''}"


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Money):
        return f"{amount(value.amount, value.currency)} {value.currency}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return moment(value)
    if isinstance(value, date):
        return day(value)
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "value") and isinstance(value.value, str):
        return value.value.replace("_", " ")
    if isinstance(value, list):
        return ", ".join(_shown(item) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{words(str(key))}: {_shown(item)}" for key, item in value.items())
    return str(value)

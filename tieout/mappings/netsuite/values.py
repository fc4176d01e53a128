"""Reading NetSuite values as the connector hands them over: SuiteQL strings to Money, dates, ids and links.

SuiteQL answers every value as a string and leaves empty values out, so every reader here takes the
raw field, names its field path in any `MappingError`, and never lets a float near `Money`. The
connector has already turned `lastmodifieddate` into an ISO 8601 UTC timestamp and dates into
'YYYY-MM-DD' (it asks SuiteQL for them with TO_CHAR), so parsing here needs no time zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from tieout.errors import MappingError
from tieout.mappings.readers import all_objects
from tieout.money import Money, normalize_currency, to_decimal


def text(payload: Mapping[str, Any], name: str, *, path: str = "") -> str | None:
    value = payload.get(name)
    if type(value) is str and value:
        return value  # SuiteQL's every value: checked before the general case
    if value is None or value == "":
        return None
    if not isinstance(value, str | int | Decimal):
        raise MappingError("expected a text value", field_path=path + name, value=value)
    return str(value)


def required(payload: Mapping[str, Any], name: str, *, path: str = "") -> str:
    value = text(payload, name, path=path)
    if value is None:
        raise MappingError("required field is missing", field_path=path + name, value=None)
    return value


def record_id(payload: Mapping[str, Any], name: str, *, path: str = "") -> str:
    """A NetSuite internal id: digits only."""
    value = required(payload, name, path=path)
    if not value.isdigit():
        raise MappingError("an internal id must be an integer", field_path=path + name, value=value)
    return value


def optional_id(payload: Mapping[str, Any], name: str, *, path: str = "") -> str | None:
    return record_id(payload, name, path=path) if text(payload, name, path=path) is not None else None


def currency(payload: Mapping[str, Any], name: str = "currencycode", *, path: str = "") -> str:
    value = required(payload, name, path=path)
    try:
        return normalize_currency(value)
    except ValueError as exc:
        raise MappingError(str(exc), field_path=path + name, value=value) from None


def decimal(
    payload: Mapping[str, Any], name: str, *, path: str = "", default: Decimal | None = None
) -> Decimal:
    value = payload.get(name)
    if value is None or value == "":
        if default is not None:
            return default
        raise MappingError("required amount is missing", field_path=path + name, value=None)
    try:
        return to_decimal(value)
    except ValueError as exc:
        raise MappingError(str(exc), field_path=path + name, value=value) from None


def optional_decimal(payload: Mapping[str, Any], name: str, *, path: str = "") -> Decimal | None:
    value = payload.get(name)
    if value is None or value == "":
        return None
    return decimal(payload, name, path=path)


def money(
    payload: Mapping[str, Any], name: str, code: str, *, path: str = "", default_zero: bool = False
) -> Money:
    amount = decimal(payload, name, path=path, default=Decimal(0) if default_zero else None)
    return as_money(amount, code, path=path + name)


def as_money(amount: Decimal, code: str, *, path: str) -> Money:
    """Money of an amount read from the field at `path`; an absurd amount is that field's error."""
    try:
        return Money.of(amount, code)
    except ValueError as exc:
        raise MappingError(str(exc), field_path=path, value=str(amount)) from None


def day(payload: Mapping[str, Any], name: str, *, path: str = "") -> date | None:
    value = text(payload, name, path=path)
    if value is None:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise MappingError("expected a date as YYYY-MM-DD", field_path=path + name, value=value) from None


def required_day(payload: Mapping[str, Any], name: str, *, path: str = "") -> date:
    found = day(payload, name, path=path)
    if found is None:
        raise MappingError("required date is missing", field_path=path + name, value=None)
    return found


def moment(payload: Mapping[str, Any], name: str, *, path: str = "") -> datetime | None:
    """An ISO 8601 timestamp with its offset, as aware UTC."""
    value = text(payload, name, path=path)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MappingError("expected an ISO 8601 timestamp", field_path=path + name, value=value) from None
    if parsed.tzinfo is None:
        raise MappingError("timestamp carries no offset", field_path=path + name, value=value)
    return parsed.astimezone(UTC)


def day_start(value: date) -> datetime:
    """A transaction date as a moment (midnight UTC) where the model wants a datetime."""
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def flag(payload: Mapping[str, Any], name: str) -> bool:
    return payload.get(name) == "T"


def rows(payload: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    value = payload.get(name, [])
    if not isinstance(value, list) or not all_objects(value):
        raise MappingError("expected a list of rows", field_path=name, value=value)
    return value


def external_links(
    external_id: str | None, default_system: str, prefixes: Mapping[str, str]
) -> dict[str, str]:
    """`externalId` as a link: a known id prefix names its system, anything else is `default_system`'s."""
    if not external_id:
        return {}
    for prefix, system in prefixes.items():
        if external_id.startswith(prefix):
            return {system: external_id}
    return {default_system: external_id}


STRIPE_PREFIXES: Mapping[str, str] = {
    "in_": "stripe",
    "cus_": "stripe",
    "ch_": "stripe",
    "py_": "stripe",
    "pi_": "stripe",
    "re_": "stripe",
    "cn_": "stripe",
    "po_": "stripe",
}

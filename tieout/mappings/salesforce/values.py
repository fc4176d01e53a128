"""Reading Salesforce field values: ids, datetimes, dates, numbers and money, each failure naming its field.

Payloads come straight from the REST API (numbers decoded as Decimal, datetimes written
`2026-03-02T12:00:00.000+0000`), from Bulk API 2.0 CSV converted to the same shape, or back from
the store, where Decimals were kept as strings; every reader here accepts all three.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from tieout.errors import MappingError
from tieout.money import Money, normalize_currency, to_decimal

_ID_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_PATTERN = re.compile(r"[A-Za-z0-9]{15}(?:[A-Z0-5]{3})?")
_OFFSET_WITHOUT_COLON = re.compile(r"([+-]\d{2})(\d{2})$")


def id18(value: object, field_path: str) -> str:
    """A Salesforce id as its case-insensitive 18-character form (15-character ids get their suffix)."""
    if not isinstance(value, str) or _ID_PATTERN.fullmatch(value) is None:
        raise MappingError("not a Salesforce id", field_path=field_path, value=value)
    if len(value) == 18:
        return value
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << position for position, char in enumerate(value[start : start + 5]) if char.isupper())
        suffix += _ID_SUFFIX_ALPHABET[bits]
    return value + suffix


def required(payload: Mapping[str, Any], key: str, path: str) -> Any:
    value = payload.get(key)
    if value is None or value == "":
        raise MappingError("required field is missing", field_path=path, value=value)
    return value


def text(payload: Mapping[str, Any], key: str, path: str) -> str | None:
    value = payload.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MappingError("expected text", field_path=path, value=value)
    return value


def required_text(payload: Mapping[str, Any], key: str, path: str) -> str:
    value = text(payload, key, path)
    if value is None:
        raise MappingError("required field is missing", field_path=path, value=payload.get(key))
    return value


def flag(payload: Mapping[str, Any], key: str, path: str, *, default: bool = False) -> bool:
    value = payload.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise MappingError("expected true or false", field_path=path, value=value)


def timestamp(value: object, path: str) -> datetime:
    """A Salesforce dateTime (`...+0000`, `...Z` or `...+00:00`) as an aware UTC datetime."""
    if not isinstance(value, str):
        raise MappingError("expected a dateTime", field_path=path, value=value)
    cleaned = _OFFSET_WITHOUT_COLON.sub(r"\1:\2", value.strip().replace("Z", "+00:00"))
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        raise MappingError("not a dateTime", field_path=path, value=value) from None
    if parsed.tzinfo is None:
        raise MappingError("dateTime without a time zone", field_path=path, value=value)
    return parsed.astimezone(UTC)


def day(payload: Mapping[str, Any], key: str, path: str) -> date | None:
    value = payload.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise MappingError("not a date (YYYY-MM-DD)", field_path=path, value=value) from None


def number(payload: Mapping[str, Any], key: str, path: str) -> Decimal | None:
    value = payload.get(key)
    if value is None or value == "":
        return None
    try:
        return to_decimal(value)
    except ValueError:
        raise MappingError("not a number", field_path=path, value=value) from None


def money(payload: Mapping[str, Any], key: str, currency: str, path: str) -> Money | None:
    amount = number(payload, key, path)
    return None if amount is None else Money(amount=amount, currency=currency)


def currency(payload: Mapping[str, Any], path: str = "CurrencyIsoCode") -> str:
    value = required(payload, "CurrencyIsoCode", path)
    try:
        return normalize_currency(value)
    except ValueError:
        raise MappingError("not an ISO 4217 currency code", field_path=path, value=value) from None


def optional_currency(payload: Mapping[str, Any], path: str = "CurrencyIsoCode") -> str | None:
    return None if payload.get("CurrencyIsoCode") in (None, "") else currency(payload, path)


def modstamp(payload: Mapping[str, Any]) -> datetime:
    return timestamp(required(payload, "SystemModstamp", "SystemModstamp"), "SystemModstamp")

"""Shared readers for Metronome payloads: fields with their paths, times, credit types, SKUs.

Metronome writes money as JSON numbers in a credit type's minor units ("USD (cents)": 14392 is
$143.92; "JPY (yen)" has no minor unit), possibly fractional, so amounts become `Money` through
`Money.from_minor` with the currency's own exponent and keep every digit. Every reader names the
field path it read, so a bad payload becomes a `MappingError` that points at the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from tieout.errors import MappingError
from tieout.mappings.context import MappingContext

# Shared with the other mappings; re-exported so this package reads them from one place.
from tieout.mappings.readers import all_objects
from tieout.mappings.readers import field as field
from tieout.mappings.readers import mapping as mapping
from tieout.mappings.readers import optional_text as optional_text
from tieout.mappings.readers import text as text
from tieout.money import CURRENCY_EXPONENTS, Money, to_decimal

SYSTEM = "metronome"

LOOKUPS = "tieout_lookups"
"""Key under which the connector adds what it fetched beside a record for its mapper (rate
card, rates, products, billing configurations); everything else is Metronome's own JSON."""

CREDIT_TYPE_MAP = "metronome_credit_types"
"""Value map (credit type id -> ISO currency) for fiat credit types whose name does not start
with the ISO code."""

_ONE_TICK = timedelta(microseconds=1)


def items(payload: Mapping[str, Any], key: str, path: str) -> list[Mapping[str, Any]]:
    """A list of objects; null or absent is an empty list."""
    value = payload.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all_objects(value):
        raise MappingError("expected a list of objects", field_path=path, value=value)
    return value


@lru_cache(maxsize=4096)
def _parse_timestamp(value: str) -> datetime | None:
    """The aware UTC moment an RFC 3339 string names, None when it names none or no zone.

    Cached: usage windows and invoice periods share a few month boundaries across every customer.
    """
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        return None
    return moment.astimezone(UTC)


def timestamp(value: Any, path: str) -> datetime:
    """An RFC 3339 timestamp (or datetime) as aware UTC; naive or malformed is a MappingError."""
    if type(value) is str:
        moment = _parse_timestamp(value)
        if moment is not None:
            return moment
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise MappingError("not an RFC 3339 timestamp", field_path=path, value=value) from None
    else:
        raise MappingError("expected an RFC 3339 timestamp", field_path=path, value=value)
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise MappingError("timestamp has no time zone", field_path=path, value=value)
    return moment.astimezone(UTC)


def optional_timestamp(payload: Mapping[str, Any], key: str, path: str) -> datetime | None:
    value = payload.get(key)
    return None if value is None else timestamp(value, path)


def last_day(ending_before: datetime) -> date:
    """The last calendar day (UTC) a period ending before `ending_before` (exclusive) covers."""
    return (ending_before - _ONE_TICK).date()


def number(value: Any, path: str) -> Decimal:
    try:
        return to_decimal(value)
    except ValueError as exc:
        raise MappingError(str(exc), field_path=path, value=value) from None


def whole_days(value: Any, path: str) -> int:
    days = number(value, path)
    if days != days.to_integral_value() or days < 0:
        raise MappingError("expected a whole, non-negative number of days", field_path=path, value=value)
    return int(days)


def credit_currency(credit_type: Any, context: MappingContext, path: str) -> str:
    """The ISO currency of a fiat credit type: from the value map, else its name ("USD (cents)")."""
    if not isinstance(credit_type, Mapping):
        raise MappingError("expected a credit type object", field_path=path, value=credit_type)
    credit_id = credit_type.get("id")
    table = context.fields.value_maps.get(CREDIT_TYPE_MAP, {})
    if isinstance(credit_id, str) and credit_id in table:
        return context.fields.translate(CREDIT_TYPE_MAP, credit_id, field_path=f"{path}.id")
    name = credit_type.get("name")
    code = name.split(" ", 1)[0].strip().upper() if isinstance(name, str) and name.strip() else ""
    if code not in CURRENCY_EXPONENTS:
        raise MappingError(
            f"credit type is not a fiat currency (map its id in value map {CREDIT_TYPE_MAP!r})",
            field_path=path,
            value=credit_type,
        )
    return code


def minor_money(value: Any, currency: str, path: str) -> Money:
    """Money from an amount in the credit type's minor units; fractional units are kept."""
    return Money.from_minor(number(value, path), currency)


def product_sku(custom_fields: Any, product_id: str | None, context: MappingContext) -> str | None:
    """The product's SKU from its custom fields, else Metronome's own product id."""
    sku_field = context.fields.custom_field(SYSTEM, "product_sku", "sku")
    if isinstance(custom_fields, Mapping):
        sku = custom_fields.get(sku_field)
        if isinstance(sku, str) and sku:
            return sku
    return product_id


def lookups(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    value = payload.get(LOOKUPS)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MappingError("expected an object", field_path=LOOKUPS, value=value)
    return value

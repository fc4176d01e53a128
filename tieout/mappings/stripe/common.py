"""Shared readers for Stripe payloads: fields with their paths, unix times, ids, metadata links, money.

Stripe writes every amount as an integer in the currency's minor unit, with Stripe's own exponent
table (kept here, since it is not ISO 4217's: ISK is two-decimal in Stripe and zero-decimal in
ISO, MGA the other way round), and every time as unix seconds. Each reader names the field path
it read, so a bad payload becomes a `MappingError` that points at the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tieout.errors import MappingError

# Shared with the other mappings; re-exported so this package reads them from one place.
from tieout.mappings.readers import all_objects
from tieout.mappings.readers import field as field
from tieout.mappings.readers import mapping as mapping
from tieout.mappings.readers import optional_text as optional_text
from tieout.mappings.readers import text as text
from tieout.money import CURRENCY_EXPONENTS, Money

SYSTEM = "stripe"

LOOKUPS = "tieout_lookups"
"""Key under which the connector adds what it fetched beside an object for its mapper (invoice
lines past the first page, a payout's balance transactions, the event time it was pulled at);
everything else in a payload is Stripe's own JSON."""

ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
"""Stripe's zero-decimal currencies: 500 is ¥500. MGA is two-decimal in ISO 4217, not here."""

THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])
"""Stripe's three-decimal currencies: 5120 is 5.120 KWD (Stripe wants the last digit 0 on charges)."""

# Stripe's special cases (docs.stripe.com/currencies#special-cases), none of which needs a row:
# ISK is effectively zero-decimal but stays two-decimal in the API (100 = 1 krona, amounts are
# multiples of 100); HUF and TWD are two-decimal in the API and paid out in whole units only;
# UGX is zero-decimal in the API, as in ISO. Every other currency is two-decimal in Stripe.


def stripe_exponent(currency: str) -> int:
    """Minor-unit exponent of an ISO code in Stripe's API (not always ISO's: see ISK, MGA)."""
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def items(value: Any, path: str) -> list[Mapping[str, Any]]:
    """A list of objects; null is an empty list."""
    if value is None:
        return []
    if not isinstance(value, list) or not all_objects(value):
        raise MappingError("expected a list of objects", field_path=path, value=value)
    return value


def integer(value: Any, path: str) -> int:
    """A JSON integer (Stripe's minor units); floats, strings and booleans are refused."""
    if type(value) is int:
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise MappingError("expected an integer amount in minor units", field_path=path, value=value)
    return value


def object_id(value: Any, path: str) -> str:
    """An id, whether Stripe sent it as a string or expanded it into its object."""
    if isinstance(value, Mapping):
        value = value.get("id")
    if not isinstance(value, str) or not value:
        raise MappingError("expected an id or an expanded object with one", field_path=path, value=value)
    return value


def optional_id(payload: Mapping[str, Any], key: str, path: str) -> str | None:
    value = payload.get(key)
    return None if value is None else object_id(value, path)


def moment(value: Any, path: str) -> datetime:
    """Unix seconds as an aware UTC datetime."""
    return datetime.fromtimestamp(integer(value, path), UTC)


def optional_moment(payload: Mapping[str, Any], key: str, path: str) -> datetime | None:
    value = payload.get(key)
    return None if value is None else moment(value, path)


def optional_day(payload: Mapping[str, Any], key: str, path: str) -> date | None:
    stamp = optional_moment(payload, key, path)
    return None if stamp is None else stamp.date()


def last_day(start: datetime, end: datetime) -> date:
    """The last calendar day (UTC) of a period ending at `end` (exclusive, unless it is an instant)."""
    if end <= start:
        return end.date()
    return (end - timedelta(microseconds=1)).date()


def currency(payload: Mapping[str, Any], path: str = "currency") -> str:
    """The ISO code of Stripe's lowercase currency field."""
    code = text(payload, "currency", path).upper()
    if code not in CURRENCY_EXPONENTS:
        raise MappingError("unknown currency code", field_path=path, value=payload.get("currency"))
    return code


def money(value: Any, code: str, path: str) -> Money:
    """Money from Stripe minor units, with Stripe's exponent for the currency."""
    return Money.from_minor(integer(value, path), code, exponent=stripe_exponent(code))


def optional_money(payload: Mapping[str, Any], key: str, code: str, path: str) -> Money | None:
    value = payload.get(key)
    return None if value is None else money(value, code, path)


def links(payload: Mapping[str, Any], keys: Mapping[str, str]) -> dict[str, str]:
    """Twin ids the object's metadata states, as {system: id}; empty values are no link."""
    metadata = mapping(payload, "metadata", "metadata")
    found: dict[str, str] = {}
    for key, system in keys.items():
        value = metadata.get(key)
        if isinstance(value, str) and value.strip():
            found[system] = value.strip()
    return found


def lookups(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    return mapping(payload, LOOKUPS, LOOKUPS)


def updated_at(payload: Mapping[str, Any]) -> datetime:
    """When the connector saw this version: the event time it pulled it at, else `created`."""
    seen = lookups(payload).get("updated_at")
    if seen is not None:
        return moment(seen, f"{LOOKUPS}.updated_at")
    return moment(field(payload, "created", "created"), "created")

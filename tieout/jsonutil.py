"""Canonical JSON for payloads and hashes: Decimals as strings, datetimes as ISO 8601, sorted keys.

The content hash of a record is the hash of this encoding, so the same record pulled twice hashes
the same whatever order its vendor listed the keys in.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import orjson
from pydantic import BaseModel


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(value: Any) -> str:
    """Compact, key-sorted JSON; refuses NaN and Infinity, which no API should send."""
    return json.dumps(value, default=_default, sort_keys=True, separators=(",", ":"), allow_nan=False)


ORJSON_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
"""orjson writing as `dumps` does: keys sorted, and what `_default` must judge handed to it."""


def written_as_dumps(encoded: bytes) -> bool:
    """Whether orjson's output is also `dumps`'s: printable ASCII, which `json` leaves unescaped."""
    return encoded.isascii() and b"\x7f" not in encoded


def dumps_decoded(value: Any) -> str:
    """`dumps` of a value made of what `loads` makes (numbers as int or Decimal, no floats), 3x faster.

    orjson writes such a value exactly as `dumps` does, save text outside printable ASCII (which
    `json` escapes) and what orjson refuses (non-string keys, integers past 64 bits, lone
    surrogates, subclasses and dataclasses, which `_default` turns down): those go to `dumps`.
    The sync runner encodes every pulled payload with it. A float would be written by orjson's
    rules (NaN and Infinity as null), which is why `loads` makes none.
    """
    try:
        encoded = orjson.dumps(value, default=_default, option=ORJSON_OPTIONS)
    except TypeError:
        return dumps(value)
    if not written_as_dumps(encoded):
        return dumps(value)
    return encoded.decode("ascii")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(text: str | bytes) -> Any:
    """JSON with non-integer numbers as Decimal, so money never passes through a float.

    NaN and Infinity, which Python's parser accepts but JSON does not have, are refused.
    """
    return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)


def content_hash(value: Any) -> str:
    return text_hash(dumps(value))


def text_hash(text: str) -> str:
    """The content hash of an already encoded value (encode once, store and hash the same text)."""
    return hashlib.sha256(text.encode()).hexdigest()

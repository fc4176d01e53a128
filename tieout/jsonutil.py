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


def loads(text: str | bytes) -> Any:
    """JSON with non-integer numbers as Decimal, so money never passes through a float."""
    return json.loads(text, parse_float=Decimal)


def content_hash(value: Any) -> str:
    return text_hash(dumps(value))


def text_hash(text: str) -> str:
    """The content hash of an already encoded value (encode once, store and hash the same text)."""
    return hashlib.sha256(text.encode()).hexdigest()

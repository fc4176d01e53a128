"""Canonical text the store can hold: no lone surrogates and no NUL characters.

JSON can carry both (`"\\ud800"`, `"\\u0000"`), Python decodes both into a str, and neither can
be stored: a lone surrogate has no UTF-8 encoding, and PostgreSQL text refuses NUL. A mapped
record holding either is that record's problem, so `check_storable` raises a `MappingError`
naming the field, and the record is filed like any other that cannot be read.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from tieout.errors import MappingError

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _problem(text: str) -> str | None:
    if text.isascii() and "\x00" not in text:
        return None
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    return "a NUL character" if found.group() == "\x00" else "a lone surrogate (broken UTF-16/UTF-8)"


def _walk(value: Any, path: str) -> None:
    if isinstance(value, str):
        problem = _problem(value)
        if problem is not None:
            raise MappingError(
                f"the text holds {problem}, which cannot be stored", field_path=path, value=value
            )
    elif isinstance(value, BaseModel):
        for name, item in value.__dict__.items():
            _walk(item, f"{path}.{name}" if path else name)
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(key, path)
            _walk(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]")


def check_storable(record: BaseModel) -> None:
    """Raise `MappingError` when any text in the record cannot be stored."""
    _walk(record, "")


def may_hold_unstorable_text(encoded: str) -> bool:
    """Whether a record pydantic encoded as this JSON may hold unstorable text (then `check_storable` it).

    pydantic's encoder writes NUL as the escape `\\u0000`, refuses a lone surrogate in a value
    and writes one in a dict key as U+FFFD; a record whose JSON shows neither holds no
    unstorable text, which spares walking every field of every record mapped.
    """
    return "\\u0000" in encoded or (not encoded.isascii() and "\ufffd" in encoded)

"""Salesforce record ids: 15-character base ids with an object key prefix, and their 18-character form.

The three-character suffix of an 18-character id encodes which of the first fifteen characters are
upper case, so the long form survives case-insensitive systems; the API always returns it.
"""

from __future__ import annotations

import itertools
import re
import threading

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_SHAPE = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$", re.IGNORECASE)
POD = "Hs"


def checksum(base_id: str) -> str:
    """The three suffix characters for a 15-character id."""
    suffix = []
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(base_id[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix.append(_SUFFIX_ALPHABET[bits])
    return "".join(suffix)


def to_18(base_id: str) -> str:
    return base_id + checksum(base_id)


def normalize_id(value: str) -> str | None:
    """The canonical 18-character id for a 15- or 18-character id, or None if it is not one.

    An 18-character id is accepted in any letter case: its suffix says which letters are capitals.
    """
    if not _ID_SHAPE.match(value):
        return None
    if len(value) == 15:
        return to_18(value)
    suffix = value[15:].upper()
    chars = list(value[:15])
    for chunk, suffix_char in enumerate(suffix):
        bits = _SUFFIX_ALPHABET.index(suffix_char)
        for position in range(5):
            index = chunk * 5 + position
            upper = bool(bits & (1 << position))
            if chars[index].isalpha():
                chars[index] = chars[index].upper() if upper else chars[index].lower()
            elif upper:
                return None
    return to_18("".join(chars))


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, remainder = divmod(number, 62)
        digits.append(_BASE62[remainder])
    return "".join(reversed(digits)).rjust(width, "0")


class IdFactory:
    """Hands out unique 18-character ids for key prefixes; thread-safe, deterministic per org."""

    def __init__(self, start: int = 1) -> None:
        self._counter = itertools.count(start)
        self._lock = threading.Lock()

    def new_id(self, key_prefix: str) -> str:
        with self._lock:
            number = next(self._counter)
        return to_18(f"{key_prefix}{POD}0{_base62(number, 9)}")

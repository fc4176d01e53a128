"""Wire formats shared by the Metronome emulator: errors, timestamps, cursors, credit types.

Metronome answers every error with `{"message": "..."}` and a status code; `ApiError` carries
both from the state layer to the HTTP layer. Timestamps go out as RFC 3339 in UTC with
milliseconds (`2024-01-01T00:00:00.000Z`), as Metronome writes them. Cursors are opaque
url-safe strings, so clients cannot lean on their contents.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime
from typing import Any

USD_CENTS_ID = "2714e483-4ff1-48e4-9e25-ac732e8f24f2"
"""Metronome's id for the "USD (cents)" credit type, the same in every account."""

_CREDIT_TYPE_NAMESPACE = uuid.UUID("6f1c9d1e-5a0b-4b43-9d3e-2b6f0c5f8a10")


def _fiat_id(code: str) -> str:
    # Only USD's id is the same in every Metronome account; other fiat credit types get an
    # id per account, so a stable made-up uuid is as faithful as any.
    return str(uuid.uuid5(_CREDIT_TYPE_NAMESPACE, code))


FIAT_CREDIT_TYPES: dict[str, dict[str, str]] = {
    USD_CENTS_ID: {"id": USD_CENTS_ID, "name": "USD (cents)"},
    **{
        _fiat_id(code): {"id": _fiat_id(code), "name": name}
        for code, name in (
            ("EUR", "EUR (cents)"),
            ("GBP", "GBP (pence)"),
            ("JPY", "JPY (yen)"),
            ("CAD", "CAD (cents)"),
            ("AUD", "AUD (cents)"),
        )
    },
}
"""Fiat credit types by id. Amounts are in the currency's minor unit (JPY has none)."""

CREDIT_TYPE_ID_BY_CURRENCY: dict[str, str] = {
    "USD": USD_CENTS_ID,
    **{code: _fiat_id(code) for code in ("EUR", "GBP", "JPY", "CAD", "AUD")},
}


class ApiError(Exception):
    """An error the API answers with: HTTP status and Metronome's `message`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, str]:
        return {"message": self.message}


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def conflict(message: str) -> ApiError:
    return ApiError(409, message)


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and a Z, as Metronome writes timestamps."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: Any, field: str) -> datetime:
    """Parse an RFC 3339 timestamp from a request; a naive or malformed one is a 400."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("z", "Z"))
        except ValueError:
            raise bad_request(f"{field}: {value!r} is not a valid RFC 3339 timestamp") from None
    else:
        raise bad_request(f"{field}: expected an RFC 3339 timestamp")
    if moment.tzinfo is None:
        raise bad_request(f"{field}: {value!r} must include a time zone offset")
    return moment.astimezone(UTC)


def optional_time(value: Any, field: str) -> datetime | None:
    return None if value is None else parse_time(value, field)


def encode_cursor(payload: Any) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error):
        raise bad_request("invalid next_page cursor") from None


def page_limit(value: Any, *, default: int = 100, maximum: int = 100) -> int:
    if value is None or value == "":
        return default
    try:
        limit = int(value)
    except (TypeError, ValueError):
        raise bad_request("limit must be an integer") from None
    if not 1 <= limit <= maximum:
        raise bad_request(f"limit must be between 1 and {maximum}")
    return limit


def credit_type(credit_type_id: str | None) -> dict[str, str]:
    """The `{id, name}` of a fiat credit type; unknown ids are a 400."""
    key = credit_type_id or USD_CENTS_ID
    try:
        return dict(FIAT_CREDIT_TYPES[key])
    except KeyError:
        raise bad_request(f"credit type {key} not found") from None

"""Field values between the wire and the store: JSON input to typed Python, typed Python to JSON and CSV.

Salesforce writes datetimes as `2024-01-31T12:00:00.000+0000` in REST JSON and with a `Z` in Bulk
API CSV, dates as `2024-01-31`, numbers as JSON numbers and nulls as null (empty in CSV).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import SalesforceApiError, malformed_id
from .ids import normalize_id
from .schema import NUMERIC_TYPES, TEXT_TYPES, FieldDef


def _parser_error(field: FieldDef, raw: Any, kind: str) -> SalesforceApiError:
    return SalesforceApiError(
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {kind} from {type(raw).__name__.upper()} value {raw} "
        f"or request may be missing a required field",
        fields=[field.name],
    )


def parse_datetime(text: str) -> datetime:
    """ISO 8601 with Z, +hh:mm or Salesforce's +hhmm offset, to an aware UTC datetime."""
    cleaned = text.strip().replace("Z", "+00:00")
    if len(cleaned) > 5 and cleaned[-5] in "+-" and cleaned[-3] != ":":
        cleaned = f"{cleaned[:-2]}:{cleaned[-2:]}"
    parsed = datetime.fromisoformat(cleaned)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def coerce(field: FieldDef, raw: Any) -> Any:
    """A JSON (or seeding) value for `field`, checked and converted to the stored Python type."""
    if raw is None:
        return None
    kind = field.type
    if kind in TEXT_TYPES:
        if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
            raise _parser_error(field, raw, "String")
        text = str(raw)
        if field.length and len(text) > field.length:
            raise SalesforceApiError(
                "STRING_TOO_LONG",
                f"{field.display_label}: data value too large: {text[:40]} (max length={field.length})",
                fields=[field.name],
            )
        if kind == "picklist" and field.restricted and text not in field.picklist:
            raise SalesforceApiError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{field.display_label}: bad value for restricted picklist field: {text}",
                fields=[field.name],
            )
        return text
    if kind in NUMERIC_TYPES:
        if isinstance(raw, bool):
            raise _parser_error(field, raw, "double")
        try:
            number = Decimal(str(raw))
        except InvalidOperation:
            raise _parser_error(field, raw, "double") from None
        if not number.is_finite():
            raise _parser_error(field, raw, "double")
        if kind == "int":
            if number != number.to_integral_value():
                raise _parser_error(field, raw, "int")
            return int(number)
        return float(number)
    if kind == "boolean":
        if not isinstance(raw, bool):
            raise _parser_error(field, raw, "boolean")
        return raw
    if kind == "date":
        if isinstance(raw, datetime):
            raise _parser_error(field, raw, "date")
        if isinstance(raw, date):
            return raw
        try:
            return date.fromisoformat(str(raw))
        except ValueError:
            raise _parser_error(field, raw, "date") from None
    if kind == "datetime":
        if isinstance(raw, datetime):
            if raw.tzinfo is None:
                raise _parser_error(field, raw, "datetime")
            return raw.astimezone(UTC)
        try:
            return parse_datetime(str(raw))
        except ValueError:
            raise _parser_error(field, raw, "datetime") from None
    # id and reference
    if not isinstance(raw, str):
        raise _parser_error(field, raw, "id")
    normalized = normalize_id(raw)
    if normalized is None:
        raise malformed_id(raw, field.display_label)
    return normalized


def format_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def to_csv(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)

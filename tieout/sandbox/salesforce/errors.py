"""Salesforce API errors as exceptions, and their wire shape.

The REST API answers errors with a JSON array of `{"message", "errorCode", "fields"}` objects; the
sObject Collections and upsert results carry per-record errors as `{"statusCode", "message",
"fields"}`. `SalesforceApiError` carries everything needed for both.

    SalesforceApiError
     ├── status 400: MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE, REQUIRED_FIELD_MISSING, ...
     ├── status 401: INVALID_SESSION_ID
     ├── status 403: REQUEST_LIMIT_EXCEEDED
     └── status 404: NOT_FOUND, ENTITY_IS_DELETED
"""

from __future__ import annotations

from typing import Any


class SalesforceApiError(Exception):
    def __init__(
        self, error_code: str, message: str, *, status: int = 400, fields: list[str] | None = None
    ) -> None:
        super().__init__(f"{error_code}: {message}")
        self.error_code = error_code
        self.message = message
        self.status = status
        self.fields = fields or []

    def body(self) -> list[dict[str, Any]]:
        """The REST error body: a one-element array."""
        entry: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields:
            entry["fields"] = self.fields
        return [entry]

    def record_error(self) -> dict[str, Any]:
        """One entry of a SaveResult's `errors` list."""
        return {"statusCode": self.error_code, "message": self.message, "fields": self.fields}


def not_found() -> SalesforceApiError:
    return SalesforceApiError("NOT_FOUND", "The requested resource does not exist", status=404)


def entity_is_deleted() -> SalesforceApiError:
    return SalesforceApiError("ENTITY_IS_DELETED", "entity is deleted", status=404)


def invalid_session() -> SalesforceApiError:
    return SalesforceApiError("INVALID_SESSION_ID", "Session expired or invalid", status=401)


def limit_exceeded(message: str = "TotalRequests Limit exceeded.") -> SalesforceApiError:
    return SalesforceApiError("REQUEST_LIMIT_EXCEEDED", message, status=403)


def malformed_id(value: str, label: str = "id") -> SalesforceApiError:
    return SalesforceApiError("MALFORMED_ID", f"{label}: id value of incorrect type: {value}")

"""simple-salesforce and requests exceptions -> tieout errors, at the connector's boundary.

| raised                                        | becomes                                      |
|-----------------------------------------------|----------------------------------------------|
| SalesforceExpiredSession (401), ...AuthenticationFailed | AuthenticationError (never retried) |
| SalesforceRefusedRequest (403) REQUEST_LIMIT_EXCEEDED   | RateLimited with Retry-After; BudgetExhausted when `Sforce-Limit-Info` shows the daily allocation spent |
| SalesforceRefusedRequest (403), other codes   | PermissionDenied                             |
| SalesforceResourceNotFound (404)              | NotFoundError (PushRejected on a write)      |
| SalesforceMoreThanOneRecord (300)             | ConflictError (an external id on several records) |
| SalesforceMalformedRequest (400)              | ConnectorError (PushRejected on a write)     |
| SalesforceGeneralError 429 / 409 / 5xx        | RateLimited / ConflictError / ServerError    |
| requests timeouts, connection errors, cut bodies | TransportError                            |
| a body that is not JSON (ValueError)          | MalformedResponse                            |
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import requests
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from tieout.connectors.http import redact, retry_after_seconds
from tieout.errors import (
    AuthenticationError,
    BudgetExhausted,
    ConflictError,
    ConnectorError,
    MalformedResponse,
    NotFoundError,
    PermissionDenied,
    PushRejected,
    RateLimited,
    ServerError,
    TieoutError,
    TransportError,
)

SYSTEM = "salesforce"
TRANSLATED = (SalesforceError, requests.RequestException, ValueError)
"""What `translate` knows; anything else is a bug and propagates as it is."""
_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


def api_usage(headers: Mapping[str, str]) -> tuple[int, int] | None:
    """(used, maximum) of the daily API allocation from `Sforce-Limit-Info`, if present."""
    match = _USAGE.search(headers.get("Sforce-Limit-Info", ""))
    return (int(match.group(1)), int(match.group(2))) if match else None


def error_codes(content: Any) -> list[str]:
    """The `errorCode`s of a Salesforce error body (a list of `{errorCode, message}`)."""
    if isinstance(content, list):
        return [str(item.get("errorCode")) for item in content if isinstance(item, Mapping)]
    return []


def describe(content: Any) -> str:
    if isinstance(content, list) and content and all(isinstance(item, Mapping) for item in content):
        return "; ".join(f"{item.get('errorCode')}: {item.get('message')}" for item in content)
    return str(content)[:500]


def translate(
    exc: Exception,
    *,
    what: str,
    headers: Mapping[str, str],
    writing: bool = False,
    secrets: tuple[str, ...] = (),
) -> TieoutError:
    """The tieout error for `exc`, raised while doing `what` (headers: the last response's)."""

    def text(detail: str) -> str:
        return redact(f"{what}: {detail}", secrets)

    if isinstance(exc, SalesforceError):
        status, content = exc.status, exc.content
        detail = text(f"answered {status}: {describe(content)}")
        if isinstance(exc, SalesforceExpiredSession | SalesforceAuthenticationFailed):
            return AuthenticationError(detail, system=SYSTEM, status_code=status)
        if isinstance(exc, SalesforceRefusedRequest):
            if "REQUEST_LIMIT_EXCEEDED" not in error_codes(content):
                return PermissionDenied(detail, system=SYSTEM, status_code=status)
            usage = api_usage(headers)
            if usage is not None and usage[0] >= usage[1]:
                return BudgetExhausted(
                    f"{detail} (daily API allocation spent)", system=SYSTEM, status_code=status
                )
            return RateLimited(
                detail, system=SYSTEM, status_code=status, retry_after_seconds=retry_after_seconds(headers)
            )
        if isinstance(exc, SalesforceResourceNotFound):
            if writing:
                return PushRejected(detail, system=SYSTEM)
            return NotFoundError(detail, system=SYSTEM, status_code=status)
        if isinstance(exc, SalesforceMoreThanOneRecord):
            return ConflictError(detail, system=SYSTEM, status_code=status)
        if isinstance(exc, SalesforceMalformedRequest):
            if writing:
                return PushRejected(detail, system=SYSTEM)
            return ConnectorError(detail, system=SYSTEM, status_code=status)
        if isinstance(exc, SalesforceGeneralError):
            if status == 429:
                return RateLimited(
                    detail,
                    system=SYSTEM,
                    status_code=status,
                    retry_after_seconds=retry_after_seconds(headers),
                )
            if status == 409:
                return ConflictError(detail, system=SYSTEM, status_code=status)
            if status >= 500:
                return ServerError(detail, system=SYSTEM, status_code=status)
        return ConnectorError(detail, system=SYSTEM, status_code=status)
    if isinstance(exc, requests.RequestException) and not isinstance(exc, ValueError):
        return TransportError(text(f"did not complete ({type(exc).__name__})"), system=SYSTEM)
    if isinstance(exc, ValueError):
        return MalformedResponse(text(f"answer is not JSON ({type(exc).__name__})"), system=SYSTEM)
    return ConnectorError(text(f"{type(exc).__name__}: {exc}"), system=SYSTEM)

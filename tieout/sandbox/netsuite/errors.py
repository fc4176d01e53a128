"""NetSuite's REST error bodies, the exception the emulator raises to produce one, and the fault renderer.

NetSuite answers every REST failure with an RFC 7807-style body:
`{"type", "title", "status", "o:errorDetails": [{"detail", "o:errorCode", "o:errorPath"?,
"o:errorQueryParam"?}]}`. `NetSuiteError` carries those parts from wherever the problem is found
(state, SuiteQL checker, auth) to the app, which renders it.
"""

from __future__ import annotations

import uuid
from typing import Any

from tieout.sandbox.faults import ErrorResponse, FaultKind

_RFC = "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html"
_SECTIONS = {
    400: ("#sec10.4.1", "Bad Request"),
    401: ("", "Unauthorized"),
    403: ("#sec10.4.4", "Forbidden"),
    404: ("#sec10.4.5", "Not Found"),
    405: ("#sec10.4.6", "Method Not Allowed"),
    415: ("#sec10.4.16", "Unsupported Media Type"),
    429: ("#sec10.4.30", "Too Many Requests"),
    500: ("#sec10.5.1", "Internal Server Error"),
    503: ("#sec10.5.4", "Service Unavailable"),
}

LOGIN_DETAIL = (
    "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at "
    "Setup > Users/Roles > User Management > View Login Audit Trail."
)
CONCURRENCY_DETAIL = "Concurrent request limit exceeded. Request blocked."


class NetSuiteError(Exception):
    """A failure to answer with NetSuite's error body."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        path: str | None = None,
        query_param: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.path = path
        self.query_param = query_param

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.code, self.detail, path=self.path, query_param=self.query_param)


def error_body(
    status: int, code: str, detail: str, *, path: str | None = None, query_param: str | None = None
) -> dict[str, Any]:
    section, title = _SECTIONS.get(status, ("", "Error"))
    item: dict[str, Any] = {"detail": detail, "o:errorCode": code}
    if path is not None:
        item["o:errorPath"] = path
    if query_param is not None:
        item["o:errorQueryParam"] = query_param
    return {"type": _RFC + section, "title": title, "status": status, "o:errorDetails": [item]}


def invalid_content(detail: str, path: str | None = None) -> NetSuiteError:
    """A request body NetSuite refuses (bad field value, broken business rule)."""
    return NetSuiteError(400, "USER_ERROR", f"Error while accessing resource: {detail}", path=path)


def invalid_field(value: object, field: str, path: str | None = None) -> NetSuiteError:
    return NetSuiteError(
        400,
        "INVALID_CONTENT",
        f"Error while accessing resource: You have entered an Invalid Field Value {value} "
        f"for the following field: {field}",
        path=path or field,
    )


def not_found() -> NetSuiteError:
    return NetSuiteError(
        404, "NONEXISTENT_ID", "The record instance does not exist. Provide a valid record instance ID."
    )


def invalid_query(detail: str) -> NetSuiteError:
    """SuiteQL the emulator cannot or will not run: NetSuite's 'Invalid search query' 400."""
    return NetSuiteError(
        400,
        "INVALID_PARAMETER",
        f"Invalid search query. Detailed unprocessed description follows. {detail}",
        query_param="q",
    )


def invalid_parameter(name: str, detail: str) -> NetSuiteError:
    return NetSuiteError(400, "INVALID_PARAMETER", detail, query_param=name)


def render_fault(kind: FaultKind, retry_after_seconds: float) -> ErrorResponse:
    """The FaultMiddleware callback: NetSuite-shaped 429s (both kinds) and 500s."""
    retry_after = {"Retry-After": str(max(1, round(retry_after_seconds)))}
    if kind == "server_error":
        detail = f"An unexpected error occurred. Error ID: {uuid.uuid4().hex[:20]}"
        return ErrorResponse(500, error_body(500, "UNEXPECTED_ERROR", detail))
    return ErrorResponse(429, error_body(429, "CONCURRENCY_LIMIT_EXCEEDED", CONCURRENCY_DETAIL), retry_after)

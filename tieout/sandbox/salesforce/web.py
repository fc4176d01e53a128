"""HTTP plumbing shared by the Salesforce routes: auth, API usage accounting, JSON bodies and errors.

Every API resource is wrapped by `endpoint`: it checks the bearer token (INVALID_SESSION_ID, 401),
counts the request against the daily allocation (REQUEST_LIMIT_EXCEEDED, 403, once it is spent),
turns SalesforceApiError into Salesforce's error array, and stamps `Sforce-Limit-Info` on the answer.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .errors import SalesforceApiError, invalid_session
from .state import SalesforceState

Handler = Callable[[Request], Awaitable[Response]]
JSON_TYPE = "application/json;charset=UTF-8"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=headers, media_type=JSON_TYPE)


def error_response(error: SalesforceApiError) -> Response:
    return json_response(error.body(), status=error.status)


async def json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw or b"null")
    except json.JSONDecodeError as exc:
        raise SalesforceApiError(
            "JSON_PARSER_ERROR",
            f"Unexpected character: was expecting a JSON value at [line:{exc.lineno}, column:{exc.colno}]",
        ) from None


async def json_object(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise SalesforceApiError(
            "JSON_PARSER_ERROR", "Cannot deserialize instance of SObject from a value that is not an object"
        )
    return body


def _authorized(state: SalesforceState, request: Request) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return scheme.lower() in ("bearer", "oauth") and token.strip() == state.session_id


def endpoint(state: SalesforceState, handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        if not _authorized(state, request):
            return error_response(invalid_session())
        try:
            used, maximum = state.count_api_request()
        except SalesforceApiError as exc:
            used, maximum = state.api_usage()
            response = error_response(exc)
        else:
            try:
                response = await handler(request)
            except SalesforceApiError as exc:
                response = error_response(exc)
        response.headers["Sforce-Limit-Info"] = f"api-usage={used}/{maximum}"
        return response

    return wrapped

"""The Salesforce REST API (v59.0) as an ASGI app, wrapped in the sandbox fault injector.

`build_app(state)` serves the resources under `/services/data/v59.0`; `client_settings` says what
simple-salesforce needs to connect. Injected faults answer like Salesforce: a 500 with
UNKNOWN_EXCEPTION, and rate limiting as Salesforce does it, 403 REQUEST_LIMIT_EXCEEDED (plus a
Retry-After hint), since the REST API has no 429.
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..faults import ASGIApp, ErrorResponse, FaultInjector, FaultKind, FaultMiddleware, Receive, Scope, Send
from .collections_api import CollectionRoutes
from .errors import SalesforceApiError, not_found
from .query_api import QueryRoutes
from .rest import SObjectRoutes
from .state import API_VERSION, SalesforceState
from .web import Handler, endpoint, error_response

PREFIX = f"/services/data/v{API_VERSION}"


def render_fault(kind: FaultKind, retry_after_seconds: float) -> ErrorResponse:
    if kind == "server_error":
        error_id = f"{secrets.randbelow(10**9)}-{secrets.randbelow(10**5)} ({-secrets.randbelow(10**9)})"
        body = [
            {
                "errorCode": "UNKNOWN_EXCEPTION",
                "message": f"An unexpected error occurred. Please include this ErrorId if you contact support: {error_id}",
            }
        ]
        return ErrorResponse(500, body)
    message = (
        "ConcurrentPerOrgLongTxn Limit exceeded."
        if kind == "concurrency_limited"
        else "TotalRequests Limit exceeded."
    )
    return ErrorResponse(
        403,
        [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": message}],
        {"Retry-After": str(max(1, round(retry_after_seconds)))},
    )


class _TrailingSlash:
    """simple-salesforce posts to `/sobjects/Account/` and queries `/query/`: route both spellings alike."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/")}
        await self.app(scope, receive, send)


def build_app(state: SalesforceState, injector: FaultInjector | None = None) -> ASGIApp:
    sobjects = SObjectRoutes(state)
    collections = CollectionRoutes(state)
    queries = QueryRoutes(state)

    def api(path: str, handler: Handler, methods: list[str]) -> Route:
        return Route(PREFIX + path, endpoint(state, handler), methods=methods)

    routes = [
        Route("/services/data", sobjects.versions, methods=["GET"]),
        api("", sobjects.resources, ["GET"]),
        api("/limits", sobjects.limits, ["GET"]),
        api("/query", queries.query, ["GET"]),
        api("/queryAll", queries.query_all, ["GET"]),
        api("/query/{locator}", queries.query_more, ["GET"]),
        api("/queryAll/{locator}", queries.query_more, ["GET"]),
        api("/jobs/query", queries.create_job, ["POST"]),
        api("/jobs/query", queries.list_jobs, ["GET"]),
        api("/jobs/query/{job_id}", queries.get_job, ["GET"]),
        api("/jobs/query/{job_id}", queries.patch_job, ["PATCH"]),
        api("/jobs/query/{job_id}", queries.delete_job, ["DELETE"]),
        api("/jobs/query/{job_id}/results", queries.job_results, ["GET"]),
        api("/composite/sobjects", collections.create, ["POST"]),
        api("/composite/sobjects", collections.update, ["PATCH"]),
        api("/composite/sobjects", collections.delete, ["DELETE"]),
        api("/composite/sobjects/{name}", collections.retrieve, ["GET", "POST"]),
        api("/composite/sobjects/{name}/{field}", collections.upsert, ["PATCH"]),
        api("/sobjects", sobjects.describe_global, ["GET"]),
        api("/sobjects/{name}", sobjects.basic_info, ["GET"]),
        api("/sobjects/{name}", sobjects.create, ["POST"]),
        api("/sobjects/{name}/describe", sobjects.describe, ["GET"]),
        api("/sobjects/{name}/updated", sobjects.updated, ["GET"]),
        api("/sobjects/{name}/deleted", sobjects.deleted, ["GET"]),
        api("/sobjects/{name}/{record_id}", sobjects.get_record, ["GET"]),
        api("/sobjects/{name}/{record_id}", sobjects.update_record, ["PATCH"]),
        api("/sobjects/{name}/{record_id}", sobjects.delete_record, ["DELETE"]),
        api("/sobjects/{name}/{field}/{value}", sobjects.get_by_external_id, ["GET"]),
        api("/sobjects/{name}/{field}/{value}", sobjects.upsert, ["PATCH"]),
    ]

    async def unknown(request: Request, exc: Exception) -> Response:
        return error_response(not_found())

    async def wrong_method(request: Request, exc: Exception) -> Response:
        allowed = "GET, HEAD, POST, PATCH, DELETE"
        body = SalesforceApiError(
            "METHOD_NOT_ALLOWED",
            f"HTTP Method '{request.method}' not allowed. Allowed are {allowed}",
            status=405,
        )
        return error_response(body)

    app = Starlette(routes=routes, exception_handlers={404: unknown, 405: wrong_method})
    return FaultMiddleware(_TrailingSlash(app), injector or FaultInjector(), render_fault)


def client_settings(base_url: str, state: SalesforceState) -> dict[str, Any]:
    """What simple-salesforce needs: `Salesforce(instance_url=..., session_id=..., version=...)`."""
    return {"instance_url": base_url, "session_id": state.session_id, "version": API_VERSION}

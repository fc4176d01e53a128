"""The NetSuite REST web services as an ASGI app: OAuth token, record service v1 and SuiteQL.

Routes (all under `/services/rest`): `POST auth/oauth2/v1/token`; `POST query/v1/suiteql`
(`Prefer: transient`); `GET|POST record/v1/{type}`; `GET|PATCH|PUT|DELETE record/v1/{type}/{id}`
where `{id}` is an internal id or `eid:{externalId}` (PUT only with `eid:`, as an upsert);
`GET record/v1/{type}/{id}/{sublist}`; and, outside `/services/rest`, the void RESTlet
(`restlets.py`). Writes answer 204 with a `Location` header. Every error
has NetSuite's body. The app is wrapped in the fault middleware and, outside it, in the account's
concurrency governor, so requests slowed by a fault still hold their slot as they would in NetSuite.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tieout.sandbox.faults import ADMIN_PATH, ASGIApp, FaultInjector, FaultMiddleware, Receive, Scope, Send
from tieout.sandbox.netsuite import records, restlets, suiteql, writes
from tieout.sandbox.netsuite.auth import TOKEN_PATH, OAuthError
from tieout.sandbox.netsuite.errors import (
    CONCURRENCY_DETAIL,
    LOGIN_DETAIL,
    NetSuiteError,
    error_body,
    invalid_parameter,
    not_found,
    render_fault,
)
from tieout.sandbox.netsuite.render import RECORD_PATH, record_url
from tieout.sandbox.netsuite.state import NetSuiteState

SUITEQL_PATH = "/services/rest/query/v1/suiteql"


def _error(exc: NetSuiteError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise NetSuiteError(
            400, "INVALID_CONTENT", "Invalid content in the request body: the JSON could not be parsed."
        ) from None
    if not isinstance(body, dict):
        raise NetSuiteError(400, "INVALID_CONTENT", "The request body must be a JSON object.")
    return body


def _paging_links(
    url: str, params: dict[str, str], limit: int, offset: int, reachable: int
) -> list[dict[str, str]]:
    def href(at: int) -> str:
        return f"{url}?{urlencode({**params, 'limit': limit, 'offset': at})}"

    last = max(0, (reachable - 1) // limit * limit)
    links = [{"rel": "first", "href": href(0)}]
    if offset > 0:
        links.append({"rel": "previous", "href": href(max(0, offset - limit))})
    if offset + limit < reachable:
        links.append({"rel": "next", "href": href(offset + limit)})
    links.append({"rel": "last", "href": href(last)})
    links.append({"rel": "self", "href": href(offset)})
    return links


class NetSuiteApp:
    """The route handlers, bound to one account's state."""

    def __init__(self, state: NetSuiteState) -> None:
        self.state = state

    def _authorize(self, request: Request) -> None:
        if not self.state.authority.check_bearer(request.headers.get("authorization")):
            raise NetSuiteError(401, "INVALID_LOGIN", LOGIN_DETAIL)

    async def token(self, request: Request) -> Response:
        form = {key: str(value) for key, value in (await request.form()).items()}
        try:
            issued = self.state.authority.issue(form, request.headers.get("authorization"))
        except OAuthError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return JSONResponse(issued, headers={"Cache-Control": "no-store"})

    async def suiteql(self, request: Request) -> Response:
        try:
            self._authorize(request)
            if "transient" not in request.headers.get("prefer", "").lower():
                raise NetSuiteError(
                    400,
                    "INVALID_HEADER",
                    "The request must include the header 'Prefer: transient' to run a SuiteQL query.",
                )
            body = _body(await request.body())
            query = body.get("q")
            if not isinstance(query, str):
                raise NetSuiteError(
                    400, "INVALID_PARAMETER", "The query parameter q is missing or empty.", query_param="q"
                )
            limit, offset = suiteql.parse_paging(
                request.query_params.get("limit"), request.query_params.get("offset")
            )
            items, total = await run_in_threadpool(suiteql.run, self.state, query, limit, offset)
        except NetSuiteError as exc:
            return _error(exc)
        reachable = min(total, suiteql.MAX_RESULTS)
        answer = {
            "links": _paging_links(_base_url(request) + SUITEQL_PATH, {}, limit, offset, reachable),
            "count": len(items),
            "hasMore": offset + len(items) < reachable,
            "items": items,
            "offset": offset,
            "totalResults": total,
        }
        return JSONResponse(answer, headers={"Preference-Applied": "transient"})

    def collection(self, request: Request) -> Response:
        try:
            self._authorize(request)
            record = records.lookup(request.path_params["type"])
            if request.method == "POST":
                body = _body(self._read_body(request))
                record_id = writes.create(self.state, record, body)
                location = record_url(_base_url(request), record.name, record_id)
                return Response(status_code=204, headers={"Location": location})
            limit, offset = self._record_paging(request)
            q = request.query_params.get("q")
            ids, total = records.list_ids(self.state, record, q, limit, offset)
        except NetSuiteError as exc:
            return _error(exc)
        base = _base_url(request)
        params = {"q": q} if q else {}
        url = f"{base}{RECORD_PATH}/{record.name}"
        return JSONResponse(
            {
                "links": _paging_links(url, params, limit, offset, total),
                "count": len(ids),
                "hasMore": offset + len(ids) < total,
                "items": [{"links": [{"rel": "self", "href": f"{url}/{i}"}], "id": str(i)} for i in ids],
                "offset": offset,
                "totalResults": total,
            }
        )

    @staticmethod
    def _read_body(request: Request) -> bytes:
        body: bytes = request.scope["ns.body"]
        return body

    @staticmethod
    def _record_paging(request: Request) -> tuple[int, int]:
        raw_limit, raw_offset = request.query_params.get("limit"), request.query_params.get("offset")
        try:
            limit = 1000 if raw_limit is None else int(raw_limit)
            offset = 0 if raw_offset is None else int(raw_offset)
        except ValueError:
            raise invalid_parameter(
                "limit", "Invalid value for the query parameter limit or offset."
            ) from None
        if not 1 <= limit <= 1000:
            raise invalid_parameter(
                "limit", "Invalid value for the query parameter limit. The value must be between 1 and 1000."
            )
        if offset < 0:
            raise invalid_parameter("offset", "Invalid value for the query parameter offset.")
        return limit, offset

    def _resolve(self, record: records.RecordType, key: str) -> int:
        if key.startswith("eid:"):
            found = self.state.find_external(record, key[4:])
            if found is None:
                raise not_found()
            return found
        if not key.isdigit():
            raise not_found()
        return int(key)

    def instance(self, request: Request) -> Response:
        try:
            self._authorize(request)
            record = records.lookup(request.path_params["type"])
            key = request.path_params["key"]
            replace = {name for name in request.query_params.get("replace", "").split(",") if name}
            base = _base_url(request)
            if request.method == "PUT":
                if not key.startswith("eid:") or len(key) <= 4:
                    raise NetSuiteError(
                        405,
                        "INVALID_METHOD",
                        "PUT is only supported with an external ID (eid:) in the URL, as an upsert.",
                    )
                body = _body(self._read_body(request))
                record_id = writes.upsert(self.state, record, key[4:], body, replace)
                return Response(
                    status_code=204, headers={"Location": record_url(base, record.name, record_id)}
                )
            record_id = self._resolve(record, key)
            if request.method == "GET":
                expand = request.query_params.get("expandSubResources", "").lower() == "true"
                return JSONResponse(writes.read(self.state, record, record_id, base, expand))
            if request.method == "PATCH":
                writes.update(self.state, record, record_id, _body(self._read_body(request)), replace)
                return Response(
                    status_code=204, headers={"Location": record_url(base, record.name, record_id)}
                )
            writes.delete(self.state, record, record_id)
            return Response(status_code=204)
        except NetSuiteError as exc:
            return _error(exc)

    async def restlet(self, request: Request) -> Response:
        try:
            self._authorize(request)
            body = _body(await request.body())
            params = request.query_params
            answer = await run_in_threadpool(
                restlets.run, self.state, params.get("script"), params.get("deploy"), body
            )
        except NetSuiteError as exc:
            return JSONResponse(restlets.restlet_error(exc), status_code=exc.status)
        return JSONResponse(answer)

    def sublist(self, request: Request) -> Response:
        try:
            self._authorize(request)
            record = records.lookup(request.path_params["type"])
            record_id = self._resolve(record, request.path_params["key"])
            shown = writes.read(self.state, record, record_id, _base_url(request), True)
            value = shown.get(request.path_params["sublist"])
            if not isinstance(value, dict) or "items" not in value:
                raise not_found()
            return JSONResponse(value)
        except NetSuiteError as exc:
            return _error(exc)


class _BodyFirst:
    """Read the request body on the event loop so sync handlers in the threadpool can use it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in ("POST", "PUT", "PATCH")
            and scope["path"].startswith(RECORD_PATH)
        ):
            chunks = []
            while True:
                message = await receive()
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
            scope["ns.body"] = b"".join(chunks)
        await self.app(scope, receive, send)


class ConcurrencyGovernor:
    """The account's concurrency limit: requests beyond `state.concurrency_limit` in flight get a 429."""

    def __init__(self, app: ASGIApp, state: NetSuiteState) -> None:
        self.app = app
        self.state = state
        self.in_flight = 0
        self.rejected = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == ADMIN_PATH:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.state.concurrency_limit:
            self.rejected += 1
            response = JSONResponse(
                error_body(429, "CONCURRENCY_LIMIT_EXCEEDED", CONCURRENCY_DETAIL),
                status_code=429,
                headers={"Retry-After": "1"},
            )
            await response(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        return _error(NetSuiteError(404, "NONEXISTENT_ID", "The requested resource does not exist."))
    if status == 405:
        return _error(NetSuiteError(405, "INVALID_METHOD", f"The method {request.method} is not allowed."))
    return JSONResponse(
        error_body(status, "UNEXPECTED_ERROR", "An unexpected error occurred."), status_code=status
    )


def build_app(state: NetSuiteState, injector: FaultInjector | None = None) -> ASGIApp:
    handlers = NetSuiteApp(state)
    routes = [
        Route(TOKEN_PATH, handlers.token, methods=["POST"]),
        Route(SUITEQL_PATH, handlers.suiteql, methods=["POST"]),
        Route(RECORD_PATH + "/{type}", handlers.collection, methods=["GET", "POST"]),
        Route(RECORD_PATH + "/{type}/{key}", handlers.instance, methods=["GET", "PATCH", "PUT", "DELETE"]),
        Route(RECORD_PATH + "/{type}/{key}/{sublist}", handlers.sublist, methods=["GET"]),
        Route(restlets.RESTLET_PATH, handlers.restlet, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes, exception_handlers={404: _http_error, 405: _http_error, Exception: _http_error}
    )
    faulted = FaultMiddleware(_BodyFirst(app), injector or FaultInjector(), render_fault)
    return ConcurrencyGovernor(faulted, state)

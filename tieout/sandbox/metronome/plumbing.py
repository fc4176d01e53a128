"""Request and response plumbing for the Metronome emulator's HTTP handlers.

Handlers are coroutines `(state, request) -> Response`; `endpoint` turns one into a Starlette
endpoint that runs it under the state lock and answers `ApiError` with Metronome's
`{"message": ...}` body. Query
strings follow the SDK's conventions: arrays are comma-separated, booleans are `true`/`false`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tieout.sandbox.metronome.state import MetronomeState
from tieout.sandbox.metronome.wire import ApiError, bad_request, decode_cursor, encode_cursor, page_limit

Handler = Callable[[MetronomeState, Request], Awaitable[Response]]


def endpoint(state: MetronomeState, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        # Read the body first (Starlette caches it), so the handler never suspends and can run
        # under the state lock: responses render their JSON before a seeding thread changes it.
        await request.body()
        # Drafts whose grace period has passed by the sandbox clock finalize before any answer,
        # as Metronome finalizes them on its own schedule.
        state.finalize_due_invoices()
        try:
            with state.lock:
                return await handler(state, request)
        except ApiError as error:
            return JSONResponse(error.body(), status_code=error.status)

    return run


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise bad_request("request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    return body


async def json_any(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        raise bad_request("request body is not valid JSON") from None


def required(body: dict[str, Any], key: str) -> Any:
    value = body.get(key)
    if value is None or value == "":
        raise bad_request(f"{key} is required")
    return value


def query_bool(request: Request, key: str) -> bool:
    value = request.query_params.get(key)
    if value is None:
        return False
    if value.lower() not in {"true", "false"}:
        raise bad_request(f"{key} must be true or false")
    return value.lower() == "true"


def query_list(request: Request, key: str) -> list[str] | None:
    values = request.query_params.getlist(key)
    if not values:
        return None
    return [item for value in values for item in value.split(",") if item]


def data(payload: Any) -> JSONResponse:
    return JSONResponse({"data": payload})


def page(rows: list[Any], next_page: str | None) -> JSONResponse:
    return JSONResponse({"data": rows, "next_page": next_page})


def offset_page(
    rows: Sequence[Any], request: Request, *, default_limit: int = 100, max_limit: int = 100
) -> tuple[list[Any], str | None]:
    """Page through a fully built list with an offset cursor taken from the query string."""
    limit = page_limit(request.query_params.get("limit"), default=default_limit, maximum=max_limit)
    cursor = request.query_params.get("next_page")
    start = int(decode_cursor(cursor)["offset"]) if cursor else 0
    end = start + limit
    return list(rows[start:end]), encode_cursor({"offset": end}) if end < len(rows) else None


def empty() -> Response:
    return Response(status_code=200)

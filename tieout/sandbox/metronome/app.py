"""The Metronome emulator as an ASGI app: routes, bearer-token auth, fault injection.

Requests need `Authorization: Bearer <token>` with a token the state knows, else 401 with
Metronome's `{"message": ...}` body. Sandbox administration lives under `/__sandbox/` and needs
no token, like the fault admin endpoint: `GET|PUT /__sandbox/metronome/webhooks` reads or sets
the webhook destination `{"url": ..., "secret": ...}` (Metronome configures it in its dashboard). The app is wrapped in the sandbox `FaultMiddleware`, whose
injected faults are rendered in the same shape: 429 with `Retry-After`, 500 for server errors.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tieout.sandbox.faults import (
    ASGIApp,
    ErrorResponse,
    FaultInjector,
    FaultKind,
    FaultMiddleware,
    Receive,
    Scope,
    Send,
)
from tieout.sandbox.metronome.routes import routes
from tieout.sandbox.metronome.state import MetronomeState

ADMIN_PREFIX = "/__sandbox/"


def render_error(kind: FaultKind, retry_after_seconds: float) -> ErrorResponse:
    """Metronome's body for an injected fault."""
    if kind == "server_error":
        return ErrorResponse(500, {"message": "Internal server error"})
    retry_after = str(max(1, math.ceil(retry_after_seconds)))
    return ErrorResponse(429, {"message": "Too many requests"}, {"Retry-After": retry_after})


class BearerAuth:
    """Answer 401 unless the request carries one of the state's API tokens."""

    def __init__(self, app: ASGIApp, state: MetronomeState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(ADMIN_PREFIX):
            headers = dict(scope["headers"])
            scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or token.strip() not in self.state.api_tokens:
                response = JSONResponse({"message": "Unauthorized"}, status_code=401)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _webhook_admin(state: MetronomeState, request: Request) -> Response:
    if request.method == "PUT":
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("url"), str | None):
            return JSONResponse({"message": 'body must be {"url": string or null, "secret"?: string}'}, 400)
        if not isinstance(body.get("secret"), str | None):
            return JSONResponse({"message": "secret must be a string"}, status_code=400)
        state.configure_webhooks(body.get("url"), body.get("secret"))
    return JSONResponse({"url": state.webhooks.url, "secret": state.webhooks.secret})


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = {404: "Not Found", 405: "Method Not Allowed"}.get(status, "Internal server error")
    return JSONResponse({"message": message}, status_code=status)


def build_app(state: MetronomeState, injector: FaultInjector | None = None) -> ASGIApp:
    """The Metronome API over `state`, with faults from `injector` (none by default)."""

    async def webhook_admin(request: Request) -> Response:
        return await _webhook_admin(state, request)

    admin = Route(f"{ADMIN_PREFIX}metronome/webhooks", webhook_admin, methods=["GET", "PUT"])
    app = Starlette(routes=[*routes(state), admin], exception_handlers={HTTPException: _http_error})
    return FaultMiddleware(BearerAuth(app, state), injector or FaultInjector(), render_error)


def client_settings(base_url: str, state: MetronomeState) -> dict[str, Any]:
    """What a client needs: `Metronome(bearer_token=..., base_url=...)` and the webhook secret."""
    return {
        "base_url": base_url,
        "bearer_token": sorted(state.api_tokens)[0],
        "webhook_secret": state.webhooks.secret,
    }

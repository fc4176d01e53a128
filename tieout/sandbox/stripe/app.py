"""The Stripe HTTP API as an ASGI app: auth, parameter decoding, idempotency, routing, errors.

Every response carries `Request-Id` and `Stripe-Version: 2024-04-10`. Bad or missing keys get
Stripe's 401; unknown URLs its "Unrecognized request URL"; handler errors its error object.
The app is wrapped in the shared FaultMiddleware, whose 429/5xx bodies are Stripe-shaped too.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

from tieout.sandbox.faults import ASGIApp, FaultInjector, FaultMiddleware, Receive, Scope, Send
from tieout.sandbox.stripe.errors import StripeError, render_fault
from tieout.sandbox.stripe.forms import decode_body, decode_query
from tieout.sandbox.stripe.idempotency import IdempotencyStore, fingerprint
from tieout.sandbox.stripe.ids import request_id
from tieout.sandbox.stripe.routes_billing import routes as billing_routes
from tieout.sandbox.stripe.routes_core import routes as core_routes
from tieout.sandbox.stripe.routes_payments import routes as payment_routes
from tieout.sandbox.stripe.routes_search import routes as search_routes
from tieout.sandbox.stripe.routing import ApiRequest, Handler, RouteTable
from tieout.sandbox.stripe.shapes import API_VERSION
from tieout.sandbox.stripe.state import StripeState
from tieout.sandbox.stripe.store import current_request

log = logging.getLogger(__name__)

ROUTES = RouteTable()
for _table in (search_routes, core_routes, billing_routes, payment_routes):
    ROUTES.extend(_table)

_NO_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization header, "
    "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#"
    "authentication for details, or we can help at https://support.stripe.com/."
)


def _api_key(headers: dict[str, str]) -> str:
    header = headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    key = ""
    if scheme.lower() == "bearer":
        key = credential.strip()
    elif scheme.lower() == "basic":
        try:
            key = base64.b64decode(credential).decode().partition(":")[0]
        except (ValueError, UnicodeDecodeError):
            key = ""
    if not key:
        raise StripeError(_NO_KEY, status=401, headers={"WWW-Authenticate": 'Bearer realm="Stripe"'})
    return key


def _masked(key: str) -> str:
    prefix = "_".join(key.split("_")[:2]) + "_" if key.count("_") >= 2 else ""
    hidden = max(0, len(key) - len(prefix) - 4)
    return prefix + "*" * hidden + key[-4:]


class StripeApp:
    """The ASGI callable behind FaultMiddleware."""

    def __init__(self, state: StripeState) -> None:
        self.state = state
        self.idempotency = IdempotencyStore(state.clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        status, payload, extra = self.handle(
            scope["method"].upper(),
            scope["path"],
            scope.get("query_string", b"").decode("latin-1"),
            headers,
            body,
        )
        raw_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"cache-control", b"no-cache, no-store"),
            (b"stripe-version", API_VERSION.encode()),
        ]
        raw_headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": payload})

    def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        """Serve one request: (status, JSON body, extra headers)."""
        req_id = request_id()
        extra = {"Request-Id": req_id}
        idempotency_key = headers.get("idempotency-key") if method == "POST" else None
        if idempotency_key:
            extra["Idempotency-Key"] = idempotency_key
        try:
            api_key = _api_key(headers)
            if api_key not in self.state.api_keys:
                raise StripeError(f"Invalid API Key provided: {_masked(api_key)}", status=401)
            found = ROUTES.match(method, path)
            if found is None:
                raise StripeError(
                    f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or "
                    "we can help at https://support.stripe.com/.",
                    status=404,
                )
            handler, path_args = found
            values = decode_body(body) if method == "POST" else decode_query(query)
            if method == "POST" and query:
                values = {**decode_query(query), **values}
            stored = None
            print_ = ""
            if idempotency_key:
                print_ = fingerprint(method, path, values)
                stored = self.idempotency.lookup(api_key, idempotency_key, print_)
            if stored is not None:
                extra.update({"Idempotent-Replayed": "true", "Original-Request": stored.request_id})
                return stored.status, stored.body, extra
            status, payload = self._run(
                handler, ApiRequest(method, path, values, path_args), req_id, idempotency_key
            )
            if idempotency_key:
                self.idempotency.store(api_key, idempotency_key, print_, status, payload, req_id)
            return status, payload, extra
        except StripeError as error:
            extra.update(error.headers)
            return error.status, _json(error.body()), extra

    def _run(
        self, handler: Handler, req: ApiRequest, req_id: str, idempotency_key: str | None
    ) -> tuple[int, bytes]:
        token = current_request.set((req_id, idempotency_key))
        try:
            return 200, _json(handler(self.state, req))
        except StripeError as error:
            return error.status, _json(error.body())
        except Exception:
            log.exception("stripe emulator: unhandled error on %s %s", req.method, req.path)
            return 500, _json({"error": {"message": "An unknown error occurred", "type": "api_error"}})
        finally:
            current_request.reset(token)


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def build_app(state: StripeState, injector: FaultInjector | None = None) -> ASGIApp:
    """The Stripe API for `state`, with faults from `injector` (a calm one by default)."""
    return FaultMiddleware(StripeApp(state), injector or FaultInjector(), render_fault)

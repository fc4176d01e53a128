"""`create_app(config, store)`: the AR team's web app, as one FastAPI application.

Everything needs a logged-in user except the login page, /healthz, the static assets and the
webhook endpoints (POST /webhooks/stripe and /webhooks/metronome, which check the sender's
signature instead); /metrics needs an admin unless the app listens on loopback only. Every
page router checks the session first (anonymous requests are sent to the login page) and then
the CSRF token of any POST. Responses carry a strict content security policy (no inline script,
no framing) and are not cached, since they show customers' balances.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from importlib.resources import files
from urllib.parse import quote

from argon2 import PasswordHasher
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tieout.config import TieoutConfig
from tieout.errors import StoreError
from tieout.observability.metrics import build_registry, metrics_response
from tieout.reconcile.queue import ExceptionQueue
from tieout.store import Store
from tieout.web import auth_view, dashboard_view, detail_view, queue_view, users_view
from tieout.web.accounts import Accounts
from tieout.web.context import WebContext, render
from tieout.web.security import CsrfRefused, Forbidden, LoginRequired, csrf_protected, logged_in, needs
from tieout.webhooks.app import webhook_router

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; "
        b"script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SecurityHeaders:
    """Adds the security headers to every response, and no-store to every page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += SECURITY_HEADERS
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(
    config: TieoutConfig,
    store: Store,
    *,
    clock: Callable[[], datetime] = _utc_now,
    secure_cookies: bool = False,
    open_metrics: bool = False,
    password_hasher: PasswordHasher | None = None,
) -> FastAPI:
    """The web app over one store.

    `secure_cookies` marks cookies Secure even when the app itself sees plain HTTP (a TLS proxy in
    front). /metrics is served to anyone only with `open_metrics` (`tieout web` sets it when it
    listens on loopback only, for a scraper on the same host); otherwise it needs an admin.
    """
    app = FastAPI(title="tieout", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = WebContext(
        config=config,
        store=store,
        queue=ExceptionQueue(store, clock=clock),
        accounts=Accounts(
            store,
            session_hours=config.web.session_hours,
            attempts_per_minute=config.web.login_attempts_per_minute,
            clock=clock,
            hasher=password_hasher,
        ),
        clock=clock,
        secure_cookies=secure_cookies,
    )
    app.mount("/static", StaticFiles(directory=str(files("tieout.web") / "static")), name="static")
    app.include_router(auth_view.router)
    protected = [Depends(logged_in), Depends(csrf_protected)]
    for router in (queue_view.router, detail_view.router, dashboard_view.router, users_view.router):
        app.include_router(router, dependencies=protected)
    # Webhook deliveries prove themselves by their signature; a login would make no sense there.
    app.include_router(webhook_router(config, store))
    registry = build_registry(store)

    @app.get("/metrics", dependencies=[] if open_metrics else [Depends(needs("admin"))])
    def metrics() -> Response:
        return metrics_response(registry)

    @app.get("/", dependencies=protected)
    def home() -> Response:
        return RedirectResponse("/queue", status_code=303)

    @app.get("/healthz")
    def healthz() -> Response:
        try:
            current, head = store.revision()
        except StoreError:
            return JSONResponse({"status": "store unreachable"}, status_code=503)
        healthy = current == head
        return JSONResponse(
            {"status": "ok" if healthy else "store schema out of date"}, status_code=200 if healthy else 503
        )

    @app.exception_handler(LoginRequired)
    def to_login(request: Request, _exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/login?next=" + quote(target, safe=""), status_code=303)

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/webhooks/") or exc.status_code != 404:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return render(
            request, "error.html", status_code=404, title="Not found", message="There is no such page."
        )

    @app.exception_handler(Forbidden)
    def forbidden(request: Request, exc: Forbidden) -> Response:
        return render(request, "error.html", status_code=403, title="Not allowed", message=str(exc))

    @app.exception_handler(CsrfRefused)
    def csrf_refused(request: Request, _exc: CsrfRefused) -> Response:
        return render(
            request,
            "error.html",
            status_code=403,
            title="Form refused",
            message="This form did not come from a page of tieout, or it has expired. "
            "Go back, reload the page and try again.",
        )

    app.add_middleware(SecurityHeaders)
    return app

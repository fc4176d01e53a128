"""The HTTP side of the webhooks: POST /webhooks/stripe and /webhooks/metronome, as a FastAPI router.

`webhook_router(config, store)` is what the web app includes; `create_webhook_app(config, store)`
(`tieout webhooks serve`) serves the router alone, with /healthz and /metrics, for a deployment
that exposes only the webhook endpoints to the internet. A body over `webhooks.max_body_bytes` is refused with 413 as
soon as its declared length (or, without one, what has arrived) passes the limit, without reading
the rest. Verification and processing run in a worker thread, off the event loop.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tieout.config import TieoutConfig
from tieout.errors import StoreError
from tieout.observability.metrics import build_registry, metrics_response
from tieout.store import Store
from tieout.webhooks.receiver import SOURCES, Delivery, WebhookReceiver


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _read_limited(request: Request, receiver: WebhookReceiver, source: str) -> bytes | Delivery:
    limit = receiver.settings.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return receiver.refuse_oversized(source, declared, _client(request))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return receiver.refuse_oversized(source, f"more than {limit}", _client(request))
    return bytes(body)


def webhook_router(
    config: TieoutConfig, store: Store, *, receiver: WebhookReceiver | None = None
) -> APIRouter:
    receiver = receiver or WebhookReceiver(config, store)
    router = APIRouter(tags=["webhooks"])

    async def receive(source: str, request: Request) -> JSONResponse:
        body = await _read_limited(request, receiver, source)
        if isinstance(body, Delivery):
            delivery = body
        else:
            headers = {name.lower(): value for name, value in request.headers.items()}
            delivery = await run_in_threadpool(receiver.receive, source, body, headers, _client(request))
        return JSONResponse(delivery.as_dict(), status_code=delivery.status_code)

    for source in SOURCES:

        async def endpoint(request: Request, source: str = source) -> JSONResponse:
            return await receive(source, request)

        router.add_api_route(
            f"/webhooks/{source}",
            endpoint,
            methods=["POST"],
            name=f"{source}_webhook",
            summary=f"Receive a signed {source} event and resync the records it names",
        )
    return router


def create_webhook_app(
    config: TieoutConfig, store: Store, *, receiver: WebhookReceiver | None = None, serve_metrics: bool = True
) -> FastAPI:
    """The webhook endpoints with /healthz and, unless `serve_metrics` is off (the app faces the
    internet), /metrics."""
    app = FastAPI(title="tieout webhooks", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(webhook_router(config, store, receiver=receiver))

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        try:
            current, newest = store.revision()
        except StoreError:
            return JSONResponse({"status": "store unavailable"}, status_code=503)
        status = "ok" if current == newest else "schema out of date"
        return JSONResponse({"status": status}, status_code=200 if current == newest else 503)

    if serve_metrics:
        registry = build_registry(store)

        @app.get("/metrics")
        def metrics() -> Response:
            return metrics_response(registry)

    return app

"""Fixtures for the Metronome emulator tests: a running emulator, its SDK client, a webhook receiver.

The emulator runs on loopback for the whole test module with a frozen sandbox clock; tests
drive it through metronome-sdk with strict response validation, so every answer is checked
against the SDK's own models. Tests use their own customers and ids, so they can share it.
"""

from __future__ import annotations

import queue
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from metronome import Metronome
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.faults import FaultInjector
from tieout.sandbox.metronome import MetronomeState, build_app, client_settings
from tieout.sandbox.server import EmulatorServer

NOW = datetime(2025, 3, 15, 12, 0, tzinfo=UTC)


@dataclass
class World:
    clock: SandboxClock
    state: MetronomeState
    injector: FaultInjector
    server: EmulatorServer
    client: Metronome

    def sdk(self, **options: Any) -> Metronome:
        settings = client_settings(self.server.base_url, self.state)
        return Metronome(
            bearer_token=settings["bearer_token"],
            base_url=settings["base_url"],
            _strict_response_validation=True,
            **options,
        )


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    clock = SandboxClock(NOW)
    state = MetronomeState(clock)
    injector = FaultInjector()
    server = EmulatorServer(build_app(state, injector), name="metronome").start()
    client = Metronome(
        bearer_token=client_settings(server.base_url, state)["bearer_token"],
        base_url=server.base_url,
        _strict_response_validation=True,
        max_retries=0,
    )
    try:
        yield World(clock, state, injector, server, client)
    finally:
        client.close()
        server.stop()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """A loopback endpoint that records every POST and fails the first `failures` of them."""

    failures: int = 0
    received: queue.Queue[Received] = field(default_factory=queue.Queue)
    server: EmulatorServer | None = None

    async def _hook(self, request: Request) -> Response:
        self.received.put(Received(dict(request.headers), await request.body()))
        if self.failures > 0:
            self.failures -= 1
            return Response(status_code=500)
        return Response(status_code=200)

    def start(self) -> str:
        app = Starlette(routes=[Route("/hooks/metronome", self._hook, methods=["POST"])])
        self.server = EmulatorServer(app, name="webhook-receiver").start()
        return f"{self.server.base_url}/hooks/metronome"

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver()
    yield hook
    hook.stop()


def seed_price_book(state: MetronomeState) -> dict[str, str]:
    """A SUM metric on `api_call` events, its USAGE product, a FIXED product and a USD rate card."""
    metric = state.create_billable_metric(
        unique("api calls"),
        aggregation_type="SUM",
        aggregation_key="units",
        event_type_filter={"in_values": ["api_call"]},
        property_filters=[{"name": "units", "exists": True}, {"name": "region", "exists": True}],
        group_keys=[["region"]],
    )
    usage = state.create_product("API calls", "USAGE", billable_metric_id=metric["id"])
    fixed = state.create_product("Prepaid commit", "FIXED")
    card = state.create_rate_card(unique("list prices"))
    state.add_rate(
        card["id"],
        product_id=usage["id"],
        entitled=True,
        rate_type="FLAT",
        price=25,
        starting_at="2025-01-01T00:00:00Z",
    )
    return {"metric": metric["id"], "usage": usage["id"], "fixed": fixed["id"], "rate_card": card["id"]}

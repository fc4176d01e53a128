"""Shared helpers for the Stripe emulator tests: a running emulator, SDK clients, the spec validator.

The OpenAPI spec is loaded and patched once per test session (it takes seconds), following
specs/README.md: the emulator's URL is added to `servers`, nullable anyOf/oneOf schemas get a
null alternative, and nullable enums list null.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import stripe
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from shared_specs import SPECS

from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.faults import FaultInjector
from tieout.sandbox.server import EmulatorServer
from tieout.sandbox.stripe import StripeState, build_app, client_settings

SPEC_PATH = SPECS / "stripe" / "spec3.2024-04-10.json"

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class RunningStripe:
    state: StripeState
    server: EmulatorServer
    injector: FaultInjector
    clock: SandboxClock

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def settings(self) -> dict[str, Any]:
        return client_settings(self.base_url, self.state)

    def client(self, **options: Any) -> stripe.StripeClient:
        options.setdefault("max_network_retries", 0)
        return stripe.StripeClient(self.state.api_key, base_addresses={"api": self.base_url}, **options)

    def raw(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {self.state.api_key}"}, timeout=10
        )


@contextmanager
def running_stripe(seed: int = 7) -> Iterator[RunningStripe]:
    clock = SandboxClock(frozen_at=START)
    state = StripeState(clock, seed=seed)
    injector = FaultInjector()
    server = EmulatorServer(build_app(state, injector), name="stripe").start()
    try:
        yield RunningStripe(state, server, injector, clock)
    finally:
        server.stop()
        state.close()


def _patch_nullable(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("nullable") is True:
            for key in ("anyOf", "oneOf"):
                if key in node:
                    node[key] = [*node[key], {"nullable": True, "enum": [None]}]
            if "enum" in node and None not in node["enum"]:
                node["enum"] = [*node["enum"], None]
        for value in node.values():
            _patch_nullable(value)
    elif isinstance(node, list):
        for value in node:
            _patch_nullable(value)


@functools.cache
def _patched_spec() -> dict[str, Any]:
    spec = json.loads(SPEC_PATH.read_text())
    _patch_nullable(spec)
    return spec


@functools.cache
def spec_validator(base_url: str) -> OpenAPI:
    spec = copy.deepcopy(_patched_spec())
    spec["servers"] = [{"url": base_url}, *spec.get("servers", [])]
    return OpenAPI.from_dict(spec)


def validate_response(
    openapi: OpenAPI,
    base_url: str,
    method: str,
    path: str,
    response: httpx.Response,
    args: dict[str, Any] | None = None,
) -> None:
    """Raise if the emulator's response does not match the spec's response schema."""
    request = MockRequest(base_url, method.lower(), path, args=args or {})
    mock = MockResponse(
        response.content,
        status_code=response.status_code,
        content_type=response.headers.get("content-type", "application/json"),
    )
    openapi.validate_response(request, mock)

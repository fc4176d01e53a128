"""The sandbox's fault injection: random profiles, scripted faults, and the admin endpoint."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tieout.sandbox.faults import (
    ErrorResponse,
    FaultInjector,
    FaultKind,
    FaultMiddleware,
    FaultProfile,
    profile_named,
)
from tieout.sandbox.server import EmulatorServer


def render(kind: FaultKind, retry_after: float) -> ErrorResponse:
    status = {"server_error": 500, "rate_limited": 429, "concurrency_limited": 429}[kind]
    return ErrorResponse(status, {"vendor_error": kind}, {"Retry-After": f"{retry_after:g}"})


async def hello(request: Request) -> JSONResponse:
    return JSONResponse({"hello": "world"})


@pytest.fixture
def served() -> Iterator[tuple[FaultInjector, httpx.Client]]:
    injector = FaultInjector(seed=7)
    app = FaultMiddleware(Starlette(routes=[Route("/hello", hello)]), injector, render)
    with EmulatorServer(app) as server, httpx.Client(base_url=server.base_url, timeout=2.0) as client:
        yield injector, client


def test_calm_by_default(served: tuple[FaultInjector, httpx.Client]) -> None:
    _, client = served
    assert client.get("/hello").json() == {"hello": "world"}


def test_scripted_statuses_use_the_vendor_body(served: tuple[FaultInjector, httpx.Client]) -> None:
    injector, client = served
    injector.fail_next(429, retry_after=2)
    injector.fail_next(401)
    limited = client.get("/hello")
    assert (limited.status_code, limited.headers["retry-after"], limited.json()) == (
        429,
        "2",
        {"vendor_error": "rate_limited"},
    )
    refused = client.get("/hello")
    assert refused.status_code == 401 and "retry-after" not in refused.headers
    assert client.get("/hello").status_code == 200


def test_scripted_malformed_drop_and_slow(served: tuple[FaultInjector, httpx.Client]) -> None:
    injector, client = served
    injector.fail_next_malformed()
    response = client.get("/hello")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    injector.fail_next_drop()
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/hello")
    injector.fail_next_timeout(seconds=1.0)
    with pytest.raises(httpx.ReadTimeout):
        client.get("/hello", timeout=0.2)


def test_random_profile_injects_at_its_rates(served: tuple[FaultInjector, httpx.Client]) -> None:
    injector, client = served
    injector.set_profile(FaultProfile(server_error_rate=0.5))
    statuses = [client.get("/hello").status_code for _ in range(200)]
    assert 60 < statuses.count(500) < 140
    assert injector.injected["server_error"] == statuses.count(500)


def test_admin_endpoint_switches_profiles_at_run_time(served: tuple[FaultInjector, httpx.Client]) -> None:
    injector, client = served
    assert client.put("/__sandbox/faults", json="hostile").status_code == 200
    assert injector.profile == profile_named("hostile")
    assert (
        client.put("/__sandbox/faults", json={"rate_limit_rate": 1.0}).json()["profile"]["rate_limit_rate"]
        == 1.0
    )
    assert client.get("/hello").status_code == 429
    assert client.put("/__sandbox/faults", json={"profile": "none"}).status_code == 200
    assert client.get("/hello").status_code == 200
    assert client.put("/__sandbox/faults", json={"explode": 1}).status_code == 400
    assert client.put("/__sandbox/faults", json="mayhem").status_code == 400
    assert client.get("/__sandbox/faults").json()["injected"]["rate_limited"] == 1


def test_concurrency_limit_refuses_the_excess() -> None:
    injector = FaultInjector(FaultProfile(max_concurrency=1))
    assert injector.enter()
    assert not injector.enter()
    injector.leave()
    assert injector.enter()


def test_profiles_validate_their_rates() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        FaultProfile(server_error_rate=1.5)
    with pytest.raises(ValueError, match="unknown fault profile"):
        profile_named("mayhem")

"""HttpSession: classify-then-act, retries only where safe, Retry-After honoured, secrets redacted."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from tieout.connectors.base import CallBudget
from tieout.connectors.http import HttpSession, retry_after_seconds
from tieout.errors import (
    AuthenticationError,
    BudgetExhausted,
    ConflictError,
    ConnectorError,
    MalformedResponse,
    NotFoundError,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportError,
)

SECRET = "sk_test_redact_me_91f3"


def scripted(
    *responses: httpx.Response | Exception,
) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


def session(handler: Callable[[httpx.Request], httpx.Response], **options: object) -> HttpSession:
    return HttpSession(
        "acme",
        "https://api.acme.test",
        secrets=[SECRET],
        transport=httpx.MockTransport(handler),
        backoff_base_seconds=0.001,
        backoff_max_seconds=0.5,
        **options,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthenticationError),
        (403, PermissionDenied),
        (404, NotFoundError),
        (409, ConflictError),
        (400, ConnectorError),
    ],
)
def test_client_errors_are_translated_and_not_retried(status: int, error: type[Exception]) -> None:
    handler, seen = scripted(httpx.Response(status, json={"message": "no"}))
    with pytest.raises(error) as caught:
        session(handler).json("GET", "/things")
    assert len(seen) == 1
    assert caught.value.status_code == status  # type: ignore[attr-defined]


def test_server_errors_are_retried_then_succeed() -> None:
    handler, seen = scripted(httpx.Response(503), httpx.Response(502), httpx.Response(200, json={"ok": True}))
    assert session(handler).json("GET", "/things") == {"ok": True}
    assert len(seen) == 3


def test_persistent_server_errors_give_up_after_max_attempts() -> None:
    handler, seen = scripted(httpx.Response(500))
    with pytest.raises(ServerError):
        session(handler, max_attempts=3).json("GET", "/things")
    assert len(seen) == 3


def test_unsafe_posts_are_not_retried_but_idempotent_ones_are() -> None:
    handler, seen = scripted(httpx.Response(500), httpx.Response(201, json={"id": "x"}))
    with pytest.raises(ServerError):
        session(handler).json("POST", "/things", json={})
    assert len(seen) == 1
    handler, seen = scripted(httpx.Response(500), httpx.Response(201, json={"id": "x"}))
    assert session(handler).json("POST", "/things", json={}, idempotent=True) == {"id": "x"}
    assert len(seen) == 2


def test_rate_limit_waits_for_retry_after() -> None:
    handler, seen = scripted(
        httpx.Response(429, headers={"Retry-After": "0.3"}), httpx.Response(200, json=[])
    )
    started = datetime.now()
    assert session(handler).json("GET", "/things") == []
    assert datetime.now() - started >= timedelta(seconds=0.3)
    assert len(seen) == 2


def test_rate_limit_error_carries_the_delay() -> None:
    handler, _ = scripted(httpx.Response(429, headers={"Retry-After": "0"}))
    with pytest.raises(RateLimited) as caught:
        session(handler, max_attempts=2).json("GET", "/things")
    assert caught.value.retry_after_seconds == 0


def test_retry_after_accepts_http_dates() -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert (
        retry_after_seconds({"retry-after": format_datetime(now + timedelta(seconds=30), usegmt=True)}, now)
        == 30
    )
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_transport_failures_are_retried_and_redacted() -> None:
    request = httpx.Request("GET", f"https://api.acme.test/things?key={SECRET}")
    handler, seen = scripted(httpx.ConnectError(f"refused {SECRET}", request=request))
    with pytest.raises(TransportError) as caught:
        session(handler, max_attempts=2).json("GET", f"/things?key={SECRET}")
    assert len(seen) == 2
    assert SECRET not in str(caught.value)
    # The vendor exception (which carries the secret) is not chained into what gets printed.
    assert SECRET not in "".join(traceback.format_exception(caught.value))


def test_timeouts_are_transport_errors() -> None:
    request = httpx.Request("GET", "https://api.acme.test/things")
    handler, _ = scripted(httpx.ReadTimeout("slow", request=request))
    with pytest.raises(TransportError, match="timed out"):
        session(handler, max_attempts=1).json("GET", "/things")


def test_malformed_json_is_reported_with_an_excerpt() -> None:
    handler, _ = scripted(httpx.Response(200, text=f"<html>proxy error {SECRET}</html>"))
    with pytest.raises(MalformedResponse, match="not JSON") as caught:
        session(handler).json("GET", "/things")
    assert SECRET not in str(caught.value)


def test_error_bodies_are_redacted() -> None:
    handler, _ = scripted(httpx.Response(401, json={"message": f"bad key {SECRET}"}))
    with pytest.raises(AuthenticationError) as caught:
        session(handler).json("GET", "/things")
    assert SECRET not in str(caught.value) and "***" in str(caught.value)


def test_budget_counts_every_attempt_and_stops_cleanly() -> None:
    handler, _ = scripted(httpx.Response(500), httpx.Response(200, json={}))
    budget = CallBudget("acme", max_calls=3)
    http = session(handler, budget=budget)
    http.json("GET", "/a")
    assert budget.used == 2
    handler_ok, _ = scripted(httpx.Response(200, json={}))
    http = session(handler_ok, budget=budget)
    http.json("GET", "/b")
    with pytest.raises(BudgetExhausted):
        http.json("GET", "/c")
    assert budget.remaining == 0


def test_budget_shrinks_to_what_the_vendor_says_is_left() -> None:
    budget = CallBudget("acme", max_calls=1000)
    budget.spend(10)
    budget.limit_to(5)
    assert budget.remaining == 5
    budget.limit_to(500)
    assert budget.remaining == 5

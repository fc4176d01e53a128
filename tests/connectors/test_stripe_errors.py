"""The Stripe error table and retry rules, on a mocked transport answering exactly what Stripe would.

Each case scripts the answers of successive attempts and checks which tieout error comes out
and how many attempts were made: refusals (4xx other than 409 and 429) are sent once, even when
a header invites a retry; 409 lock errors, 429 and 5xx are retried unless `Stripe-Should-Retry:
false`; POSTs are retried with the same Idempotency-Key.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tieout.connectors.stripe import StripeConnector, StripeSettings
from tieout.errors import (
    AuthenticationError,
    ConflictError,
    ConnectorError,
    MalformedResponse,
    NotFoundError,
    PermissionDenied,
    PushRejected,
    RateLimited,
    ServerError,
    TransportError,
)

API_KEY = "sk_test_tieoutSecretKey0123456789"
EMPTY_LIST = {"object": "list", "data": [], "has_more": False, "url": "/v1/customers"}
Answer = httpx.Response | type[Exception]


def error(
    status: int, error_type: str, message: str = "nope", code: str | None = None, **headers: str
) -> httpx.Response:
    body: dict[str, Any] = {"type": error_type, "message": message}
    if code is not None:
        body["code"] = code
    return httpx.Response(status, json={"error": body}, headers=headers)


def ok(body: Any = None) -> httpx.Response:
    return httpx.Response(200, json=EMPTY_LIST if body is None else body)


class Script:
    """A transport answering the scripted responses in turn (the last one repeats)."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, type):
            raise (
                answer("scripted failure", request=request)
                if issubclass(answer, httpx.RequestError)
                else answer()
            )
        return answer

    def connector(self) -> StripeConnector:
        settings = StripeSettings(
            api_key=SecretStr(API_KEY),
            base_url="https://api.stripe.test",
            max_attempts=3,
            backoff_base_seconds=0.001,
            backoff_max_seconds=0.01,
        )
        return StripeConnector(settings, http_client=httpx.Client(transport=httpx.MockTransport(self)))


def pull(connector: StripeConnector) -> None:
    list(connector.pull("customers"))


def push(connector: StripeConnector) -> None:
    connector.push("customers", {"name": "Refused Ltd"}, idempotency_key="tieout-key")


Call = Callable[[StripeConnector], None]
CASES = [
    pytest.param(
        pull,
        [error(400, "invalid_request_error", **{"Stripe-Should-Retry": "true"})],
        ConnectorError,
        1,
        id="400-read-once",
    ),
    pytest.param(
        push,
        [error(400, "invalid_request_error", **{"Stripe-Should-Retry": "true"})],
        PushRejected,
        1,
        id="400-push-rejected-once",
    ),
    pytest.param(
        push, [error(402, "card_error", code="card_declined")], PushRejected, 1, id="402-card-error"
    ),
    pytest.param(
        pull,
        [error(400, "invalid_request_error", code="resource_missing")],
        NotFoundError,
        1,
        id="400-resource-missing",
    ),
    pytest.param(pull, [error(404, "invalid_request_error")], NotFoundError, 1, id="404"),
    pytest.param(pull, [error(401, "invalid_request_error")], AuthenticationError, 1, id="401"),
    pytest.param(pull, [error(403, "invalid_request_error")], PermissionDenied, 1, id="403"),
    pytest.param(push, [error(400, "idempotency_error")], ConflictError, 1, id="idempotency-error"),
    pytest.param(
        pull,
        [error(409, "invalid_request_error", code="lock_timeout")],
        ConflictError,
        3,
        id="409-lock-retried",
    ),
    pytest.param(
        pull,
        [error(429, "invalid_request_error", code="rate_limit", **{"Retry-After": "0"})],
        RateLimited,
        3,
        id="429-retried",
    ),
    pytest.param(pull, [error(500, "api_error")], ServerError, 3, id="500-retried"),
    pytest.param(
        pull,
        [error(500, "api_error", **{"Stripe-Should-Retry": "false"})],
        ServerError,
        1,
        id="500-server-says-no",
    ),
    pytest.param(
        push,
        [error(503, "api_error", **{"Stripe-Should-Retry": "false"})],
        ServerError,
        1,
        id="503-push-server-says-no",
    ),
    pytest.param(pull, [httpx.Response(200, text="<html>proxy</html>")], MalformedResponse, 1, id="not-json"),
    pytest.param(pull, [ok({"object": "customer", "id": "cus_1"})], MalformedResponse, 1, id="not-a-list"),
    pytest.param(pull, [httpx.ConnectError], TransportError, 3, id="connection-refused"),
    pytest.param(pull, [httpx.ReadTimeout], TransportError, 3, id="timeout"),
]


@pytest.mark.parametrize(("call", "answers", "raised", "attempts"), CASES)
def test_error_table(call: Call, answers: list[Answer], raised: type[Exception], attempts: int) -> None:
    script = Script(*answers)
    connector = script.connector()
    with pytest.raises(raised) as caught:
        call(connector)
    assert len(script.requests) == attempts
    assert connector.api_calls == attempts
    if raised is ConnectorError:
        assert type(caught.value) is ConnectorError and caught.value.status_code == 400


@pytest.mark.parametrize(
    "first",
    [
        error(409, "invalid_request_error", code="lock_timeout"),
        error(429, "invalid_request_error", code="rate_limit", **{"Retry-After": "0"}),
        error(500, "api_error"),
        error(502, "api_error", **{"Stripe-Should-Retry": "true"}),
        httpx.ConnectError,
    ],
    ids=["409", "429", "500", "502-hinted", "connection"],
)
def test_a_post_is_retried_with_its_idempotency_key(first: Answer) -> None:
    script = Script(first, ok({"object": "customer", "id": "cus_new"}))
    result = script.connector().push("customers", {"name": "Retried"}, idempotency_key="tieout-key")
    assert result.target_id == "cus_new"
    assert [request.headers["idempotency-key"] for request in script.requests] == ["tieout-key:customer"] * 2
    assert script.requests[0].content == script.requests[1].content


def test_a_replayed_post_is_unchanged() -> None:
    replay = httpx.Response(
        200, json={"object": "customer", "id": "cus_old"}, headers={"Idempotent-Replayed": "true"}
    )
    result = Script(replay).connector().push("customers", {"name": "Again"}, idempotency_key="tieout-key")
    assert (result.target_id, result.operation) == ("cus_old", "unchanged")


def test_requests_ask_for_the_mapped_api_version_and_never_leak_the_key() -> None:
    script = Script(error(400, "invalid_request_error", message=f"Invalid API Key provided: {API_KEY}"))
    with pytest.raises(ConnectorError) as caught:
        pull(script.connector())
    assert API_KEY not in str(caught.value)
    assert script.requests[0].headers["stripe-version"] == "2024-04-10"
    assert script.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


def test_list_requests_carry_limit_and_expansions() -> None:
    script = Script(ok({**EMPTY_LIST, "url": "/v1/charges"}))
    list(script.connector().pull("charges"))
    params = dict(script.requests[0].url.params)
    assert params == {"limit": "100", "expand[0]": "data.balance_transaction"}


def test_events_are_asked_for_by_type_and_window() -> None:
    script = Script(ok({**EMPTY_LIST, "url": "/v1/events"}))
    connector = script.connector()
    since = datetime.now(UTC) - timedelta(days=1)
    # No event: no record, and one empty page that moves the cursor to where the events were read.
    pages = list(connector.pull("payouts", since=since, until=since + timedelta(hours=1)))
    assert [(page.records, page.watermark) for page in pages] == [([], since + timedelta(hours=1))]
    params = script.requests[0].url.params
    assert script.requests[0].url.path == "/v1/events"
    assert params["created[gte]"] == str(int(since.timestamp()) + (since.microsecond > 0))
    assert params.get_list("types[0]") == ["payout.created"]
    assert len([key for key in params if key.startswith("types[")]) == 6
    assert params["limit"] == "100"

"""stripe-python behind tieout's rules: settings, the HTTP seam, retries, the budget, errors.

The SDK client (`stripe.StripeClient`) is built with `max_network_retries=0` and an HTTP client
of our own over an injected `httpx.Client`, so tieout owns the retries: tenacity, jittered
exponential backoff, a server's Retry-After always wins, and only where Stripe says a retry is
safe (its `Stripe-Should-Retry` header when present; else 409 lock errors, 429, 5xx and
connection failures). Every POST carries an Idempotency-Key, so every request may be retried.
Each attempt is one `CallBudget.spend()`. Requests go through `StripeClient.raw_request`, and
the body is read as JSON with Decimal numbers, so nothing passes through a float. A refusal
(a 4xx other than 409 and 429) is never sent again.

stripe-python's exceptions become `tieout.errors` here and nowhere else::

    stripe.AuthenticationError               AuthenticationError
    stripe.PermissionError                   PermissionDenied
    stripe.InvalidRequestError 404 / resource_missing  NotFoundError
    stripe.IdempotencyError                  ConflictError
    409 (lock_timeout and friends)           ConflictError (retried first)
    InvalidRequestError, CardError on a push PushRejected; on a read ConnectorError
    stripe.RateLimitError                    RateLimited (with Retry-After)
    stripe.APIError 5xx                      ServerError
    stripe.APIConnectionError, timeouts      TransportError
    a body that is not JSON (or not a list)  MalformedResponse
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import Field, SecretStr
from tenacity import Retrying, retry_if_exception, stop_after_attempt

import stripe
from tieout import jsonutil
from tieout.connectors.base import CallBudget, ConnectorSettings
from tieout.connectors.http import redact, retry_after_seconds, retry_wait, tls_verify
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
    TieoutError,
    TransportError,
)

SYSTEM = "stripe"
API_VERSION = "2024-04-10"


class StripeSettings(ConnectorSettings):
    api_key: SecretStr
    base_url: str = "https://api.stripe.com"
    api_version: str = API_VERSION
    """The Stripe-Version every request asks for; the mappings read 2024-04-10 shapes."""
    ca_bundle: str | None = None
    """A PEM file of CAs to trust instead of the system's (the sandbox's own CA)."""
    page_size: int = Field(default=100, ge=1, le=100)
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    backoff_base_seconds: float = Field(default=0.5, ge=0)
    backoff_max_seconds: float = Field(default=60.0, ge=0)


def _connection_error(message: str) -> stripe.APIConnectionError:
    # stripe-python leaves its exception constructors unannotated.
    return stripe.APIConnectionError(message, should_retry=True)  # type: ignore[no-untyped-call]


class HttpxTransport(stripe.HTTPClient):
    """stripe-python's HTTP client interface over an httpx.Client tieout owns (the test seam)."""

    name = "tieout-httpx"

    def __init__(self, client: httpx.Client) -> None:
        super().__init__()
        self._client = client

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        try:
            response = self._client.request(method, url, headers=headers, content=post_data)
        except httpx.TimeoutException as exc:
            raise _connection_error(f"timed out ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise _connection_error(f"{type(exc).__name__}: {exc}") from None
        return response.text, response.status_code, response.headers

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True)
class Answer:
    """One successful response: the JSON body and whether Stripe replayed a stored one."""

    body: Any
    replayed: bool


class _Attempt(Exception):
    """One failed attempt: the tieout error it means and whether Stripe allows another."""

    def __init__(self, error: TieoutError, retry: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry = retry


def _should_retry(headers: Mapping[str, str] | None, status: int | None) -> bool:
    """Stripe's hint (`Stripe-Should-Retry`) decides, except that a refusal never repeats.

    A 4xx other than 409 (a lock timeout) and 429 says the request itself is wrong: sending it
    again cannot help, whatever a proxy's header says. Without a hint: 409, 429 and 5xx.
    """
    if status is not None and 400 <= status < 500 and status not in (409, 429):
        return False
    hint = (headers or {}).get("stripe-should-retry")
    if hint in ("true", "false"):
        return hint == "true"
    return status is not None and (status in (409, 429) or status >= 500)


class StripeApi:
    """The SDK client plus `request`, the only way the connector reaches Stripe."""

    def __init__(
        self, settings: StripeSettings, budget: CallBudget, *, http_client: httpx.Client | None = None
    ) -> None:
        api_key = settings.api_key.get_secret_value()
        self.secrets = [api_key]
        self.budget = budget
        self.max_attempts = settings.max_attempts
        self._wait = retry_wait(
            settings.backoff_base_seconds,
            settings.backoff_max_seconds,
            error_of=lambda failure: failure.error if isinstance(failure, _Attempt) else None,
        )
        verify = tls_verify(settings.ca_bundle)
        self.http = http_client or httpx.Client(verify=verify, timeout=settings.timeout_seconds)
        self.sdk = stripe.StripeClient(
            api_key,
            stripe_version=settings.api_version,
            base_addresses={"api": settings.base_url.rstrip("/")},
            max_network_retries=0,
            http_client=HttpxTransport(self.http),
        )

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params).body

    def post(
        self, path: str, params: Mapping[str, Any], *, idempotency_key: str, push: bool = True
    ) -> Answer:
        return self.request("POST", path, params, idempotency_key=idempotency_key, push=push)

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        push: bool = False,
    ) -> Answer:
        """Send with retries where Stripe allows them; `push` makes a refusal `PushRejected`."""
        if method == "POST" and not idempotency_key:
            raise ConnectorError(f"POST {path} needs an idempotency key", system=SYSTEM)
        retrying = Retrying(
            retry=retry_if_exception(lambda exc: isinstance(exc, _Attempt) and exc.retry),
            wait=self._wait,
            stop=stop_after_attempt(self.max_attempts),
            reraise=True,
            sleep=time.sleep,
        )
        try:
            return retrying(self._once, method, path, dict(params or {}), idempotency_key, push)
        except _Attempt as failed:
            raise failed.error from None

    def _once(
        self, method: str, path: str, params: dict[str, Any], idempotency_key: str | None, push: bool
    ) -> Answer:
        self.budget.spend()
        what = f"{method} {path}"
        options: dict[str, Any] = {} if idempotency_key is None else {"idempotency_key": idempotency_key}
        try:
            response = self.sdk.raw_request(method.lower(), path, **params, **options)
        except stripe.StripeError as exc:
            raise self._translate(what, exc, push) from None
        try:
            body = jsonutil.loads(response.body) if response.body else None
        except ValueError:
            excerpt = redact(response.body[:200], self.secrets)
            raise _Attempt(
                MalformedResponse(
                    f"{what} answered with a body that is not JSON: {excerpt!r}", system=SYSTEM
                ),
                retry=False,
            ) from None
        replayed = (response.headers or {}).get("idempotent-replayed") == "true"
        return Answer(body, replayed)

    def _translate(self, what: str, exc: stripe.StripeError, push: bool) -> _Attempt:
        status = exc.http_status
        headers: Mapping[str, str] = exc.headers or {}
        detail = redact(f"{what} answered {status}: {exc.user_message or exc}", self.secrets)
        retry = _should_retry(headers, status)
        code = getattr(exc, "code", None)
        error: TieoutError
        if isinstance(exc, stripe.APIConnectionError):
            message = redact(f"{what} failed: {exc.user_message or exc}", self.secrets)
            return _Attempt(TransportError(message, system=SYSTEM), retry=True)
        if isinstance(exc, stripe.AuthenticationError):
            return _Attempt(AuthenticationError(detail, system=SYSTEM, status_code=status), retry=False)
        if isinstance(exc, stripe.PermissionError):
            return _Attempt(PermissionDenied(detail, system=SYSTEM, status_code=status), retry=False)
        if isinstance(exc, stripe.IdempotencyError):
            return _Attempt(ConflictError(detail, system=SYSTEM, status_code=status), retry=False)
        if isinstance(exc, stripe.RateLimitError):
            wait = retry_after_seconds({k.lower(): v for k, v in headers.items()})
            error = RateLimited(detail, system=SYSTEM, status_code=status, retry_after_seconds=wait)
            return _Attempt(error, retry=_should_retry(headers, 429))
        if status == 404 or code == "resource_missing":
            return _Attempt(NotFoundError(detail, system=SYSTEM, status_code=status), retry=retry)
        if status == 409:
            return _Attempt(ConflictError(detail, system=SYSTEM, status_code=status), retry=retry)
        if isinstance(exc, stripe.InvalidRequestError | stripe.CardError):
            if push:
                return _Attempt(PushRejected(detail, system=SYSTEM), retry=False)
            return _Attempt(ConnectorError(detail, system=SYSTEM, status_code=status), retry=retry)
        if status is not None and status >= 500:
            return _Attempt(ServerError(detail, system=SYSTEM, status_code=status), retry=retry)
        if status is None or status < 400:
            # stripe-python raises APIError for a body it could not decode, whatever the status.
            message = redact(
                f"{what} answered {status} with a body that is not Stripe's: {exc}", self.secrets
            )
            return _Attempt(MalformedResponse(message[:500], system=SYSTEM, status_code=status), retry=False)
        return _Attempt(ConnectorError(detail, system=SYSTEM, status_code=status), retry=retry)

    def close(self) -> None:
        self.http.close()

"""Shared HTTP behaviour for connectors: classify, then act; retries, budgets, redaction.

Every response is first classified (ok, retry, rate-limited, auth, not found, conflict, fail)
and then turned into a `tieout.errors` exception. Retries use tenacity with jittered
exponential backoff, but a server's Retry-After always wins; only idempotent requests (GETs,
and writes that carry an idempotency key or upsert on an external id) are retried. A
`CallBudget` counts every attempt, separately from retries. Error text never carries a secret:
the session knows its secrets and blanks them out of anything it raises.
"""

from __future__ import annotations

import email.utils
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_random_exponential

from tieout import jsonutil
from tieout.connectors.base import CallBudget
from tieout.errors import (
    AuthenticationError,
    ConflictError,
    ConnectorError,
    MalformedResponse,
    NotFoundError,
    PermissionDenied,
    RateLimited,
    RetriableError,
    ServerError,
    TransportError,
)

REDACTED = "***"


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header, in either of its forms (delta-seconds or HTTP-date)."""
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def error_for_status(
    system: str, status_code: int, message: str, headers: Mapping[str, str]
) -> ConnectorError | None:
    """The tieout error a response status means, or None for success."""
    if status_code < 400:
        return None
    if status_code == 401:
        return AuthenticationError(message, system=system, status_code=status_code)
    if status_code == 403:
        return PermissionDenied(message, system=system, status_code=status_code)
    if status_code == 404:
        return NotFoundError(message, system=system, status_code=status_code)
    if status_code == 409:
        return ConflictError(message, system=system, status_code=status_code)
    if status_code == 429:
        return RateLimited(
            message, system=system, status_code=status_code, retry_after_seconds=retry_after_seconds(headers)
        )
    if status_code >= 500:
        return ServerError(message, system=system, status_code=status_code)
    return ConnectorError(message, system=system, status_code=status_code)


def retry_wait(
    base_seconds: float,
    max_seconds: float,
    *,
    error_of: Callable[[BaseException | None], BaseException | None] = lambda error: error,
) -> Callable[[RetryCallState], float]:
    """Tenacity wait: the server's Retry-After when a rate limit gave one, else jittered exponential.

    `error_of` finds the tieout error inside what the retried call raised, for callers that wrap it.
    """
    jittered = wait_random_exponential(multiplier=base_seconds, max=max_seconds)

    def wait(state: RetryCallState) -> float:
        outcome = state.outcome
        error = error_of(outcome.exception() if outcome is not None else None)
        if isinstance(error, RateLimited) and error.retry_after_seconds is not None:
            return min(error.retry_after_seconds, max_seconds)
        return float(jittered(state))

    return wait


def tls_verify(ca_bundle: str | None) -> ssl.SSLContext | bool:
    """What httpx's `verify` takes: a context trusting `ca_bundle` when one is given, else the system's."""
    return ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True


class HttpSession:
    """An httpx client for one system with classification, retries, a budget and redaction.

    `transport` is the test seam: pass `httpx.MockTransport(handler)` to run a connector
    against a fake that paginates and fails like the real API.
    """

    def __init__(
        self,
        system: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
        budget: CallBudget | None = None,
        timeout_seconds: float = 30.0,
        max_attempts: int = 5,
        backoff_base_seconds: float = 0.5,
        backoff_max_seconds: float = 60.0,
        verify: bool | str = True,
        transport: httpx.BaseTransport | None = None,
        message_from_body: Callable[[Any], str | None] | None = None,
    ) -> None:
        self.system = system
        self.secrets = [secret for secret in secrets if secret]
        self.budget = budget or CallBudget(system)
        self.max_attempts = max_attempts
        self._wait = retry_wait(backoff_base_seconds, backoff_max_seconds)
        self._message_from_body = message_from_body
        self.client = httpx.Client(
            base_url=base_url,
            headers=dict(headers or {}),
            timeout=timeout_seconds,
            verify=verify,
            transport=transport,
        )

    def add_secret(self, secret: str) -> None:
        if secret and secret not in self.secrets:
            self.secrets.append(secret)

    def request(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send with retries; `idempotent` defaults to True for GET/HEAD/PUT/DELETE only."""
        retry_safe = method.upper() in ("GET", "HEAD", "PUT", "DELETE") if idempotent is None else idempotent
        attempts = self.max_attempts if retry_safe else 1
        retrying = Retrying(
            retry=retry_if_exception_type(RetriableError),
            wait=self._wait,
            stop=stop_after_attempt(attempts),
            reraise=True,
            sleep=time.sleep,
        )
        return retrying(self._send_once, method, url, **kwargs)

    def _send_once(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        self.budget.spend()
        try:
            response = self.client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            message = redact(f"{method} {url} timed out ({type(exc).__name__})", self.secrets)
            raise TransportError(message, system=self.system) from None
        except httpx.TransportError as exc:
            message = redact(f"{method} {url} failed: {type(exc).__name__}: {exc}", self.secrets)
            raise TransportError(message, system=self.system) from None
        error = error_for_status(
            self.system, response.status_code, self._describe_failure(method, url, response), response.headers
        )
        if error is not None:
            raise error
        return response

    def _describe_failure(self, method: str, url: str, response: httpx.Response) -> str:
        if response.status_code < 400:
            return ""
        detail = None
        if self._message_from_body is not None:
            try:
                detail = self._message_from_body(jsonutil.loads(response.content))
            except ValueError:
                detail = None
        if detail is None:
            detail = response.text[:500]
        return redact(f"{method} {url} answered {response.status_code}: {detail}", self.secrets)

    def json(self, method: str, url: str, **kwargs: Any) -> Any:
        """Send and decode a JSON body (numbers as Decimal); a non-JSON answer is MalformedResponse."""
        response = self.request(method, url, **kwargs)
        if not response.content:
            return None
        try:
            return jsonutil.loads(response.content)
        except ValueError:
            excerpt = redact(response.text[:200], self.secrets)
            raise MalformedResponse(
                f"{method} {url} answered {response.status_code} with a body that is not JSON: {excerpt!r}",
                system=self.system,
                status_code=response.status_code,
            ) from None

    def close(self) -> None:
        self.client.close()

"""The account's concurrency limit, held on our side: one semaphore per NetSuite account per process.

NetSuite refuses requests beyond the account's concurrency limit with 429
CONCURRENCY_LIMIT_EXCEEDED. Every connector instance for the same account shares one
`threading.BoundedSemaphore` (a module-level registry keyed by account id), and
`LimitedTransport` holds a slot for exactly one HTTP exchange, body included, never across a
retry's back-off, so parallel syncs queue here instead of being refused there.
"""

from __future__ import annotations

import threading

import httpx

_registry: dict[str, AccountLimiter] = {}
_registry_lock = threading.Lock()


class AccountLimiter:
    """A bounded semaphore with a count of requests in flight and the most ever seen at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._semaphore = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0

    def acquire(self, timeout: float) -> bool:
        if not self._semaphore.acquire(timeout=timeout):
            return False
        with self._lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        return True

    def release(self) -> None:
        with self._lock:
            self.in_flight -= 1
        self._semaphore.release()


def limiter_for(account_id: str, limit: int) -> AccountLimiter:
    """The process's limiter for `account_id`; every connector of one account must agree on the limit."""
    key = account_id.strip().upper()
    with _registry_lock:
        found = _registry.get(key)
        if found is None:
            found = _registry[key] = AccountLimiter(limit)
        elif found.limit != limit:
            raise ValueError(
                f"NetSuite account {account_id} already has a concurrency limit of {found.limit} in this "
                f"process; every connector for it must use the same concurrency_limit (got {limit})"
            )
        return found


class LimitedTransport(httpx.BaseTransport):
    """Wraps a transport so each request holds one of the account's slots until its body is read."""

    def __init__(self, inner: httpx.BaseTransport, limiter: AccountLimiter, *, wait_seconds: float) -> None:
        self.inner = inner
        self.limiter = limiter
        self.wait_seconds = wait_seconds

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not self.limiter.acquire(self.wait_seconds):
            raise httpx.PoolTimeout(
                f"no NetSuite concurrency slot free within {self.wait_seconds:g}s", request=request
            )
        try:
            response = self.inner.handle_request(request)
            if response.is_stream_consumed:  # a transport that answers with a loaded body (tests)
                return response
            try:
                raw = b"".join(response.iter_raw())
            finally:
                response.close()
        finally:
            self.limiter.release()
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=raw,
            extensions=response.extensions,
            request=request,
        )

    def close(self) -> None:
        self.inner.close()

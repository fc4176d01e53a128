"""Signed webhook delivery: each event POSTed to every subscribed endpoint from a background thread.

The body is the event JSON; `Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body"
keyed by the endpoint secret>`, exactly what `stripe.Webhook.construct_event` verifies. `t` is
the wall-clock delivery time (not the sandbox clock), because receivers check it against their
own clock to refuse replays. A failed delivery (network error or non-2xx) is retried a bounded
number of times with growing delays; every attempt is recorded in `deliveries`.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

SIGNATURE_SCHEME = "v1"


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},{SIGNATURE_SCHEME}={digest}"


@dataclass(frozen=True)
class Delivery:
    """One attempt to deliver one event to one endpoint."""

    event_id: str
    endpoint_id: str
    attempt: int
    status_code: int | None
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Target:
    endpoint_id: str
    url: str
    secret: str


class WebhookDispatcher:
    """A delivery queue with retry times, drained by one daemon thread started on first use."""

    def __init__(
        self,
        payload_for: Callable[[str], bytes | None],
        on_delivered: Callable[[str], None],
        *,
        retry_delays: tuple[float, ...] = (0.5, 2.0, 8.0),
        timeout_seconds: float = 5.0,
    ) -> None:
        self._payload_for = payload_for
        self._on_delivered = on_delivered
        self.retry_delays = retry_delays
        self._timeout = timeout_seconds
        self._queue: list[tuple[float, int, Target, str, int]] = []
        self._order = itertools.count()
        self._condition = threading.Condition()
        self._in_flight = 0
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.deliveries: list[Delivery] = []

    def enqueue(self, target: Target, event_id: str) -> None:
        with self._condition:
            self._push(target, event_id, 1, 0.0)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sandbox-stripe-webhooks", daemon=True)
                self._thread.start()

    def _push(self, target: Target, event_id: str, attempt: int, delay: float) -> None:
        heapq.heappush(self._queue, (time.monotonic() + delay, next(self._order), target, event_id, attempt))
        self._condition.notify_all()

    def wait_idle(self, timeout_seconds: float = 10.0) -> bool:
        """Block until nothing is queued or in flight (for tests and scenario scripts)."""
        deadline = time.monotonic() + timeout_seconds
        with self._condition:
            while self._queue or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(remaining)
            return True

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify_all()

    def _run(self) -> None:
        with httpx.Client(timeout=self._timeout) as client:
            while True:
                with self._condition:
                    while not self._stopped and (not self._queue or self._queue[0][0] > time.monotonic()):
                        wait = None if not self._queue else self._queue[0][0] - time.monotonic()
                        self._condition.wait(wait)
                    if self._stopped:
                        return
                    _, _, target, event_id, attempt = heapq.heappop(self._queue)
                    self._in_flight += 1
                try:
                    self._deliver(client, target, event_id, attempt)
                finally:
                    with self._condition:
                        self._in_flight -= 1
                        self._condition.notify_all()

    def _deliver(self, client: httpx.Client, target: Target, event_id: str, attempt: int) -> None:
        payload = self._payload_for(event_id)
        if payload is None:  # the event aged out of retention before it could be delivered
            return
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": sign(payload, target.secret, int(time.time())),
        }
        status_code: int | None = None
        error: str | None = None
        try:
            status_code = client.post(target.url, content=payload, headers=headers).status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        record = Delivery(event_id, target.endpoint_id, attempt, status_code, error)
        with self._condition:
            self.deliveries.append(record)
            if not record.succeeded and attempt <= len(self.retry_delays):
                self._push(target, event_id, attempt + 1, self.retry_delays[attempt - 1])
        if record.succeeded:
            self._on_delivered(event_id)

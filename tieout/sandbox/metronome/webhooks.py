"""Signed webhook delivery for the Metronome emulator.

Metronome POSTs notifications shaped `{"id", "type", "properties"}` to the configured URL and
signs each one: `Metronome-Webhook-Signature` is the hex HMAC-SHA256, keyed by the webhook
secret, of the `Date` header value, a newline, and the raw body bytes. The same date is sent
as `Date` (Metronome's documentation) and `X-Metronome-Date` (read by Metronome's own SDK
verifiers), and receivers reject dates more than five minutes off. The date comes from the
sandbox clock, so a receiver that checks freshness must share the clock when time is frozen.

Delivery runs on a background thread so no request waits on a receiver. A receiver answering
above 299, or not answering, gets the notification again with exponential backoff, up to
`max_attempts` (Metronome keeps retrying for two days; the sandbox stops sooner). Every
attempt is recorded in `deliveries`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
import time
from dataclasses import dataclass
from email.utils import format_datetime
from typing import Any

import httpx

from tieout.sandbox.clock import SandboxClock


def sign(secret: str, date: str, body: bytes) -> str:
    """The `Metronome-Webhook-Signature` value for a body sent with this `Date` header."""
    message = date.encode() + b"\n" + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(secret: str, date: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, date, body), signature)


@dataclass(frozen=True)
class Delivery:
    """One attempt to deliver one notification."""

    notification_id: str
    notification_type: str
    url: str
    attempt: int
    status_code: int | None
    error: str | None


class WebhookDispatcher:
    """Queues notifications and delivers them, signed, from one daemon thread."""

    def __init__(
        self,
        clock: SandboxClock,
        *,
        url: str | None,
        secret: str,
        max_attempts: int = 5,
        backoff_seconds: float = 0.2,
        timeout_seconds: float = 5.0,
    ) -> None:
        self.clock = clock
        self.url = url
        self.secret = secret
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.timeout_seconds = timeout_seconds
        self.deliveries: list[Delivery] = []
        self._queue: queue.Queue[tuple[str, str, bytes]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def configure(self, url: str | None, secret: str | None = None) -> None:
        self.url = url
        if secret is not None:
            self.secret = secret

    def emit(self, notification: dict[str, Any]) -> None:
        """Queue a notification for delivery; a no-op while no URL is configured."""
        url = self.url
        if url is None:
            return
        body = json.dumps(notification, separators=(",", ":")).encode()
        self._queue.put((url, str(notification["type"]), body))
        self._ensure_thread()

    def join(self) -> None:
        """Block until every queued notification is delivered or has used up its attempts."""
        self._queue.join()

    def _ensure_thread(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="sandbox-metronome-webhooks", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout_seconds) as client:
            while True:
                url, notification_type, body = self._queue.get()
                try:
                    self._deliver(client, url, notification_type, body)
                finally:
                    self._queue.task_done()

    def _deliver(self, client: httpx.Client, url: str, notification_type: str, body: bytes) -> None:
        notification_id = str(json.loads(body)["id"])
        for attempt in range(1, self.max_attempts + 1):
            date = format_datetime(self.clock.now(), usegmt=True)
            headers = {
                "Content-Type": "application/json",
                "Date": date,
                "X-Metronome-Date": date,
                "Metronome-Webhook-Signature": sign(self.secret, date, body),
            }
            status_code: int | None = None
            error: str | None = None
            try:
                status_code = client.post(url, content=body, headers=headers).status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            self.deliveries.append(
                Delivery(notification_id, notification_type, url, attempt, status_code, error)
            )
            if status_code is not None and status_code <= 299:
                return
            time.sleep(self.backoff_seconds * 2 ** (attempt - 1))

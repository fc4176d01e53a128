"""Idempotency-Key handling: replay the first response for the same key and parameters.

Keys are scoped per API key and kept 24 hours by the sandbox clock. Same key and same request
(method, path, parameters) replays the stored response with `Idempotent-Replayed: true`; same
key with anything different is Stripe's 400 `idempotency_error`. Responses are stored when the
request ran (2xx, and 402 card errors); other failures are not stored, so a corrected retry
with the same key runs, as Stripe does for requests that failed validation.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.stripe.errors import StripeError

KEY_LIFETIME_SECONDS = 24 * 3600
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class StoredResponse:
    fingerprint: str
    status: int
    body: bytes
    request_id: str
    stored_at: float


def fingerprint(method: str, path: str, params: dict[str, Any]) -> str:
    raw = json.dumps([method, path, params], sort_keys=True).encode()
    return hashlib.sha256(raw).hexdigest()


class IdempotencyStore:
    """Stored responses by (API key, idempotency key), oldest first for expiry."""

    def __init__(self, clock: SandboxClock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._stored: OrderedDict[tuple[str, str], StoredResponse] = OrderedDict()

    def lookup(self, api_key: str, key: str, print_: str) -> StoredResponse | None:
        if len(key) > MAX_KEY_LENGTH:
            raise StripeError(
                f"Idempotency-Key must be at most {MAX_KEY_LENGTH} characters long.",
                error_type="idempotency_error",
            )
        now = self._clock.now().timestamp()
        with self._lock:
            while self._stored:
                oldest_key, oldest = next(iter(self._stored.items()))
                if now - oldest.stored_at < KEY_LIFETIME_SECONDS:
                    break
                del self._stored[oldest_key]
            stored = self._stored.get((api_key, key))
        if stored is None:
            return None
        if stored.fingerprint != print_:
            raise StripeError(
                "Keys for idempotent requests can only be used with the same parameters they were first "
                f"used with. Try using a key other than '{key}' if you meant to execute a different request.",
                error_type="idempotency_error",
            )
        return stored

    def store(self, api_key: str, key: str, print_: str, status: int, body: bytes, request_id: str) -> None:
        if not (200 <= status < 300 or status == 402):
            return
        with self._lock:
            self._stored[(api_key, key)] = StoredResponse(
                print_, status, body, request_id, self._clock.now().timestamp()
            )

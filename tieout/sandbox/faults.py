"""Fault injection for the emulators: 5xx, 429, latency, dropped connections, slowness, concurrency.

Every emulator app is wrapped in `FaultMiddleware`. The profile can be changed while the server
runs, through `FaultInjector.set_profile()` in-process or the admin endpoint
`GET|PUT /__sandbox/faults` over HTTP, so a test can turn a calm API hostile in the middle of a
sync. Admin requests are never faulted. The vendor's own error body is rendered by a callback
the emulator supplies, so a 429 from the NetSuite emulator looks like NetSuite's and a 500 from
the Stripe emulator looks like Stripe's.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

ADMIN_PATH = "/__sandbox/faults"

FaultKind = Literal["server_error", "rate_limited", "concurrency_limited"]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class ErrorResponse:
    """What an emulator answers for an injected fault: status, JSON body and extra headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


ErrorRenderer = Callable[[FaultKind, float], ErrorResponse]
"""(fault kind, retry-after seconds) -> the vendor-shaped error response."""


@dataclass(frozen=True)
class ScriptedFault:
    """A fault queued for the next request: 'status', 'slow', 'malformed' or 'drop'."""

    kind: str
    status: int
    seconds: float | None


@dataclass(frozen=True)
class FaultProfile:
    """Rates are probabilities per request in [0, 1]; times are seconds."""

    server_error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after_seconds: float = 1.0
    added_latency_seconds: float = 0.0
    drop_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 30.0
    max_concurrency: int | None = None

    def __post_init__(self) -> None:
        for name in ("server_error_rate", "rate_limit_rate", "drop_rate", "slow_rate"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"fault profile: {name} must be between 0 and 1, got {rate}")
        for name in ("retry_after_seconds", "added_latency_seconds", "slow_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"fault profile: {name} must not be negative")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ValueError("fault profile: max_concurrency must be at least 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], base: FaultProfile | None = None) -> FaultProfile:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"fault profile: unknown setting(s) {', '.join(unknown)}")
        return replace(base or cls(), **values)


PROFILES: dict[str, FaultProfile] = {
    "none": FaultProfile(),
    "flaky": FaultProfile(
        server_error_rate=0.03, rate_limit_rate=0.03, retry_after_seconds=0.2, drop_rate=0.01
    ),
    "hostile": FaultProfile(
        server_error_rate=0.10,
        rate_limit_rate=0.10,
        retry_after_seconds=0.3,
        added_latency_seconds=0.005,
        drop_rate=0.03,
        slow_rate=0.02,
        slow_seconds=15.0,
        max_concurrency=5,
    ),
}


def profile_named(name: str) -> FaultProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown fault profile {name!r}; choose one of {', '.join(PROFILES)}") from None


class FaultInjector:
    """Decides, per request, which fault (if any) to inject. Thread-safe; seeded for repeatability."""

    def __init__(self, profile: FaultProfile | None = None, *, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._profile = profile or FaultProfile()
        self._random = random.Random(seed)
        self._in_flight = 0
        self._scripted: list[ScriptedFault] = []
        self.injected: dict[str, int] = {}
        self.requests = 0

    def fail_next(self, status: int, *, times: int = 1, retry_after: float | None = None) -> None:
        """The next `times` requests answer `status` with the vendor's error body."""
        with self._lock:
            self._scripted += [ScriptedFault("status", status, retry_after)] * times

    def fail_next_timeout(self, *, times: int = 1, seconds: float = 5.0) -> None:
        """The next `times` requests hang for `seconds` (past a client's timeout) before answering."""
        with self._lock:
            self._scripted += [ScriptedFault("slow", 200, seconds)] * times

    def fail_next_malformed(self, *, times: int = 1) -> None:
        """The next `times` requests answer 200 with an HTML body, as a broken proxy does."""
        with self._lock:
            self._scripted += [ScriptedFault("malformed", 200, None)] * times

    def fail_next_drop(self, *, times: int = 1) -> None:
        with self._lock:
            self._scripted += [ScriptedFault("drop", 200, None)] * times

    def clear_scripted(self) -> None:
        with self._lock:
            self._scripted.clear()

    def take_scripted(self) -> ScriptedFault | None:
        with self._lock:
            self.requests += 1
            if not self._scripted:
                return None
            fault = self._scripted.pop(0)
            self._count(f"scripted_{fault.kind}")
            return fault

    @property
    def profile(self) -> FaultProfile:
        with self._lock:
            return self._profile

    def set_profile(self, profile: FaultProfile) -> None:
        with self._lock:
            self._profile = profile

    def _count(self, kind: str) -> None:
        self.injected[kind] = self.injected.get(kind, 0) + 1

    def draw(self) -> tuple[FaultProfile, str | None]:
        """Pick the fault for one request: None, 'server_error', 'rate_limited', 'drop' or 'slow'."""
        with self._lock:
            profile = self._profile
            roll = self._random.random()
            threshold = 0.0
            for kind, rate in (
                ("server_error", profile.server_error_rate),
                ("rate_limited", profile.rate_limit_rate),
                ("drop", profile.drop_rate),
                ("slow", profile.slow_rate),
            ):
                threshold += rate
                if roll < threshold:
                    self._count(kind)
                    return profile, kind
            return profile, None

    def enter(self) -> bool:
        """Count a request in; False when it exceeds the concurrency limit (it is not counted)."""
        with self._lock:
            limit = self._profile.max_concurrency
            if limit is not None and self._in_flight >= limit:
                self._count("concurrency_limited")
                return False
            self._in_flight += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1


async def _send_json(send: Send, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    payload = json.dumps(body).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


class DroppedConnection(Exception):
    """Raised inside the server after a partial response so the client sees a broken connection."""


class FaultMiddleware:
    """ASGI middleware applying a FaultInjector's decisions and serving the admin endpoint."""

    def __init__(self, app: ASGIApp, injector: FaultInjector, render_error: ErrorRenderer) -> None:
        self.app = app
        self.injector = injector
        self.render_error = render_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == ADMIN_PATH:
            await self._admin(scope, receive, send)
            return
        scripted = self.injector.take_scripted()
        if scripted is not None:
            await self._scripted(scripted, send)
            return
        profile, fault = self.injector.draw()
        if profile.added_latency_seconds:
            await asyncio.sleep(profile.added_latency_seconds)
        if fault == "slow":
            await asyncio.sleep(profile.slow_seconds)
        elif fault in ("server_error", "rate_limited"):
            error = self.render_error(fault, profile.retry_after_seconds)  # type: ignore[arg-type]
            await _send_json(send, error.status, error.body, error.headers)
            return
        elif fault == "drop":
            # Promise a body, send half of nothing and break off: the client sees the
            # connection die mid-response, as it does when a load balancer resets it.
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4096")]}
            )
            await send({"type": "http.response.body", "body": b'{"partial": ', "more_body": True})
            raise DroppedConnection("sandbox fault: connection dropped")
        if not self.injector.enter():
            error = self.render_error("concurrency_limited", profile.retry_after_seconds)
            await _send_json(send, error.status, error.body, error.headers)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.injector.leave()

    async def _scripted(self, fault: ScriptedFault, send: Send) -> None:
        if fault.kind == "slow":
            await asyncio.sleep(fault.seconds or 0)
            await _send_json(send, 504, {"error": "gateway timeout"})
        elif fault.kind == "malformed":
            body = b"<html><body>502 Bad Gateway</body></html>"
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
        elif fault.kind == "drop":
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4096")]}
            )
            await send({"type": "http.response.body", "body": b'{"partial": ', "more_body": True})
            raise DroppedConnection("sandbox fault: connection dropped")
        else:
            # The vendor's body for the nearest kind, under the scripted status: SDKs pick their
            # error class by status code, which is what a scripted 401 or 404 is there to test.
            kind: FaultKind = "rate_limited" if fault.status == 429 else "server_error"
            error = self.render_error(kind, fault.seconds if fault.seconds is not None else 0.0)
            headers = dict(error.headers)
            if fault.status != 429:
                headers = {k: v for k, v in headers.items() if k.lower() != "retry-after"}
            elif fault.seconds is not None:
                headers["Retry-After"] = f"{fault.seconds:g}"
            await _send_json(send, fault.status, error.body, headers)

    async def _admin(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method == "GET":
            await _send_json(
                send, 200, {"profile": self.injector.profile.to_dict(), "injected": self.injector.injected}
            )
            return
        if method not in ("PUT", "POST"):
            await _send_json(send, 405, {"error": "use GET or PUT"})
            return
        try:
            body = json.loads(await _read_body(receive) or b"{}")
            if isinstance(body, str):
                new_profile = profile_named(body)
            elif isinstance(body, dict) and set(body) == {"profile"}:
                new_profile = profile_named(str(body["profile"]))
            elif isinstance(body, dict):
                new_profile = FaultProfile.from_dict(body)
            else:
                raise ValueError("body must be a profile name or an object of settings")
        except (ValueError, TypeError) as exc:
            await _send_json(send, 400, {"error": str(exc)})
            return
        self.injector.set_profile(new_profile)
        await _send_json(send, 200, {"profile": new_profile.to_dict()})

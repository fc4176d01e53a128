"""The connector protocol: what every system's connector provides, and the facts it declares.

A connector is one class per system, built from typed settings and an injected client. It keeps
no state between calls: the runner owns cursors, the ledger owns idempotency keys. It declares
its streams as data (`StreamSpec`): the endpoint, the id and cursor fields, the page size,
whether pages arrive oldest-first, which canonical kind the stream maps to and the pure mapping
function that does it. Vendor errors are translated into `tieout.errors` inside the connector,
so nothing above this package imports httpx, requests or a vendor SDK.

- `check()` raises `AuthenticationError`/`ConnectorError` on bad credentials or settings.
- `pull(stream, since=, until=)` yields `Page`s of `RawRecord`s, each page being one unit the
  runner commits together with its cursor. `since` is inclusive, `until` exclusive.
- `fetch(stream, record_ids, known=)` reads named records as they are now (a resync of one
  record); connectors whose systems cannot address a record by id refuse it.
- `push(stream, payload, idempotency_key=)` creates or updates one record and says which;
  repeating it with the same key never creates a second record.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from tieout.errors import BudgetExhausted, ConnectorError, TieoutError
from tieout.mappings.context import MappingContext
from tieout.model import CanonicalRecord

Mapper = Callable[[Mapping[str, Any], MappingContext], CanonicalRecord]
"""A pure function from one vendor payload to one canonical record; raises MappingError."""


@dataclass(frozen=True)
class StreamSpec:
    """Facts about one stream of a system, as data."""

    name: str
    kind: str
    mapper: Mapper
    endpoint: str = ""
    primary_key: str = "id"
    cursor_field: str | None = None
    page_size: int = 100
    ordered: bool = False
    """True when records arrive oldest-first by cursor across pages, so the cursor may advance
    after every committed page; otherwise it advances once, after the last page."""
    pushable: bool = False


@dataclass(frozen=True)
class RawRecord:
    """One record as the system returned it."""

    system: str
    stream: str
    source_id: str
    updated_at: datetime | None
    payload: dict[str, Any]
    deleted: bool = False


@dataclass(frozen=True)
class Page:
    """One page as the system served it: the unit the runner commits atomically."""

    records: list[RawRecord]
    watermark: datetime | None = None
    """How far the stream has been read when that is not the newest record's time: a connector
    that reads changes from the system's own change feed sets it to the moment the feed was read
    up to, so the cursor moves on even when nothing changed."""


@dataclass(frozen=True)
class PushResult:
    target_id: str
    operation: Literal["created", "updated", "unchanged"]
    payload: dict[str, Any] = field(default_factory=dict)


class CallBudget:
    """A cap on API calls (per run, or what is left of a vendor's daily allocation)."""

    def __init__(self, system: str, max_calls: int | None = None) -> None:
        self.system = system
        self.max_calls = max_calls
        self.used = 0
        self._lock = threading.Lock()

    @property
    def remaining(self) -> int | None:
        return None if self.max_calls is None else max(0, self.max_calls - self.used)

    def spend(self, calls: int = 1) -> None:
        with self._lock:
            if self.max_calls is not None and self.used + calls > self.max_calls:
                raise BudgetExhausted(
                    f"call budget of {self.max_calls} spent; stopping before the next call",
                    system=self.system,
                )
            self.used += calls

    def limit_to(self, remaining_calls: int) -> None:
        """Shrink the budget to what the vendor says is left (never grow it)."""
        with self._lock:
            cap = self.used + max(0, remaining_calls)
            self.max_calls = cap if self.max_calls is None else min(self.max_calls, cap)


class ConnectorSettings(BaseModel):
    """Base of every connector's settings model: unknown keys are configuration mistakes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Connector(ABC):
    """Base class for connectors. Subclasses set the class attributes and implement the methods."""

    name: ClassVar[str]
    title: ClassVar[str] = ""
    settings_model: ClassVar[type[ConnectorSettings]] = ConnectorSettings
    streams: ClassVar[tuple[StreamSpec, ...]] = ()

    def __init__(self, settings: ConnectorSettings, *, budget: CallBudget | None = None) -> None:
        self.settings = settings
        self.budget = budget or CallBudget(self.name)

    @property
    def api_calls(self) -> int:
        """Every request attempt made so far, retries included; the runner reads it per page."""
        return self.budget.used

    @classmethod
    def stream(cls, name: str) -> StreamSpec:
        for spec in cls.streams:
            if spec.name == name:
                return spec
        known = ", ".join(spec.name for spec in cls.streams) or "none"
        raise ConnectorError(f"unknown stream {name!r} (streams: {known})", system=cls.name)

    @abstractmethod
    def check(self) -> None:
        """Raise a ConnectorError subclass when the system cannot be used with these settings."""

    @abstractmethod
    def pull(
        self, stream: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Page]:
        """Yield pages of records updated in [since, until), or all records when since is None."""

    def fetch(
        self,
        stream: str,
        record_ids: Sequence[str],
        *,
        known: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Page:
        """The records with these ids as the system has them now; ids it no longer has are left out.

        `known` holds the payload tieout last stored for an id, when it has one: a connector that
        reaches a record through its parent (a Metronome invoice through its customer) finds the
        parent's id there instead of searching for it.
        """
        raise ConnectorError(
            f"{self.name} cannot fetch {stream} records by id; resync a window instead", system=self.name
        )

    def push(self, stream: str, payload: dict[str, Any], *, idempotency_key: str) -> PushResult:
        raise ConnectorError(f"{self.name} does not accept pushes to {stream!r}", system=self.name)

    def push_batch(
        self, stream: str, items: list[tuple[dict[str, Any], str]]
    ) -> list[PushResult | Exception]:
        """Push several (payload, idempotency_key) pairs; one result or error per item, in order.

        Systems with batch endpoints (Salesforce sObject Collections, 200 a call) override this;
        a failure of one item is returned in its place, never raised for the batch.
        """
        results: list[PushResult | Exception] = []
        for payload, key in items:
            try:
                results.append(self.push(stream, payload, idempotency_key=key))
            except TieoutError as exc:
                results.append(exc)
        return results

    def close(self) -> None:  # noqa: B027 - optional hook; most connectors hold a client to close
        """Release clients and connections; the default has none to release."""

"""The shared core of the Stripe state: tables, clock, ids, events, rendering and expansion.

`StripeStore` is the base the billing and payments parts of `StripeState` build on. Everything
here runs under one re-entrant lock, so a scenario generator can seed from its own thread while
the HTTP server reads.
"""

from __future__ import annotations

import gc
import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.stripe.collection import Collection, Record
from tieout.sandbox.stripe.errors import StripeError, invalid, missing
from tieout.sandbox.stripe.ids import IdFactory
from tieout.sandbox.stripe.shapes import TEMPLATES

EVENT_RETENTION = timedelta(days=30)

# (request id, idempotency key) of the API request being served, for events' `request` field.
current_request: ContextVar[tuple[str | None, str | None]] = ContextVar(
    "stripe_current_request", default=(None, None)
)

PREFIXES: dict[str, str] = {
    "cus": "customer",
    "prod": "product",
    "price": "price",
    "ii": "invoiceitem",
    "in": "invoice",
    "pi": "payment_intent",
    "ch": "charge",
    "re": "refund",
    "txn": "balance_transaction",
    "po": "payout",
    "dp": "dispute",
    "cn": "credit_note",
    "cbtxn": "customer_balance_transaction",
    "evt": "event",
    "we": "webhook_endpoint",
    "txr": "tax_rate",
}

EXPANDABLE: dict[str, frozenset[str]] = {
    "customer": frozenset(),
    "product": frozenset({"default_price"}),
    "price": frozenset({"product"}),
    "invoiceitem": frozenset({"customer", "invoice"}),
    "invoice": frozenset({"customer", "charge", "payment_intent"}),
    "payment_intent": frozenset({"customer", "invoice", "latest_charge"}),
    "charge": frozenset({"customer", "invoice", "payment_intent", "balance_transaction"}),
    "refund": frozenset({"charge", "payment_intent", "balance_transaction"}),
    "balance_transaction": frozenset({"source"}),
    "payout": frozenset({"balance_transaction", "failure_balance_transaction"}),
    "dispute": frozenset({"charge", "payment_intent"}),
    "credit_note": frozenset({"customer", "invoice", "refund", "customer_balance_transaction"}),
    "customer_balance_transaction": frozenset({"customer", "invoice", "credit_note"}),
    "event": frozenset(),
    "webhook_endpoint": frozenset(),
    "tax_rate": frozenset(),
}

_INDEXES: dict[str, tuple[str, ...]] = {
    "customer": (),
    "product": (),
    "price": ("product",),
    "invoiceitem": ("customer",),
    "invoice": ("customer",),
    "payment_intent": ("customer",),
    "charge": ("customer", "payment_intent"),
    "refund": ("charge", "payment_intent"),
    "balance_transaction": ("payout", "source"),
    "payout": (),
    "dispute": ("charge", "payment_intent"),
    "credit_note": ("customer", "invoice"),
    "customer_balance_transaction": ("customer",),
    "event": (),
    "webhook_endpoint": (),
    "tax_rate": (),
}


_NO_REQUEST: dict[str, str | None] = {"id": None, "idempotency_key": None}  # shared, never mutated


def snapshot(record: Record) -> Record:
    """A copy that later updates cannot reach: records replace nested dicts instead of mutating them."""
    return dict(record)


class StripeStore:
    """Tables and the machinery every Stripe object shares."""

    def __init__(self, clock: SandboxClock | None = None, *, seed: int = 0) -> None:
        self.lock = threading.RLock()
        self.clock = clock or SandboxClock()
        self.ids = IdFactory(seed)
        self._sequence = itertools.count(1)
        self.tables: dict[str, Collection] = {
            name: Collection(name, indexed) for name, indexed in _INDEXES.items()
        }
        self.deleted: dict[str, str] = {}  # id -> object name, for `{"deleted": true}` answers
        self.event_listeners: list[Callable[[Record], None]] = []
        self._events_since_purge = 0
        # Per-object `_render_<name>` hooks that subclasses define, looked up once.
        self._render_hooks: dict[str, Callable[[dict[str, Any]], None]] = {
            name: hook for name in TEMPLATES if (hook := getattr(self, f"_render_{name}", None)) is not None
        }
        # `_snapshot_<name>` hooks add what an event must freeze beyond the record's own fields.
        self._snapshot_hooks: dict[str, Callable[[Record], None]] = {
            name: hook for name in TEMPLATES if (hook := getattr(self, f"_snapshot_{name}", None)) is not None
        }

    @contextmanager
    def bulk_seeding(self) -> Iterator[None]:
        """Seed many records faster: the cyclic garbage collector is paused meanwhile.

        Stripe records form no reference cycles, so collections during a large seed only rescan
        millions of live objects; pausing them roughly halves the time of a 200,000-invoice seed.
        """
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            yield
        finally:
            if was_enabled:
                gc.enable()

    # -- time and insertion -------------------------------------------------------------------

    def now(self) -> int:
        return int(self.clock.now().timestamp())

    def insert(self, name: str, record: Record, index_values: dict[str, str | None] | None = None) -> Record:
        self.tables[name].add(record, next(self._sequence), index_values)
        return record

    def find(self, name: str, record_id: str, param: str = "id", status: int = 404) -> Record:
        record = self.tables[name].get(record_id)
        if record is None:
            raise missing(name, record_id, param=param, status=status)
        return record

    # -- events ---------------------------------------------------------------------------------

    def emit(
        self,
        event_type: str,
        object_name: str,
        record: Record,
        previous_attributes: dict[str, Any] | None = None,
    ) -> Record:
        """Record an event carrying a snapshot of `record` as it is now, and hand it to listeners."""
        request_id, idempotency_key = current_request.get()
        request = (
            _NO_REQUEST if request_id is None else {"id": request_id, "idempotency_key": idempotency_key}
        )
        event: Record = {
            "id": self.ids.new("evt"),
            "created": self.now(),
            "type": event_type,
            "object_name": object_name,
            "snapshot": self._snapshot(object_name, record),
            "previous_attributes": previous_attributes,
            "request": request,
            "pending_webhooks": 0,
        }
        self.insert("event", event)
        self._events_since_purge += 1
        if self._events_since_purge >= 1000:
            self.purge_expired_events()
        for listener in self.event_listeners:
            listener(event)
        return event

    def _snapshot(self, object_name: str, record: Record) -> Record:
        copied = snapshot(record)
        hook = self._snapshot_hooks.get(object_name)
        if hook is not None:
            hook(copied)
        return copied

    def purge_expired_events(self) -> None:
        self._events_since_purge = 0
        cutoff = int((self.clock.now() - EVENT_RETENTION).timestamp())
        self.tables["event"].purge_before(cutoff)

    # -- rendering ------------------------------------------------------------------------------

    def render(self, name: str, record: Record) -> dict[str, Any]:
        """The API shape of a stored record."""
        if name == "event":
            return self._render_event(record)
        rendered = {**TEMPLATES[name], **record}
        hook = self._render_hooks.get(name)
        if hook is not None:
            hook(rendered)
        return rendered

    def _render_event(self, event: Record) -> dict[str, Any]:
        data: dict[str, Any] = {"object": self.render(event["object_name"], event["snapshot"])}
        if event["previous_attributes"] is not None:
            data["previous_attributes"] = event["previous_attributes"]
        return {
            **TEMPLATES["event"],
            "id": event["id"],
            "created": event["created"],
            "data": data,
            "pending_webhooks": event["pending_webhooks"],
            "request": event["request"],
            "type": event["type"],
        }

    def lookup(self, object_id: str) -> tuple[str, Record] | None:
        name = PREFIXES.get(object_id.split("_", 1)[0])
        if name is None:
            return None
        record = self.tables[name].get(object_id)
        return None if record is None else (name, record)

    def expand(self, name: str, rendered: dict[str, Any], paths: list[str]) -> dict[str, Any]:
        """Replace ids by objects along each dotted path (`customer`, `latest_charge.invoice`)."""
        for path in paths:
            self._expand_path(name, rendered, path.split("."), path)
        return rendered

    def _expand_path(self, name: str, rendered: dict[str, Any], parts: list[str], path: str) -> None:
        head, rest = parts[0], parts[1:]
        if head not in EXPANDABLE.get(name, frozenset()) or head not in rendered:
            raise invalid(f"This property cannot be expanded ({head}).")
        value = rendered[head]
        if isinstance(value, str):
            found = self.lookup(value)
            if found is None:
                return
            child_name, record = found
            value = self.render(child_name, record)
            rendered[head] = value
        if rest and isinstance(value, dict):
            self._expand_path(value["object"], value, rest, path)

    def render_expanded(self, name: str, record: Record, paths: list[str]) -> dict[str, Any]:
        if len(paths) > 0 and max(len(p.split(".")) for p in paths) > 4:
            raise StripeError("You cannot expand more than 4 levels of a property.", param="expand")
        return self.expand(name, self.render(name, record), paths)

    def update_record(
        self, name: str, record: Record, changes: dict[str, Any], event_type: str | None
    ) -> Record:
        """Apply changes (nested values replaced whole) and emit `event_type` with previous_attributes."""
        template = TEMPLATES.get(name, {})
        previous: dict[str, Any] = {}
        for key, value in changes.items():
            old = record.get(key, template.get(key))
            if old != value:
                previous[key] = old
        if not previous:
            return record
        record.update(changes)
        if event_type is not None:
            self.emit(event_type, name, record, previous)
        return record

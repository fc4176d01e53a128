"""The shared core of the Metronome emulator's state: lock, clock, ids and every record store.

Each group of endpoints is a mixin over `StateBase` (customers, catalog, contracts, usage,
invoices) so the stores, the one lock and the clock are shared without a god module. Records
are kept as the JSON shapes Metronome returns (dicts with timestamps already rendered), beside
small sidecar indexes with parsed times, so serving a page is cheap and seeding is O(1).
"""

from __future__ import annotations

import heapq
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.metronome.audit import AuditLog
from tieout.sandbox.metronome.webhooks import WebhookDispatcher
from tieout.sandbox.metronome.wire import iso, not_found

Record = dict[str, Any]

DEFAULT_API_TOKEN = "sandbox-metronome-token"  # noqa: S105 - a published sandbox credential
DEFAULT_WEBHOOK_SECRET = "sandbox-metronome-webhook-secret"  # noqa: S105
CREATED_BY = "tieout sandbox API token"


@dataclass(frozen=True)
class UsageEvent:
    """One accepted usage event, kept under the customer id or alias it was sent with."""

    transaction_id: str
    customer_key: str
    event_type: str
    timestamp: datetime
    properties: dict[str, Any]


@dataclass
class RateEntry:
    """One rate on a rate card, in the order added; later entries win where they overlap."""

    product_id: str
    starting_at: datetime
    ending_before: datetime | None
    entitled: bool
    rate: Record
    pricing_group_values: dict[str, str] | None
    billing_frequency: str | None
    commit_rate: Record | None


@dataclass
class InvoiceIndex:
    """Parsed times of an invoice, for filtering and ordering without re-parsing strings."""

    start: datetime | None
    end: datetime | None
    issued: datetime | None
    sort_key: str


class StateBase:
    """Stores, lock, clock and id source shared by every part of the emulator's state."""

    def __init__(
        self,
        clock: SandboxClock | None = None,
        *,
        api_token: str = DEFAULT_API_TOKEN,
        seed: int = 0,
        finalize_grace: timedelta | None = timedelta(hours=24),
        webhook_url: str | None = None,
        webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock or SandboxClock()
        self.api_tokens: set[str] = {api_token}
        self.finalize_grace = finalize_grace
        self._random = random.Random(seed)
        self.webhooks = WebhookDispatcher(self.clock, url=webhook_url, secret=webhook_secret)
        self.audit_log = AuditLog()

        self.customers: dict[str, Record] = {}
        self.customer_order: list[str] = []
        self.customer_position: dict[str, int] = {}
        self.alias_owner: dict[str, str] = {}
        self.billing_configs: dict[str, list[Record]] = {}
        self.revenue_configs: dict[str, list[Record]] = {}
        self.delivery_methods: dict[str, str] = {}

        self.metrics: dict[str, Record] = {}
        self.metric_order: list[str] = []
        self.products: dict[str, Record] = {}
        self.product_order: list[str] = []
        self.rate_cards: dict[str, Record] = {}
        self.rate_card_order: list[str] = []
        self.rates: dict[str, list[RateEntry]] = {}

        self.contracts: dict[str, Record] = {}
        self.contracts_by_customer: dict[str, list[str]] = {}
        self.contract_uniqueness_keys: dict[str, str] = {}

        self.events_by_key: dict[str, list[UsageEvent]] = {}
        # Keys whose events arrived out of time order; sorted (stably) when next read.
        self.unsorted_event_keys: set[str] = set()
        self.transactions_seen: dict[str, datetime] = {}

        self.invoices: dict[str, Record] = {}
        self.invoice_index: dict[str, InvoiceIndex] = {}
        self.invoices_by_customer: dict[str, list[str]] = {}
        self.drafts_due: list[tuple[datetime, str]] = []

    def new_id(self) -> str:
        """A uuid4 from the seeded generator, so a scenario replays with the same ids."""
        with self.lock:
            bits = self._random.getrandbits(128)
        # Set the version (4) and variant (RFC 4122) bits, as uuid.UUID(version=4) does.
        bits = (bits & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC000 << 48) | (0x8000 << 48)
        text = f"{bits:032x}"
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"

    def now(self) -> datetime:
        return self.clock.now()

    def now_iso(self) -> str:
        return iso(self.clock.now())

    def audit(self, resource_type: str, resource_id: str, action: str, *, at: datetime | None = None) -> None:
        self.audit_log.record(at or self.clock.now(), resource_type, resource_id, action)

    def customer_record(self, customer_id: str) -> Record:
        record = self.customers.get(customer_id)
        if record is None:
            raise not_found(f"customer {customer_id} not found")
        return record

    def product_record(self, product_id: str) -> Record:
        record = self.products.get(product_id)
        if record is None:
            raise not_found(f"product {product_id} not found")
        return record

    def schedule_finalization(self, invoice_id: str, end: datetime | None) -> None:
        if self.finalize_grace is not None and end is not None:
            heapq.heappush(self.drafts_due, (end + self.finalize_grace, invoice_id))

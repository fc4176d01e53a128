"""Receiving one webhook delivery: verify it, claim its event once, resync the records it names.

A delivery that is not signed by the configured secret is refused as forged, one signed too
long ago as stale, one too big as oversized (the HTTP layer refuses it before reading it all);
each refusal is logged and counted, and none touches the store. A verified event is claimed in
`webhook_events` by (source, event id): a second delivery of it (the sender retrying, a second
endpoint, a replay inside the tolerance) is acknowledged and not processed again. Each record
the event names is resynced through `ResyncService.resync_record(..., trigger="webhook")`, the
same path as `tieout resync`, so pushes go through the push ledger. When a resync fails the
event is marked failed and answered 500, and the sender's retry processes it again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from tieout.config import TieoutConfig
from tieout.errors import TieoutError, WebhookRejected
from tieout.observability import metrics, runs
from tieout.observability.logging import scrub
from tieout.resync import ResyncService
from tieout.store import Store
from tieout.webhooks.events import RecordRef, records_named
from tieout.webhooks.verify import STRIPE_SIGNATURE_HEADER, verify_metronome, verify_stripe

log = logging.getLogger("tieout.webhooks")

SOURCES = ("stripe", "metronome")
# An event still marked received this long after it was claimed belongs to a process that died
# while resyncing it; the sender's next retry takes it over.
ABANDONED_AFTER = timedelta(minutes=15)


class ResyncOutcome(Protocol):
    @property
    def errors(self) -> list[str]: ...


class Resyncer(Protocol):
    def resync_record(
        self, system: str, stream: str, record_id: str, *, dry_run: bool = False, trigger: str = "manual"
    ) -> ResyncOutcome: ...


@dataclass
class Delivery:
    """What became of one delivery, and the HTTP status that tells the sender."""

    source: str
    outcome: str
    status_code: int
    event_id: str | None = None
    event_type: str | None = None
    records: list[str] = field(default_factory=list)
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.outcome,
            "event_id": self.event_id,
            "records": self.records,
            **({"detail": self.detail} if self.detail else {}),
        }


class WebhookReceiver:
    def __init__(
        self,
        config: TieoutConfig,
        store: Store,
        *,
        resyncer: Callable[[], Resyncer] | None = None,  # made on the first event that names records
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.settings = config.webhooks
        self.store = store
        self.clock = clock
        self._make_resyncer = resyncer or (lambda: ResyncService(config, store))
        self._resyncer: Resyncer | None = None
        # One event at a time: the resync service and its connectors are shared by every request.
        self._lock = threading.Lock()

    def secret_for(self, source: str) -> str | None:
        secret = {
            "stripe": self.settings.stripe_signing_secret,
            "metronome": self.settings.metronome_signing_secret,
        }.get(source)
        return secret.get_secret_value() if secret is not None else None

    def refuse_oversized(self, source: str, size: str, client: str | None = None) -> Delivery:
        limit = self.settings.max_body_bytes
        return self._refused(
            source, WebhookRejected("oversized", f"{size} bytes, over the limit of {limit}"), 413, client
        )

    def receive(
        self, source: str, body: bytes, headers: Mapping[str, str], client: str | None = None
    ) -> Delivery:
        """`headers` with lower-case names; `client` is the sender's address, for the log."""
        secret = self.secret_for(source)
        if source not in SOURCES or secret is None:
            log.warning("webhook from %s refused: no signing secret is configured for it", source)
            metrics.record_webhook(source, "unconfigured")
            return Delivery(source, "unconfigured", 404, detail=f"no webhook endpoint for {source}")
        if len(body) > self.settings.max_body_bytes:
            return self.refuse_oversized(source, str(len(body)), client)
        try:
            self._verify(source, body, headers, secret)
            event = self._parse(body)
        except WebhookRejected as exc:
            return self._refused(source, exc, 400, client)
        event_id, event_type = str(event["id"]), str(event.get("type", ""))
        now = self.clock()
        with self.store.transaction() as tx:
            first = tx.claim_webhook_event(
                source,
                event_id,
                event_type=event_type[:100],
                payload_hash=hashlib.sha256(body).hexdigest(),
                at=now,
                abandoned_before=now - ABANDONED_AFTER,
            )
        if not first:
            log.info(
                "webhook %s event %s (%s) already received; not processed again", source, event_id, event_type
            )
            metrics.record_webhook(source, "duplicate")
            return Delivery(source, "duplicate", 200, event_id, event_type)
        with runs.scope(event_id, f"webhook:{source}"):
            return self._process(source, event_id, event_type, records_named(source, event))

    def _verify(self, source: str, body: bytes, headers: Mapping[str, str], secret: str) -> None:
        now, tolerance = self.clock(), self.settings.tolerance_seconds
        if source == "stripe":
            verify_stripe(
                body, headers.get(STRIPE_SIGNATURE_HEADER), secret, tolerance_seconds=tolerance, now=now
            )
        else:
            verify_metronome(body, dict(headers), secret, tolerance_seconds=tolerance, now=now)

    @staticmethod
    def _parse(body: bytes) -> dict[str, Any]:
        try:
            event = json.loads(body)
        except ValueError:
            raise WebhookRejected("malformed", "the body is not JSON") from None
        if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not event["id"]:
            raise WebhookRejected("malformed", "the event has no id")
        if len(event["id"]) > 255:
            raise WebhookRejected("malformed", "the event id is longer than 255 characters")
        return event

    def _refused(self, source: str, error: WebhookRejected, status_code: int, client: str | None) -> Delivery:
        log.warning(
            "webhook from %s refused as %s (client %s)",
            source,
            error,
            client or "unknown",
            extra={"source": source, "reason": error.reason, "client": client},
        )
        metrics.record_webhook(source, error.reason)
        return Delivery(source, error.reason, status_code, detail=str(error))

    def _process(self, source: str, event_id: str, event_type: str, records: list[RecordRef]) -> Delivery:
        named = [str(record) for record in records]
        errors: list[str] = []
        if records:
            with self._lock:
                if self._resyncer is None:
                    self._resyncer = self._make_resyncer()
                for record in records:
                    try:
                        result = self._resyncer.resync_record(
                            record.system, record.stream, record.record_id, trigger="webhook"
                        )
                        errors += result.errors
                    except TieoutError as exc:
                        errors.append(f"{record}: {exc}")
        outcome = "failed" if errors else ("processed" if records else "ignored")
        error = scrub("; ".join(errors), self.config.secret_values)[:2000] if errors else None
        with self.store.transaction() as tx:
            tx.finish_webhook_event(source, event_id, status=outcome, at=self.clock(), error=error)
        metrics.record_webhook(source, outcome)
        level = logging.ERROR if errors else logging.INFO
        log.log(level, "webhook %s event %s (%s): %s %s", source, event_id, event_type, outcome, named or "")
        if errors:
            return Delivery(source, outcome, 500, event_id, event_type, named, error)
        return Delivery(source, outcome, 200, event_id, event_type, named)

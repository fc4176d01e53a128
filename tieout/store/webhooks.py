"""Webhook deliveries: each event claimed once by (source, event id), then marked processed or failed.

A delivery whose event is already claimed is a replay and is not processed again; one whose
earlier processing failed may be claimed again, because the sender retries until it gets a 2xx.
An event that names nothing tieout syncs is marked ignored. A claim never finished (the process
died while resyncing) is taken over by a delivery arriving after the claim has been abandoned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tieout.store.schema import webhook_events

WEBHOOK_STATUSES = ("received", "processed", "ignored", "failed")


@dataclass(frozen=True)
class WebhookEvent:
    source: str
    event_id: str
    event_type: str
    received_at: datetime
    status: str
    payload_hash: str
    processed_at: datetime | None
    error: str | None


class WebhookOps:
    connection: Connection

    def claim_webhook_event(
        self,
        source: str,
        event_id: str,
        *,
        event_type: str,
        payload_hash: str,
        at: datetime,
        abandoned_before: datetime | None = None,
    ) -> bool:
        """True when this delivery should be processed: a new event, one that failed before, or one
        claimed before `abandoned_before` and never finished (its process died mid-way)."""
        insert = postgresql.insert if self.connection.dialect.name == "postgresql" else sqlite.insert
        inserted = self.connection.execute(
            insert(webhook_events)
            .values(
                source=source,
                event_id=event_id,
                event_type=event_type,
                received_at=at,
                status="received",
                payload_hash=payload_hash,
            )
            .on_conflict_do_nothing(index_elements=["source", "event_id"])
            .returning(webhook_events.c.event_id)
        ).first()
        if inserted is not None:
            return True
        reclaimable: ColumnElement[bool] = webhook_events.c.status == "failed"
        if abandoned_before is not None:
            abandoned = and_(
                webhook_events.c.status == "received", webhook_events.c.received_at < abandoned_before
            )
            reclaimable = or_(reclaimable, abandoned)
        retried = self.connection.execute(
            update(webhook_events)
            .where(self._key(source, event_id), reclaimable)
            .values(status="received", received_at=at, payload_hash=payload_hash, error=None)
            .returning(webhook_events.c.event_id)
        ).first()
        return retried is not None

    def finish_webhook_event(
        self, source: str, event_id: str, *, status: str, at: datetime, error: str | None = None
    ) -> None:
        if status not in WEBHOOK_STATUSES:
            raise ValueError(f"unknown webhook event status {status!r}")
        self.connection.execute(
            update(webhook_events)
            .where(self._key(source, event_id))
            .values(status=status, processed_at=at, error=error)
        )

    def get_webhook_event(self, source: str, event_id: str) -> WebhookEvent | None:
        row = self.connection.execute(select(webhook_events).where(self._key(source, event_id))).first()
        return None if row is None else _event(row)

    def list_webhook_events(self, *, limit: int = 100) -> list[WebhookEvent]:
        rows = self.connection.execute(
            select(webhook_events).order_by(webhook_events.c.received_at.desc()).limit(limit)
        )
        return [_event(row) for row in rows]

    @staticmethod
    def _key(source: str, event_id: str) -> ColumnElement[bool]:
        return and_(webhook_events.c.source == source, webhook_events.c.event_id == event_id)


def _event(row: Any) -> WebhookEvent:
    return WebhookEvent(
        source=row.source,
        event_id=row.event_id,
        event_type=row.event_type,
        received_at=row.received_at,
        status=row.status,
        payload_hash=row.payload_hash,
        processed_at=row.processed_at,
        error=row.error,
    )

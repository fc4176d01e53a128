"""The push ledger: every write to a target is reserved here, under its idempotency key, first.

A push is reserved (pending) in its own committed transaction before the call goes out, and
confirmed with the target's id after; a crash in between leaves a pending row whose key the
retry reuses, so the target (Stripe Idempotency-Key, NetSuite externalId, Salesforce external-id
upsert) sees the same write twice and creates one record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from tieout.store.schema import push_ledger
from tieout.store.upsert import upsert_rows

PUSH_STATUSES = ("pending", "confirmed", "failed", "conflict")


@dataclass(frozen=True)
class LedgerEntry:
    idempotency_key: str
    target_system: str
    target_stream: str
    source_record_id: str
    operation: str
    payload_hash: str
    status: str
    target_id: str | None
    attempts: int
    last_error: str | None
    run_id: str | None = None
    """The run that first reserved the write (a flow's run record)."""


class LedgerOps:
    connection: Connection

    def reserve_push(
        self,
        *,
        idempotency_key: str,
        target_system: str,
        target_stream: str,
        source_record_id: str,
        operation: str,
        payload_hash: str,
        at: datetime,
        run_id: str | None,
    ) -> LedgerEntry:
        """Create the pending entry if the key is new; either way return the entry as stored."""
        upsert_rows(
            self.connection,
            push_ledger,
            [
                {
                    "idempotency_key": idempotency_key,
                    "target_system": target_system,
                    "target_stream": target_stream,
                    "source_record_id": source_record_id,
                    "operation": operation,
                    "payload_hash": payload_hash,
                    "status": "pending",
                    "attempts": 0,
                    "created_at": at,
                    "updated_at": at,
                    "run_id": run_id,
                }
            ],
            key_columns=("idempotency_key",),
            update_columns=(),
        )
        entry = self.get_push(idempotency_key)
        assert entry is not None
        return entry

    def get_push(self, idempotency_key: str) -> LedgerEntry | None:
        row = self.connection.execute(
            select(push_ledger).where(push_ledger.c.idempotency_key == idempotency_key)
        ).first()
        if row is None:
            return None
        return LedgerEntry(
            idempotency_key=row.idempotency_key,
            target_system=row.target_system,
            target_stream=row.target_stream,
            source_record_id=row.source_record_id,
            operation=row.operation,
            payload_hash=row.payload_hash,
            status=row.status,
            target_id=row.target_id,
            attempts=row.attempts,
            last_error=row.last_error,
            run_id=row.run_id,
        )

    def mark_push(
        self,
        idempotency_key: str,
        *,
        status: str,
        at: datetime,
        target_id: str | None = None,
        error: str | None = None,
    ) -> None:
        if status not in PUSH_STATUSES:
            raise ValueError(f"unknown push status {status!r}")
        values: dict[str, object] = {
            "status": status,
            "updated_at": at,
            "attempts": push_ledger.c.attempts + 1,
            "last_error": error,
        }
        if target_id is not None:
            values["target_id"] = target_id
        self.connection.execute(
            update(push_ledger).where(push_ledger.c.idempotency_key == idempotency_key).values(**values)
        )

    def pending_pushes(self, target_system: str | None = None) -> list[LedgerEntry]:
        query = select(push_ledger.c.idempotency_key).where(push_ledger.c.status == "pending")
        if target_system is not None:
            query = query.where(push_ledger.c.target_system == target_system)
        keys = [
            row.idempotency_key for row in self.connection.execute(query.order_by(push_ledger.c.created_at))
        ]
        return [entry for key in keys if (entry := self.get_push(key)) is not None]

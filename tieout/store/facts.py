"""What the columnar reconcile engine reads from the store: the change log, canonical rows, entities.

The engine keeps its projection in DuckDB, but every read of the state store goes through here:
the head of the change log and the records written after a watermark, canonical rows streamed in
chunks or fetched by id, crosswalk entities, and the open exceptions with the records they name.
Bulk writes of canonical rows (the reconcile bench's generator) come here too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update

from tieout import jsonutil
from tieout.store.queue import OPEN_STATUSES
from tieout.store.schema import canonical_records, crosswalk, exceptions, record_changes
from tieout.store.upsert import sqlite_datetime

CanonicalRow = tuple[str, str, str, str, str, bool, datetime]
"""record_id, kind, system, payload (JSON text), content_hash, deleted, stored_at."""

_ROW_COLUMNS = (
    canonical_records.c.record_id,
    canonical_records.c.kind,
    canonical_records.c.system,
    canonical_records.c.payload,
    canonical_records.c.content_hash,
    canonical_records.c.deleted,
    canonical_records.c.stored_at,
)


def _chunks(items: Sequence[str], size: int = 500) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


class FactOps:
    connection: Connection

    def change_head(self) -> int:
        """The newest change-log sequence number (0 for an empty log)."""
        last = self.connection.execute(
            select(record_changes.c.seq).order_by(record_changes.c.seq.desc()).limit(1)
        ).scalar()
        return int(last or 0)

    def change_tail(self) -> int:
        """The oldest change-log sequence number kept (0 for an empty log)."""
        first = self.connection.execute(
            select(record_changes.c.seq).order_by(record_changes.c.seq).limit(1)
        ).scalar()
        return int(first or 0)

    def prune_changes(self, up_to: int) -> int:
        """Forget the change-log entries up to sequence number `up_to`; returns how many went."""
        result = self.connection.execute(delete(record_changes).where(record_changes.c.seq <= up_to))
        return int(result.rowcount or 0)

    def changed_since(self, seq: int) -> list[str]:
        """Record ids written after change-log entry `seq`, each once, sorted."""
        rows = self.connection.execute(select(record_changes.c.record_id).where(record_changes.c.seq > seq))
        return sorted({row[0] for row in rows})

    def stream_canonical_rows(self, chunk: int) -> Iterator[Sequence[CanonicalRow]]:
        result = self.connection.execution_options(stream_results=True, yield_per=chunk).execute(
            select(*_ROW_COLUMNS)
        )
        for rows in result.partitions(chunk):
            yield [tuple(row) for row in rows]

    def canonical_rows(self, record_ids: Sequence[str]) -> list[CanonicalRow]:
        found: list[CanonicalRow] = []
        for chunk in _chunks(record_ids):
            rows = self.connection.execute(
                select(*_ROW_COLUMNS).where(canonical_records.c.record_id.in_(chunk))
            )
            found += [tuple(row) for row in rows]
        return found

    def entities_of(self, record_ids: Sequence[str] | None) -> dict[str, str]:
        """Crosswalk entity of each record id (of these, or of every record in the crosswalk)."""
        query = select(crosswalk.c.system, crosswalk.c.kind, crosswalk.c.native_id, crosswalk.c.entity_id)
        rows: list[Any] = []
        if record_ids is None:
            rows = list(self.connection.execute(query))
        else:
            for chunk in _chunks(record_ids):
                parts = [record_id.split(":", 2) for record_id in chunk]
                rows += self.connection.execute(
                    query.where(
                        crosswalk.c.system.in_({part[0] for part in parts}),
                        crosswalk.c.native_id.in_({part[-1] for part in parts}),
                    )
                ).all()
        return {f"{system}:{kind}:{native_id}": entity_id for system, kind, native_id, entity_id in rows}

    def open_exception_rules(self, rule_codes: Sequence[str]) -> dict[str, tuple[str, list[str]]]:
        """fingerprint -> (rule code, record ids) of the open exceptions of these rules."""
        rows = self.connection.execute(
            select(exceptions.c.fingerprint, exceptions.c.rule_code, exceptions.c.record_ids).where(
                exceptions.c.rule_code.in_(list(rule_codes)), exceptions.c.status.in_(OPEN_STATUSES)
            )
        )
        return {row.fingerprint: (row.rule_code, jsonutil.loads(row.record_ids)) for row in rows}

    def insert_canonical_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        """New canonical rows in one statement (bulk loads); SQLite gets them straight through the driver."""
        if not rows:
            return
        if self.connection.dialect.name != "sqlite":
            self.connection.execute(canonical_records.insert(), list(rows))
            return
        # SQLAlchemy's per-row parameter processing would double the load time of a million records;
        # datetimes go in as the UtcDateTime column stores them on SQLite (naive UTC text).
        columns = list(rows[0])
        values = [tuple(_sqlite_value(row[name]) for name in columns) for row in rows]
        self.connection.exec_driver_sql(
            f"INSERT INTO canonical_records ({', '.join(columns)}) "  # noqa: S608 - column names of the table
            f"VALUES ({', '.join('?' for _ in columns)})",
            values,
        )

    def rewrite_canonical_payloads(self, rows: Sequence[dict[str, Any]]) -> None:
        """Rows of record_id, payload (text), content_hash, stored_at: the records' new content."""
        if not rows:
            return
        self.connection.execute(
            update(canonical_records)
            .where(canonical_records.c.record_id == bindparam("key"))
            .values(payload=bindparam("text"), content_hash=bindparam("hash"), stored_at=bindparam("at")),
            [
                {
                    "key": row["record_id"],
                    "text": row["payload"],
                    "hash": row["content_hash"],
                    "at": row["stored_at"],
                }
                for row in rows
            ],
        )


def _sqlite_value(value: Any) -> Any:
    return sqlite_datetime(value) if isinstance(value, datetime) else value

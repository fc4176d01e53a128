"""The state store: the only package that talks SQL.

`Store.open(url)` gives a store on SQLite (the embedded default) or PostgreSQL;
`store.transaction()` gives a `StoreTransaction` whose methods (raw and canonical records,
crosswalk, cursors, runs, push ledger, exception queue) all run in one database transaction,
committed when the block exits cleanly and rolled back when it raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from tieout.store.alerts import AlertOps
from tieout.store.database import (
    current_revision,
    ensure_schema,
    head_revision,
    make_engine,
    store_failure,
    upgrade,
)
from tieout.store.facts import FactOps
from tieout.store.ledger import LedgerEntry, LedgerOps
from tieout.store.locks import LockOps
from tieout.store.queue import AuditEvent, ExceptionQuery, QueueOps, StoredException
from tieout.store.records import RecordOps, StoredRaw
from tieout.store.snapshots import SnapshotOps
from tieout.store.state import CursorState, RunRecord, StateOps
from tieout.store.users import StoredSession, StoredUser, UserOps
from tieout.store.webhooks import WebhookEvent, WebhookOps

__all__ = [
    "AuditEvent",
    "CursorState",
    "ExceptionQuery",
    "LedgerEntry",
    "RunRecord",
    "Store",
    "StoreTransaction",
    "StoredException",
    "StoredRaw",
    "StoredSession",
    "StoredUser",
    "WebhookEvent",
]


class StoreTransaction(
    RecordOps,
    StateOps,
    LedgerOps,
    FactOps,
    QueueOps,
    AlertOps,
    WebhookOps,
    UserOps,
    LockOps,
    SnapshotOps,
):
    """All store operations, bound to one open transaction."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, check_schema: bool = True) -> Store:
        store = cls(make_engine(url))
        if check_schema:
            ensure_schema(store.engine)
        return store

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def upgrade(self) -> tuple[str | None, str]:
        return upgrade(self.engine)

    def revision(self) -> tuple[str | None, str]:
        """(current revision, newest revision this tieout knows)."""
        return current_revision(self.engine), head_revision(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[StoreTransaction]:
        try:
            with self.engine.begin() as connection:
                yield StoreTransaction(connection)
        except (OperationalError, DBAPIError) as exc:
            raise store_failure(exc) from exc

    def close(self) -> None:
        self.engine.dispose()

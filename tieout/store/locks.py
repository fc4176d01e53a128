"""Storage of job locks and the scheduler's leader lease: lease rows in job_locks, advisory locks.

A lease row names its holder and when it expires. Taking a lease is one compare-and-set
statement (insert when free; update only when expired, already ours, or held by a holder the
caller proved dead), so two processes racing for the same name never both win, on SQLite or
PostgreSQL. On PostgreSQL, job locks are also session advisory locks held on a dedicated
connection: the server frees them the moment the holding process or host goes away.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from tieout.store.database import store_failure
from tieout.store.schema import job_locks


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime
    run_id: str | None

    def expired(self, now: datetime) -> bool:
        return self.expires_at <= now


class LockOps:
    connection: Connection

    def take_lease(
        self,
        name: str,
        holder: str,
        *,
        now: datetime,
        expires_at: datetime,
        run_id: str | None = None,
        dead_holder: str | None = None,
        force: bool = False,
    ) -> bool:
        """Take the lease `name` for `holder`; False when someone else holds it and it is live.

        `dead_holder` lets the caller take over from a holder it knows has died (its process is
        gone) before the lease runs out; `force` overwrites any holder, for callers that already
        own an exclusive lock (a PostgreSQL advisory lock) and only record who has it.
        """
        dialect = self.connection.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        inserted = self.connection.execute(
            insert(job_locks)
            .values(
                name=name,
                holder=holder,
                acquired_at=now,
                renewed_at=now,
                expires_at=expires_at,
                run_id=run_id,
            )
            .on_conflict_do_nothing(index_elements=["name"])
        )
        if inserted.rowcount == 1:
            return True
        takeable = [job_locks.c.expires_at <= now, job_locks.c.holder == holder]
        if dead_holder is not None:
            takeable.append(job_locks.c.holder == dead_holder)
        condition = job_locks.c.name == name
        if not force:
            condition = and_(condition, or_(*takeable))
        updated = self.connection.execute(
            update(job_locks)
            .where(condition)
            .values(holder=holder, acquired_at=now, renewed_at=now, expires_at=expires_at, run_id=run_id)
        )
        return updated.rowcount == 1

    def renew_lease(self, name: str, holder: str, *, now: datetime, expires_at: datetime) -> bool:
        """Push the expiry out; False when the lease is no longer ours (it expired and was taken)."""
        updated = self.connection.execute(
            update(job_locks)
            .where(job_locks.c.name == name, job_locks.c.holder == holder)
            .values(renewed_at=now, expires_at=expires_at)
        )
        return updated.rowcount == 1

    def release_lease(self, name: str, holder: str) -> bool:
        deleted = self.connection.execute(
            delete(job_locks).where(job_locks.c.name == name, job_locks.c.holder == holder)
        )
        return deleted.rowcount == 1

    def get_lease(self, name: str) -> Lease | None:
        row = self.connection.execute(select(job_locks).where(job_locks.c.name == name)).first()
        return None if row is None else _lease(row)

    def list_leases(self) -> list[Lease]:
        rows = self.connection.execute(select(job_locks).order_by(job_locks.c.name)).all()
        return [_lease(row) for row in rows]


def _lease(row: Any) -> Lease:
    return Lease(
        name=row.name,
        holder=row.holder,
        acquired_at=row.acquired_at,
        renewed_at=row.renewed_at,
        expires_at=row.expires_at,
        run_id=row.run_id,
    )


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for a lock name (PostgreSQL advisory locks take a bigint)."""
    digest = hashlib.sha256(f"tieout:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class AdvisoryLock:
    """A PostgreSQL session advisory lock held on its own connection for as long as it is held.

    The connection is outside any pool transaction, so the lock survives the commits of the job
    it protects; if the process dies, the server ends the session and frees the lock.
    """

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.key = advisory_key(name)
        self._connection: Connection | None = None

    def try_acquire(self) -> bool:
        try:
            connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except DBAPIError as exc:
            raise store_failure(exc) from exc
        try:
            acquired = bool(
                connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar()
            )
        except DBAPIError as exc:
            connection.close()
            raise store_failure(exc) from exc
        except BaseException:
            connection.close()
            raise
        if not acquired:
            connection.close()
            return False
        self._connection = connection
        return True

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
        except DBAPIError:
            # The session is gone (the server stopped, the connection broke), and its lock with it: what
            # the caller is already handling says why; this must not hide it.
            connection.invalidate()
        except BaseException:
            # A pooled connection must never go back to the pool still holding the lock.
            connection.invalidate()
            raise
        finally:
            connection.close()

"""The emulator's storage core: one in-memory SQLite database, its lock, id sequences, clock and caches.

Master data is written by `masterdata.py` and transactions by `documents.py` / `transactions.py` on
top of this core. Every public method takes the store's re-entrant lock, so a scenario generator may
seed from one thread while the HTTP server reads from another. `batch()` holds the lock and one
SQLite transaction across many inserts.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.netsuite import schema
from tieout.sandbox.netsuite.errors import invalid_content, invalid_field, not_found
from tieout.sandbox.netsuite.keyset import SortedResults


def ns_datetime(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def ns_date(day: date) -> str:
    return day.strftime("%Y-%m-%d 00:00:00")


def flag(value: bool) -> str:
    return "T" if value else "F"


def round_money(value: float | Decimal, precision: int) -> float:
    exponent = Decimal(1).scaleb(-precision)
    return float(Decimal(str(value)).quantize(exponent, rounding=ROUND_HALF_UP))


class Store:
    """SQLite tables, id sequences, a name cache for refName, and master-data seeding."""

    def __init__(self, clock: SandboxClock | None = None) -> None:
        self.clock = clock or SandboxClock()
        self.lock = threading.RLock()
        self.db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        # Oracle's LIKE is case-sensitive; SQLite's is not unless told.
        self.db.execute("PRAGMA case_sensitive_like = ON")
        for statement in schema.ddl():
            self.db.execute(statement)
        self._sequences: dict[str, int] = {}
        self._names: dict[tuple[str, int], str] = {}
        self._currency_precision: dict[int, int] = {}
        self._in_batch = False
        self._cache: dict[tuple[str, int, str], Any] = {}
        self.sorted_results = SortedResults()

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Hold the lock and one SQLite transaction: use around bulk seeding."""
        with self.lock:
            if self._in_batch:
                yield
                return
            self._in_batch = True
            self.db.execute("BEGIN")
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            else:
                self.db.execute("COMMIT")
            finally:
                self._in_batch = False

    def next_id(self, space: str) -> int:
        value = self._sequences.get(space, 0) + 1
        self._sequences[space] = value
        return value

    def now_text(self) -> str:
        return ns_datetime(self.clock.now())

    def today(self) -> date:
        return self.clock.now().date()

    def name_of(self, table: str, record_id: int | None) -> str | None:
        if record_id is None:
            return None
        return self._names.get((table, record_id))

    def precision(self, currency_id: int) -> int:
        return self._currency_precision[currency_id]

    def cached_value(self, table: str, record_id: int, column: str) -> Any:
        """One column of a master record, cached (master writes through the API clear the cache)."""
        key = (table, record_id, column)
        try:
            return self._cache[key]
        except KeyError:
            value = self.row(table, record_id)[column]
            self._cache[key] = value
            return value

    def forget_cached(self) -> None:
        self._cache.clear()

    def insert(self, table: str, values: Mapping[str, Any]) -> None:
        get = values.get
        self.db.execute(schema.insert_sql(table), [get(column) for column in schema.all_columns(table)])

    def row(self, table: str, record_id: int) -> sqlite3.Row:
        found = self.db.execute(f'SELECT * FROM "{table}" WHERE id = ?', (record_id,)).fetchone()  # noqa: S608
        if found is None:
            raise not_found()
        return found  # type: ignore[no-any-return]

    def exists(self, table: str, record_id: int, **where: Any) -> bool:
        clauses = "".join(f" AND {column} = :{column}" for column in where)
        sql = f'SELECT 1 FROM "{table}" WHERE id = :id{clauses}'  # noqa: S608
        return self.db.execute(sql, {"id": record_id, **where}).fetchone() is not None

    def check_ref(self, table: str, record_id: int | None, field: str, **where: Any) -> int | None:
        """Raise NetSuite's invalid-field error when a reference does not resolve."""
        if record_id is None:
            return None
        if not self.exists(table, record_id, **where):
            raise invalid_field(record_id, field)
        return record_id

    def check_external_id(
        self, table: str, external_id: str | None, *, own_id: int | None = None, **where: Any
    ) -> None:
        if external_id is None:
            return
        clauses = "".join(f" AND {column} = :{column}" for column in where)
        sql = f'SELECT id FROM "{table}" WHERE externalid = :eid{clauses}'  # noqa: S608
        found = self.db.execute(sql, {"eid": external_id, **where}).fetchone()
        if found is not None and found["id"] != own_id:
            raise invalid_content("This record already exists.", "externalId")

    def id_for_external(self, table: str, external_id: str, **where: Any) -> int | None:
        clauses = "".join(f" AND {column} = :{column}" for column in where)
        sql = f'SELECT id FROM "{table}" WHERE externalid = :eid{clauses}'  # noqa: S608
        found = self.db.execute(sql, {"eid": external_id, **where}).fetchone()
        return None if found is None else int(found["id"])

    def record_deletion(self, record_id: int, record_type: str, name: str | None) -> None:
        self.insert(
            "deletedrecord",
            {"recordid": record_id, "type": record_type, "name": name, "deleteddate": self.now_text()},
        )

    def update_row(self, table: str, record_id: int, values: Mapping[str, Any]) -> None:
        if not values:
            return
        assignments = ", ".join(f"{column} = :{column}" for column in values)
        sql = f'UPDATE "{table}" SET {assignments} WHERE id = :__id'  # noqa: S608
        self.db.execute(sql, {**values, "__id": record_id})

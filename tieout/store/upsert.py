"""Batch upserts: INSERT ... ON CONFLICT on SQLite and PostgreSQL.

On SQLite a batch whose columns the driver takes as they are goes straight through the driver:
SQLAlchemy's per-row parameter processing cost the sync pipeline as much as SQLite's own work.
Everything else (PostgreSQL, columns whose type needs SQLAlchemy to bind it, or a column left
out that has a Python-side default) goes through SQLAlchemy Core.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache, lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import BigInteger, Boolean, Connection, Integer, String, Table, Text
from sqlalchemy.dialects import postgresql, sqlite

from tieout.store.schema import UtcDateTime

_DRIVER_TYPES = (String, Text, Integer, BigInteger, Boolean, UtcDateTime)
"""Column types whose values sqlite3 binds as SQLAlchemy would (datetimes are converted here)."""


def sqlite_datetime(value: datetime) -> str:
    """A datetime as `UtcDateTime` stores it on SQLite: naive UTC text, as SQLAlchemy writes it."""
    if value.tzinfo is UTC:  # what the store is handed nearly always: its text less the "+00:00"
        return value.isoformat(sep=" ", timespec="microseconds")[:-6]
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store; use an aware UTC datetime")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


@lru_cache(maxsize=4096)
def _recent_sqlite_datetime(value: datetime) -> str:
    """`sqlite_datetime`, remembered: a page's raw and canonical rows share their times.

    A naive moment never equals a remembered aware one, so it is still refused.
    """
    return sqlite_datetime(value)


def upsert_rows(
    connection: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    key_columns: Sequence[str],
    update_columns: Sequence[str] | None = None,
    changed_when: str | None = None,
    constants: dict[str, Any] | None = None,
) -> None:
    """Insert rows, updating those whose key exists.

    `update_columns` defaults to every non-key column of the first row (and of `constants`,
    columns with one value for every row); `changed_when` names a column (a content hash) whose
    equality means "nothing changed", so identical re-pulls leave the row, and its timestamps,
    alone. An empty `update_columns` means insert-or-ignore.
    """
    if not rows:
        return
    fixed = constants or {}
    names = (*rows[0], *fixed)
    columns = (
        list(update_columns)
        if update_columns is not None
        else [name for name in names if name not in key_columns]
    )
    if connection.dialect.name == "sqlite" and _driver_ready(table, frozenset(names)):
        _sqlite_upsert(connection, table, rows, fixed, key_columns, columns, changed_when)
        return
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(table)
    if columns:
        where = None
        if changed_when is not None:
            where = table.c[changed_when] != statement.excluded[changed_when]
        statement = statement.on_conflict_do_update(
            index_elements=list(key_columns),
            set_={name: statement.excluded[name] for name in columns},
            where=where,
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(key_columns))
    # executemany: SQLAlchemy sends these as multi-row INSERTs in pages ("insertmanyvalues").
    connection.execute(statement, [{**row, **fixed} for row in rows] if fixed else list(rows))


@cache
def _driver_ready(table: Table, names: frozenset[str]) -> bool:
    """Whether rows of these columns can skip SQLAlchemy: plain types, and no default left to apply."""
    for column in table.columns:
        if column.name in names:
            if not isinstance(column.type, _DRIVER_TYPES):
                return False
        elif column.default is not None or column.onupdate is not None:
            return False
    return names <= set(table.columns.keys())


def _sqlite_upsert(
    connection: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    constants: dict[str, Any],
    key_columns: Sequence[str],
    update_columns: Sequence[str],
    changed_when: str | None,
) -> None:
    columns = list(rows[0])
    times = [index for index, name in enumerate(columns) if isinstance(table.c[name].type, UtcDateTime)]
    tail = tuple(
        sqlite_datetime(value) if isinstance(value, datetime) else value for value in constants.values()
    )
    pick = itemgetter(*columns)
    values = []
    for row in rows:
        value = list(pick(row)) if len(columns) > 1 else [row[columns[0]]]
        for index in times:
            moment = value[index]
            if moment is not None:
                value[index] = _recent_sqlite_datetime(moment)
        values.append((*value, *tail))
    names = [*columns, *constants]
    keys = ", ".join(key_columns)
    if update_columns:
        updates = ", ".join(f"{name} = excluded.{name}" for name in update_columns)
        where = f" WHERE {table.name}.{changed_when} != excluded.{changed_when}" if changed_when else ""
        conflict = f"DO UPDATE SET {updates}{where}"
    else:
        conflict = "DO NOTHING"
    connection.exec_driver_sql(
        # Table and column names come from the schema, never from the data.
        f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)}) "  # noqa: S608
        f"ON CONFLICT ({keys}) {conflict}",
        values,
    )

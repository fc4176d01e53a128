"""Batch upserts through SQLAlchemy Core: INSERT ... ON CONFLICT on both SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def upsert_rows(
    connection: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    key_columns: Sequence[str],
    update_columns: Sequence[str] | None = None,
    changed_when: str | None = None,
) -> None:
    """Insert rows, updating those whose key exists.

    `update_columns` defaults to every non-key column of the first row; `changed_when` names a
    column (a content hash) whose equality means "nothing changed", so identical re-pulls
    leave the row, and its timestamps, alone. An empty `update_columns` means insert-or-ignore.
    """
    if not rows:
        return
    dialect = connection.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    columns = (
        list(update_columns)
        if update_columns is not None
        else [name for name in rows[0] if name not in key_columns]
    )
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
    connection.execute(statement, list(rows))

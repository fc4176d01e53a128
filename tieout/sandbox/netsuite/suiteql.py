"""Run SuiteQL against the emulator's SQLite tables and page the result as NetSuite's REST service does.

`POST /services/rest/query/v1/suiteql?limit=&offset=` answers `{links, count, hasMore, items,
offset, totalResults}`. `limit` is 1..1000 (default 1000); a query may reach at most its first
100,000 rows, so an offset at or past 100,000 is refused. Each item is `{"links": [], column:
value...}`: column names lowercase, every value a string, empty values left out, booleans 'T'/'F',
date and datetime columns in the account's date format (M/D/YYYY; use TO_CHAR for the time).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlglot import exp

from tieout.sandbox.netsuite.errors import NetSuiteError, invalid_parameter, invalid_query
from tieout.sandbox.netsuite.keyset import split
from tieout.sandbox.netsuite.schema import STATUS_NAMES, TYPE_NAMES, ColumnType
from tieout.sandbox.netsuite.store import Store
from tieout.sandbox.netsuite.suiteql_check import Checked, check

MAX_LIMIT = 1000
MAX_RESULTS = 100_000
_ORACLE_FORMAT = re.compile(
    r'"[^"]*"|YYYY|YY|MONTH|MON|MM|DDD|DD|DY|DAY|HH24|HH12|HH|MI|SS|AM|PM|[^A-Za-z"]+|[A-Za-z]',
    re.IGNORECASE,
)
_STRFTIME = {
    "YYYY": "%Y",
    "YY": "%y",
    "MONTH": "%B",
    "MON": "%b",
    "MM": "%m",
    "DDD": "%j",
    "DD": "%d",
    "DY": "%a",
    "DAY": "%A",
    "HH24": "%H",
    "HH12": "%I",
    "HH": "%I",
    "MI": "%M",
    "SS": "%S",
    "AM": "%p",
    "PM": "%p",
}


def _parse_stored(value: str) -> datetime:
    return datetime.strptime(value[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def _to_char(value: Any, fmt: str | None = None) -> str | None:
    if value is None:
        return None
    if fmt is None or not isinstance(value, str):
        return _text(value)
    moment = _parse_stored(value)
    parts = []
    for token in _ORACLE_FORMAT.findall(fmt):
        if token.startswith('"'):
            parts.append(token[1:-1].replace("%", "%%"))
        elif token.upper() in _STRFTIME:
            parts.append(_STRFTIME[token.upper()])
        elif token.isalpha():
            raise ValueError(f"unsupported TO_CHAR format element {token}")
        else:
            parts.append(token.replace("%", "%%"))
    return moment.strftime("".join(parts))


def _to_date(value: Any, fmt: str) -> str | None:
    if value is None:
        return None
    return datetime.strptime(str(value), fmt).replace(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _trunc(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return _parse_stored(value).strftime("%Y-%m-%d 00:00:00")
    return int(value)


def _status_df(doc_type: str | None, letter: str | None) -> str | None:
    if letter is None:
        return None
    return (
        f"{TYPE_NAMES.get(doc_type or '', doc_type)} : {STATUS_NAMES.get((doc_type or '', letter), letter)}"
    )


def _type_df(doc_type: str | None) -> str | None:
    return None if doc_type is None else TYPE_NAMES.get(doc_type, doc_type)


def install_functions(connection: sqlite3.Connection) -> None:
    connection.create_function("ns_to_char", -1, _to_char, deterministic=True)
    connection.create_function("ns_to_date", 2, _to_date, deterministic=True)
    connection.create_function("ns_trunc", 1, _trunc, deterministic=True)
    connection.create_function("ns_status_df", 2, _status_df, deterministic=True)
    connection.create_function("ns_type_df", 1, _type_df, deterministic=True)


def _text(value: Any) -> str:
    if isinstance(value, float):
        shown = repr(value)
        return shown[:-2] if shown.endswith(".0") else shown
    return str(value)


def _format(value: Any, kind: ColumnType | None) -> str:
    if kind in ("date", "datetime") and isinstance(value, str) and len(value) >= 10:
        try:
            moment = _parse_stored(value)
        except ValueError:
            return value
        return f"{moment.month}/{moment.day}/{moment.year}"
    return _text(value)


def parse_paging(limit_text: str | None, offset_text: str | None) -> tuple[int, int]:
    try:
        limit = MAX_LIMIT if limit_text is None else int(limit_text)
    except ValueError:
        raise invalid_parameter(
            "limit", f"Invalid value for the query parameter limit: {limit_text}."
        ) from None
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid_parameter(
            "limit",
            f"Invalid value for the query parameter limit. The value must be between 1 and {MAX_LIMIT}.",
        )
    try:
        offset = 0 if offset_text is None else int(offset_text)
    except ValueError:
        raise invalid_parameter(
            "offset", f"Invalid value for the query parameter offset: {offset_text}."
        ) from None
    if offset < 0:
        raise invalid_parameter(
            "offset", "Invalid value for the query parameter offset. It must not be negative."
        )
    if offset >= MAX_RESULTS:
        raise invalid_parameter(
            "offset",
            f"Invalid value for the query parameter offset. The maximum number of results for a query "
            f"is {MAX_RESULTS}; the offset must be less than {MAX_RESULTS}.",
        )
    return limit, offset


def run(store: Store, query: str, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """The page of rows at `offset` and the query's total row count."""
    checked = check(query, store.clock.now())
    reachable = min(limit, MAX_RESULTS - offset)
    keyset = split(checked.tree)
    if keyset is not None and keyset.width != len(checked.names):
        keyset = None
    try:
        with store.lock:
            served = (
                None if keyset is None else store.sorted_results.page(store.db, keyset, reachable, offset)
            )
            rows: Sequence[sqlite3.Row | tuple[Any, ...]]
            rows, total = served if served is not None else _query(store, checked, reachable, offset)
    except (sqlite3.Error, ValueError, OverflowError) as exc:
        raise invalid_query(f"Search error occurred: {exc}") from None
    return [_item(row, checked) for row in rows], total


def _query(store: Store, checked: Checked, limit: int, offset: int) -> tuple[list[sqlite3.Row], int]:
    sql = checked.tree.sql(dialect="sqlite", identify=True)
    if isinstance(checked.tree, exp.Select) and not checked.tree.args.get("limit"):
        page_sql = checked.tree.copy().limit(limit).offset(offset).sql(dialect="sqlite", identify=True)
    else:
        page_sql = f"SELECT * FROM ({sql}) LIMIT {limit} OFFSET {offset}"  # noqa: S608
    total = int(store.db.execute(f"SELECT COUNT(*) FROM ({sql})").fetchone()[0])  # noqa: S608
    return store.db.execute(page_sql).fetchall(), total


def _item(row: sqlite3.Row | tuple[Any, ...], checked: Checked) -> dict[str, Any]:
    item: dict[str, Any] = {"links": []}
    values = tuple(row)
    names: list[str] = checked.names
    types: list[ColumnType | None] = checked.types
    if len(values) != len(checked.names) and isinstance(row, sqlite3.Row):
        names, types = list(row.keys()), [None] * len(values)
    for name, kind, value in zip(names, types, values, strict=True):
        if value is None or value == "":
            continue
        item[name.lower()] = _format(value, kind)
    return item


__all__ = ["MAX_LIMIT", "MAX_RESULTS", "NetSuiteError", "install_functions", "parse_paging", "run"]

"""Key-set pages of a SuiteQL query answered as slices of one sorted result, so a pull costs O(n).

A client that pages by key set repeats its query with one more condition each page: the rows
after the last row it saw in the query's ORDER BY, `(k1 > v1) OR (k1 = v1 AND k2 > v2) ...`.
Evaluating every page from scratch sorts (and counts) every row still to come, so reading n rows
cost O(n²) in the emulator; at a few hundred thousand invoices a pull took half an hour.

`split` recognises that condition in a checked query; `SortedResults` runs the query without it
once, keeps the rows in order with their key values while the database is unchanged (SQLite's
`total_changes` has not moved), and answers each page by binary search on the keys. The answer
is the one SQLite would give, so only the cases where Python orders the keys as SQLite does are
served this way: a plain SELECT (no DISTINCT, GROUP BY, aggregate or LIMIT), ascending keys, and
key values and bounds that are never null and of one kind per key (all numbers or all text;
SQLite's BINARY collation compares UTF-8 bytes, which is code point order, as Python does).
Anything else runs as a query of its own, as before.
"""

from __future__ import annotations

import sqlite3
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

KEY_ALIAS = "__keyset_{}"
CACHED_QUERIES = 4
"""A header query and the detail queries between its pages; more would only hold memory."""


@dataclass(frozen=True)
class KeysetQuery:
    """A query split into its key-set condition's bounds and the query without that condition."""

    base_sql: str
    bounds_sql: str
    width: int
    """How many output columns the client asked for (the key columns follow them)."""


@dataclass(frozen=True)
class _Result:
    rows: list[tuple[Any, ...]]
    keys: list[tuple[Any, ...]]
    kinds: tuple[type, ...]


def _unwrap(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _flatten(node: exp.Expression, kind: type[exp.Connector]) -> list[exp.Expression]:
    node = _unwrap(node)
    if isinstance(node, kind):
        return [*_flatten(node.this, kind), *_flatten(node.expression, kind)]
    return [node]


def _bounds(condition: exp.Expression, keys: list[exp.Expression]) -> list[exp.Expression] | None:
    """The bound of each key if `condition` is the key-set condition "after (b1, b2, ...)" on `keys`."""
    branches = _flatten(condition, exp.Or)
    if len(branches) != len(keys):
        return None
    bounds: list[exp.Expression | None] = [None] * len(keys)
    for index, branch in enumerate(branches):
        parts = [_unwrap(part) for part in _flatten(branch, exp.And)]
        if len(parts) != index + 1:
            return None
        for position, part in enumerate(parts):
            wanted = exp.GT if position == index else exp.EQ
            if not isinstance(part, wanted) or part.this != keys[position]:
                return None
            bound = part.expression
            if bound.find(exp.Column) is not None or bound.find(exp.Select) is not None:
                return None
            if bounds[position] is None:
                bounds[position] = bound
            elif bounds[position] != bound:
                return None
    return [bound for bound in bounds if bound is not None]


def split(tree: exp.Expression) -> KeysetQuery | None:
    """The query without its key-set condition, or None when it has none (or is not a plain SELECT)."""
    if not isinstance(tree, exp.Select):
        return None
    if any(tree.args.get(arg) for arg in ("distinct", "group", "having", "limit", "offset", "qualify")):
        return None
    if tree.find(exp.AggFunc) is not None or tree.args.get("with") is not None:
        return None
    order = tree.args.get("order")
    where = tree.args.get("where")
    if order is None or where is None:
        return None
    keys: list[exp.Expression] = []
    for ordered in order.expressions:
        # Where nulls sort does not matter: a result with a null key is never served from here.
        if not isinstance(ordered, exp.Ordered) or ordered.args.get("desc"):
            return None
        keys.append(ordered.this)
    conditions = _flatten(where.this, exp.And)
    for index, condition in enumerate(conditions):
        bounds = _bounds(condition, keys)
        if bounds is None:
            continue
        base = tree.copy()
        rest = conditions[:index] + conditions[index + 1 :]
        base.set("where", exp.Where(this=exp.and_(*rest)) if rest else None)
        for position, key in enumerate(keys):
            base.append("expressions", exp.alias_(key.copy(), KEY_ALIAS.format(position)))
        bounds_select = exp.select(*(bound.copy() for bound in bounds))
        return KeysetQuery(
            base_sql=base.sql(dialect="sqlite", identify=True),
            bounds_sql=bounds_select.sql(dialect="sqlite", identify=True),
            width=len(tree.expressions),
        )
    return None


def _kinds(keys: list[tuple[Any, ...]], width: int) -> tuple[type, ...] | None:
    """Per key, `int` (numbers) or `str` when every value is one of them; None otherwise."""
    kinds: list[type] = []
    for position in range(width):
        values = {type(key[position]) for key in keys}
        if values <= {int, float}:
            kinds.append(int)
        elif values == {str}:
            kinds.append(str)
        else:
            return None
    return tuple(kinds)


def _kind(value: Any) -> type | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int
    return str if isinstance(value, str) else None


class SortedResults:
    """The sorted results of the last few key-set queries, valid while the database is unchanged."""

    def __init__(self) -> None:
        self._version = -1
        self._results: dict[str, _Result | None] = {}

    def page(
        self, db: sqlite3.Connection, query: KeysetQuery, limit: int, offset: int
    ) -> tuple[list[tuple[Any, ...]], int] | None:
        """The page at `offset` after the bounds and the rows after them; None when not exact here."""
        if db.total_changes != self._version:
            self._results.clear()
            self._version = db.total_changes
        # Least recently used first: a header query outlives the detail queries between its pages.
        result = (
            self._results.pop(query.base_sql) if query.base_sql in self._results else self._run(db, query)
        )
        self._results[query.base_sql] = result
        while len(self._results) > CACHED_QUERIES:
            del self._results[next(iter(self._results))]
        if result is None:
            return None
        if not result.rows:
            return [], 0
        bounds = tuple(db.execute(query.bounds_sql).fetchone())
        if any(_kind(bound) is not kind for bound, kind in zip(bounds, result.kinds, strict=True)):
            return None
        start = bisect_right(result.keys, bounds)
        return result.rows[start + offset : start + offset + limit], len(result.rows) - start

    @staticmethod
    def _run(db: sqlite3.Connection, query: KeysetQuery) -> _Result | None:
        rows: list[tuple[Any, ...]] = []
        keys: list[tuple[Any, ...]] = []
        for row in db.execute(query.base_sql):
            values = tuple(row)
            rows.append(values[: query.width])
            keys.append(values[query.width :])
        kinds = _kinds(keys, len(keys[0])) if keys else ()
        if kinds is None:
            return None
        return _Result(rows, keys, kinds)

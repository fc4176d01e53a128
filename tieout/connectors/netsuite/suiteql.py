"""Building SuiteQL safely: quoted literals, validated ids, timestamps, and key-set paged queries.

Values never reach a query through an f-string: strings go through `quote` (Oracle rules: the
literal is wrapped in single quotes and each quote inside is doubled; NUL is refused), ids through
`integer` (digits only), timestamps through `timestamp` (a validated text inside TO_TIMESTAMP).

A `Query` pages by key set: it orders by a unique key (e.g. `lastmodifieddate, id`) and each next
page asks for the rows after the last key it saw, always at offset 0. That is what lets a pull go
past SuiteQL's 100,000-row reach for one query, and it does not skip a row when another row leaves
the result set between two pages, as offset paging would.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

STAMP_FORMAT = "YYYY-MM-DD HH24:MI:SS"
DATE_FORMAT = "YYYY-MM-DD"
_STAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


def quote(value: str) -> str:
    """A SuiteQL string literal for `value`."""
    if not isinstance(value, str):
        raise TypeError(f"quote() takes a str, got {type(value).__name__}")
    if "\x00" in value:
        raise ValueError("a SuiteQL literal cannot contain NUL")
    return "'" + value.replace("'", "''") + "'"


def integer(value: object) -> str:
    """An internal id or other integer, validated; bools and text that is not all digits are refused."""
    if isinstance(value, bool):
        raise ValueError("an id must be an integer, not a boolean")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value):
        return str(int(value))
    raise ValueError(f"not an integer id: {value!r}")


def id_list(values: Iterable[object]) -> str:
    ids = [integer(value) for value in values]
    if not ids:
        raise ValueError("an IN list needs at least one id")
    if len(ids) > 1000:
        raise ValueError("an IN list takes at most 1,000 ids")
    return "(" + ", ".join(ids) + ")"


def timestamp(text: str) -> str:
    """TO_TIMESTAMP of a 'YYYY-MM-DD HH:MM:SS' text in the account's time zone."""
    if not _STAMP.fullmatch(text):
        raise ValueError(f"not a SuiteQL timestamp text: {text!r}")
    return f"TO_TIMESTAMP({quote(text)}, {quote(STAMP_FORMAT)})"


def local_text(moment: datetime, zone: ZoneInfo, *, round_up: bool) -> str:
    """`moment` as the account's wall-clock text, to the second (rounded up when it has a fraction).

    NetSuite keeps modification times to the second, so for a bound `t` with a fraction
    `>= t` is `>= ceil(t)` and `< t` is `< ceil(t)`: rounding up keeps both bounds exact.
    """
    if moment.tzinfo is None:
        raise ValueError("bounds must be aware datetimes")
    local = moment.astimezone(zone)
    if round_up and local.microsecond:
        local = local.replace(microsecond=0) + timedelta(seconds=1)
    return local.strftime("%Y-%m-%d %H:%M:%S")


def parse_local(text: str, zone: ZoneInfo) -> datetime:
    """The account's wall-clock text as an aware datetime in `zone`."""
    if not _STAMP.fullmatch(text):
        raise ValueError(f"not a SuiteQL timestamp text: {text!r}")
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone)


def stamp_of(column: str, alias: str) -> str:
    return f"TO_CHAR({column}, {quote(STAMP_FORMAT)}) AS {alias}"


def date_of(column: str, alias: str) -> str:
    return f"TO_CHAR({column}, {quote(DATE_FORMAT)}) AS {alias}"


@dataclass(frozen=True)
class OrderKey:
    """One column of a query's unique order: the expression, its output name, how to bind it."""

    expression: str
    output: str
    kind: Literal["timestamp", "int"] = "int"

    def literal(self, value: str) -> str:
        return timestamp(value) if self.kind == "timestamp" else integer(value)


@dataclass(frozen=True)
class Query:
    """A SELECT with a unique ORDER BY, paged by key set."""

    select: tuple[str, ...]
    source: str
    order: tuple[OrderKey, ...]
    where: tuple[str, ...] = ()
    group_by: tuple[str, ...] = field(default=())

    def where_also(self, *conditions: str) -> Query:
        return replace(self, where=(*self.where, *conditions))

    def sql(self, after: Sequence[str] | None = None) -> str:
        conditions = list(self.where)
        if after is not None:
            conditions.append(self._after(after))
        # Columns and tables are this module's constants; values only enter through quote/integer/timestamp.
        text = f"SELECT {', '.join(self.select)} FROM {self.source}"  # noqa: S608
        if conditions:
            text += " WHERE " + " AND ".join(conditions)
        if self.group_by:
            text += " GROUP BY " + ", ".join(self.group_by)
        return text + " ORDER BY " + ", ".join(key.expression for key in self.order)

    def _after(self, values: Sequence[str]) -> str:
        if len(values) != len(self.order):
            raise ValueError("a key-set position needs one value per order key")
        branches = []
        for index, key in enumerate(self.order):
            parts = [
                f"{earlier.expression} = {earlier.literal(values[n])}"
                for n, earlier in enumerate(self.order[:index])
            ]
            parts.append(f"{key.expression} > {key.literal(values[index])}")
            branches.append("(" + " AND ".join(parts) + ")")
        return "(" + " OR ".join(branches) + ")"

    def position(self, row: Mapping[str, Any]) -> tuple[str, ...]:
        """The key-set position of `row`, read from the order keys' output columns."""
        try:
            return tuple(str(row[key.output]) for key in self.order)
        except KeyError as exc:
            raise ValueError(f"the row lacks order column {exc.args[0]!r}") from None

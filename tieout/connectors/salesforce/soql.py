"""SOQL text for the connector's queries, every value quoted by simple-salesforce's `format_soql`.

Values (strings, numbers, booleans, id lists, datetimes) only ever enter a query through
`format_soql`, which escapes quotes, backslashes and control characters; field names cannot be
quoted in SOQL, so they must be plain API names (`check_field_name`). Datetime literals are
written to the second, as SOQL documents them: the window is widened to whole seconds here
(`since` rounded down, `until` rounded up) and the connector trims records to the exact bounds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from simple_salesforce.format import format_soql

CURSOR_FIELD = "SystemModstamp"
_FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*")

SoqlValue = str | int | bool | None | datetime | Sequence[str]


def check_field_name(name: str) -> str:
    """`name` if it is a plain (possibly dotted) API name; ValueError otherwise."""
    if _FIELD_NAME.fullmatch(name) is None:
        raise ValueError(f"not a Salesforce field name: {name!r}")
    return name


def literal(value: SoqlValue) -> str:
    """A value as SOQL literal text (a list becomes a parenthesised IN list)."""
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("SOQL datetimes must be aware")
    return str(format_soql("{}", value))


def condition(field_name: str, operator: str, value: SoqlValue) -> str:
    if operator not in ("=", "!=", "<", "<=", ">", ">=", "IN"):
        raise ValueError(f"unsupported SOQL operator {operator!r}")
    return f"{check_field_name(field_name)} {operator} {literal(value)}"


def second_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def second_ceiling(moment: datetime) -> datetime:
    floor = second_floor(moment)
    return floor if floor == moment else floor + timedelta(seconds=1)


def window(since: datetime | None, until: datetime | None) -> list[str]:
    """Conditions covering [since, until) on SystemModstamp, widened to whole seconds."""
    conditions = []
    if since is not None:
        conditions.append(condition(CURSOR_FIELD, ">=", second_floor(since)))
    if until is not None:
        conditions.append(condition(CURSOR_FIELD, "<", second_ceiling(until)))
    return conditions


@dataclass(frozen=True)
class SObjectQuery:
    """What one stream reads: an object and its field list."""

    object_name: str
    fields: tuple[str, ...]

    def __post_init__(self) -> None:
        for name in (self.object_name, *self.fields):
            check_field_name(name)

    def select(
        self, conditions: Sequence[str] = (), *, order_by: Sequence[str] = (CURSOR_FIELD, "Id")
    ) -> str:
        """The query; `order_by=()` for Bulk API 2.0, which takes no ORDER BY."""
        # identifiers only, checked in __post_init__; values arrive inside `conditions`, made by `condition`
        text = f"SELECT {', '.join(self.fields)} FROM {self.object_name}"  # noqa: S608
        if conditions:
            text += " WHERE " + " AND ".join(conditions)
        if order_by:
            text += " ORDER BY " + ", ".join(check_field_name(name) for name in order_by)
        return text

    def with_fields(self, extra: Sequence[str]) -> SObjectQuery:
        added = tuple(check_field_name(name) for name in extra if name not in self.fields)
        return SObjectQuery(self.object_name, self.fields + added)

    def count(self, conditions: Sequence[str] = ()) -> str:
        text = f"SELECT COUNT() FROM {self.object_name}"  # noqa: S608 - an identifier, checked
        if conditions:
            text += " WHERE " + " AND ".join(conditions)
        return text

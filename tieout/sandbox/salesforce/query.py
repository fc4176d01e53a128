"""Run a parsed SOQL query against the org: resolve fields, type-check literals, filter, sort, project.

Field and relationship names resolve case-insensitively against the schema; unknown ones get
Salesforce's INVALID_TYPE / INVALID_FIELD errors, and a literal of the wrong type for its field gets
the INVALID_FIELD "value of filter criterion" error, before any row is read. Strings compare
case-insensitively, `!=` and NOT IN match nulls, and relative date literals are ranges in UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from . import soql
from .errors import SalesforceApiError
from .ids import normalize_id
from .rules import add_months
from .schema import NUMERIC_TYPES, OBJECTS, TEXT_TYPES, FieldDef, ObjectDef
from .state import API_VERSION, SalesforceState
from .values import to_csv, to_json

Record = dict[str, Any]
Predicate = Callable[[Record], bool]
MAX_OFFSET = 2000


@dataclass(frozen=True)
class ResolvedPath:
    """A field path: the reference fields walked (with their targets), then the field read."""

    hops: tuple[tuple[FieldDef, ObjectDef], ...]
    field: FieldDef
    names: tuple[str, ...]  # canonical relationship names, then the field's API name

    @property
    def dotted(self) -> str:
        return ".".join(self.names)


def _type_error(
    query: soql.Query, ref: soql.FieldRef, message: str, code: str = "INVALID_FIELD"
) -> SalesforceApiError:
    return soql.error_at(query.text, ref.column, 1, message, code)


def resolve(query: soql.Query, obj: ObjectDef, ref: soql.FieldRef) -> ResolvedPath:
    hops: list[tuple[FieldDef, ObjectDef]] = []
    names: list[str] = []
    current = obj
    for relationship in ref.path[:-1]:
        reference = current.relationships.get(relationship.lower())
        target = OBJECTS.get((reference.reference_to or "").lower()) if reference else None
        if reference is None or target is None:
            raise _type_error(
                query,
                ref,
                f"Didn't understand relationship '{relationship}' in field path. If you are attempting to use a "
                "custom relationship, be sure to append the '__r' after the custom relationship name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
            )
        hops.append((reference, target))
        names.append(reference.relationship_name or relationship)
        current = target
    field = current.field(ref.path[-1])
    if field is None:
        raise _type_error(
            query,
            ref,
            f"No such column '{ref.path[-1]}' on entity '{current.name}'. If you are attempting to use a custom "
            "field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the "
            "describe call for the appropriate names.",
        )
    return ResolvedPath(tuple(hops), field, (*names, field.name))


def read(state: SalesforceState, record: Record, path: ResolvedPath) -> Any:
    current: Record | None = record
    for reference, target in path.hops:
        current = state.get(target.name, current.get(reference.name)) if current else None
    return current.get(path.field.name) if current is not None else None


def _relative_range(literal: soql.RelativeDate, today: date) -> tuple[date, date]:
    """[start, end) of a relative date literal, in days."""
    n = literal.n or 0
    month_start = today.replace(day=1)
    ranges: dict[str, tuple[date, date]] = {
        "TODAY": (today, today + timedelta(days=1)),
        "YESTERDAY": (today - timedelta(days=1), today),
        "TOMORROW": (today + timedelta(days=1), today + timedelta(days=2)),
        "LAST_N_DAYS": (today - timedelta(days=n), today + timedelta(days=1)),
        "NEXT_N_DAYS": (today + timedelta(days=1), today + timedelta(days=n + 1)),
        "LAST_90_DAYS": (today - timedelta(days=90), today + timedelta(days=1)),
        "NEXT_90_DAYS": (today + timedelta(days=1), today + timedelta(days=91)),
        "THIS_MONTH": (month_start, add_months(month_start, 1)),
        "LAST_MONTH": (add_months(month_start, -1), month_start),
        "NEXT_MONTH": (add_months(month_start, 1), add_months(month_start, 2)),
        "LAST_N_MONTHS": (add_months(month_start, -n), month_start),
        "NEXT_N_MONTHS": (add_months(month_start, 1), add_months(month_start, n + 1)),
        "THIS_YEAR": (date(today.year, 1, 1), date(today.year + 1, 1, 1)),
        "LAST_YEAR": (date(today.year - 1, 1, 1), date(today.year, 1, 1)),
        "NEXT_YEAR": (date(today.year + 1, 1, 1), date(today.year + 2, 1, 1)),
    }
    return ranges[literal.name]


class _Compiler:
    def __init__(self, state: SalesforceState, query: soql.Query, obj: ObjectDef) -> None:
        self.state, self.query, self.obj = state, query, obj
        self.today = state.clock.now().astimezone(UTC).date()

    def condition(self, condition: soql.Condition) -> Predicate:
        if isinstance(condition, soql.And):
            parts = [self.condition(c) for c in condition.items]
            return lambda r: all(p(r) for p in parts)
        if isinstance(condition, soql.Or):
            parts = [self.condition(c) for c in condition.items]
            return lambda r: any(p(r) for p in parts)
        if isinstance(condition, soql.Not):
            inner = self.condition(condition.item)
            return lambda r: not inner(r)
        path = resolve(self.query, self.obj, condition.field)
        if isinstance(condition, soql.InList):
            literals = [self._literal(path, condition.field, "=", v) for v in condition.values]
            if all(
                literal is not None and not isinstance(literal, soql.RelativeDate) for literal in literals
            ):
                # What `=` compares each record with, as one set: an IN list of 500 ids costs one
                # lookup a record instead of 500 comparisons.
                wanted = set(literals)
                current = self._current(path)
                if condition.negated:
                    return lambda r: (v := current(r)) is None or v not in wanted
                return lambda r: (v := current(r)) is not None and v in wanted
            tests = [self.comparison(path, condition.field, "=", v) for v in condition.values]
            if condition.negated:
                return lambda r: not any(t(r) for t in tests)
            return lambda r: any(t(r) for t in tests)
        return self.comparison(path, condition.field, condition.op, condition.value)

    def _literal(self, path: ResolvedPath, ref: soql.FieldRef, op: str, value: soql.Value) -> Any:
        """The literal converted to the stored type of the field, or the error Salesforce gives."""
        field, kind = path.field, path.field.type
        if value is None:
            if op not in ("=", "!="):
                raise _type_error(self.query, ref, f"unexpected token: '{op}' with null", "MALFORMED_QUERY")
            return None
        if op == "LIKE" and (kind not in TEXT_TYPES or not isinstance(value, soql.StringLit)):
            raise _type_error(
                self.query, ref, f"invalid operator on {kind} field: LIKE", "INVALID_QUERY_FILTER_OPERATOR"
            )
        if kind in TEXT_TYPES or kind in ("id", "reference"):
            if not isinstance(value, soql.StringLit):
                raise _type_error(
                    self.query,
                    ref,
                    f"value of filter criterion for field '{field.name}' must be of type string and should be "
                    "enclosed in quotes",
                )
            if kind in ("id", "reference") and op != "LIKE":
                normalized = normalize_id(value.text)
                if normalized is None:
                    raise _type_error(
                        self.query, ref, f"invalid ID field: {value.text}", "INVALID_QUERY_FILTER_OPERATOR"
                    )
                return normalized
            return value.text.casefold()
        if kind in NUMERIC_TYPES and isinstance(value, Decimal):
            return float(value)
        if kind == "boolean" and isinstance(value, bool):
            if op not in ("=", "!="):
                raise _type_error(
                    self.query,
                    ref,
                    f"invalid operator on boolean field: {op}",
                    "INVALID_QUERY_FILTER_OPERATOR",
                )
            return value
        if kind == "date" and (isinstance(value, soql.RelativeDate) or type(value) is date):
            return value
        if kind == "datetime" and isinstance(value, soql.RelativeDate | datetime):
            return value
        type_name = {"datetime": "dateTime", "int": "integer"}.get(
            kind, "double" if kind in NUMERIC_TYPES else kind
        )
        raise _type_error(
            self.query,
            ref,
            f"value of filter criterion for field '{field.name}' must be of type {type_name} and should not be "
            "enclosed in quotes",
        )

    def _current(self, path: ResolvedPath) -> Callable[[Record], Any]:
        """A record's value at `path` as comparisons see it (text case-folded)."""
        state, folded = self.state, path.field.type in TEXT_TYPES

        def current(r: Record) -> Any:
            v = read(state, r, path)
            return v.casefold() if folded and v is not None else v

        return current

    def comparison(self, path: ResolvedPath, ref: soql.FieldRef, op: str, value: soql.Value) -> Predicate:
        literal = self._literal(path, ref, op, value)
        state, kind = self.state, path.field.type
        if isinstance(literal, soql.RelativeDate):
            start, end = _relative_range(literal, self.today)
            low: Any = start if kind == "date" else datetime.combine(start, time(), UTC)
            high: Any = end if kind == "date" else datetime.combine(end, time(), UTC)
            tests: dict[str, Callable[[Any], bool]] = {
                "=": lambda v: low <= v < high,
                "!=": lambda v: not low <= v < high,
                "<": lambda v: v < low,
                "<=": lambda v: v < high,
                ">": lambda v: v >= high,
                ">=": lambda v: v >= low,
            }
            test = tests[op]
            if op == "!=":
                return lambda r: (v := read(state, r, path)) is None or test(v)
            return lambda r: (v := read(state, r, path)) is not None and test(v)
        if op == "LIKE":
            assert isinstance(value, soql.StringLit)
            pattern = value.like_regex()
            return lambda r: (v := read(state, r, path)) is not None and pattern.fullmatch(v) is not None
        current = self._current(path)
        if literal is None:
            return (lambda r: current(r) is None) if op == "=" else (lambda r: current(r) is not None)
        ops: dict[str, Callable[[Any], bool]] = {
            "=": lambda v: v == literal,
            "<": lambda v: v < literal,
            "<=": lambda v: v <= literal,
            ">": lambda v: v > literal,
            ">=": lambda v: v >= literal,
        }
        if op == "!=":
            return lambda r: current(r) != literal
        test = ops[op]
        return lambda r: (v := current(r)) is not None and test(v)


@dataclass
class CompiledQuery:
    query: soql.Query
    obj: ObjectDef
    columns: list[ResolvedPath]
    predicate: Predicate | None
    order: list[tuple[ResolvedPath, soql.OrderItem]]

    def run(self, state: SalesforceState, include_deleted: bool) -> list[Record]:
        with state.lock:
            rows = [
                r
                for r in state.tables[self.obj.name].values()
                if (include_deleted or not r["IsDeleted"]) and (self.predicate is None or self.predicate(r))
            ]
        for path, item in reversed(self.order):
            # rows.sort(reverse=True) flips where nulls land, so pick their key to end up where asked
            null_key = (0,) if item.nulls_last == item.descending else (2,)
            folded = path.field.type in TEXT_TYPES

            def key(
                r: Record, path: ResolvedPath = path, null_key: tuple[int] = null_key, folded: bool = folded
            ) -> tuple[Any, ...]:
                v = read(state, r, path)
                if v is None:
                    return null_key
                return (1, v.casefold() if folded else v)

            rows.sort(key=key, reverse=item.descending)
        start = self.query.offset or 0
        end = None if self.query.limit is None else start + self.query.limit
        return rows[start:end]

    def to_json(self, state: SalesforceState, record: Record) -> Record:
        out = attributes_of(self.obj.name, record["Id"])
        for path in self.columns:
            target: Record | None = out
            current: Record | None = record
            for (reference, related_obj), name in zip(path.hops, path.names, strict=False):
                current = state.get(related_obj.name, current.get(reference.name)) if current else None
                if target is None:
                    break
                if current is None:
                    target.setdefault(name, None)
                    target = None
                    continue
                nested = target.get(name)
                if nested is None:
                    nested = attributes_of(related_obj.name, current["Id"])
                    target[name] = nested
                target = nested
            if target is not None:
                target[path.field.name] = to_json(current.get(path.field.name) if current else None)
        return out

    def to_csv_row(self, state: SalesforceState, record: Record) -> list[str]:
        return [to_csv(read(state, record, path)) for path in self.columns]


def attributes_of(object_name: str, record_id: str) -> Record:
    return {
        "attributes": {
            "type": object_name,
            "url": f"/services/data/v{API_VERSION}/sobjects/{object_name}/{record_id}",
        }
    }


def compile_query(state: SalesforceState, text: str) -> CompiledQuery:
    query = soql.parse(text)
    obj = OBJECTS.get(query.object_name.lower())
    if obj is None:
        raise soql.error_at(
            text,
            query.object_column,
            1,
            f"sObject type '{query.object_name}' is not supported. If you are attempting to use a custom object, "
            "be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call "
            "for the appropriate names.",
            "INVALID_TYPE",
        )
    columns = [resolve(query, obj, ref) for ref in query.fields]
    seen: set[str] = set()
    for path, ref in zip(columns, query.fields, strict=True):
        if path.dotted.lower() in seen:
            raise soql.error_at(
                text, ref.column, 1, f"duplicate field selected: {path.dotted}", "MALFORMED_QUERY"
            )
        seen.add(path.dotted.lower())
    if query.offset is not None and query.offset > MAX_OFFSET:
        raise SalesforceApiError("NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}")
    compiler = _Compiler(state, query, obj)
    predicate = compiler.condition(query.where) if query.where is not None else None
    order = [(resolve(query, obj, item.field), item) for item in query.order_by]
    if query.count_only and order:
        raise soql.error_at(
            text,
            query.order_by[0].field.column,
            1,
            "Ordered field cannot be aggregated in a query that is not grouped",
            "MALFORMED_QUERY",
        )
    return CompiledQuery(query, obj, columns, predicate, order)

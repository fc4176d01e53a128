"""The record types the REST record service offers, and its collection listing with the `q` filter.

`GET /record/v1/{type}?limit=&offset=&q=` lists ids in id order, as `{links, count, hasMore,
items: [{links, id}], offset, totalResults}`. `q` is NetSuite's record filter syntax:
`field OPERATOR value` joined by AND / OR (AND binds tighter), values quoted or bare, lists in
brackets: `externalId IS "INV-1"`, `lastModifiedDate ON_OR_AFTER "1/15/2024"`,
`id ANY_OF [1, 2]`, `email EMPTY`, `total BETWEEN [10, 20]`; each operator may end in `_NOT`.
The filter compiles to SQL with bound parameters over the same tables SuiteQL reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tieout.sandbox.netsuite.errors import NetSuiteError, invalid_parameter
from tieout.sandbox.netsuite.store import Store

_TXN_FIELDS: dict[str, tuple[str, str]] = {
    "tranid": ("tranid", "text"),
    "trandate": ("trandate", "date"),
    "duedate": ("duedate", "date"),
    "entity": ("entity", "int"),
    "customer": ("entity", "int"),
    "currency": ("currency", "int"),
    "status": ("status", "text"),
    "total": ("foreigntotal", "float"),
    "amountremaining": ("foreignamountunpaid", "float"),
    "amountpaid": ("foreignamountpaid", "float"),
    "memo": ("memo", "text"),
    "otherrefnum": ("otherrefnum", "text"),
    "createddate": ("createddate", "datetime"),
    "postingperiod": ("postingperiod", "int"),
    "subsidiary": (
        '(SELECT l.subsidiary FROM transactionline l WHERE l."transaction" = "transaction".id AND l.id = 0)',
        "int",
    ),
}


@dataclass(frozen=True)
class RecordType:
    name: str
    table: str
    txn_type: str | None = None
    item_type: str | None = None
    fields: tuple[tuple[str, str, str], ...] = ()

    def field_map(self) -> dict[str, tuple[str, str]]:
        mapped = {"id": ("id", "int"), "externalid": ("externalid", "text")}
        if self.table != "term":
            mapped["lastmodifieddate"] = ("lastmodifieddate", "datetime")
        if self.txn_type is not None:
            mapped.update(_TXN_FIELDS)
        mapped.update({rest.lower(): (column, kind) for rest, column, kind in self.fields})
        return mapped

    def base_filter(self) -> tuple[str, list[Any]]:
        if self.txn_type is not None:
            return "type = ?", [self.txn_type]
        if self.item_type is not None:
            return "itemtype = ?", [self.item_type]
        return "1 = 1", []


def _txn(name: str, txn_type: str) -> RecordType:
    return RecordType(name, "transaction", txn_type=txn_type)


RECORD_TYPES: dict[str, RecordType] = {
    record.name.lower(): record
    for record in (
        RecordType(
            "customer",
            "customer",
            fields=(
                ("entityId", "entityid", "text"),
                ("companyName", "companyname", "text"),
                ("email", "email", "text"),
                ("phone", "phone", "text"),
                ("subsidiary", "subsidiary", "int"),
                ("currency", "currency", "int"),
                ("dateCreated", "datecreated", "datetime"),
                ("parent", "parent", "int"),
                ("terms", "terms", "int"),
                ("isInactive", "isinactive", "bool"),
                ("isPerson", "isperson", "bool"),
            ),
        ),
        RecordType(
            "subsidiary",
            "subsidiary",
            fields=(
                ("name", "name", "text"),
                ("country", "country", "text"),
                ("currency", "currency", "int"),
                ("parent", "parent", "int"),
                ("isInactive", "isinactive", "bool"),
            ),
        ),
        RecordType(
            "currency",
            "currency",
            fields=(
                ("symbol", "symbol", "text"),
                ("name", "name", "text"),
                ("isInactive", "isinactive", "bool"),
            ),
        ),
        RecordType(
            "account",
            "account",
            fields=(
                ("acctNumber", "acctnumber", "text"),
                ("acctName", "fullname", "text"),
                ("acctType", "accttype", "text"),
                ("subsidiary", "subsidiary", "int"),
                ("currency", "currency", "int"),
                ("isInactive", "isinactive", "bool"),
            ),
        ),
        RecordType(
            "nonInventorySaleItem",
            "item",
            item_type="NonInvtPart",
            fields=(
                ("itemId", "itemid", "text"),
                ("displayName", "displayname", "text"),
                ("isInactive", "isinactive", "bool"),
                ("createdDate", "createddate", "datetime"),
            ),
        ),
        RecordType(
            "serviceSaleItem",
            "item",
            item_type="Service",
            fields=(
                ("itemId", "itemid", "text"),
                ("displayName", "displayname", "text"),
                ("isInactive", "isinactive", "bool"),
                ("createdDate", "createddate", "datetime"),
            ),
        ),
        RecordType("term", "term", fields=(("name", "name", "text"),)),
        RecordType(
            "accountingPeriod",
            "accountingperiod",
            fields=(
                ("periodName", "periodname", "text"),
                ("startDate", "startdate", "date"),
                ("endDate", "enddate", "date"),
                ("closed", "closed", "bool"),
            ),
        ),
        _txn("invoice", "CustInvc"),
        _txn("customerPayment", "CustPymt"),
        _txn("creditMemo", "CustCred"),
        _txn("customerRefund", "CustRfnd"),
        _txn("deposit", "Deposit"),
        _txn("journalEntry", "Journal"),
    )
}

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\[|\]|,|[^\s\[\],"]+')
_DATE_FORMATS = (
    "%m/%d/%Y",
    "%Y-%m-%d",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %H:%M:%S",
)
_COMPARE = {
    "EQUAL": "=",
    "GREATER": ">",
    "GREATER_OR_EQUAL": ">=",
    "LESS": "<",
    "LESS_OR_EQUAL": "<=",
    "AFTER": ">",
    "BEFORE": "<",
    "ON_OR_AFTER": ">=",
    "ON_OR_BEFORE": "<=",
}


def lookup(type_name: str) -> RecordType:
    record = RECORD_TYPES.get(type_name.lower())
    if record is None:
        raise NetSuiteError(
            404, "NONEXISTENT_ID", f"Record type '{type_name}' does not exist.", path=type_name
        )
    return record


def _bad_q(detail: str) -> NetSuiteError:
    return invalid_parameter("q", f"Invalid query parameter q: {detail}")


def compile_q(record: RecordType, q: str) -> tuple[str, list[Any]]:
    """SQL for a `q` filter, with its parameters."""
    tokens = _TOKEN.findall(q)
    fields = record.field_map()
    groups: list[list[str]] = [[]]
    params: list[Any] = []
    position = 0
    while position < len(tokens):
        if not tokens[position] or tokens[position] in ",[]":
            raise _bad_q(f"unexpected '{tokens[position]}'")
        name = tokens[position].lower()
        if name not in fields:
            raise _bad_q(f"unknown field '{tokens[position]}'")
        if position + 1 >= len(tokens):
            raise _bad_q("missing operator")
        column, kind = fields[name]
        operator = tokens[position + 1].upper()
        position += 2
        values: list[str] = []
        if operator not in ("EMPTY", "EMPTY_NOT"):
            if position >= len(tokens):
                raise _bad_q("missing value")
            if tokens[position] == "[":
                position += 1
                while position < len(tokens) and tokens[position] != "]":
                    if tokens[position] != ",":
                        values.append(_unquote(tokens[position]))
                    position += 1
                position += 1
            else:
                values.append(_unquote(tokens[position]))
                position += 1
        groups[-1].append(_condition(column, kind, operator, values, params))
        if position < len(tokens):
            joiner = tokens[position].upper()
            if joiner == "OR":
                groups.append([])
            elif joiner != "AND":
                raise _bad_q(f"expected AND or OR, found '{tokens[position]}'")
            position += 1
            if position >= len(tokens):
                raise _bad_q("dangling AND/OR")
    if not groups[0]:
        raise _bad_q("empty filter")
    return " OR ".join("(" + " AND ".join(group) + ")" for group in groups), params


def _unquote(token: str) -> str:
    if token.startswith('"') and token.endswith('"') and len(token) >= 2:
        return token[1:-1].replace('\\"', '"')
    return token


def _convert(value: str, kind: str) -> Any:
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            if value.lower() not in ("true", "false", "t", "f"):
                raise ValueError(value)
            return "T" if value.lower() in ("true", "t") else "F"
        if kind in ("date", "datetime"):
            for pattern in _DATE_FORMATS:
                try:
                    return datetime.strptime(value, pattern).replace(tzinfo=UTC)
                except ValueError:
                    continue
            raise ValueError(value)
    except ValueError:
        raise _bad_q(f"invalid value '{value}'") from None
    return value


def _condition(column: str, kind: str, operator: str, raw: list[str], params: list[Any]) -> str:
    negate = operator.endswith("_NOT")
    base = operator[:-4] if negate else operator
    values = [_convert(value, kind) for value in raw]
    if base == "EMPTY":
        sql = f"({column} IS NULL OR {column} = '')"
    elif kind in ("date", "datetime"):
        sql = _date_condition(column, base, values, params)
    elif base in ("IS", "EQUAL") and len(values) == 1:
        sql = f"{column} = ?"
        params.append(values[0])
    elif base in _COMPARE and len(values) == 1 and kind in ("int", "float"):
        sql = f"{column} {_COMPARE[base]} ?"
        params.append(values[0])
    elif base == "ANY_OF" and values:
        sql = f"{column} IN ({', '.join('?' for _ in values)})"
        params.extend(values)
    elif base in ("BETWEEN", "WITHIN") and len(values) == 2 and kind in ("int", "float"):
        sql = f"{column} BETWEEN ? AND ?"
        params.extend(values)
    elif base in ("CONTAIN", "START_WITH", "END_WITH") and len(values) == 1 and kind == "text":
        escaped = str(values[0]).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = {"CONTAIN": f"%{escaped}%", "START_WITH": f"{escaped}%", "END_WITH": f"%{escaped}"}[base]
        sql = f"LOWER({column}) LIKE LOWER(?) ESCAPE '\\'"
        params.append(pattern)
    else:
        raise _bad_q(f"operator {operator} does not apply here")
    return f"NOT ({sql})" if negate else sql


def _date_condition(column: str, base: str, values: list[Any], params: list[Any]) -> str:
    def stamp(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%d %H:%M:%S")

    def day_bounds(moment: datetime) -> tuple[str, str]:
        start = moment.replace(hour=0, minute=0, second=0)
        return stamp(start), stamp(start + timedelta(days=1))

    if base == "ON" and len(values) == 1:
        params.extend(day_bounds(values[0]))
        return f"({column} >= ? AND {column} < ?)"
    if base in _COMPARE and len(values) == 1:
        moment = values[0]
        is_day = moment.hour == moment.minute == moment.second == 0
        if base in ("AFTER", "GREATER", "ON_OR_BEFORE", "LESS_OR_EQUAL") and is_day:
            # A bare day means the whole day: AFTER 1/15 is from 1/16 on.
            upper = day_bounds(moment)[1]
            params.append(upper)
            return f"{column} {'>=' if base in ('AFTER', 'GREATER') else '<'} ?"
        params.append(stamp(moment))
        return f"{column} {_COMPARE[base]} ?"
    if base in ("WITHIN", "BETWEEN") and len(values) == 2:
        params.extend([day_bounds(values[0])[0], day_bounds(values[1])[1]])
        return f"({column} >= ? AND {column} < ?)"
    raise _bad_q("date operator does not apply here")


def list_ids(
    store: Store, record: RecordType, q: str | None, limit: int, offset: int
) -> tuple[list[int], int]:
    where, params = record.base_filter()
    if q:
        condition, extra = compile_q(record, q)
        where = f"{where} AND ({condition})"
        params = params + extra
    with store.lock:
        count_sql = f'SELECT COUNT(*) FROM "{record.table}" WHERE {where}'  # noqa: S608
        total = int(store.db.execute(count_sql, params).fetchone()[0])
        rows = store.db.execute(
            f'SELECT id FROM "{record.table}" WHERE {where} ORDER BY id LIMIT ? OFFSET ?',  # noqa: S608
            [*params, limit, offset],
        ).fetchall()
    return [int(row[0]) for row in rows], total

"""SOQL text to a typed syntax tree, with a lark grammar, and back to text.

Covers the subset tieout uses: field lists with parent relationship paths (`Account.Name`),
`COUNT()`, WHERE with comparisons, LIKE, IN / NOT IN, AND / OR / NOT with parentheses (SOQL refuses
AND and OR mixed without them), string, number, boolean, null, date and datetime literals and the
common relative date literals, ORDER BY with direction and NULLS FIRST/LAST, LIMIT and OFFSET.
Anything else is a MALFORMED_QUERY error, never a silently different query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from .errors import SalesforceApiError

GRAMMAR = r"""
start: "SELECT"i select_list "FROM"i NAME where? order_by? limit? offset?
select_list: select_item ("," select_item)*
select_item: COUNT "(" ")" -> count_all
           | field_path
field_path: NAME ("." NAME)*
where: "WHERE"i condition
?condition: unary
          | unary ("AND"i unary)+ -> and_chain
          | unary ("OR"i unary)+ -> or_chain
?unary: "NOT"i unary -> negation
      | "(" condition ")"
      | field_path OP value -> comparison
      | field_path "LIKE"i value -> like
      | field_path "IN"i "(" value ("," value)* ")" -> in_list
      | field_path "NOT"i "IN"i "(" value ("," value)* ")" -> not_in_list
?value: STRING -> string
      | NUMBER -> number
      | DATETIME -> datetime
      | DATE -> date
      | TRUE -> true
      | FALSE -> false
      | NULL -> null
      | RELATIVE_DATE -> relative_date
order_by: "ORDER"i "BY"i order_item ("," order_item)*
order_item: field_path DIRECTION? ("NULLS"i NULLS_POSITION)?
limit: "LIMIT"i NUMBER
offset: "OFFSET"i NUMBER

COUNT: "COUNT"i
OP: /!=|<>|<=|>=|=|<|>/
DIRECTION: /ASC|DESC/i
NULLS_POSITION: /FIRST|LAST/i
TRUE.2: /true(?![A-Za-z0-9_])/i
FALSE.2: /false(?![A-Za-z0-9_])/i
NULL.2: /null(?![A-Za-z0-9_])/i
RELATIVE_DATE.2: /(?:(?:LAST|NEXT)_N_(?:DAYS|MONTHS):\d+|TODAY|YESTERDAY|TOMORROW|(?:LAST|THIS|NEXT)_(?:MONTH|YEAR)|(?:LAST|NEXT)_90_DAYS)(?![A-Za-z0-9_])/i
DATETIME.4: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2})/
DATE.3: /\d{4}-\d{2}-\d{2}(?![T\d])/
NUMBER: /[+-]?(?:\d+(?:\.\d*)?|\.\d+)/
STRING: /'(?:[^'\\]|\\[\s\S])*'/
NAME: /[A-Za-z][A-Za-z0-9_]*/

%import common.WS
%ignore WS
"""

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_LIKE_ESCAPES = {"%", "_"}


@dataclass(frozen=True)
class FieldRef:
    path: tuple[str, ...]
    column: int = field(default=0, compare=False)

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class StringLit:
    """A quoted string as written (escapes intact), so LIKE can tell `\\%` from `%`."""

    raw: str

    @property
    def text(self) -> str:
        return "".join(char for char, _ in _decode(self.raw))

    def like_regex(self) -> re.Pattern[str]:
        parts = []
        for char, escaped in _decode(self.raw):
            if char == "%" and not escaped:
                parts.append(".*")
            elif char == "_" and not escaped:
                parts.append(".")
            else:
                parts.append(re.escape(char))
        return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class RelativeDate:
    """TODAY, LAST_N_DAYS:30 and friends; resolved to a date range at query time."""

    name: str
    n: int | None = None


Value = StringLit | Decimal | bool | None | date | datetime | RelativeDate


@dataclass(frozen=True)
class Comparison:
    field: FieldRef
    op: str  # = != < <= > >= LIKE
    value: Value


@dataclass(frozen=True)
class InList:
    field: FieldRef
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True)
class And:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


Condition = Comparison | InList | And | Or | Not


@dataclass(frozen=True)
class OrderItem:
    field: FieldRef
    descending: bool = False
    nulls_last: bool = False


@dataclass(frozen=True)
class Query:
    fields: tuple[FieldRef, ...]
    count_only: bool
    object_name: str
    object_column: int
    where: Condition | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None
    text: str


def _decode(raw: str) -> list[tuple[str, bool]]:
    """(character, was escaped) pairs of a string literal body; raises on an illegal escape."""
    out: list[tuple[str, bool]] = []
    index = 0
    while index < len(raw):
        char = raw[index]
        if char != "\\":
            out.append((char, False))
            index += 1
            continue
        following = raw[index + 1 : index + 2]
        if following in _ESCAPES:
            out.append((_ESCAPES[following], True))
        elif following in _LIKE_ESCAPES:
            out.append((following, True))
        else:
            raise ValueError(f"Illegal character sequence '\\{following}' in string literal.")
        index += 2
    return out


def quote(text: str) -> str:
    """A SOQL string literal for `text` (the inverse of StringLit.text)."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'")
    for char, code in (("\n", "n"), ("\r", "r"), ("\t", "t"), ("\b", "b"), ("\f", "f"), ('"', '"')):
        escaped = escaped.replace(char, "\\" + code)
    return f"'{escaped}'"


class _ToAst(Transformer[Token, Any]):
    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def field_path(self, names: list[Token]) -> FieldRef:
        return FieldRef(tuple(str(n) for n in names), names[0].column or 0)

    def count_all(self, _: list[Token]) -> str:
        return "COUNT()"

    def select_item(self, items: list[Any]) -> Any:
        return items[0]

    def select_list(self, items: list[Any]) -> list[Any]:
        return items

    @v_args(inline=True)
    def string(self, token: Token) -> StringLit:
        raw = str(token)[1:-1]
        try:
            _decode(raw)
        except ValueError as exc:
            raise _SyntaxProblem(f"Invalid string literal '{token}'. {exc}", token.column or 0) from None
        return StringLit(raw)

    @v_args(inline=True)
    def number(self, token: Token) -> Decimal:
        return Decimal(str(token))

    @v_args(inline=True)
    def date(self, token: Token) -> date:
        try:
            return date.fromisoformat(str(token))
        except ValueError:
            raise _SyntaxProblem(
                f"line 1:{token.column} no viable alternative at character '{token}'", token.column or 0
            ) from None

    @v_args(inline=True)
    def datetime(self, token: Token) -> datetime:
        try:
            return datetime.fromisoformat(str(token).replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            raise _SyntaxProblem(
                f"line 1:{token.column} no viable alternative at character '{token}'", token.column or 0
            ) from None

    def true(self, _: list[Token]) -> bool:
        return True

    def false(self, _: list[Token]) -> bool:
        return False

    def null(self, _: list[Token]) -> None:
        return None

    @v_args(inline=True)
    def relative_date(self, token: Token) -> RelativeDate:
        name, _, n = str(token).upper().partition(":")
        return RelativeDate(name, int(n) if n else None)

    @v_args(inline=True)
    def comparison(self, ref: FieldRef, op: Token, value: Value) -> Comparison:
        return Comparison(ref, "!=" if str(op) == "<>" else str(op), value)

    @v_args(inline=True)
    def like(self, ref: FieldRef, value: Value) -> Comparison:
        return Comparison(ref, "LIKE", value)

    def in_list(self, items: list[Any]) -> InList:
        return InList(items[0], tuple(items[1:]))

    def not_in_list(self, items: list[Any]) -> InList:
        return InList(items[0], tuple(items[1:]), negated=True)

    def and_chain(self, items: list[Condition]) -> And:
        return And(tuple(items))

    def or_chain(self, items: list[Condition]) -> Or:
        return Or(tuple(items))

    @v_args(inline=True)
    def negation(self, item: Condition) -> Not:
        return Not(item)

    @v_args(inline=True)
    def where(self, condition: Condition) -> tuple[str, Condition]:
        return ("where", condition)

    @v_args(inline=True)
    def order_item(self, ref: FieldRef, *modifiers: Token) -> OrderItem:
        descending = any(m.type == "DIRECTION" and m.upper() == "DESC" for m in modifiers)
        nulls = [m.upper() for m in modifiers if m.type == "NULLS_POSITION"]
        nulls_last = nulls[0] == "LAST" if nulls else descending
        return OrderItem(ref, descending, nulls_last)

    def order_by(self, items: list[OrderItem]) -> tuple[str, tuple[OrderItem, ...]]:
        return ("order_by", tuple(items))

    @v_args(inline=True)
    def limit(self, token: Token) -> tuple[str, int]:
        return ("limit", self._whole_number(token))

    @v_args(inline=True)
    def offset(self, token: Token) -> tuple[str, int]:
        return ("offset", self._whole_number(token))

    def _whole_number(self, token: Token) -> int:
        if not re.fullmatch(r"\d+", str(token)):
            raise _SyntaxProblem(f"unexpected token: '{token}'", token.column or 0)
        return int(str(token))

    def start(self, items: list[Any]) -> Query:
        selected, object_token, *clauses = items
        options = dict(clauses)
        count_only = "COUNT()" in selected
        if count_only and len(selected) > 1:
            raise _SyntaxProblem("unexpected token: ','", 0)
        fields = tuple(item for item in selected if isinstance(item, FieldRef))
        return Query(
            fields=fields,
            count_only=count_only,
            object_name=str(object_token),
            object_column=object_token.column or 0,
            where=options.get("where"),
            order_by=options.get("order_by", ()),
            limit=options.get("limit"),
            offset=options.get("offset"),
            text=self._text,
        )


class _SyntaxProblem(Exception):
    def __init__(self, detail: str, column: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.column = column


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", lexer="contextual", maybe_placeholders=False)


def error_at(text: str, column: int, line: int, detail: str, error_code: str) -> SalesforceApiError:
    """Salesforce's query error: the offending line, a caret, the position and the reason."""
    lines = text.splitlines() or [""]
    shown = lines[min(max(line, 1), len(lines)) - 1]
    caret = " " * max(column - 1, 0) + "^"
    return SalesforceApiError(
        error_code, f"\n{shown}\n{caret}\nERROR at Row:{line}:Column:{column}\n{detail}"
    )


def parse(text: str) -> Query:
    """Parse SOQL text; raises SalesforceApiError(MALFORMED_QUERY) for anything outside the subset."""
    try:
        tree = _parser().parse(text)
        query = _ToAst(text).transform(tree)
    except VisitError as exc:
        problem = exc.orig_exc
        if isinstance(problem, _SyntaxProblem):
            raise error_at(text, problem.column, 1, problem.detail, "MALFORMED_QUERY") from None
        raise
    except UnexpectedEOF:
        raise error_at(text, len(text) + 1, 1, "unexpected token: <EOF>", "MALFORMED_QUERY") from None
    except UnexpectedToken as exc:
        shown = "<EOF>" if exc.token.type == "$END" else f"'{exc.token}'"
        raise error_at(text, exc.column, exc.line, f"unexpected token: {shown}", "MALFORMED_QUERY") from None
    except UnexpectedCharacters as exc:
        position = exc.pos_in_stream or 0
        char = text[position] if position < len(text) else ""
        detail = f"line {exc.line}:{exc.column - 1} no viable alternative at character '{char}'"
        raise error_at(text, exc.column, exc.line, detail, "MALFORMED_QUERY") from None
    except UnexpectedInput as exc:
        raise error_at(text, 1, 1, f"unexpected input: {exc}", "MALFORMED_QUERY") from None
    except InvalidOperation:
        raise error_at(text, 1, 1, "invalid number", "MALFORMED_QUERY") from None
    assert isinstance(query, Query)
    return query


def render_value(value: Value) -> str:
    if isinstance(value, StringLit):
        return f"'{value.raw}'"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    return value.name if value.n is None else f"{value.name}:{value.n}"


def render_condition(condition: Condition) -> str:
    """SOQL text for a condition, parenthesised so it parses back to the same tree."""
    if isinstance(condition, Comparison):
        return f"{condition.field.dotted} {condition.op} {render_value(condition.value)}"
    if isinstance(condition, InList):
        keyword = "NOT IN" if condition.negated else "IN"
        values = ", ".join(render_value(v) for v in condition.values)
        return f"{condition.field.dotted} {keyword} ({values})"
    if isinstance(condition, Not):
        return f"NOT ({render_condition(condition.item)})"
    joiner = " AND " if isinstance(condition, And) else " OR "
    return joiner.join(f"({render_condition(item)})" for item in condition.items)

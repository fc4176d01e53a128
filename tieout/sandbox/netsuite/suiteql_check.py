"""Check a SuiteQL query against the supported subset and rewrite it into SQLite's dialect.

The query is parsed with sqlglot's Oracle dialect (SuiteQL is Oracle-flavoured SQL-92). Every
node must be of a supported kind, every table must be in the catalog, every column must exist on
the table it names (or, unqualified, on one of the query's tables); anything else is refused with
NetSuite's 'Invalid search query' error, never answered wrongly. The rewrite then expands `*` to
the catalog's columns, turns `BUILTIN.DF(col)` into a lookup of the referenced record's name,
`TO_CHAR`/`TO_DATE`/`TO_TIMESTAMP`/`TRUNC` into the emulator's SQL functions, `SYSDATE` into the
sandbox clock's time, date-string literals compared with date columns into stored form, and
makes `/` a true division as in Oracle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlglot
from sqlglot import exp

from tieout.sandbox.netsuite.errors import NetSuiteError, invalid_query
from tieout.sandbox.netsuite.schema import CATALOG, DISPLAY_COLUMN, REFERENCES, SELF_REFERENCES, ColumnType

_ALLOWED: tuple[type[exp.Expression], ...] = (
    exp.Select,
    exp.From,
    exp.Join,
    exp.Where,
    exp.Group,
    exp.Having,
    exp.Order,
    exp.Ordered,
    exp.Column,
    exp.Identifier,
    exp.Table,
    exp.TableAlias,
    exp.Alias,
    exp.Literal,
    exp.Star,
    exp.Paren,
    exp.Tuple,
    exp.And,
    exp.Or,
    exp.Not,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.Is,
    exp.Null,
    exp.Boolean,
    exp.In,
    exp.Between,
    exp.Like,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Mod,
    exp.Neg,
    exp.Count,
    exp.Sum,
    exp.Avg,
    exp.Min,
    exp.Max,
    exp.Coalesce,
    exp.Nvl2,
    exp.Case,
    exp.If,
    exp.DecodeCase,
    exp.Upper,
    exp.Lower,
    exp.Length,
    exp.Substring,
    exp.StrPosition,
    exp.Trim,
    exp.Round,
    exp.Abs,
    exp.DPipe,
    exp.Distinct,
    exp.Subquery,
    exp.Exists,
    exp.Union,
    exp.ToChar,
    exp.StrToTime,
    exp.StrToDate,
    exp.CurrentDate,
    exp.CurrentTimestamp,
    exp.Dot,
    exp.Anonymous,
    exp.Cast,
    exp.DataType,
)
_FUNCTIONS = {"TRUNC": "ns_trunc", "DF": "ns_df"}
_CASTS = {
    exp.DataType.Type.DECIMAL,
    exp.DataType.Type.DOUBLE,
    exp.DataType.Type.FLOAT,
    exp.DataType.Type.INT,
    exp.DataType.Type.VARCHAR,
    exp.DataType.Type.CHAR,
    exp.DataType.Type.NVARCHAR,
    exp.DataType.Type.TEXT,
    exp.DataType.Type.BIGINT,
}
_DATE_INPUTS = ("%m/%d/%Y", "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M %p")
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
MAX_QUERY_LENGTH = 100_000


@dataclass
class Checked:
    """A query ready for SQLite: its SQL, and per output column its name and catalog type."""

    tree: exp.Expression
    names: list[str]
    types: list[ColumnType | None] = field(default_factory=list)


def check(query: str, now: datetime) -> Checked:
    if not query.strip():
        raise NetSuiteError(
            400, "INVALID_PARAMETER", "The query parameter q is missing or empty.", query_param="q"
        )
    if len(query) > MAX_QUERY_LENGTH:
        raise invalid_query("The query is too long.")
    try:
        statements = sqlglot.parse(query, read="oracle")
    except Exception as exc:  # sqlglot raises several error types for input it cannot read
        raise invalid_query(f"Search error occurred: {_first_line(exc)}") from None
    if len(statements) != 1 or statements[0] is None:
        raise invalid_query("Search error occurred: exactly one SELECT statement is allowed.")
    tree = statements[0]
    if not isinstance(tree, exp.Select | exp.Union):
        raise invalid_query("Search error occurred: only SELECT statements are supported.")
    for node in tree.walk():
        if not isinstance(node, _ALLOWED):
            raise invalid_query(f"Search error occurred: unsupported syntax {node.key.upper()}.")
        if isinstance(node, exp.Cast) and node.to.this not in _CASTS:
            raise invalid_query("Search error occurred: unsupported CAST target.")
        if isinstance(node, exp.Anonymous) and str(node.name).upper() not in _FUNCTIONS:
            raise invalid_query(f"Search error occurred: Unknown identifier '{node.name}'.")
        if isinstance(node, exp.Dot) and not _is_builtin_df(node):
            raise invalid_query("Search error occurred: unsupported qualified expression.")
        if (
            isinstance(node, exp.Anonymous)
            and str(node.name).upper() == "DF"
            and not (isinstance(node.parent, exp.Dot) and _is_builtin_df(node.parent))
        ):
            raise invalid_query("Search error occurred: Unknown identifier 'DF'.")
    sources = _sources(tree)
    for select in list(tree.find_all(exp.Select)):
        _expand_stars(select, sources)
    select_aliases = {a.alias.lower() for a in tree.find_all(exp.Alias)}
    for column in list(tree.find_all(exp.Column)):
        _check_column(column, sources, select_aliases)
    try:
        names, types = _outputs(tree, sources)
        _rewrite(tree, sources, now)
    except NetSuiteError:
        raise
    except Exception as exc:
        raise invalid_query(f"Search error occurred: {_first_line(exc)}") from None
    return Checked(tree, names, types)


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]


def _is_builtin_df(node: exp.Dot) -> bool:
    left, right = node.this, node.expression
    return (
        isinstance(left, exp.Identifier | exp.Column)
        and left.name.upper() == "BUILTIN"
        and isinstance(right, exp.Anonymous)
        and str(right.name).upper() == "DF"
        and len(right.expressions) == 1
        and isinstance(right.expressions[0], exp.Column)
    )


Sources = dict[str, tuple[str | None, dict[str, ColumnType] | None]]
"""alias -> (catalog table or None for a derived table, its columns or None when unknown)."""


def _sources(tree: exp.Expression) -> Sources:
    sources: Sources = {}
    for table in tree.find_all(exp.Table):
        name = table.name.lower()
        if table.args.get("db") or table.args.get("catalog") or not isinstance(table.this, exp.Identifier):
            raise invalid_query(f"Search error occurred: Record '{table.sql()}' was not found.")
        if name not in CATALOG:
            raise invalid_query(f"Search error occurred: Record '{table.name}' was not found.")
        sources[table.alias_or_name.lower()] = (name, CATALOG[name])
    for subquery in tree.find_all(exp.Subquery):
        if subquery.alias and isinstance(subquery.parent, exp.From | exp.Join):
            inner = subquery.this
            named = [n.lower() for n in inner.named_selects] if isinstance(inner, exp.Select) else []
            text: ColumnType = "text"
            columns: dict[str, ColumnType] | None = dict.fromkeys(named, text)
            if any(isinstance(e, exp.Star) or e.is_star for e in getattr(inner, "expressions", [])):
                columns = None
            sources[subquery.alias.lower()] = (None, columns)
    return sources


def _expand_stars(select: exp.Select, sources: Sources) -> None:
    aliases = []
    for part in [select.args.get("from_") or select.args.get("from"), *select.args.get("joins", [])]:
        if part is not None:
            aliases.append(part.this.alias_or_name.lower())
    expanded: list[exp.Expression] = []
    for item in select.expressions:
        if isinstance(item, exp.Star):
            targets = aliases
        elif isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
            targets = [item.table.lower()]
        else:
            expanded.append(item)
            continue
        for alias in targets:
            if alias not in sources:
                raise invalid_query(f"Search error occurred: Record '{alias}' was not found.")
            table, columns = sources[alias]
            if table is None or columns is None:
                expanded.append(exp.column(exp.Star(), table=alias))
                continue
            expanded.extend(exp.column(name, table=alias) for name in columns)
    select.set("expressions", expanded)


def _check_column(column: exp.Column, sources: Sources, select_aliases: set[str]) -> None:
    if isinstance(column.this, exp.Star):
        return
    if column.parent is not None and isinstance(column.parent, exp.Dot) and column is column.parent.this:
        return
    name = column.name.lower()
    if column.args.get("db") or column.args.get("catalog"):
        raise invalid_query(f"Search error occurred: Field '{column.sql()}' was not found.")
    if column.table:
        alias = column.table.lower()
        if alias not in sources:
            raise invalid_query(f"Search error occurred: Record '{column.table}' was not found.")
        table, columns = sources[alias]
        if columns is not None and name not in columns:
            raise invalid_query(
                f"Search error occurred: Field '{column.name}' for record '{table}' was not found."
            )
        return
    if name in select_aliases:
        return
    if not any(columns is None or name in columns for _, columns in sources.values()):
        raise invalid_query(f"Search error occurred: Field '{column.name}' was not found.")


def _column_type(column: exp.Expr, sources: Sources) -> tuple[str | None, ColumnType | None]:
    """The catalog table and type of a column reference, when it can be known."""
    if not isinstance(column, exp.Column) or isinstance(column.this, exp.Star):
        return None, None
    name = column.name.lower()
    if column.table:
        table, columns = sources.get(column.table.lower(), (None, None))
        return table, None if columns is None or table is None else columns.get(name)
    owners = [(table, cols[name]) for table, cols in sources.values() if table and cols and name in cols]
    return owners[0] if len(owners) == 1 else (None, None)


def _outputs(tree: exp.Expression, sources: Sources) -> tuple[list[str], list[ColumnType | None]]:
    top = tree
    while isinstance(top, exp.Union):
        top = top.this
    if not isinstance(top, exp.Select):
        raise invalid_query("Search error occurred: unsupported query shape.")
    names: list[str] = []
    types: list[ColumnType | None] = []
    for index, item in enumerate(top.expressions, start=1):
        inner = item.this if isinstance(item, exp.Alias) else item
        if isinstance(item, exp.Alias):
            name = item.alias.lower()
        elif isinstance(item, exp.Column):
            name = item.name.lower()
        else:
            name = f"expr{index}"
        if isinstance(inner, exp.Min | exp.Max) or (
            isinstance(inner, exp.Anonymous) and str(inner.name).upper() == "TRUNC" and inner.expressions
        ):
            inner = inner.this if isinstance(inner, exp.Min | exp.Max) else inner.expressions[0]
        names.append(name)
        types.append(_column_type(inner, sources)[1])
    return names, types


def _rewrite(tree: exp.Expression, sources: Sources, now: datetime) -> None:
    for node in list(tree.walk()):
        if isinstance(node, exp.Dot) and _is_builtin_df(node):
            node.replace(_display(node.expression.expressions[0], sources))
        elif isinstance(node, exp.ToChar):
            args = [node.this] + ([node.args["format"]] if node.args.get("format") else [])
            node.replace(exp.Anonymous(this="ns_to_char", expressions=args))
        elif isinstance(node, exp.StrToTime | exp.StrToDate):
            node.replace(exp.Anonymous(this="ns_to_date", expressions=[node.this, node.args["format"]]))
        elif isinstance(node, exp.CurrentTimestamp):
            node.replace(exp.Literal.string(now.strftime("%Y-%m-%d %H:%M:%S")))
        elif isinstance(node, exp.CurrentDate):
            node.replace(exp.Literal.string(now.strftime("%Y-%m-%d 00:00:00")))
        elif isinstance(node, exp.Anonymous) and str(node.name).upper() == "TRUNC":
            node.set("this", "ns_trunc")
        elif isinstance(node, exp.Div):
            numerator: exp.Expression = exp.Mul(
                this=exp.Paren(this=node.this), expression=exp.Literal.number("1.0")
            )
            node.set("this", numerator)
        elif isinstance(node, _COMPARISONS):
            _normalise_dates(node, [node.left, node.right], sources)
        elif isinstance(node, exp.Between):
            _normalise_dates(node, [node.this, node.args["low"], node.args["high"]], sources)
        elif isinstance(node, exp.In):
            _normalise_dates(node, [node.this, *node.expressions], sources)


def _normalise_dates(node: exp.Expr, operands: list[exp.Expr], sources: Sources) -> None:
    """Compare like with like, as Oracle insists: date strings become stored dates, bad mixes are refused."""
    kinds = {_column_type(operand, sources)[1] for operand in operands}
    for operand in operands:
        if not isinstance(operand, exp.Literal):
            continue
        if kinds & {"date", "datetime"}:
            if not operand.is_string:
                raise invalid_query(
                    "Search error occurred: inconsistent datatypes: expected DATE got NUMBER."
                )
            operand.replace(exp.Literal.string(parse_date_literal(operand.this)))
        elif kinds & {"int", "float"} and operand.is_string:
            try:
                float(operand.this)
            except ValueError:
                raise invalid_query(f"Search error occurred: invalid number '{operand.this}'.") from None


def parse_date_literal(text: str) -> str:
    for pattern in _DATE_INPUTS:
        try:
            parsed = datetime.strptime(text.strip(), pattern).replace(tzinfo=UTC)
            return parsed.strftime("%Y-%m-%d %H:%M:%S")
        except ValueError:
            continue
    raise invalid_query(f"Search error occurred: Invalid date value '{text}'.")


def _display(column: exp.Column, sources: Sources) -> exp.Expr:
    table, _ = _column_type(column, sources)
    name = column.name.lower()
    target = table if name in SELF_REFERENCES else REFERENCES.get(name)
    if table == "transaction" and name in ("status", "type"):
        owner = exp.column("type", table=column.table) if column.table else exp.column("type")
        function = "ns_status_df" if name == "status" else "ns_type_df"
        args = [owner, column.copy()] if name == "status" else [column.copy()]
        return exp.Anonymous(this=function, expressions=args)
    if target is None or table is None:
        return column.copy()
    shown = (
        "ns_df.entityid || ' ' || ns_df.companyname"
        if target == "customer"
        else (f"ns_df.{DISPLAY_COLUMN[target]}")
    )
    lookup: exp.Expr = sqlglot.parse_one(
        f'(SELECT {shown} FROM "{target}" AS ns_df WHERE ns_df.id = 0)',  # noqa: S608 (catalog names only)
        read="sqlite",
    )
    equality = lookup.find(exp.EQ)
    assert equality is not None
    equality.set("expression", column.copy())
    return lookup

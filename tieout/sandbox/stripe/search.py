"""Stripe's Search API: the query language and `search_result` pages for the searchable resources.

A query is up to 10 clauses `field:value` (exact, case-insensitive), `field~"sub"` (substring,
3+ characters), `field>n`, `field<n`, `field>=n`, `field<=n`, each optionally negated with `-`,
joined by spaces or `AND` (all must hold) or by `OR` (any), never both. String values are quoted;
`metadata["key"]` searches metadata; `null` matches a missing value. Results come newest first;
`next_page` is an opaque cursor. Unlike Stripe, results are not delayed: search sees writes at once.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tieout.sandbox.stripe.collection import Record
from tieout.sandbox.stripe.errors import StripeError, invalid
from tieout.sandbox.stripe.shapes import TEMPLATES
from tieout.sandbox.stripe.store import StripeStore

# resource path segment -> (object name, field -> kind); kinds: text, number, bool
SEARCHABLE: dict[str, tuple[str, dict[str, str]]] = {
    "customers": ("customer", {"created": "number", "email": "text", "name": "text", "phone": "text"}),
    "invoices": (
        "invoice",
        {
            "created": "number",
            "currency": "text",
            "customer": "text",
            "number": "text",
            "status": "text",
            "subscription": "text",
            "total": "number",
        },
    ),
    "charges": (
        "charge",
        {
            "amount": "number",
            "created": "number",
            "currency": "text",
            "customer": "text",
            "disputed": "bool",
            "refunded": "bool",
            "status": "text",
            "payment_method_details.card.last4": "text",
        },
    ),
    "payment_intents": (
        "payment_intent",
        {"amount": "number", "created": "number", "currency": "text", "customer": "text", "status": "text"},
    ),
    "prices": (
        "price",
        {"active": "bool", "currency": "text", "lookup_key": "text", "product": "text", "type": "text"},
    ),
    "products": ("product", {"active": "bool", "description": "text", "name": "text", "url": "text"}),
}

MAX_CLAUSES = 10
_CLAUSE = re.compile(
    r"""\s*(?P<neg>-)?(?P<field>metadata\[(?P<q>["'])(?P<key>[^"']+)(?P=q)\]|[a-z_][a-z0-9_.]*)
        (?P<op>>=|<=|:|~|>|<)
        (?P<value>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|-?\d+(?:\.\d+)?|null|true|false)\s*""",
    re.VERBOSE,
)
_JOINER = re.compile(r"\s*(AND|OR)\s+", re.IGNORECASE)

Matcher = Callable[[Record], bool]


@dataclass(frozen=True)
class Clause:
    negated: bool
    field: str
    metadata_key: str | None
    op: str
    value: str | float | bool | None


def _bad(message: str) -> StripeError:
    return invalid(message, param="query")


def parse_query(query: str, resource: str) -> tuple[list[Clause], str]:
    """Clauses and how they combine ("and"/"or"); raises Stripe's error for anything else."""
    fields = SEARCHABLE[resource][1]
    clauses: list[Clause] = []
    joiners: set[str] = set()
    position = 0
    while position < len(query):
        if clauses:
            joined = _JOINER.match(query, position)
            if joined is not None:
                joiners.add(joined.group(1).lower())
                position = joined.end()
            else:
                joiners.add("and")
        match = _CLAUSE.match(query, position)
        if match is None or match.end() == position:
            raise _bad(f"Invalid query: could not parse the query near position {position} of {query!r}.")
        clauses.append(_clause(match, fields, resource))
        position = match.end()
    if not clauses:
        raise _bad("Invalid query: the query is empty.")
    if len(clauses) > MAX_CLAUSES:
        raise _bad(f"Invalid query: a query can have at most {MAX_CLAUSES} clauses.")
    if len(joiners) > 1:
        raise _bad("Invalid query: you cannot combine AND and OR in the same query.")
    return clauses, joiners.pop() if joiners else "and"


def _clause(match: re.Match[str], fields: dict[str, str], resource: str) -> Clause:
    field, key, op, raw = match.group("field"), match.group("key"), match.group("op"), match.group("value")
    if key is None and field not in fields:
        raise _bad(
            f"Field `{field}` is an unsupported search field for resource `{resource}`. See "
            f"https://stripe.com/docs/search#query-fields-for-{resource.replace('_', '-')} for a list of "
            "supported fields."
        )
    kind = "text" if key is not None else fields[field]
    value: str | float | bool | None
    if raw == "null":
        value = None
    elif raw[0] in "\"'":
        value = re.sub(r"\\(.)", r"\1", raw[1:-1])
    elif raw in ("true", "false"):
        value = raw == "true"
    else:
        value = float(raw)
    if op in (">", "<", ">=", "<=") and (kind != "number" or not isinstance(value, float)):
        raise _bad(
            f"Invalid query: `{op}` needs a numeric field and a number, in `{match.group(0).strip()}`."
        )
    if kind == "number" and op == ":" and not isinstance(value, float | None):
        raise _bad(f"Invalid query: `{field}` takes a number, in `{match.group(0).strip()}`.")
    if op == "~" and (not isinstance(value, str) or len(value) < 3):
        raise _bad("Invalid query: the substring operator `~` needs a quoted value of 3 or more characters.")
    return Clause(bool(match.group("neg")), "metadata" if key else field, key, op, value)


def _value(record: Record, name: str, clause: Clause) -> Any:
    if clause.metadata_key is not None:
        return (record.get("metadata") or {}).get(clause.metadata_key)
    head, _, rest = clause.field.partition(".")
    value = record.get(head, TEMPLATES[name].get(head))
    for part in rest.split(".") if rest else []:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _holds(value: Any, clause: Clause) -> bool:
    wanted = clause.value
    if wanted is None:
        return value is None
    if value is None:
        return False
    if clause.op == "~":
        return str(wanted).lower() in str(value).lower()
    if isinstance(wanted, bool):
        return bool(value == wanted)
    if isinstance(wanted, float):
        number = float(value)
        return {
            ":": number == wanted,
            ">": number > wanted,
            "<": number < wanted,
            ">=": number >= wanted,
            "<=": number <= wanted,
        }[clause.op]
    return str(value).lower() == wanted.lower()


def matcher(query: str, resource: str) -> Matcher:
    clauses, joiner = parse_query(query, resource)
    name = SEARCHABLE[resource][0]

    def check(clause: Clause, record: Record) -> bool:
        return _holds(_value(record, name, clause), clause) != clause.negated

    if joiner == "or":
        return lambda record: any(check(clause, record) for clause in clauses)
    return lambda record: all(check(clause, record) for clause in clauses)


def _page_token(last_id: str) -> str:
    return "page_" + base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def _page_cursor(token: str) -> str:
    body = token.removeprefix("page_")
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise invalid(f"Invalid page: {token}", param="page") from None


def search(
    state: StripeStore, resource: str, query: str, *, limit: int, page: str | None, expand: list[str]
) -> dict[str, Any]:
    """One `search_result` page; `expand` may hold `total_count` and `data.`-prefixed paths."""
    name = SEARCHABLE[resource][0]
    wanted = matcher(query, resource)
    element_paths = [p.removeprefix("data.") for p in expand if p != "total_count"]
    if any(not p.startswith("data.") for p in expand if p != "total_count"):
        raise invalid("This property cannot be expanded.", param="expand")
    with state.lock:
        table = state.tables[name]
        cursor = _page_cursor(page) if page else None
        if cursor is not None and cursor not in table:
            raise invalid(f"Invalid page: {page}", param="page")
        found = table.page(limit=limit, starting_after=cursor, predicate=wanted)
        result: dict[str, Any] = {
            "object": "search_result",
            "data": [state.render_expanded(name, record, element_paths) for record in found.records],
            "has_more": found.has_more,
            "next_page": _page_token(found.records[-1]["id"]) if found.has_more else None,
            "url": f"/v1/{resource}/search",
        }
        if "total_count" in expand:
            result["total_count"] = min(10_000, sum(1 for record in table.records.values() if wanted(record)))
    return result

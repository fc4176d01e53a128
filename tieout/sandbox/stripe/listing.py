"""Stripe's list endpoints: `limit`, `starting_after`/`ending_before`, `created` ranges, the list object.

Lists are newest first. `limit` must be 1..100 (default 10). `created` is either an exact unix
time or a range `created[gt|gte|lt|lte]`. `has_more` says whether another page exists in the
direction of travel; `url` is the list's own path, which stripe-python's `auto_paging_iter()`
requests again with `starting_after` set to the last id it saw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tieout.sandbox.stripe.collection import Record
from tieout.sandbox.stripe.errors import StripeError, invalid
from tieout.sandbox.stripe.params import Params
from tieout.sandbox.stripe.store import StripeStore

LIST_PARAMS = ("limit", "starting_after", "ending_before", "created")


@dataclass(frozen=True)
class ListQuery:
    limit: int
    starting_after: str | None
    ending_before: str | None
    created_gte: int | None
    created_lte: int | None
    expand: list[str]


def parse_range(params: Params, name: str) -> tuple[int | None, int | None]:
    """`name=<t>` or `name[gt|gte|lt|lte]=<t>` as an inclusive (low, high) pair."""
    value = params.raw(name)
    if value is None:
        return None, None
    if isinstance(value, str):
        exact = params.integer(name)
        return exact, exact
    if not isinstance(value, dict):
        raise invalid(f"Invalid {name}: must be an integer or a hash of gt, gte, lt or lte", param=name)
    unknown = set(value) - {"gt", "gte", "lt", "lte"}
    if unknown:
        key = sorted(unknown)[0]
        raise StripeError(
            f"Received unknown parameter: {name}[{key}]", code="parameter_unknown", param=f"{name}[{key}]"
        )
    bounds = Params(value, ("gt", "gte", "lt", "lte"))
    low = high = None
    for key, shift in (("gt", 1), ("gte", 0)):
        number = _bound(bounds, name, key)
        if number is not None:
            low = number + shift if low is None else max(low, number + shift)
    for key, shift in (("lt", -1), ("lte", 0)):
        number = _bound(bounds, name, key)
        if number is not None:
            high = number + shift if high is None else min(high, number + shift)
    return low, high


def _bound(bounds: Params, name: str, key: str) -> int | None:
    try:
        return bounds.integer(key)
    except StripeError as exc:
        exc.param = f"{name}[{key}]"
        raise


def parse_list(params: Params) -> ListQuery:
    limit = params.integer("limit")
    if limit is None:
        limit = 10
    if not 1 <= limit <= 100:
        raise invalid(
            f"Invalid limit: must be at least 1 and at most 100 (you passed {limit}).", param="limit"
        )
    starting_after = params.text("starting_after") or None
    ending_before = params.text("ending_before") or None
    if starting_after and ending_before:
        raise invalid(
            "You may only specify one of these parameters: ending_before, starting_after.",
            param="ending_before",
        )
    low, high = parse_range(params, "created")
    return ListQuery(limit, starting_after, ending_before, low, high, params.expand())


def list_objects(
    state: StripeStore,
    name: str,
    url: str,
    query: ListQuery,
    *,
    index: tuple[str, str] | None = None,
    predicate: Callable[[Record], bool] | None = None,
) -> dict[str, Any]:
    """One page of `name` records as Stripe's list object, with `data.`-prefixed expansions applied."""
    element_paths = []
    for path in query.expand:
        if not path.startswith("data."):
            raise invalid(f"This property cannot be expanded ({path}).", param="expand")
        element_paths.append(path.removeprefix("data."))
    with state.lock:
        table = state.tables[name]
        for param, cursor in (
            ("starting_after", query.starting_after),
            ("ending_before", query.ending_before),
        ):
            if cursor is not None and cursor not in table:
                raise StripeError(
                    f"No such {name}: '{cursor}'", status=400, code="resource_missing", param=param
                )
        page = table.page(
            limit=query.limit,
            starting_after=query.starting_after,
            ending_before=query.ending_before,
            created_gte=query.created_gte,
            created_lte=query.created_lte,
            index=index,
            predicate=predicate,
        )
        data = [state.render_expanded(name, record, element_paths) for record in page.records]
    return {"object": "list", "data": data, "has_more": page.has_more, "url": url}

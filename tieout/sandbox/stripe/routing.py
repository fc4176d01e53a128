"""The route table's building blocks: the request a handler sees, path matching, shared helpers."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tieout.sandbox.stripe.errors import StripeError
from tieout.sandbox.stripe.params import Params
from tieout.sandbox.stripe.state import StripeState


@dataclass
class ApiRequest:
    method: str
    path: str
    values: dict[str, Any]
    path_args: dict[str, str] = field(default_factory=dict)

    def params(self, *allowed: str) -> Params:
        return Params(self.values, allowed)

    def arg(self, name: str = "id") -> str:
        return self.path_args[name]


Handler = Callable[[StripeState, ApiRequest], dict[str, Any]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


class RouteTable:
    """Routes registered with `@table.get("/v1/customers/{id}")` and friends."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def _add(self, method: str, template: str) -> Callable[[Handler], Handler]:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)

        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, re.compile(f"^{regex}$"), handler))
            return handler

        return register

    def get(self, template: str) -> Callable[[Handler], Handler]:
        return self._add("GET", template)

    def post(self, template: str) -> Callable[[Handler], Handler]:
        return self._add("POST", template)

    def delete(self, template: str) -> Callable[[Handler], Handler]:
        return self._add("DELETE", template)

    def extend(self, other: RouteTable) -> None:
        self.routes.extend(other.routes)

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
        for route in self.routes:
            if route.method != method:
                continue
            found = route.pattern.match(path)
            if found is not None:
                return route.handler, found.groupdict()
        return None


def retrieve(state: StripeState, name: str, object_id: str, expand: list[str]) -> dict[str, Any]:
    """GET one object; deleted customers/products/items answer `{"deleted": true}` as Stripe does."""
    with state.lock:
        record = state.tables[name].get(object_id)
        if record is None:
            if state.deleted.get(object_id) == name:
                return {"id": object_id, "object": name, "deleted": True}
            record = state.find(name, object_id)
        return state.render_expanded(name, record, expand)


FieldKind = str  # "text", "nullable", "integer", "boolean", "metadata", "raw"


def changes_from(params: Params, fields: dict[str, FieldKind]) -> dict[str, Any]:
    """The fields an update request sets, typed; `metadata` stays raw for merging downstream."""
    changes: dict[str, Any] = {}
    for name, kind in fields.items():
        if name not in params:
            continue
        if kind == "text":
            changes[name] = params.text(name, required=True)
        elif kind == "nullable":
            changes[name] = params.nullable_str(name)
        elif kind == "integer":
            changes[name] = params.integer(name)
        elif kind == "boolean":
            changes[name] = params.boolean(name)
        elif kind in ("metadata", "raw"):
            changes[name] = params.raw(name)
        else:
            raise StripeError(f"Unsupported field kind {kind}", status=500, error_type="api_error")
    return changes


def expanded(state: StripeState, name: str, result: dict[str, Any], expand: list[str]) -> dict[str, Any]:
    """Apply `expand[]` to an object a state method returned."""
    if not expand:
        return result
    with state.lock:
        return state.expand(name, result, expand)

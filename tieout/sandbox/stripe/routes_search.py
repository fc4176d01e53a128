"""HTTP routes for the Search API: `GET /v1/<resource>/search` for every searchable resource.

Registered ahead of the retrieve routes, so `/v1/customers/search` is not read as a customer id.
"""

from __future__ import annotations

from typing import Any

from tieout.sandbox.stripe.errors import invalid
from tieout.sandbox.stripe.routing import ApiRequest, RouteTable
from tieout.sandbox.stripe.search import SEARCHABLE, search
from tieout.sandbox.stripe.state import StripeState

routes = RouteTable()


def _search_route(resource: str) -> None:
    @routes.get(f"/v1/{resource}/search")
    def search_resource(state: StripeState, req: ApiRequest) -> dict[str, Any]:
        p = req.params("query", "limit", "page")
        query = p.text("query", required=True) or ""
        limit = p.integer("limit")
        if limit is not None and not 1 <= limit <= 100:
            raise invalid(
                f"Invalid limit: must be at least 1 and at most 100 (you passed {limit}).", param="limit"
            )
        return search(
            state, resource, query, limit=limit or 10, page=p.text("page") or None, expand=p.expand()
        )


for _resource in SEARCHABLE:
    _search_route(_resource)

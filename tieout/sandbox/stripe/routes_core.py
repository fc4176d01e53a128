"""HTTP routes for customers, customer balance transactions, products, prices, events, webhook
endpoints and the balance."""

from __future__ import annotations

import fnmatch
from typing import Any

from tieout.sandbox.stripe.errors import invalid, missing
from tieout.sandbox.stripe.listing import LIST_PARAMS, list_objects, parse_list
from tieout.sandbox.stripe.routing import ApiRequest, RouteTable, changes_from, expanded, retrieve
from tieout.sandbox.stripe.state import StripeState

routes = RouteTable()

_CUSTOMER_FIELDS = {
    "email": "nullable",
    "name": "nullable",
    "description": "nullable",
    "phone": "nullable",
    "balance": "integer",
    "tax_exempt": "text",
    "invoice_prefix": "text",
    "metadata": "metadata",
    "preferred_locales": "raw",
}


# -- customers ----------------------------------------------------------------------------------


@routes.post("/v1/customers")
def create_customer(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(*_CUSTOMER_FIELDS, "currency")
    p.enum("tax_exempt", ("none", "exempt", "reverse"))
    customer = state.create_customer(
        email=p.nullable_str("email"),
        name=p.nullable_str("name"),
        description=p.nullable_str("description"),
        phone=p.nullable_str("phone"),
        currency=p.currency(),
        balance=p.integer("balance") or 0,
        tax_exempt=p.text("tax_exempt") or "none",
        invoice_prefix=p.text("invoice_prefix"),
        preferred_locales=p.array("preferred_locales"),
        metadata=p.mapping("metadata"),
    )
    return expanded(state, "customer", customer, p.expand())


@routes.get("/v1/customers")
def list_customers(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(*LIST_PARAMS, "email", "test_clock")
    email = p.text("email")
    return list_objects(
        state,
        "customer",
        "/v1/customers",
        parse_list(p),
        predicate=None if email is None else (lambda r: r["email"] == email),
    )


@routes.get("/v1/customers/{id}")
def get_customer(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    return retrieve(state, "customer", req.arg(), req.params().expand())


@routes.post("/v1/customers/{id}")
def update_customer(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(*_CUSTOMER_FIELDS)
    p.enum("tax_exempt", ("none", "exempt", "reverse"))
    return expanded(
        state, "customer", state.update_customer(req.arg(), changes_from(p, _CUSTOMER_FIELDS)), p.expand()
    )


@routes.delete("/v1/customers/{id}")
def delete_customer(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    req.params()
    return state.delete_customer(req.arg())


@routes.post("/v1/customers/{id}/balance_transactions")
def create_balance_adjustment(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params("amount", "currency", "description", "metadata")
    return state.adjust_customer_balance(
        req.arg(),
        p.integer("amount", required=True) or 0,
        p.currency(required=True) or "",
        description=p.nullable_str("description"),
        metadata=p.mapping("metadata"),
    )


@routes.get("/v1/customers/{id}/balance_transactions")
def list_balance_adjustments(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(*LIST_PARAMS)
    customer_id = req.arg()
    with state.lock:
        state.find("customer", customer_id)
    return list_objects(
        state,
        "customer_balance_transaction",
        f"/v1/customers/{customer_id}/balance_transactions",
        parse_list(p),
        index=("customer", customer_id),
    )


@routes.get("/v1/customers/{id}/balance_transactions/{txn}")
def get_balance_adjustment(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    result = retrieve(state, "customer_balance_transaction", req.arg("txn"), req.params().expand())
    if result.get("customer") != req.arg():
        raise missing("customer_balance_transaction", req.arg("txn"))
    return result


# -- products and prices ------------------------------------------------------------------------

_PRODUCT_FIELDS = {
    "name": "text",
    "description": "nullable",
    "active": "boolean",
    "unit_label": "nullable",
    "metadata": "metadata",
    "default_price": "nullable",
}
_PRICE_FIELDS = {
    "active": "boolean",
    "nickname": "nullable",
    "lookup_key": "nullable",
    "metadata": "metadata",
}


@routes.post("/v1/products")
def create_product(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params("name", "description", "active", "unit_label", "metadata")
    product = state.create_product(
        p.text("name", required=True) or "",
        description=p.nullable_str("description"),
        active=p.boolean("active") is not False,
        unit_label=p.nullable_str("unit_label"),
        metadata=p.mapping("metadata"),
    )
    return expanded(state, "product", product, p.expand())


@routes.get("/v1/products")
def list_products(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(*LIST_PARAMS, "active", "ids", "shippable", "url")
    active = p.boolean("active")
    ids = p.array("ids")
    return list_objects(
        state,
        "product",
        "/v1/products",
        parse_list(p),
        predicate=lambda r: (active is None or r["active"] == active) and (ids is None or r["id"] in ids),
    )


@routes.get("/v1/products/{id}")
def get_product(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    return retrieve(state, "product", req.arg(), req.params().expand())


@routes.post("/v1/products/{id}")
def update_product(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(*_PRODUCT_FIELDS)
    return expanded(
        state, "product", state.update_product(req.arg(), changes_from(p, _PRODUCT_FIELDS)), p.expand()
    )


@routes.post("/v1/prices")
def create_price(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(
        "product", "currency", "unit_amount", "recurring", "nickname", "lookup_key", "active", "metadata"
    )
    recurring = p.mapping("recurring") or {}
    interval_count = recurring.get("interval_count")
    price = state.create_price(
        p.text("product", required=True) or "",
        p.currency(required=True) or "",
        p.integer("unit_amount", required=True) or 0,
        recurring_interval=recurring.get("interval"),
        recurring_interval_count=int(interval_count) if interval_count else 1,
        nickname=p.nullable_str("nickname"),
        lookup_key=p.nullable_str("lookup_key"),
        active=p.boolean("active") is not False,
        metadata=p.mapping("metadata"),
    )
    return expanded(state, "price", price, p.expand())


@routes.get("/v1/prices")
def list_prices(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(*LIST_PARAMS, "active", "currency", "lookup_keys", "product", "recurring", "type")
    active, currency, product = p.boolean("active"), p.currency(), p.text("product")
    price_type = p.enum("type", ("one_time", "recurring"))
    lookup_keys = p.array("lookup_keys")
    return list_objects(
        state,
        "price",
        "/v1/prices",
        parse_list(p),
        index=None if product is None else ("product", product),
        predicate=lambda r: (
            (active is None or r["active"] == active)
            and (currency is None or r["currency"] == currency)
            and (price_type is None or r["type"] == price_type)
            and (lookup_keys is None or r["lookup_key"] in lookup_keys)
        ),
    )


@routes.get("/v1/prices/{id}")
def get_price(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    return retrieve(state, "price", req.arg(), req.params().expand())


@routes.post("/v1/prices/{id}")
def update_price(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(*_PRICE_FIELDS)
    return expanded(state, "price", state.update_price(req.arg(), changes_from(p, _PRICE_FIELDS)), p.expand())


# -- tax rates ----------------------------------------------------------------------------------

_TAX_RATE_FIELDS = {
    "active": "boolean",
    "display_name": "text",
    "description": "nullable",
    "country": "nullable",
    "state": "nullable",
    "jurisdiction": "nullable",
    "tax_type": "nullable",
    "metadata": "metadata",
}


@routes.post("/v1/tax_rates")
def create_tax_rate(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(*_TAX_RATE_FIELDS, "percentage", "inclusive")
    raw_percentage = p.text("percentage", required=True) or ""
    try:
        percentage = float(raw_percentage)
    except ValueError:
        raise invalid(f"Invalid decimal: {raw_percentage}", param="percentage") from None
    inclusive = p.boolean("inclusive")
    if inclusive is None:
        raise invalid("Missing required param: inclusive.", param="inclusive", code="parameter_missing")
    rate = state.create_tax_rate(
        p.text("display_name", required=True) or "",
        int(percentage) if percentage.is_integer() else percentage,
        inclusive=inclusive,
        country=p.nullable_str("country"),
        state=p.nullable_str("state"),
        jurisdiction=p.nullable_str("jurisdiction"),
        tax_type=p.nullable_str("tax_type"),
        description=p.nullable_str("description"),
        active=p.boolean("active") is not False,
        metadata=p.mapping("metadata"),
    )
    return expanded(state, "tax_rate", rate, p.expand())


@routes.get("/v1/tax_rates")
def list_tax_rates(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(*LIST_PARAMS, "active", "inclusive")
    active, inclusive = p.boolean("active"), p.boolean("inclusive")
    return list_objects(
        state,
        "tax_rate",
        "/v1/tax_rates",
        parse_list(p),
        predicate=lambda r: (
            (active is None or r["active"] == active) and (inclusive is None or r["inclusive"] == inclusive)
        ),
    )


@routes.get("/v1/tax_rates/{id}")
def get_tax_rate(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    return retrieve(state, "tax_rate", req.arg(), req.params().expand())


@routes.post("/v1/tax_rates/{id}")
def update_tax_rate(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(*_TAX_RATE_FIELDS)
    return expanded(
        state, "tax_rate", state.update_tax_rate(req.arg(), changes_from(p, _TAX_RATE_FIELDS)), p.expand()
    )


# -- events, webhook endpoints, balance ----------------------------------------------------------


@routes.get("/v1/events")
def list_events(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(*LIST_PARAMS, "type", "types", "delivery_success")
    event_type = p.text("type")
    types = p.array("types")
    if event_type is not None and types is not None:
        raise invalid("You may only specify one of these parameters: type, types.", param="types")
    if types is not None and len(types) > 20:
        raise invalid("You may pass at most 20 types.", param="types")
    delivery_success = p.boolean("delivery_success")
    query = parse_list(p)
    with state.lock:
        state.purge_expired_events()

    def wanted(event: dict[str, Any]) -> bool:
        if event_type is not None and not fnmatch.fnmatchcase(event["type"], event_type):
            return False
        if types is not None and event["type"] not in types:
            return False
        return delivery_success is None or (event["pending_webhooks"] == 0) == delivery_success

    return list_objects(state, "event", "/v1/events", query, predicate=wanted)


@routes.get("/v1/events/{id}")
def get_event(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    with state.lock:
        state.purge_expired_events()
    return retrieve(state, "event", req.arg(), req.params().expand())


_ENDPOINT_FIELDS = {
    "url": "text",
    "enabled_events": "raw",
    "description": "nullable",
    "metadata": "metadata",
    "disabled": "boolean",
}


@routes.post("/v1/webhook_endpoints")
def create_webhook_endpoint(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params("url", "enabled_events", "description", "metadata", "api_version", "connect")
    events = p.array("enabled_events")
    if not events:
        raise invalid(
            "Missing required param: enabled_events.", param="enabled_events", code="parameter_missing"
        )
    return state.create_webhook_endpoint(
        p.text("url", required=True) or "",
        enabled_events=[str(e) for e in events],
        description=p.nullable_str("description"),
        metadata=p.mapping("metadata"),
    )


@routes.get("/v1/webhook_endpoints")
def list_webhook_endpoints(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    return list_objects(
        state, "webhook_endpoint", "/v1/webhook_endpoints", parse_list(req.params(*LIST_PARAMS))
    )


@routes.get("/v1/webhook_endpoints/{id}")
def get_webhook_endpoint(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    return retrieve(state, "webhook_endpoint", req.arg(), req.params().expand())


@routes.post("/v1/webhook_endpoints/{id}")
def update_webhook_endpoint(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(*_ENDPOINT_FIELDS)
    return state.update_webhook_endpoint(req.arg(), changes_from(p, _ENDPOINT_FIELDS))


@routes.delete("/v1/webhook_endpoints/{id}")
def delete_webhook_endpoint(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    req.params()
    return state.delete_webhook_endpoint(req.arg())


@routes.get("/v1/account")
def get_account(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    req.params()
    return state.account()


@routes.get("/v1/balance")
def get_balance(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    req.params()
    return state.balance()

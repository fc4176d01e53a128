"""The Metronome emulator's HTTP endpoints: paths, methods and parameters as metronome-sdk sends them.

Each handler reads the request the way the SDK writes it (path and query parameters for GETs,
JSON bodies for POSTs, `limit`/`next_page` in the query string of POST list endpoints), calls
the state, and answers in the SDK's response shapes.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tieout.sandbox.metronome.invoice_lines import without_zero_quantity
from tieout.sandbox.metronome.plumbing import (
    Handler,
    data,
    empty,
    endpoint,
    json_any,
    json_body,
    offset_page,
    page,
    query_bool,
    query_list,
    required,
)
from tieout.sandbox.metronome.state import MetronomeState
from tieout.sandbox.metronome.wire import bad_request, decode_cursor, encode_cursor, page_limit, parse_time

CUSTOMER_SHAPE = ("id", "external_id", "ingest_aliases", "name", "custom_fields")


def _customer(record: dict[str, object]) -> dict[str, object]:
    return {key: record[key] for key in CUSTOMER_SHAPE}


async def create_customer(state: MetronomeState, request: Request) -> Response:
    body = await json_body(request)
    record = state.create_customer(
        body.get("name"),  # type: ignore[arg-type]
        ingest_aliases=body.get("ingest_aliases"),
        external_id=body.get("external_id"),
        custom_fields=body.get("custom_fields"),
        billing_provider_configurations=body.get("customer_billing_provider_configurations"),
        revenue_system_configurations=body.get("customer_revenue_system_configurations"),
        billing_config=body.get("billing_config"),
    )
    return data(_customer(record))


async def list_customers(state: MetronomeState, request: Request) -> Response:
    query = request.query_params
    rows, cursor = state.list_customers(
        limit=page_limit(query.get("limit")),
        next_page=query.get("next_page"),
        customer_ids=query_list(request, "customer_ids"),
        ingest_alias=query.get("ingest_alias"),
        only_archived=query_bool(request, "only_archived"),
        salesforce_account_ids=query_list(request, "salesforce_account_ids"),
    )
    return page(rows, cursor)


async def get_customer(state: MetronomeState, request: Request) -> Response:
    return data(state.get_customer(request.path_params["customer_id"]))


async def archive_customer(state: MetronomeState, request: Request) -> Response:
    body = await json_body(request)
    return data({"id": state.archive_customer(required(body, "id"))["id"]})


async def set_ingest_aliases(state: MetronomeState, request: Request) -> Response:
    body = await json_body(request)
    state.set_ingest_aliases(request.path_params["customer_id"], required(body, "ingest_aliases"))
    return empty()


async def set_name(state: MetronomeState, request: Request) -> Response:
    body = await json_body(request)
    return data(
        _customer(state.set_customer_name(request.path_params["customer_id"], required(body, "name")))
    )


async def update_config(state: MetronomeState, request: Request) -> Response:
    body = await json_body(request)
    state.update_customer_config(
        request.path_params["customer_id"], salesforce_account_id=body.get("salesforce_account_id")
    )
    return empty()


async def billing_configurations(state: MetronomeState, request: Request) -> Response:
    body = await json_body(request)
    configs = state.customer_billing_configurations(
        required(body, "customer_id"), include_archived=bool(body.get("include_archived"))
    )
    return data(configs)


async def customer_billable_metrics(state: MetronomeState, request: Request) -> Response:
    rows = state.customer_billable_metrics(
        request.path_params["customer_id"],
        on_current_plan=query_bool(request, "on_current_plan"),
        include_archived=query_bool(request, "include_archived"),
    )
    return page(*offset_page(rows, request))


async def list_invoices(state: MetronomeState, request: Request) -> Response:
    query = request.query_params
    rows, cursor = state.list_invoices(
        request.path_params["customer_id"],
        limit=page_limit(query.get("limit")),
        next_page=query.get("next_page"),
        status=query.get("status"),
        type=query.get("type"),
        contract_id=query.get("contract_id"),
        credit_type_id=query.get("credit_type_id"),
        starting_on=query.get("starting_on"),
        ending_before=query.get("ending_before"),
        sort=query.get("sort", "date_asc"),
    )
    if query_bool(request, "skip_zero_qty_line_items"):
        rows = [without_zero_quantity(row) for row in rows]
    return page(rows, cursor)


async def list_audit_logs(state: MetronomeState, request: Request) -> Response:
    query = request.query_params
    starting_on, ending_before = query.get("starting_on"), query.get("ending_before")
    rows, cursor = state.audit_log.page(
        limit=page_limit(query.get("limit")),
        starting_on=parse_time(starting_on, "starting_on") if starting_on else None,
        ending_before=parse_time(ending_before, "ending_before") if ending_before else None,
        sort=query.get("sort", "date_asc"),
        next_page=query.get("next_page"),
        resource_type=query.get("resource_type"),
        resource_id=query.get("resource_id"),
    )
    return page(rows, cursor)


async def get_invoice(state: MetronomeState, request: Request) -> Response:
    with state.lock:
        record = state.invoice_record(request.path_params["invoice_id"], request.path_params["customer_id"])
    if query_bool(request, "skip_zero_qty_line_items"):
        record = without_zero_quantity(record)
    return data(record)


async def void_invoice(state: MetronomeState, request: Request) -> Response:
    body = await json_body(request)
    return data({"id": state.void_invoice(required(body, "id"))["id"]})


async def create_billable_metric(state: MetronomeState, request: Request) -> Response:
    body = await json_body(request)
    record = state.create_billable_metric(
        required(body, "name"),
        aggregation_type=body.get("aggregation_type"),
        aggregation_key=body.get("aggregation_key"),
        event_type_filter=body.get("event_type_filter"),
        property_filters=body.get("property_filters"),
        group_keys=body.get("group_keys"),
        custom_fields=body.get("custom_fields"),
        sql=body.get("sql"),
    )
    return data({"id": record["id"]})


async def get_billable_metric(state: MetronomeState, request: Request) -> Response:
    return data(state.get_billable_metric(request.path_params["billable_metric_id"]))


async def list_billable_metrics(state: MetronomeState, request: Request) -> Response:
    include_archived = query_bool(request, "include_archived")
    with state.lock:
        rows = [state.metrics[m] for m in state.metric_order]
    rows = [row for row in rows if include_archived or "archived_at" not in row]
    return page(*offset_page(rows, request))


async def archive_billable_metric(state: MetronomeState, request: Request) -> Response:
    body = await json_body(request)
    return data({"id": state.archive_billable_metric(required(body, "id"))["id"]})


async def create_product(state: MetronomeState, request: Request) -> Response:
    body = await json_body(request)
    name, kind = body.pop("name", None), body.pop("type", None)
    return data({"id": state.create_product(name, kind, **body)["id"]})


async def get_product(state: MetronomeState, request: Request) -> Response:
    body = await json_body(request)
    with state.lock:
        return data(state.product_view(state.product_record(required(body, "id"))))


async def update_product(state: MetronomeState, request: Request) -> Response:
    body = await json_body(request)
    product_id, starting_at = required(body, "product_id"), required(body, "starting_at")
    for key in ("product_id", "starting_at"):
        body.pop(key)
    return data({"id": state.update_product(product_id, starting_at, **body)["id"]})


async def list_products(state: MetronomeState, request: Request) -> Response:
    archive_filter = (await json_body(request)).get("archive_filter", "NOT_ARCHIVED")
    if archive_filter not in {"ARCHIVED", "NOT_ARCHIVED", "ALL"}:
        raise bad_request("archive_filter must be ARCHIVED, NOT_ARCHIVED or ALL")
    with state.lock:
        rows = [state.product_view(state.products[p]) for p in state.product_order]
    if archive_filter != "ALL":
        rows = [row for row in rows if ("archived_at" in row) == (archive_filter == "ARCHIVED")]
    return page(*offset_page(rows, request))


async def archive_product(state: MetronomeState, request: Request) -> Response:
    body = await json_body(request)
    return data({"id": state.archive_product(required(body, "product_id"))["id"]})


async def create_rate_card(state: MetronomeState, request: Request) -> Response:
    body = await json_body(request)
    record = state.create_rate_card(
        required(body, "name"),
        description=body.get("description"),
        fiat_credit_type_id=body.get("fiat_credit_type_id"),
        aliases=body.get("aliases"),
        credit_type_conversions=body.get("credit_type_conversions"),
        custom_fields=body.get("custom_fields"),
    )
    return data({"id": record["id"]})


async def get_rate_card(state: MetronomeState, request: Request) -> Response:
    body = await json_body(request)
    with state.lock:
        return data(state.rate_card_record(required(body, "id")))


async def list_rate_cards(state: MetronomeState, request: Request) -> Response:
    with state.lock:
        rows = [state.rate_cards[r] for r in state.rate_card_order]
    # The list shape has no archived_at, so archived rate cards are left out of it.
    return page(*offset_page([row for row in rows if "archived_at" not in row], request))


async def archive_rate_card(state: MetronomeState, request: Request) -> Response:
    body = await json_body(request)
    return data({"id": state.archive_rate_card(required(body, "id"))["id"]})


async def add_rate(state: MetronomeState, request: Request) -> Response:
    body = await json_body(request)
    rate_card_id = required(body, "rate_card_id")
    body.pop("rate_card_id")
    return data(state.add_rate(rate_card_id, **body))


async def add_rates(state: MetronomeState, request: Request) -> Response:
    body = await json_body(request)
    rate_card_id = required(body, "rate_card_id")
    state.add_rates(rate_card_id, required(body, "rates"))
    return data({"id": rate_card_id})


async def get_rates(state: MetronomeState, request: Request) -> Response:
    body = await json_body(request)
    at = parse_time(required(body, "at"), "at")
    rows = state.rates_at(required(body, "rate_card_id"), at, body.get("selectors"))
    return page(*offset_page(rows, request))


async def create_contract(state: MetronomeState, request: Request) -> Response:
    body = await json_body(request)
    customer_id, starting_at = required(body, "customer_id"), required(body, "starting_at")
    for key in ("customer_id", "starting_at"):
        body.pop(key)
    record = state.create_contract(customer_id, starting_at, **body)
    return data({"id": record["id"], "contract": record})


async def archive_contract(state: MetronomeState, request: Request) -> Response:
    body = await json_body(request)
    void_invoices = body.get("void_invoices")
    if not isinstance(void_invoices, bool):
        raise bad_request("void_invoices is required")
    record = state.archive_contract(
        required(body, "customer_id"), required(body, "contract_id"), void_invoices=void_invoices
    )
    return data({"id": record["id"]})


async def get_contract(state: MetronomeState, request: Request) -> Response:
    body = await json_body(request)
    record = state.get_contract(
        required(body, "customer_id"),
        required(body, "contract_id"),
        include_balance=bool(body.get("include_balance")),
        include_ledgers=bool(body.get("include_ledgers")),
    )
    return data(record)


async def list_contracts(state: MetronomeState, request: Request) -> Response:
    body = await json_body(request)
    covering, starting = body.get("covering_date"), body.get("starting_at")
    rows = state.list_contracts(
        required(body, "customer_id"),
        covering_date=parse_time(covering, "covering_date") if covering else None,
        starting_at=parse_time(starting, "starting_at") if starting else None,
        include_archived=bool(body.get("include_archived")),
        include_balance=bool(body.get("include_balance")),
        include_ledgers=bool(body.get("include_ledgers")),
    )
    limit = page_limit(body.get("limit"), default=20, maximum=20)
    start = int(decode_cursor(body["cursor"])["offset"]) if body.get("cursor") else 0
    end = start + limit
    cursor = encode_cursor({"offset": end}) if end < len(rows) else None
    return JSONResponse({"data": rows[start:end], "cursor": cursor})


async def ingest(state: MetronomeState, request: Request) -> Response:
    state.ingest(await json_any(request))
    return empty()


async def usage(state: MetronomeState, request: Request) -> Response:
    body = await json_body(request)
    rows = state.usage_batch(
        starting_on=required(body, "starting_on"),
        ending_before=required(body, "ending_before"),
        window_size=required(body, "window_size"),
        customer_ids=body.get("customer_ids"),
        billable_metrics=body.get("billable_metrics"),
    )
    return page(*offset_page(rows, request))


async def usage_groups(state: MetronomeState, request: Request) -> Response:
    body = await json_body(request)
    rows = state.usage_groups(
        customer_id=required(body, "customer_id"),
        billable_metric_id=required(body, "billable_metric_id"),
        window_size=required(body, "window_size"),
        starting_on=body.get("starting_on"),
        ending_before=body.get("ending_before"),
        current_period=bool(body.get("current_period")),
        group_key=body.get("group_key"),
        group_filters=body.get("group_filters"),
        group_by=body.get("group_by"),
    )
    return page(*offset_page(rows, request))


ROUTES: list[tuple[str, str, Handler]] = [
    ("/v1/customers", "POST", create_customer),
    ("/v1/customers", "GET", list_customers),
    ("/v1/customers/archive", "POST", archive_customer),
    ("/v1/customers/{customer_id}", "GET", get_customer),
    ("/v1/customers/{customer_id}/setIngestAliases", "POST", set_ingest_aliases),
    ("/v1/customers/{customer_id}/setName", "POST", set_name),
    ("/v1/customers/{customer_id}/updateConfig", "POST", update_config),
    ("/v1/customers/{customer_id}/billable-metrics", "GET", customer_billable_metrics),
    ("/v1/customers/{customer_id}/invoices", "GET", list_invoices),
    ("/v1/customers/{customer_id}/invoices/{invoice_id}", "GET", get_invoice),
    ("/v1/getCustomerBillingProviderConfigurations", "POST", billing_configurations),
    ("/v1/invoices/void", "POST", void_invoice),
    ("/v1/auditLogs", "GET", list_audit_logs),
    ("/v1/billable-metrics/create", "POST", create_billable_metric),
    ("/v1/billable-metrics/archive", "POST", archive_billable_metric),
    ("/v1/billable-metrics", "GET", list_billable_metrics),
    ("/v1/billable-metrics/{billable_metric_id}", "GET", get_billable_metric),
    ("/v1/contract-pricing/products/create", "POST", create_product),
    ("/v1/contract-pricing/products/get", "POST", get_product),
    ("/v1/contract-pricing/products/update", "POST", update_product),
    ("/v1/contract-pricing/products/list", "POST", list_products),
    ("/v1/contract-pricing/products/archive", "POST", archive_product),
    ("/v1/contract-pricing/rate-cards/create", "POST", create_rate_card),
    ("/v1/contract-pricing/rate-cards/get", "POST", get_rate_card),
    ("/v1/contract-pricing/rate-cards/list", "POST", list_rate_cards),
    ("/v1/contract-pricing/rate-cards/archive", "POST", archive_rate_card),
    ("/v1/contract-pricing/rate-cards/addRate", "POST", add_rate),
    ("/v1/contract-pricing/rate-cards/addRates", "POST", add_rates),
    ("/v1/contract-pricing/rate-cards/getRates", "POST", get_rates),
    ("/v1/contracts/create", "POST", create_contract),
    ("/v1/contracts/archive", "POST", archive_contract),
    ("/v2/contracts/get", "POST", get_contract),
    ("/v2/contracts/list", "POST", list_contracts),
    ("/v1/ingest", "POST", ingest),
    ("/v1/usage", "POST", usage),
    ("/v1/usage/groups", "POST", usage_groups),
]


def routes(state: MetronomeState) -> list[Route]:
    return [Route(path, endpoint(state, handler), methods=[method]) for path, method, handler in ROUTES]

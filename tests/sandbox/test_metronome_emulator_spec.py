"""The Metronome emulator's responses checked against Metronome's official OpenAPI fragments.

Each page in the shared specs holds one operation's self-contained OpenAPI 3.0.1 fragment; the
emulator's raw JSON answer to that operation must validate against it (required fields,
nullability, enums, formats), independently of the SDK's models.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from shared_specs import SPECS as SHARED_SPECS

sys.path.append(str(Path(__file__).resolve().parent))
from metronome_emulator_fixtures import NOW, World, seed_price_book, unique, world

__all__ = ["world"]

SPECS = SHARED_SPECS / "metronome" / "official"
HOST = "https://api.metronome.com"


def fragment(page: str) -> OpenAPI:
    text = (SPECS / page).read_text()
    match = re.search(r"````yaml [^\n]*\n(.*?)\n````", text, re.S)
    assert match is not None, page
    return OpenAPI.from_dict(yaml.safe_load(match.group(1)))


@pytest.fixture(scope="module")
def raw(world: World) -> Any:
    client = httpx.Client(
        base_url=world.server.base_url, headers={"Authorization": "Bearer sandbox-metronome-token"}
    )
    yield client
    client.close()


def check(
    page: str, method: str, path: str, pattern: str, response: httpx.Response, body: Any = None
) -> None:
    assert response.status_code == 200, response.text
    request = MockRequest(
        HOST,
        method,
        path,
        path_pattern=pattern,
        args=dict(response.request.url.params),
        data=json.dumps(body).encode() if body is not None else None,
    )
    fragment(page).validate_response(request, MockResponse(response.content, status_code=200))


def test_customer_endpoints_match_the_official_spec(world: World, raw: httpx.Client) -> None:
    created_body = {
        "name": "Spec, Inc.",
        "ingest_aliases": [unique("spec")],
        "custom_fields": {"x_account_id": "KyVn"},
    }
    created = raw.post("/v1/customers", json=created_body)
    check("create-customer.md", "post", "/v1/customers", "/v1/customers", created, created_body)
    customer_id = created.json()["data"]["id"]
    path = f"/v1/customers/{customer_id}"
    check("get-customer.md", "get", path, "/v1/customers/{customer_id}", raw.get(path))
    check(
        "list-customers.md",
        "get",
        "/v1/customers",
        "/v1/customers",
        raw.get("/v1/customers", params={"limit": 3}),
    )


def test_price_book_endpoints_match_the_official_spec(world: World, raw: httpx.Client) -> None:
    ids = seed_price_book(world.state)
    customer = world.state.create_customer("Spec price book")
    world.state.create_contract(customer["id"], "2025-01-01T00:00:00Z", rate_card_id=ids["rate_card"])
    metrics = f"/v1/customers/{customer['id']}/billable-metrics"
    check(
        "list-billable-metrics.md",
        "get",
        metrics,
        "/v1/customers/{customer_id}/billable-metrics",
        raw.get(metrics),
    )

    product_body = {"name": "Spec product", "type": "FIXED", "netsuite_internal_item_id": "NS-1"}
    created = raw.post("/v1/contract-pricing/products/create", json=product_body)
    check("create-product.md", "post", "/v1/contract-pricing/products/create", None, created, product_body)
    get_body = {"id": created.json()["data"]["id"]}
    product = raw.post("/v1/contract-pricing/products/get", json=get_body)
    check("get-product.md", "post", "/v1/contract-pricing/products/get", None, product, get_body)

    card_body = {"id": ids["rate_card"]}
    card = raw.post("/v1/contract-pricing/rate-cards/get", json=card_body)
    check("get-rate-card.md", "post", "/v1/contract-pricing/rate-cards/get", None, card, card_body)
    cards = raw.post("/v1/contract-pricing/rate-cards/list", json={})
    check("list-rate-cards.md", "post", "/v1/contract-pricing/rate-cards/list", None, cards, {})


def test_contract_endpoints_match_the_official_spec(world: World, raw: httpx.Client) -> None:
    ids = seed_price_book(world.state)
    customer = world.state.create_customer("Spec contracts")
    body = {
        "customer_id": customer["id"],
        "starting_at": "2025-01-01T00:00:00Z",
        "rate_card_id": ids["rate_card"],
        "uniqueness_key": unique("spec"),
        "overrides": [{"starting_at": "2025-01-01T00:00:00Z", "product_id": ids["usage"], "multiplier": 0.8}],
        "commits": [
            {
                "product_id": ids["fixed"],
                "type": "PREPAID",
                "access_schedule": {
                    "schedule_items": [
                        {
                            "amount": 1000,
                            "starting_at": "2025-01-01T00:00:00Z",
                            "ending_before": "2026-01-01T00:00:00Z",
                        }
                    ]
                },
            }
        ],
    }
    created = raw.post("/v1/contracts/create", json=body)
    check("create-contract.md", "post", "/v1/contracts/create", None, created, body)
    get_body = {
        "customer_id": customer["id"],
        "contract_id": created.json()["data"]["id"],
        "include_balance": True,
    }
    fetched = raw.post("/v2/contracts/get", json=get_body)
    check("get-contract-v2.md", "post", "/v2/contracts/get", None, fetched, get_body)


def test_usage_and_invoice_endpoints_match_the_official_spec(world: World, raw: httpx.Client) -> None:
    ids = seed_price_book(world.state)
    alias = unique("spec-usage")
    customer = world.state.create_customer("Spec usage", ingest_aliases=[alias])
    day = NOW.replace(hour=0) - timedelta(days=1)
    events = [
        {
            "transaction_id": unique("spec-txn"),
            "customer_id": alias,
            "event_type": "api_call",
            "timestamp": (day + timedelta(hours=hour)).isoformat(),
            "properties": {"units": hour, "region": "eu"},
        }
        for hour in (1, 2)
    ]
    check("ingest-events.md", "post", "/v1/ingest", None, raw.post("/v1/ingest", json=events), events)
    window = {"starting_on": day.isoformat(), "ending_before": (day + timedelta(days=1)).isoformat()}
    usage_body = {**window, "window_size": "day", "customer_ids": [customer["id"]]}
    check("get-usage.md", "post", "/v1/usage", None, raw.post("/v1/usage", json=usage_body), usage_body)
    groups_body = {
        **window,
        "window_size": "day",
        "customer_id": customer["id"],
        "billable_metric_id": ids["metric"],
        "group_key": ["region"],
    }
    groups = raw.post("/v1/usage/groups", json=groups_body)
    check("usage-groups.md", "post", "/v1/usage/groups", None, groups, groups_body)

    world.state.create_invoice(
        customer["id"],
        start_timestamp="2025-02-01T00:00:00Z",
        end_timestamp="2025-03-01T00:00:00Z",
        status="FINALIZED",
        line_items=[{"name": "API calls", "product_id": ids["usage"], "quantity": 1488, "unit_price": 9.67}],
        external_invoice={"billing_provider_type": "stripe", "invoice_id": "in_1", "external_status": "PAID"},
    )
    path = f"/v1/customers/{customer['id']}/invoices"
    check("list-invoices.md", "get", path, "/v1/customers/{customer_id}/invoices", raw.get(path))

"""The Metronome emulator through metronome-sdk: customers, price book, contracts, errors, faults."""

from __future__ import annotations

import ssl
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import metronome
import pytest

sys.path.append(str(Path(__file__).resolve().parent))
from metronome_emulator_fixtures import World, seed_price_book, unique, world

from tieout.sandbox.metronome import MetronomeState, build_app
from tieout.sandbox.metronome.wire import CREDIT_TYPE_ID_BY_CURRENCY
from tieout.sandbox.server import EmulatorServer, SandboxCA

__all__ = ["world"]


def test_customer_create_get_and_changes(world: World) -> None:
    client = world.client
    alias = unique("acct")
    created = client.v1.customers.create(
        name="Aperture, Inc.",
        ingest_aliases=[alias, f"{alias}@example.com"],
        custom_fields={"x_account_id": "KyVn"},
        customer_billing_provider_configurations=[
            {
                "billing_provider": "stripe",
                "delivery_method": "direct_to_billing_provider",
                "configuration": {
                    "stripe_customer_id": "cus_123",
                    "stripe_collection_method": "send_invoice",
                },
            }
        ],
    ).data
    assert created.external_id == alias
    assert created.ingest_aliases == [alias, f"{alias}@example.com"]

    world.clock.advance(timedelta(minutes=5))
    renamed = client.v1.customers.set_name(customer_id=created.id, name="Aperture Science").data
    client.v1.customers.set_ingest_aliases(customer_id=created.id, ingest_aliases=[f"{alias}-new"])
    client.v1.customers.update_config(customer_id=created.id, salesforce_account_id="0015500001WO1ZiABL")
    detail = client.v1.customers.retrieve(customer_id=created.id).data

    assert renamed.name == "Aperture Science"
    assert detail.ingest_aliases == [f"{alias}-new"]
    assert detail.customer_config.salesforce_account_id == "0015500001WO1ZiABL"
    assert detail.custom_fields == {"x_account_id": "KyVn"}
    assert detail.updated_at > detail.created_at
    configs = client.v1.customers.retrieve_billing_configurations(customer_id=created.id).data
    assert [(c.billing_provider, c.configuration["stripe_customer_id"]) for c in configs] == [
        ("stripe", "cus_123")
    ]


def test_customer_list_filters_and_archive(world: World) -> None:
    client = world.client
    alias = unique("filter")
    kept = client.v1.customers.create(name="Kept", ingest_aliases=[alias]).data
    gone = client.v1.customers.create(name="Gone").data
    client.v1.customers.update_config(customer_id=kept.id, salesforce_account_id="001FILTER")

    assert [c.id for c in client.v1.customers.list(ingest_alias=alias)] == [kept.id]
    assert [c.id for c in client.v1.customers.list(customer_ids=[kept.id, gone.id])] == [kept.id, gone.id]
    assert [c.id for c in client.v1.customers.list(salesforce_account_ids=["001FILTER"])] == [kept.id]

    assert client.v1.customers.archive(id=gone.id).data.id == gone.id
    assert [c.id for c in client.v1.customers.list(customer_ids=[kept.id, gone.id])] == [kept.id]
    archived = list(client.v1.customers.list(customer_ids=[kept.id, gone.id], only_archived=True))
    assert [c.id for c in archived] == [gone.id]
    assert archived[0].archived_at is not None


def test_customer_list_auto_paginates_across_pages(world: World) -> None:
    for number in range(12):
        world.state.create_customer(f"Paged {number}")
    expected = [c for c in world.state.customer_order if world.state.customers[c]["archived_at"] is None]

    first = world.client.v1.customers.list(limit=5)
    pages = list(first.iter_pages())
    seen = [c.id for c in world.client.v1.customers.list(limit=5)]

    assert len(first.data) == 5 and first.next_page
    assert len(pages) == -(-len(expected) // 5)
    assert seen == expected


def test_duplicate_ingest_alias_is_a_conflict(world: World) -> None:
    alias = unique("dup")
    world.client.v1.customers.create(name="First", ingest_aliases=[alias])
    with pytest.raises(metronome.ConflictError) as caught:
        world.client.v1.customers.create(name="Second", ingest_aliases=[alias])
    assert alias in caught.value.body["message"]  # type: ignore[index]


def test_billable_metrics_create_get_list_and_archive(world: World) -> None:
    client = world.client
    created = client.v1.billable_metrics.create(
        name=unique("gpu seconds"),
        aggregation_type="MAX",
        aggregation_key="seconds",
        event_type_filter={"in_values": ["gpu"]},
        property_filters=[{"name": "seconds", "exists": True}],
        custom_fields={"team": "ml"},
    ).data
    fetched = client.v1.billable_metrics.retrieve(billable_metric_id=created.id).data
    assert (fetched.aggregation_type, fetched.aggregation_key, fetched.custom_fields) == (
        "MAX",
        "seconds",
        {"team": "ml"},
    )
    assert created.id in [m.id for m in client.v1.billable_metrics.list()]

    client.v1.billable_metrics.archive(id=created.id)
    assert created.id not in [m.id for m in client.v1.billable_metrics.list()]
    assert created.id in [m.id for m in client.v1.billable_metrics.list(include_archived=True)]
    with pytest.raises(metronome.BadRequestError):
        client.v1.billable_metrics.create(name="no key", aggregation_type="SUM")


def test_customer_billable_metrics_on_current_plan(world: World) -> None:
    ids = seed_price_book(world.state)
    customer = world.state.create_customer("Planned")
    world.state.create_contract(customer["id"], "2025-01-01T00:00:00Z", rate_card_id=ids["rate_card"])

    on_plan = world.client.v1.customers.list_billable_metrics(
        customer_id=customer["id"], on_current_plan=True
    )
    rows = list(on_plan)
    assert [m.id for m in rows] == [ids["metric"]]
    assert rows[0].aggregate == "sum" and rows[0].group_by == ["region"]


def test_products_versions_custom_fields_and_archive(world: World) -> None:
    client = world.client
    ids = seed_price_book(world.state)
    created = client.v1.contracts.products.create(
        name="Storage",
        type="USAGE",
        billable_metric_id=ids["metric"],
        netsuite_internal_item_id="NS-ITEM-77",
        custom_fields={"salesforce_product_id": "01t000000000001"},
        tags=["storage"],
    ).data
    client.v1.contracts.products.update(
        product_id=created.id, starting_at="2025-03-01T00:00:00Z", name="Storage (GB)"
    )
    product = client.v1.contracts.products.retrieve(id=created.id).data

    assert product.initial.name == "Storage" and product.current.name == "Storage (GB)"
    assert product.current.netsuite_internal_item_id == "NS-ITEM-77"
    assert product.custom_fields == {"salesforce_product_id": "01t000000000001"}
    assert [u.name for u in product.updates] == ["Storage (GB)"]

    client.v1.contracts.products.archive(product_id=created.id)
    assert created.id not in [p.id for p in client.v1.contracts.products.list()]
    assert created.id in [p.id for p in client.v1.contracts.products.list(archive_filter="ARCHIVED")]
    with pytest.raises(metronome.BadRequestError):
        client.v1.contracts.products.create(name="usage without metric", type="USAGE")


def test_rate_cards_and_rates_over_time(world: World) -> None:
    client = world.client
    ids = seed_price_book(world.state)
    eur = client.v1.contracts.rate_cards.create(
        name=unique("EU list"),
        description="prices in euro cents",
        fiat_credit_type_id=CREDIT_TYPE_ID_BY_CURRENCY["EUR"],
        aliases=[{"name": unique("eu-default")}],
    ).data
    card = client.v1.contracts.rate_cards.retrieve(id=eur.id).data
    assert card.fiat_credit_type is not None and card.fiat_credit_type.name == "EUR (cents)"
    assert eur.id in [c.id for c in client.v1.contracts.rate_cards.list()]

    flat = client.v1.contracts.rate_cards.rates.add(
        rate_card_id=eur.id,
        product_id=ids["usage"],
        entitled=True,
        rate_type="FLAT",
        price=30,
        starting_at="2025-01-01T00:00:00Z",
        ending_before="2025-02-01T00:00:00Z",
    ).data
    client.v1.contracts.rate_cards.rates.add_many(
        rate_card_id=eur.id,
        rates=[
            {
                "product_id": ids["usage"],
                "entitled": True,
                "rate_type": "TIERED",
                "tiers": [{"price": 30, "size": 1000}, {"price": 20}],
                "starting_at": "2025-02-01T00:00:00Z",
            }
        ],
    )
    january = list(client.v1.contracts.rate_cards.rates.list(rate_card_id=eur.id, at="2025-01-15T00:00:00Z"))
    march = list(client.v1.contracts.rate_cards.rates.list(rate_card_id=eur.id, at="2025-03-15T00:00:00Z"))

    assert flat.rate_type == "FLAT" and flat.price == 30
    assert flat.credit_type is not None and flat.credit_type.name == "EUR (cents)"
    assert [(r.rate.rate_type, r.rate.price) for r in january] == [("FLAT", 30)]
    assert january[0].ending_before is not None and january[0].product_name == "API calls"
    assert [t.price for t in march[0].rate.tiers or []] == [30, 20]
    assert client.v1.contracts.rate_cards.archive(id=eur.id).data.id == eur.id
    assert eur.id not in [c.id for c in client.v1.contracts.rate_cards.list()]
    with pytest.raises(metronome.BadRequestError):
        client.v1.contracts.rate_cards.rates.add(
            rate_card_id=eur.id,
            product_id=ids["usage"],
            entitled=True,
            rate_type="TIERED",
            starting_at="2025-01-01T00:00:00Z",
        )


def test_contract_create_get_list_and_uniqueness_key(world: World) -> None:
    client = world.client
    ids = seed_price_book(world.state)
    customer = world.state.create_customer("Contracted")
    key = unique("006Opportunity")
    created = client.v1.contracts.create(
        customer_id=customer["id"],
        starting_at="2025-01-01T00:00:00Z",
        ending_before="2026-01-01T00:00:00Z",
        rate_card_id=ids["rate_card"],
        uniqueness_key=key,
        net_payment_terms_days=45,
        custom_fields={"salesforce_opportunity_id": key},
        overrides=[
            {
                "starting_at": "2025-01-01T00:00:00Z",
                "product_id": ids["usage"],
                "overwrite_rate": {"rate_type": "FLAT", "price": 20},
            },
            {"starting_at": "2025-06-01T00:00:00Z", "product_id": ids["usage"], "multiplier": 0.9},
        ],
        commits=[
            {
                "product_id": ids["fixed"],
                "type": "PREPAID",
                "access_schedule": {
                    "schedule_items": [
                        {
                            "amount": 100000,
                            "starting_at": "2025-01-01T00:00:00Z",
                            "ending_before": "2026-01-01T00:00:00Z",
                        }
                    ]
                },
                "invoice_schedule": {
                    "schedule_items": [{"amount": 100000, "timestamp": "2025-01-01T00:00:00Z"}]
                },
            }
        ],
    ).data
    fetched = client.v2.contracts.retrieve(customer_id=customer["id"], contract_id=created.id).data

    assert created.contract is not None and created.contract.uniqueness_key == key
    assert (fetched.rate_card_id, fetched.net_payment_terms_days) == (ids["rate_card"], 45)
    assert [o.type for o in fetched.overrides] == ["OVERWRITE", "MULTIPLIER"]
    assert fetched.commits[0].access_schedule is not None
    assert fetched.commits[0].access_schedule.schedule_items[0].amount == 100000
    assert fetched.custom_fields == {"salesforce_opportunity_id": key}
    assert [c.id for c in client.v2.contracts.list(customer_id=customer["id"])] == [created.id]

    with pytest.raises(metronome.ConflictError):
        client.v1.contracts.create(
            customer_id=customer["id"], starting_at="2025-01-01T00:00:00Z", uniqueness_key=key
        )


def test_contract_list_filters_archive_and_balance(world: World) -> None:
    client = world.client
    ids = seed_price_book(world.state)
    customer = world.state.create_customer("Two contracts")
    old = world.state.create_contract(
        customer["id"], "2024-01-01T00:00:00Z", ending_before="2025-01-01T00:00:00Z"
    )
    current = world.state.create_contract(
        customer["id"],
        "2025-01-01T00:00:00Z",
        credits=[
            {
                "product_id": ids["fixed"],
                "access_schedule": {
                    "schedule_items": [
                        {
                            "amount": 5000,
                            "starting_at": "2025-01-01T00:00:00Z",
                            "ending_before": "2026-01-01T00:00:00Z",
                        }
                    ]
                },
            }
        ],
    )
    credit_id = current["credits"][0]["id"]
    world.state.create_invoice(
        customer["id"],
        contract_id=current["id"],
        status="FINALIZED",
        start_timestamp="2025-01-01T00:00:00Z",
        end_timestamp="2025-02-01T00:00:00Z",
        line_items=[
            {"name": "API calls", "product_id": ids["usage"], "quantity": 100, "unit_price": 25},
            {
                "name": "Credit applied",
                "type": "applied_commit_or_credit",
                "total": -1200,
                "commit_id": credit_id,
            },
        ],
    )

    covering = client.v2.contracts.list(customer_id=customer["id"], covering_date="2025-03-01T00:00:00Z")
    assert [c.id for c in covering] == [current["id"]]
    with_balance = client.v2.contracts.retrieve(
        customer_id=customer["id"], contract_id=current["id"], include_balance=True, include_ledgers=True
    ).data
    credit = (with_balance.credits or [])[0]
    assert credit.balance == 3800
    assert [entry.type for entry in credit.ledger or []] == [
        "CREDIT_SEGMENT_START",
        "CREDIT_AUTOMATED_INVOICE_DEDUCTION",
    ]

    client.v1.contracts.archive(customer_id=customer["id"], contract_id=old["id"], void_invoices=False)
    assert [c.id for c in client.v2.contracts.list(customer_id=customer["id"])] == [current["id"]]
    archived = client.v2.contracts.list(customer_id=customer["id"], include_archived=True)
    assert {c.id for c in archived} == {old["id"], current["id"]}


def test_errors_have_metronome_shape(world: World) -> None:
    bad = metronome.Metronome(
        bearer_token="not-the-token",
        base_url=world.server.base_url,
        _strict_response_validation=True,
        max_retries=0,
    )
    with pytest.raises(metronome.AuthenticationError) as unauthorized:
        bad.v1.customers.list()
    assert unauthorized.value.status_code == 401
    assert unauthorized.value.body == {"message": "Unauthorized"}

    with pytest.raises(metronome.NotFoundError) as missing:
        world.client.v1.customers.retrieve(customer_id="00000000-0000-4000-8000-000000000000")
    assert set(missing.value.body) == {"message"}  # type: ignore[arg-type]

    with pytest.raises(metronome.BadRequestError) as invalid:
        world.client.v1.contracts.create(
            customer_id=world.state.create_customer("x")["id"], starting_at="yesterday"
        )
    assert "starting_at" in invalid.value.body["message"]  # type: ignore[index]


def test_injected_rate_limit_reaches_the_sdk(world: World) -> None:
    admin = httpx.Client(base_url=world.server.base_url)
    try:
        admin.put(
            "/__sandbox/faults", json={"rate_limit_rate": 1.0, "retry_after_seconds": 0.1}
        ).raise_for_status()
        with pytest.raises(metronome.RateLimitError) as direct:
            world.client.v1.customers.list()
        before = admin.get("/__sandbox/faults").json()["injected"]["rate_limited"]
        with pytest.raises(metronome.RateLimitError):
            world.sdk(max_retries=1).v1.customers.list()
        after = admin.get("/__sandbox/faults").json()["injected"]["rate_limited"]

        admin.put("/__sandbox/faults", json={"server_error_rate": 1.0}).raise_for_status()
        with pytest.raises(metronome.InternalServerError) as server_error:
            world.client.v1.customers.list()
    finally:
        admin.put("/__sandbox/faults", json="none").raise_for_status()
        admin.close()

    assert direct.value.body == {"message": "Too many requests"}
    assert direct.value.response.headers["retry-after"] == "1"
    assert after - before == 2
    assert server_error.value.body == {"message": "Internal server error"}
    assert [c.id for c in world.client.v1.customers.list(limit=1)]


def test_sdk_works_over_tls(tmp_path: Path) -> None:
    authority = SandboxCA(tmp_path)
    state = MetronomeState()
    with EmulatorServer(build_app(state), tls=authority) as server:
        client = metronome.Metronome(
            bearer_token="sandbox-metronome-token",
            base_url=server.base_url,
            _strict_response_validation=True,
            http_client=httpx.Client(verify=ssl.create_default_context(cafile=str(authority.ca_bundle_path))),
        )
        with client:
            created = client.v1.customers.create(name="Over TLS").data
            fetched = client.v1.customers.retrieve(customer_id=created.id).data
    assert server.base_url.startswith("https://")
    assert fetched.name == "Over TLS"


def test_contract_links_billing_and_revenue_configurations(world: World) -> None:
    client = world.client
    customer = client.v1.customers.create(
        name="Crosswalk",
        customer_billing_provider_configurations=[
            {
                "billing_provider": "stripe",
                "delivery_method": "direct_to_billing_provider",
                "configuration": {"stripe_customer_id": "cus_XW"},
            }
        ],
        customer_revenue_system_configurations=[
            {
                "provider": "netsuite",
                "delivery_method": "direct_to_billing_provider",
                "configuration": {"netsuite_customer_id": "4411"},
            }
        ],
    ).data
    stripe_config = client.v1.customers.retrieve_billing_configurations(customer_id=customer.id).data[0]
    created = client.v1.contracts.create(
        customer_id=customer.id,
        starting_at="2025-01-01T00:00:00Z",
        billing_provider_configuration={"billing_provider_configuration_id": stripe_config.id},
        revenue_system_configuration={
            "provider": "netsuite",
            "delivery_method": "direct_to_billing_provider",
        },
        salesforce_opportunity_id="006XW",
    ).data
    contract = client.v2.contracts.retrieve(customer_id=customer.id, contract_id=created.id).data

    assert contract.customer_billing_provider_configuration is not None
    assert contract.customer_billing_provider_configuration.configuration == {"stripe_customer_id": "cus_XW"}
    revenue = (contract.revenue_system_configuration_schedule or [])[0].revenue_system_configuration
    assert revenue is not None and revenue.configuration == {"netsuite_customer_id": "4411"}
    assert contract.salesforce_opportunity_id == "006XW"
    with pytest.raises(metronome.BadRequestError):
        client.v1.contracts.create(
            customer_id=customer.id,
            starting_at="2025-01-01T00:00:00Z",
            billing_provider_configuration={"billing_provider": "netsuite", "delivery_method": "aws_sqs"},
        )


def test_the_audit_log_lists_changes_in_time_order_by_page_and_by_resource(world: World) -> None:
    client = world.client
    start = world.clock.now()
    customer = client.v1.customers.create(name="Logged Co", ingest_aliases=[unique("log")]).data
    world.clock.advance(timedelta(minutes=1))
    client.v1.customers.set_name(customer_id=customer.id, name="Logged Company")
    world.clock.advance(timedelta(minutes=1))
    client.v1.customers.archive(id=customer.id)

    pages = client.v1.audit_logs.list(starting_on=start, limit=2)
    entries = [entry for entry in pages if entry.resource_id == customer.id]
    assert [entry.action for entry in entries] == ["create", "setName", "archive"]
    assert [entry.timestamp for entry in entries] == sorted(entry.timestamp for entry in entries)
    assert all(entry.resource_type == "customer" for entry in entries)
    newest = client.v1.audit_logs.list(
        sort="date_desc", limit=1, resource_type="customer", resource_id=customer.id
    ).data
    assert [entry.action for entry in newest] == ["archive"]
    later = client.v1.audit_logs.list(starting_on=world.clock.now() + timedelta(seconds=1)).data
    assert later == []

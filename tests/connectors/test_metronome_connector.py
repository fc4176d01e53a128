"""The Metronome connector's own behaviour against the emulator: paging, per-customer listings,
price-book caching, idempotent pushes, ingest batching, strict validation, errors and budgets.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from metronome_connector_fixtures import NOW, Account, Emulator, running, seed_account
from pydantic import SecretStr

from tieout.connectors.base import CallBudget, Page
from tieout.connectors.metronome import MetronomeConnector, MetronomeSettings
from tieout.errors import (
    AuthenticationError,
    BudgetExhausted,
    ConflictError,
    MalformedResponse,
    MappingError,
    PermissionDenied,
    PushRejected,
    ServerError,
)
from tieout.mappings.context import MappingContext
from tieout.mappings.metronome import contract_payload, customer_payload, usage_events
from tieout.mappings.metronome.customers import map_customer
from tieout.model import Contract, ContractLine, ContractStatus, Customer, PricingModel, UsageSummary
from tieout.money import Money
from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.faults import FaultInjector
from tieout.sandbox.metronome import MetronomeState, build_app
from tieout.sandbox.metronome.wire import iso
from tieout.sandbox.server import EmulatorServer, SandboxCA


class Recorder:
    """An httpx client for the connector that notes every request's method and path."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str]] = []

    def _note(self, request: httpx.Request) -> None:
        self.requests.append((request.method, request.url.path, request.url.query.decode()))

    def client(self) -> httpx.Client:
        return httpx.Client(event_hooks={"request": [self._note]})

    def count(self, path: str) -> int:
        return sum(1 for _, seen, _ in self.requests if seen == path)

    def paths(self, prefix: str) -> list[str]:
        return [seen for _, seen, _ in self.requests if seen.startswith(prefix)]


class World:
    def __init__(self, emulator: Emulator, account: Account) -> None:
        self.emulator = emulator
        self.state = emulator.state
        self.account = account
        self.recorder = Recorder()
        self.connector = emulator.connector(http_client=self.recorder.client())

    def pull(self, stream: str, **bounds: Any) -> list[Page]:
        return list(self.connector.pull(stream, **bounds))


@pytest.fixture
def world() -> Iterator[World]:
    clock = SandboxClock(NOW)
    state = MetronomeState(clock)
    account = seed_account(state, clock)
    with running(state, clock) as emulator:
        world = World(emulator, account)
        yield world
        world.connector.close()


def records(pages: list[Page]) -> list[Any]:
    return [record for page in pages for record in page.records]


def test_customers_page_through_active_then_archived(world: World) -> None:
    pages = world.pull("customers")
    # 11 active by fives, then 1 archived, then the page leaving the cursor where the audit log takes over
    assert [len(page.records) for page in pages] == [5, 5, 1, 1, 0] and pages[-1].watermark is not None
    assert world.recorder.count("/v1/customers") == 4
    assert world.recorder.count("/v1/getCustomerBillingProviderConfigurations") == 12


def test_contracts_and_invoices_page_per_customer(world: World) -> None:
    crowded = world.account.customers[1]
    for number in range(23):
        world.state.create_contract(crowded, f"2025-02-{1 + number:02d}T00:00:00Z")
    for month in range(7):
        start = datetime(2024, 1 + month, 1, tzinfo=UTC)
        world.state.create_invoice(
            crowded,
            start_timestamp=start,
            end_timestamp=start + timedelta(days=28),
            status="FINALIZED",
            line_items=[{"name": "Fee", "total": 100}],
        )

    contracts = records(world.pull("contracts"))
    invoices = records(world.pull("invoices"))

    assert len(contracts) == 6 + 23 and len(invoices) == 12 + 7
    contract_lists = world.recorder.count("/v2/contracts/list")
    assert contract_lists == 12 + 1  # a listing per customer, two pages (of 20) for the crowded one
    crowded_path = f"/v1/customers/{crowded}/invoices"
    assert world.recorder.paths(crowded_path) == [crowded_path] * 2
    listed = {
        path.split("/")[3] for path in world.recorder.paths("/v1/customers/") if path.endswith("/invoices")
    }
    assert listed == set(world.account.customers)


def test_a_new_invoice_is_found_newest_first_once_the_audit_log_names_it(world: World) -> None:
    newest = max(record.updated_at for record in records(world.pull("invoices")))
    world.recorder.requests.clear()

    assert records(world.pull("invoices", since=newest + timedelta(seconds=1), until=NOW)) == []
    assert [path for _, path, _ in world.recorder.requests] == ["/v1/auditLogs"]

    customer = world.account.customers[0]
    late = world.state.create_invoice(
        customer,
        start_timestamp="2025-03-01T00:00:00Z",
        end_timestamp="2025-03-10T00:00:00Z",
        issued_at=NOW - timedelta(hours=1),
        status="FINALIZED",
        line_items=[{"name": "Fee", "total": 100}],
    )
    world.recorder.requests.clear()
    later = world.pull("invoices", since=newest + timedelta(seconds=1), until=NOW)
    assert [r.source_id for r in records(later)] == [late["id"]]
    assert world.recorder.count("/v1/customers") == 4
    invoice_calls = [query for _, path, query in world.recorder.requests if path.endswith("/invoices")]
    assert len(invoice_calls) == 12 and all("sort=date_desc" in query for query in invoice_calls)


def test_price_book_is_fetched_once_per_pull(world: World) -> None:
    world.pull("contracts")
    assert world.recorder.count("/v1/contract-pricing/rate-cards/getRates") == 1  # six contracts, one start
    assert world.recorder.count("/v1/contract-pricing/rate-cards/list") == 1
    assert world.recorder.count("/v1/contract-pricing/products/list") == 1
    world.pull("contracts")
    assert world.recorder.count("/v1/contract-pricing/rate-cards/getRates") == 2  # a new pull reads it anew


def test_contract_lines_carry_the_effective_price(world: World) -> None:
    spec = world.connector.stream("contracts")
    contract = spec.mapper(records(world.pull("contracts"))[0].payload, _context("contracts"))
    assert isinstance(contract, Contract)
    prices = {line.product_id: line.unit_price for line in contract.lines}
    assert prices["API-CALLS"] == Money.of("0.021", "USD")  # the 2.1-cent override, not the card's 2.5
    assert prices["PLATFORM"] == Money.of(500, "USD")
    commit = next(line for line in contract.lines if line.pricing_model is PricingModel.COMMIT)
    assert commit.commit == Money.of(10000, "USD")


def test_usage_by_invoice_period_then_by_day(world: World) -> None:
    periods = records(world.pull("usage"))
    assert len(periods) == 6  # the six invoiced customers' January; void February is not a period
    assert {(r.payload["start_timestamp"], r.payload["end_timestamp"]) for r in periods} == {
        ("2025-01-01T00:00:00.000Z", "2025-02-01T00:00:00.000Z")
    }
    assert {r.payload["value"] for r in periods} == {5500}

    world.recorder.requests.clear()
    days = records(
        world.pull("usage", since=datetime(2025, 1, 1, tzinfo=UTC), until=datetime(2025, 1, 12, tzinfo=UTC))
    )
    assert world.recorder.count("/v1/usage") == 2  # 132 day rows, 100 a page
    assert len(days) == 60  # empty days and metrics left out
    assert all(
        datetime(2025, 1, 1, tzinfo=UTC) <= r.updated_at < datetime(2025, 1, 12, tzinfo=UTC) for r in days
    )


def _context(stream: str) -> MappingContext:
    return MappingContext(system="metronome", stream=stream)


def test_customer_repush_resolves_to_the_same_customer(world: World) -> None:
    account = Customer(
        system="salesforce", native_id="001NEW000000000AAA", legal_name="New Co", links={"stripe": "cus_NEW"}
    )
    payload = customer_payload(account)
    before = len(world.state.customers)

    first = world.connector.push("customers", payload, idempotency_key="001NEW000000000AAA")
    again = world.connector.push("customers", payload, idempotency_key="001NEW000000000AAA")

    assert (first.operation, again.operation) == ("created", "unchanged")
    assert first.target_id == again.target_id and len(world.state.customers) == before + 1
    created = world.state.customers[first.target_id]
    assert created["ingest_aliases"] == ["001NEW000000000AAA"]
    assert created["customer_config"]["salesforce_account_id"] == "001NEW000000000AAA"
    assert world.state.billing_configs[first.target_id][0]["configuration"]["stripe_customer_id"] == "cus_NEW"
    with pytest.raises(ConflictError):
        world.connector.push(
            "customers", {**payload, "name": "Other Co"}, idempotency_key="001NEW000000000AAA"
        )


def test_customer_push_finishes_a_first_attempt_that_stopped_half_way(world: World) -> None:
    half = world.state.create_customer("Half Co", ingest_aliases=["001HALF00000000AAA"])
    result = world.connector.push(
        "customers",
        {"name": "Half Co", "salesforce_account_id": "001HALF00000000AAA"},
        idempotency_key="001HALF00000000AAA",
    )
    assert (result.target_id, result.operation) == (half["id"], "updated")
    assert (
        world.state.customers[half["id"]]["customer_config"]["salesforce_account_id"] == "001HALF00000000AAA"
    )


def _crm_contract() -> Contract:
    return Contract(
        system="salesforce",
        native_id="006NEW000000000AAA",
        customer_id="001AC0000000000001",
        status=ContractStatus.ACTIVE,
        currency="USD",
        starts_on=date(2025, 3, 1),
        ends_on=date(2026, 2, 28),
        payment_terms_days=30,
        lines=(
            ContractLine(
                line_id="00k1",
                product_id="API-CALLS",
                product_name="API calls",
                pricing_model=PricingModel.PER_UNIT,
                unit_price=Money.of("0.0199", "USD"),
            ),
            ContractLine(
                line_id="00k2",
                product_id="COMMIT",
                product_name="Prepaid commit",
                pricing_model=PricingModel.COMMIT,
                commit=Money.of(24000, "USD"),
            ),
        ),
    )


def test_contract_repush_returns_the_existing_contract(world: World) -> None:
    customer_id = world.account.customers[1]
    skus = {"API-CALLS": world.account.products["calls"], "COMMIT": world.account.products["commit"]}
    payload = contract_payload(
        _crm_contract(),
        customer_id=customer_id,
        rate_card_id=world.account.rate_cards["usd"],
        product_ids_by_sku=skus,
    )

    first = world.connector.push("contracts", payload, idempotency_key="006NEW000000000AAA")
    again = world.connector.push("contracts", payload, idempotency_key="006NEW000000000AAA")

    assert (first.operation, again.operation) == (
        "created",
        "unchanged",
    ) and first.target_id == again.target_id
    stored = world.state.contracts[first.target_id]
    assert stored["uniqueness_key"] == "006NEW000000000AAA"
    assert stored["salesforce_opportunity_id"] == "006NEW000000000AAA"
    assert stored["overrides"][0]["overwrite_rate"]["price"] == pytest.approx(1.99)
    assert stored["commits"][0]["access_schedule"]["schedule_items"][0]["amount"] == 2400000
    assert stored["ending_before"] == "2026-03-01T00:00:00.000Z"
    mapped = world.connector.stream("contracts").mapper(
        next(r.payload for r in records(world.pull("contracts")) if r.source_id == first.target_id),
        _context("contracts"),
    )
    assert isinstance(mapped, Contract)
    assert {line.product_id: line.unit_price for line in mapped.lines}["API-CALLS"] == Money.of(
        "0.0199", "USD"
    )
    assert mapped.links == {"salesforce": "006NEW000000000AAA"}

    other_card = {**payload, "rate_card_id": world.account.rate_cards["jpy"]}
    with pytest.raises(ConflictError):
        world.connector.push("contracts", other_card, idempotency_key="006NEW000000000AAA")


def test_a_contract_metronome_refuses_is_push_rejected(world: World) -> None:
    payload = {
        "customer_id": world.account.customers[1],
        "starting_at": "2025-03-01T00:00:00Z",
        "rate_card_id": "nope",
    }
    with pytest.raises(PushRejected):
        world.connector.push("contracts", payload, idempotency_key="006BAD000000000AAA")


def _summaries(count: int, customer_id: str) -> list[UsageSummary]:
    start = NOW - timedelta(days=2)
    return [
        UsageSummary(
            system="warehouse",
            native_id=f"row-{number}",
            customer_id=customer_id,
            metric="API calls",
            period_start=start + timedelta(minutes=number),
            period_end=start + timedelta(minutes=number + 1),
            quantity=Decimal(number % 7 + 1),
        )
        for number in range(count)
    ]


def _units(world: World, customer_id: str) -> Any:
    rows = world.state.usage_batch(
        starting_on=iso(NOW - timedelta(days=3)),
        ending_before=iso(NOW),
        window_size="NONE",
        customer_ids=[customer_id],
        billable_metrics=[{"id": world.account.metrics["calls"]}],
    )
    return rows[0]["value"]


def test_usage_ingest_batches_by_100_and_metronome_drops_repeats(world: World) -> None:
    customer_id = world.account.customers[1]
    events = usage_events(_summaries(250, customer_id), event_type="api_call", quantity_property="units")
    assert len({event["transaction_id"] for event in events}) == 250

    result = world.connector.push("usage", {"events": events}, idempotency_key="usage-run-1")
    assert world.recorder.count("/v1/ingest") == 3 and result.operation == "created"
    total = _units(world, customer_id)
    assert total == sum(number % 7 + 1 for number in range(250))

    world.connector.push("usage", {"events": events}, idempotency_key="usage-run-1")
    assert world.recorder.count("/v1/ingest") == 6 and _units(world, customer_id) == total


def test_usage_push_batch_shares_ingest_calls_and_reports_per_item(world: World) -> None:
    customer_id = world.account.customers[3]
    events = usage_events(_summaries(210, customer_id), event_type="api_call", quantity_property="units")
    items = [({"events": events[start : start + 70]}, f"part-{start}") for start in range(0, 210, 70)]
    items.append(({"events": [{"customer_id": customer_id}]}, "broken"))

    results = world.connector.push_batch("usage", items)

    assert world.recorder.count("/v1/ingest") == 3
    assert [getattr(result, "operation", None) for result in results[:3]] == ["created"] * 3
    assert isinstance(results[3], PushRejected)


def test_a_listing_the_sdk_rejects_goes_on_record_by_record_when_its_envelope_is_sound() -> None:
    good = {
        "id": "c-good",
        "name": "Good Customer",
        "external_id": "ext-1",
        "ingest_aliases": [],
        "custom_fields": {},
        "created_at": "2026-01-05T00:00:00Z",
        "updated_at": "2026-01-05T00:00:00Z",
    }
    odd = {"id": "c-odd", "name": "No timestamps"}
    bodies = {
        "sound": {"data": [good, odd], "next_page": None},
        "broken": {"data": {"id": "c-1"}, "next_page": None},
    }
    answer = {"body": bodies["sound"]}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answer["body"])

    connector = _mocked(handler)
    assert connector.api.sdk._strict_response_validation is True
    listing = connector.api.sdk.v1.customers.with_raw_response.list
    body = connector.api.call("GET /v1/customers", listing)
    assert [item["id"] for item in body["data"]] == ["c-good", "c-odd"]

    # Each record is then judged by tieout's mapping: the odd one is that record's problem.
    context = MappingContext(system="metronome", stream="customers")
    assert map_customer(good, context).native_id == "c-good"
    with pytest.raises(MappingError) as caught:
        map_customer(odd, context)
    assert "created_at" in str(caught.value) or "updated_at" in str(caught.value)

    answer["body"] = bodies["broken"]
    with pytest.raises(MalformedResponse, match="GET /v1/customers"):
        connector.api.call("GET /v1/customers", listing)


def test_forbidden_is_permission_denied_and_errors_carry_no_token() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/customers" and request.url.params.get("limit") == "1":
            return httpx.Response(403, json={"message": "token secret-token-1234 may not read customers"})
        return httpx.Response(500, json={"message": "upstream said secret-token-1234"})

    connector = _mocked(handler)
    with pytest.raises(PermissionDenied) as denied:
        connector.check()
    with pytest.raises(ServerError) as failed:
        list(connector.pull("customers"))
    assert "secret-token-1234" not in str(denied.value) + str(failed.value)
    assert connector.api_calls == 1 + 3  # a 403 is not retried; a 500 three times


def _mocked(handler: Any) -> MetronomeConnector:
    settings = MetronomeSettings(
        bearer_token=SecretStr("secret-token-1234"),
        base_url="http://metronome.test",
        max_attempts=3,
        backoff_base_seconds=0.0,
    )
    return MetronomeConnector(settings, http_client=httpx.Client(transport=httpx.MockTransport(handler)))


def test_every_attempt_spends_the_budget(world: World) -> None:
    connector = world.emulator.connector(budget=CallBudget("metronome", max_calls=3))
    world.emulator.injector.fail_next(503)
    before = world.emulator.injector.requests
    with pytest.raises(BudgetExhausted):
        list(connector.pull("customers"))
    assert world.emulator.injector.requests - before == 3  # a failed try, its retry, one config call
    connector.close()


def test_refused_token_is_authentication_error(world: World) -> None:
    connector = world.emulator.connector(bearer_token="not-the-token")
    with pytest.raises(AuthenticationError):
        connector.check()
    connector.close()


def test_talks_tls_with_the_sandbox_ca(tmp_path: Path) -> None:
    authority = SandboxCA(tmp_path)
    state = MetronomeState(SandboxClock(NOW))
    injector = FaultInjector()
    with EmulatorServer(build_app(state, injector), tls=authority, name="metronome-tls") as server:
        emulator = Emulator(state.clock, state, injector, server)
        connector = emulator.connector(ca_bundle=str(authority.ca_bundle_path))
        connector.check()
        connector.close()


def test_an_unchanged_account_costs_one_audit_log_call_per_stream_and_changes_are_found(world: World) -> None:
    for stream in ("customers", "contracts", "invoices"):
        world.pull(stream)
    world.state.clock.advance(timedelta(hours=1))
    since, until = NOW + timedelta(minutes=1), NOW + timedelta(hours=2)
    for stream in ("customers", "contracts", "invoices"):
        world.recorder.requests.clear()
        pages = world.pull(stream, since=since, until=until)
        assert records(pages) == [] and pages[-1].watermark == until, stream
        assert [path for _, path, _ in world.recorder.requests] == ["/v1/auditLogs"], stream

    customer, invoice = world.account.customers[2], world.account.invoices[0]
    world.state.set_customer_name(customer, "Renamed Co")
    voided = world.state.void_invoice(invoice)
    world.recorder.requests.clear()
    [renamed] = records(world.pull("customers", since=since, until=until))
    assert (renamed.source_id, renamed.payload["name"]) == (customer, "Renamed Co")
    assert world.recorder.count("/v1/customers") == 0  # read by id, not by listing every customer
    invoices = records(world.pull("invoices", since=since, until=until))
    assert [(record.source_id, record.payload["status"]) for record in invoices] == [(invoice, "VOID")]
    assert voided["issued_at"] < iso(since)  # issued long before the window: found through the log

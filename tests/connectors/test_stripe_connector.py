"""Stripe connector pulls against the emulator: paging, events, the 30-day fallback, payouts, TLS.

Each test seeds its own emulator (fast: the seeding API is in-process) and watches the requests
the connector sends through an httpx event hook, so call counts and query parameters are
asserted on what actually went over the wire.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from shared_specs import SPECS
from stripe_connector_fixtures import START, Emulator, running, seeded_emulator

from tieout.connectors.base import CallBudget, RawRecord
from tieout.connectors.stripe import StripeConnector
from tieout.connectors.stripe.streams import STREAMS
from tieout.errors import BudgetExhausted
from tieout.mappings.context import MappingContext
from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.faults import FaultInjector
from tieout.sandbox.server import EmulatorServer, SandboxCA
from tieout.sandbox.stripe import StripeState, build_app


class Wire:
    """The requests a connector sent, recorded by an httpx event hook."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def client(self) -> httpx.Client:
        return httpx.Client(timeout=5, event_hooks={"request": [self.requests.append]})

    def paths(self) -> list[str]:
        return [request.url.path for request in self.requests]

    def params(self, index: int) -> dict[str, str]:
        return dict(self.requests[index].url.params)


@pytest.fixture
def clock() -> SandboxClock:
    return SandboxClock(START)


@pytest.fixture
def state(clock: SandboxClock) -> StripeState:
    return StripeState(clock, seed=5)


@pytest.fixture
def emulator(state: StripeState, clock: SandboxClock) -> Iterator[Emulator]:
    with running(state, clock) as emulator:
        yield emulator


def records(connector: StripeConnector, stream: str, **bounds: Any) -> list[RawRecord]:
    return [record for page in connector.pull(stream, **bounds) for record in page.records]


def seed_customers(state: StripeState, clock: SandboxClock, count: int) -> list[str]:
    ids = []
    for index in range(count):
        clock.freeze(START + timedelta(minutes=index))
        ids.append(state.create_customer(name=f"Customer {index}", currency="usd")["id"])
    return ids


def test_full_list_pages_past_100_with_starting_after(
    emulator: Emulator, state: StripeState, clock: SandboxClock
) -> None:
    ids = seed_customers(state, clock, 230)
    wire = Wire()
    connector = emulator.connector(page_size=100, http_client=wire.client())
    pages = list(connector.pull("customers"))
    assert [len(page.records) for page in pages] == [100, 100, 30]
    assert [record.source_id for page in pages for record in page.records] == ids[::-1]  # newest first
    assert wire.paths() == ["/v1/customers"] * 3
    assert "starting_after" not in wire.params(0)
    assert wire.params(1)["starting_after"] == pages[0].records[-1].source_id
    assert wire.params(2)["starting_after"] == pages[1].records[-1].source_id
    assert {wire.params(i)["limit"] for i in range(3)} == {"100"}
    stamps = [record.updated_at for page in pages for record in page.records]
    assert stamps[0] == START + timedelta(minutes=229) and stamps[-1] == START


def test_until_bounds_a_full_list_by_created(
    emulator: Emulator, state: StripeState, clock: SandboxClock
) -> None:
    ids = seed_customers(state, clock, 10)
    wire = Wire()
    connector = emulator.connector(http_client=wire.client())
    until = START + timedelta(minutes=4, seconds=30, milliseconds=500)
    got = records(connector, "customers", until=until)
    assert [record.source_id for record in got] == ids[4::-1]
    # Stripe's times are whole seconds: created < 12:04:30.5 is created < 12:04:31.
    assert wire.params(0)["created[lt]"] == str(int(until.timestamp()) + 1)


def test_incremental_pull_returns_only_what_changed_at_its_event_time(
    emulator: Emulator, state: StripeState, clock: SandboxClock
) -> None:
    ids = seed_customers(state, clock, 12)
    synced_at = START + timedelta(hours=1)
    clock.freeze(synced_at)
    connector = emulator.connector()
    assert len(records(connector, "customers", until=synced_at)) == 12

    clock.freeze(synced_at + timedelta(minutes=5))
    new = state.create_customer(name="New customer")["id"]
    clock.freeze(synced_at + timedelta(minutes=7))
    state.update_customer(ids[3], {"name": "Renamed Ltd"})
    clock.freeze(synced_at + timedelta(minutes=8))
    state.update_customer(ids[3], {"email": "ar@renamed.example"})
    state.delete_customer(ids[5])
    clock.freeze(synced_at + timedelta(minutes=10))

    wire = Wire()
    connector = emulator.connector(http_client=wire.client())
    changed = {record.source_id: record for record in records(connector, "customers", since=synced_at)}
    assert set(changed) == {new, ids[3], ids[5]}
    assert wire.paths() == ["/v1/events"]  # the events carried every object: no retrieval
    assert wire.params(0)["created[gte]"] == str(int(synced_at.timestamp()))
    renamed = connector.stream("customers").mapper(
        changed[ids[3]].payload, MappingContext("stripe", "customers")
    )
    assert (renamed.legal_name, renamed.email) == ("Renamed Ltd", "ar@renamed.example")
    assert changed[ids[3]].updated_at == synced_at + timedelta(minutes=8)
    assert changed[new].updated_at == synced_at + timedelta(minutes=5)
    assert changed[ids[5]].deleted and not changed[new].deleted


def test_an_unchanged_resync_costs_one_call_per_stream(
    emulator: Emulator, state: StripeState, clock: SandboxClock
) -> None:
    seed_customers(state, clock, 5)
    clock.freeze(START + timedelta(days=1))
    connector = emulator.connector()
    for stream in ("customers", "invoices", "charges", "refunds", "credit_notes", "payouts"):
        before = connector.api_calls
        assert records(connector, stream, since=START + timedelta(hours=2)) == []
        assert connector.api_calls - before == 1, stream


def test_incremental_charges_are_fetched_by_list_when_several_changed(
    emulator: Emulator, state: StripeState, clock: SandboxClock
) -> None:
    customer = state.create_customer(name="Payer", currency="usd")["id"]
    charges = []
    for index in range(8):
        clock.freeze(START + timedelta(minutes=index))
        charges.append(state.create_charge(1000 + index, "usd", customer_id=customer)["id"])
    clock.freeze(START + timedelta(minutes=20))
    state.create_refund(charge_id=charges[1], amount=100)
    clock.freeze(START + timedelta(minutes=30))
    wire = Wire()
    connector = emulator.connector(http_client=wire.client())
    got = {
        record.source_id: record
        for record in records(connector, "charges", since=START + timedelta(minutes=3))
    }
    assert set(got) == {charges[1], *charges[3:]}
    assert wire.paths() == ["/v1/events", "/v1/charges"]  # one list instead of six retrievals
    assert got[charges[1]].updated_at == START + timedelta(minutes=20)
    mapper = connector.stream("charges").mapper
    payment = mapper(got[charges[1]].payload, MappingContext("stripe", "charges"))
    assert payment.fee is not None and payment.net == payment.gross - payment.fee
    assert payment.status.value == "partially_refunded"


def test_a_single_changed_charge_is_retrieved_with_its_balance_transaction(
    emulator: Emulator, state: StripeState, clock: SandboxClock
) -> None:
    charge = state.create_charge(5000, "usd")["id"]
    clock.freeze(START + timedelta(hours=1))
    state.create_dispute(charge)
    wire = Wire()
    connector = emulator.connector(http_client=wire.client())
    got = records(connector, "charges", since=START + timedelta(minutes=30))
    assert [record.source_id for record in got] == [charge]
    assert wire.paths() == ["/v1/events", f"/v1/charges/{charge}"]
    assert wire.params(1) == {"expand[0]": "balance_transaction"}
    payment = connector.stream("charges").mapper(got[0].payload, MappingContext("stripe", "charges"))
    assert payment.status.value == "disputed"
    assert payment.fee is not None and payment.fee.amount > 0


def test_since_older_than_event_retention_falls_back_to_the_full_list(
    emulator: Emulator, state: StripeState, clock: SandboxClock, caplog: pytest.LogCaptureFixture
) -> None:
    ids = seed_customers(state, clock, 7)
    clock.freeze(START + timedelta(days=31))
    state.update_customer(ids[2], {"name": "Changed after a month"})
    wire = Wire()
    connector = emulator.connector(http_client=wire.client())
    with caplog.at_level(logging.WARNING, logger="tieout.connectors.stripe.pulls"):
        got = records(connector, "customers", since=START)
    assert "/v1/events" not in wire.paths()
    assert {record.source_id for record in got} == set(ids)
    assert "event retention" in caplog.text
    # A since inside the window still reads events: only the change comes back.
    changed = records(connector, "customers", since=START + timedelta(days=30, hours=12))
    assert [record.source_id for record in changed] == [ids[2]]


def test_the_fallback_counts_from_until_when_it_is_later_than_the_clock(
    emulator: Emulator, state: StripeState, clock: SandboxClock
) -> None:
    seed_customers(state, clock, 3)
    wire = Wire()
    connector = emulator.connector(http_client=wire.client())
    records(connector, "customers", since=START, until=START + timedelta(days=40))
    assert wire.paths() == ["/v1/customers"]


def test_payout_composition_pages_through_its_balance_transactions(
    emulator: Emulator, state: StripeState, clock: SandboxClock
) -> None:
    charges = [state.create_charge(2000 + n, "usd")["id"] for n in range(130)]
    refund = state.create_refund(charge_id=charges[0], amount=500)["id"]
    clock.freeze(START + timedelta(days=3))
    automatic = state.create_payout("usd", status="paid")
    state.create_charge(9000, "usd")
    clock.freeze(START + timedelta(days=6))
    manual = state.create_payout("usd", amount=1000, automatic=False)
    wire = Wire()
    connector = emulator.connector(http_client=wire.client())
    got = {record.source_id: record for record in records(connector, "payouts")}
    composition_calls = [
        request for request in wire.requests if request.url.path == "/v1/balance_transactions"
    ]
    assert len(composition_calls) == 2  # 132 transactions (and the payout's own), 100 a page
    assert {request.url.params["payout"] for request in composition_calls} == {automatic["id"]}
    mapper = connector.stream("payouts").mapper
    payout = mapper(got[automatic["id"]].payload, MappingContext("stripe", "payouts"))
    txns = state.tables["balance_transaction"].records
    swept = [txns[t] for t in state.payout_members[automatic["id"]]]
    assert set(payout.payment_ids) == set(charges)
    assert payout.fees is not None and payout.fees.to_minor() == sum(t["fee"] for t in swept)
    assert payout.amount.to_minor() == sum(t["net"] for t in swept) == automatic["amount"]
    assert refund not in payout.payment_ids
    manual_payout = mapper(got[manual["id"]].payload, MappingContext("stripe", "payouts"))
    assert manual_payout.fees is None and manual_payout.payment_ids == ()


def test_incremental_and_full_pulls_map_to_the_same_records() -> None:
    state, clock, _ = seeded_emulator()
    with running(state, clock) as emulator:
        connector = emulator.connector(page_size=100)
        for spec in connector.streams:
            context = MappingContext("stripe", spec.name)
            full = {r.source_id: spec.mapper(r.payload, context) for r in records(connector, spec.name)}
            changed = {
                r.source_id: spec.mapper(r.payload, context)
                for r in records(connector, spec.name, since=START - timedelta(hours=1))
            }
            assert full.keys() == changed.keys(), spec.name
            for native_id, record in full.items():
                assert record.model_copy(update={"updated_at": None}) == changed[native_id].model_copy(
                    update={"updated_at": None}
                ), (spec.name, native_id)


def test_the_call_budget_stops_a_pull(emulator: Emulator, state: StripeState, clock: SandboxClock) -> None:
    seed_customers(state, clock, 12)
    connector = emulator.connector(budget=CallBudget("stripe", max_calls=2))
    with pytest.raises(BudgetExhausted):
        records(connector, "customers")
    assert connector.api_calls == 2


def test_tls_with_the_sandbox_ca_bundle(tmp_path: Path) -> None:
    clock = SandboxClock(START)
    state = StripeState(clock, seed=1)
    state.create_customer(name="Over TLS")
    ca = SandboxCA(tmp_path)
    server = EmulatorServer(build_app(state, FaultInjector()), tls=ca, name="stripe-tls").start()
    try:
        emulator = Emulator(clock, state, FaultInjector(), server)
        connector = StripeConnector(emulator.settings(ca_bundle=str(ca.ca_bundle_path)), clock=clock.now)
        connector.check()
        assert len(records(connector, "customers")) == 1
        connector.close()
    finally:
        server.stop()
        state.close()


def test_updated_at_is_aware_utc(emulator: Emulator, state: StripeState, clock: SandboxClock) -> None:
    seed_customers(state, clock, 2)
    for record in records(emulator.connector(), "customers"):
        assert record.updated_at is not None and record.updated_at.tzinfo is not None
        assert record.updated_at.utcoffset() == timedelta(0)
        assert record.payload["tieout_lookups"]["updated_at"] == int(record.updated_at.timestamp())
    assert datetime.now(UTC) > START


def test_event_types_are_those_of_the_pinned_api_version() -> None:
    spec_path = SPECS / "stripe" / "spec3.2024-04-10.json"
    if not spec_path.exists():
        pytest.skip("the Stripe OpenAPI spec is not on this machine")
    spec = json.loads(spec_path.read_text())
    schema = spec["paths"]["/v1/webhook_endpoints"]["post"]["requestBody"]["content"]
    known = set(
        schema["application/x-www-form-urlencoded"]["schema"]["properties"]["enabled_events"]["items"]["enum"]
    )
    for stream in STREAMS:
        assert len(stream.event_types) <= 20, stream.name
        assert set(stream.event_types) <= known, (stream.name, set(stream.event_types) - known)

"""Salesforce pulls against the emulated org: paging, the tie-safe cursor, deletes, Bulk 2.0 backfills,
the API allocation reserve, SOQL escaping, and errors the emulator cannot script (through `responses`)."""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from salesforce_connector_fixtures import START, Org, new_state, seed_accounts, seed_opportunities, serving

from tieout.config import Mode, SystemSettings, TieoutConfig
from tieout.connectors.base import Page, RawRecord
from tieout.connectors.salesforce import SalesforceConnector, SalesforceSettings
from tieout.connectors.salesforce.lines import URI_LIMIT
from tieout.connectors.salesforce.soql import literal
from tieout.errors import BudgetExhausted, PermissionDenied, RateLimited, TransportError
from tieout.mappings.context import FieldMappings, MappingContext
from tieout.mappings.salesforce import map_opportunity
from tieout.model import ContractStatus
from tieout.runner import SyncService
from tieout.sandbox.salesforce import soql as emulator_soql
from tieout.store import Store


def records(pages: list[Page]) -> list[RawRecord]:
    return [record for page in pages for record in page.records]


@pytest.fixture(scope="module")
def big_org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    """2,100 accounts (one deleted, some updated out of creation order) and 30 opportunities."""
    state = new_state()
    ids = seed_accounts(state, 2100, per_second=40)
    for account_id in ids[:25]:  # now newest by SystemModstamp, still first in the table
        state.update("Account", account_id, {"Type": "Partner"}, at=START + timedelta(hours=1))
    state.delete("Account", ids[30], at=START + timedelta(hours=2))
    seed_opportunities(state, 30)
    with serving(state, tmp_path_factory.mktemp("salesforce-big")) as running:
        yield running


@pytest.fixture
def org(tmp_path: Path) -> Iterator[Org]:
    with serving(new_state(), tmp_path) as running:
        yield running


def test_soql_paging_follows_next_records_url_past_2000_rows(big_org: Org) -> None:
    connector = big_org.connector(bulk_threshold=None)
    before = big_org.injector.requests
    pages = list(connector.pull("accounts"))
    connector.close()
    assert [len(page.records) for page in pages] == [2000, 101]  # the Holder account of the opportunities too
    assert big_org.injector.requests - before == 2  # queryAll, then one nextRecordsUrl
    pulled = records(pages)
    assert len({r.source_id for r in pulled}) == 2101
    stamps = [r.updated_at for r in pulled]
    assert stamps == sorted(stamps)  # type: ignore[type-var]
    assert [r.source_id for r in pulled if r.deleted] == [pulled[-1].source_id]  # deleted last, via queryAll


def test_bulk_backfill_yields_the_rest_records_in_cursor_order(big_org: Org) -> None:
    rest = big_org.connector(bulk_threshold=None)
    bulk = big_org.connector(bulk_threshold=1000, bulk_results_page_size=700)
    jobs_before = big_org.state.limits()["DailyBulkV2QueryJobs"]["Remaining"]
    rest_records, bulk_records = records(list(rest.pull("accounts"))), records(list(bulk.pull("accounts")))
    assert big_org.state.limits()["DailyBulkV2QueryJobs"]["Remaining"] == jobs_before - 1
    assert [r.updated_at for r in bulk_records] == sorted(r.updated_at for r in bulk_records)  # type: ignore[type-var]
    assert {r.source_id: r.payload for r in bulk_records} == {r.source_id: r.payload for r in rest_records}
    assert [r.updated_at for r in bulk_records] == [r.updated_at for r in rest_records]
    assert {r.source_id for r in bulk_records if r.deleted} == {
        r.source_id for r in rest_records if r.deleted
    }
    # opportunities: the same, line items included
    rest_deals = {r.source_id: r.payload for r in records(list(rest.pull("opportunities")))}
    bulk_deals = {r.source_id: r.payload for r in records(list(bulk.pull("opportunities")))}
    rest.close()
    bulk.close()
    assert rest_deals == bulk_deals and len(bulk_deals) == 30


def test_small_backfills_stay_on_rest(big_org: Org) -> None:
    connector = big_org.connector(bulk_threshold=5000)
    jobs_before = big_org.state.limits()["DailyBulkV2QueryJobs"]["Remaining"]
    assert len(records(list(connector.pull("accounts")))) == 2101
    connector.close()
    assert big_org.state.limits()["DailyBulkV2QueryJobs"]["Remaining"] == jobs_before


def sync_config(store_url: str, settings: SalesforceSettings) -> TieoutConfig:
    system = SystemSettings(
        name="salesforce",
        connector="tieout.connectors.salesforce:SalesforceConnector",
        enabled=True,
        mode=Mode.OBSERVE,
        streams=None,
        lookback_seconds=0,
        max_calls_per_run=None,
        settings=settings,
    )
    return TieoutConfig(
        path=Path("tieout.yaml"),
        mode=Mode.OBSERVE,
        store_url=store_url,
        systems={"salesforce": system},
        field_mappings=FieldMappings(),
        secret_values=(settings.session_id.get_secret_value(),),
    )


def test_records_sharing_a_timestamp_across_a_page_boundary_are_not_lost(org: Org, tmp_path: Path) -> None:
    # 190 accounts one a second, then 40 sharing one SystemModstamp, across the 200-record page boundary.
    state = org.state
    for number in range(190):
        state.create_account(f"Early {number:03d}", at=START + timedelta(seconds=number))
    tied_at = START + timedelta(seconds=500)
    tied = [state.create_account(f"Tied {number:02d}", at=tied_at)["Id"] for number in range(40)]
    store = Store.open(f"sqlite:///{tmp_path}/tieout.db")
    settings = org.settings(page_size=200, bulk_threshold=None)
    stop = threading.Event()
    service = SyncService(
        sync_config(str(store.engine.url), settings),
        store,
        connectors={"salesforce": SalesforceConnector(settings)},
        clock=lambda: START + timedelta(days=1),
        stop_event=stop,
        on_page=lambda progress: stop.set(),  # the run stops after its first page, as on SIGTERM
    )
    first = service.sync_stream("salesforce", "accounts")
    assert (first.status, first.pulled) == ("interrupted", 200)
    with store.transaction() as tx:
        cursor = tx.get_cursor("salesforce", "accounts")
    assert cursor is not None and cursor.watermark == tied_at  # mid-way through the tie
    late = state.create_account("Tied late", at=tied_at)["Id"]  # arrives at the cursor's own timestamp
    stop.clear()
    service.on_page = None
    second = service.sync_stream("salesforce", "accounts")
    assert second.status == "succeeded"
    assert second.pulled == 41  # the whole tie again (since is inclusive), plus the late one
    with store.transaction() as tx:
        stored = set(tx.iter_raw_ids("salesforce", "accounts"))
    service.close()
    store.close()
    assert {*tied, late} <= stored and len(stored) == 231


def test_deletes_and_reopened_deals_come_through_incrementally(org: Org) -> None:
    state = org.state
    seed_accounts(state, 3)
    won, reopened, lost = seed_opportunities(state, 3)
    connector = org.connector(bulk_threshold=None)
    assert len(records(list(connector.pull("opportunities")))) == 3
    later = START + timedelta(hours=1)
    state.delete("Opportunity", won, at=later)
    state.update("Opportunity", reopened, {"StageName": "Negotiation/Review"}, at=later)
    state.update("Opportunity", lost, {"StageName": "Closed Lost"}, at=later)
    account = next(iter(state.tables["Account"]))
    state.delete("Account", account, at=later)
    changed = {r.source_id: r for r in records(list(connector.pull("opportunities", since=later)))}
    accounts = records(list(connector.pull("accounts", since=later)))
    connector.close()
    assert set(changed) == {won, reopened, lost}
    assert changed[won].deleted and changed[won].payload["OpportunityLineItems"]["totalSize"] == 0
    context = MappingContext(system="salesforce", stream="opportunities")
    contracts = {source_id: map_opportunity(r.payload, context) for source_id, r in changed.items()}
    assert contracts[won].deleted is True
    assert contracts[reopened].status is ContractStatus.DRAFT and len(contracts[reopened].lines) == 2
    assert contracts[lost].status is ContractStatus.CANCELLED
    assert [(r.source_id, r.deleted) for r in accounts] == [(account, True)]


def test_line_items_are_read_for_as_many_deals_as_one_query_uri_carries(org: Org) -> None:
    deals = seed_opportunities(org.state, 1300)
    org.state.delete("Opportunity", deals[7], at=START + timedelta(minutes=30))
    connector = org.connector(bulk_threshold=None, page_size=200)
    urls: list[str] = []
    connector.client.session.hooks["response"].append(
        lambda response, *args, **kwargs: urls.append(response.url)
    )
    pages = list(connector.pull("opportunities"))
    connector.close()
    pulled = records(pages)
    assert [len(page.records) for page in pages] == [200] * 6 + [100]
    assert [record.source_id for record in pulled] == [*deals[:7], *deals[8:], deals[7]]
    lines = {record.source_id: record.payload["OpportunityLineItems"] for record in pulled}
    assert lines[deals[7]] == {"totalSize": 0, "done": True, "records": []}
    assert all(lines[deal]["totalSize"] == 2 for deal in deals if deal != deals[7])
    assert {line["OpportunityId"] for line in lines[deals[0]]["records"]} == {deals[0]}
    line_queries = [url for url in urls if "OpportunityLineItem" in url]
    # 1,299 live deals in three queries (each near the URI limit), not one query per page of 200
    assert len(urls) == 7 + 3 and len(line_queries) == 3
    assert all(len(url) <= URI_LIMIT for url in urls)
    # ids go by their 15-character form, the shortest SOQL takes; the lines still name the 18
    assert deals[0][:15] in line_queries[0] and deals[0] not in line_queries[0]
    assert max(len(url) for url in line_queries) > URI_LIMIT - 100


def test_the_api_reserve_stops_a_run_cleanly_before_the_allocation_is_spent(org: Org, tmp_path: Path) -> None:
    seed_accounts(org.state, 900)
    reserve, maximum = 50, 10_000
    org.state.set_daily_api_requests(maximum, used=maximum - reserve - 3)
    store = Store.open(f"sqlite:///{tmp_path}/tieout.db")
    settings = org.settings(page_size=200, bulk_threshold=None, api_reserve=reserve)
    service = SyncService(
        sync_config(str(store.engine.url), settings),
        store,
        connectors={"salesforce": SalesforceConnector(settings)},
        clock=lambda: START + timedelta(days=1),
    )
    result = service.sync_stream("salesforce", "accounts")
    with store.transaction() as tx:
        stored, cursor = tx.count_raw("salesforce", "accounts"), tx.get_cursor("salesforce", "accounts")
    service.close()
    store.close()
    assert result.status == "failed" and "call budget" in (result.error or "")
    # the first answer says 3 calls are left above the reserve: three pages, then a clean stop
    assert (result.pages, stored) == (3, 600)
    assert cursor is not None and cursor.watermark is not None
    used, _ = org.state.api_usage()
    assert used == maximum - reserve  # the reserve is untouched


def test_a_spent_daily_allocation_is_budget_exhausted_not_retried(org: Org) -> None:
    seed_accounts(org.state, 5)
    org.state.set_daily_api_requests(100, used=100)
    connector = org.connector(bulk_threshold=None)
    before = org.injector.requests
    with pytest.raises(BudgetExhausted, match="daily API allocation"):
        list(connector.pull("accounts"))
    connector.close()
    assert org.injector.requests - before == 1


def test_dropped_connections_are_transport_errors(org: Org) -> None:
    seed_accounts(org.state, 5)
    connector = org.connector(bulk_threshold=None)
    org.injector.fail_next_drop(times=1)
    assert len(records(list(connector.pull("accounts")))) == 5
    org.injector.fail_next_drop(times=10)
    with pytest.raises(TransportError):
        list(connector.pull("accounts"))
    org.injector.clear_scripted()
    connector.close()


# ---- SOQL escaping ----------------------------------------------------------------------------

NASTY = [
    "O'Brien",
    "back\\slash",
    "x' OR Name != 'y",
    "quote\"s and 'both'",
    "line\nbreak\ttab",
    "%_ wildcards \\% \\_",
    "') OR (Id != null",
    "\\' OR Name LIKE '%",
]


@given(st.text(max_size=60))
def test_a_quoted_value_reads_back_as_the_same_literal(value: str) -> None:
    parsed = emulator_soql.parse(f"SELECT Id FROM Account WHERE Name = {literal(value)}")
    assert isinstance(parsed.where, emulator_soql.Comparison)
    assert isinstance(parsed.where.value, emulator_soql.StringLit)
    assert parsed.where.value.text == value


def test_id_lists_and_datetimes_read_back_too() -> None:
    ids = ["006Hs0000000001IAA", "006Hs0000000002IAA"]
    parsed = emulator_soql.parse(f"SELECT Id FROM Opportunity WHERE Id IN {literal(ids)}")
    assert isinstance(parsed.where, emulator_soql.InList)
    assert [value.text for value in parsed.where.values if isinstance(value, emulator_soql.StringLit)] == ids
    moment = datetime(2026, 3, 2, 12, 0, 1, tzinfo=UTC)
    parsed = emulator_soql.parse(f"SELECT Id FROM Account WHERE SystemModstamp >= {literal(moment)}")
    assert isinstance(parsed.where, emulator_soql.Comparison) and parsed.where.value == moment


@pytest.mark.parametrize("value", NASTY)
def test_a_filter_value_with_quotes_backslashes_and_operators_selects_only_its_record(
    org: Org, value: str
) -> None:
    seed_accounts(org.state, 20)
    target = org.state.create_account(value, at=START)["Id"]
    connector = org.connector(bulk_threshold=None, filters={"accounts": {"Name": value}})
    pulled = records(list(connector.pull("accounts")))
    connector.close()
    assert [r.source_id for r in pulled] == [target]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=40)
)
def test_any_filter_value_round_trips_through_the_emulator(big_org: Org, value: str) -> None:
    connector = big_org.connector(bulk_threshold=None, filters={"accounts": {"AccountNumber": value}})
    pulled = records(list(connector.pull("accounts")))
    connector.close()
    assert all(str(r.payload["AccountNumber"]).casefold() == value.casefold() for r in pulled)


# ---- exact failures through a mocked transport ------------------------------------------------

INSTANCE = "https://tieout-test.my.salesforce.com"
QUERY_ALL = re.compile(re.escape(f"{INSTANCE}/services/data/v59.0/queryAll/") + r"?")


def mocked_connector(**overrides: Any) -> SalesforceConnector:
    values: dict[str, Any] = {
        "instance_url": INSTANCE,
        "session_id": SecretStr("00D000000000001!token"),
        "bulk_threshold": None,
        "max_attempts": 3,
        "backoff_base_seconds": 0.0,
        **overrides,
    }
    return SalesforceConnector(SalesforceSettings(**values))


ACCOUNT_ROW = {
    "attributes": {"type": "Account", "url": "/services/data/v59.0/sobjects/Account/001Hs0000000001IAA"},
    "Id": "001Hs0000000001IAA",
    "IsDeleted": False,
    "Name": "Acme",
    "AR_Balance__c": 10.5,
    "SystemModstamp": "2026-03-02T12:00:00.000+0000",
}
LIMIT_EXCEEDED = [
    {"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "ConcurrentPerOrgLongTxn Limit exceeded."}
]


@responses.activate
def test_a_403_request_limit_exceeded_is_a_rate_limit_retried_after_its_delay() -> None:
    responses.get(QUERY_ALL, json=LIMIT_EXCEEDED, status=403, headers={"Retry-After": "0"})
    responses.get(
        QUERY_ALL,
        json={"totalSize": 1, "done": True, "records": [ACCOUNT_ROW]},
        headers={"Sforce-Limit-Info": "api-usage=10/15000"},
    )
    connector = mocked_connector()
    pulled = records(list(connector.pull("accounts")))
    assert [r.payload["AR_Balance__c"] for r in pulled] == [Decimal("10.5")]
    assert "attributes" not in pulled[0].payload
    assert connector.api_calls == 2 and connector.budget.max_calls == 2 + 15000 - 10 - 1000


@responses.activate
def test_a_persistent_request_limit_is_rate_limited_with_its_delay() -> None:
    responses.get(QUERY_ALL, json=LIMIT_EXCEEDED, status=403, headers={"Retry-After": "0"})
    connector = mocked_connector(max_attempts=2)
    with pytest.raises(RateLimited) as caught:
        list(connector.pull("accounts"))
    assert caught.value.retry_after_seconds == 0 and connector.api_calls == 2


@responses.activate
def test_other_refusals_are_permission_denied_and_never_retried() -> None:
    responses.get(
        QUERY_ALL, json=[{"errorCode": "INSUFFICIENT_ACCESS", "message": "no access to Account"}], status=403
    )
    connector = mocked_connector()
    with pytest.raises(PermissionDenied, match="INSUFFICIENT_ACCESS"):
        list(connector.pull("accounts"))
    assert connector.api_calls == 1


@responses.activate
def test_the_access_token_never_shows_in_an_error() -> None:
    token = "00D000000000001!token"
    responses.get(
        QUERY_ALL, json=[{"errorCode": "UNKNOWN_EXCEPTION", "message": f"echo {token}"}], status=500
    )
    connector = mocked_connector(max_attempts=1)
    with pytest.raises(Exception) as caught:
        list(connector.pull("accounts", since=START, until=START + timedelta(days=1)))
    assert token not in str(caught.value)


def test_a_window_is_asked_to_the_second_and_trimmed_exactly(org: Org) -> None:
    state = org.state
    inside = state.create_account("Inside", at=START + timedelta(milliseconds=500))["Id"]
    state.create_account("Before", at=START + timedelta(milliseconds=200))
    state.create_account("After", at=START + timedelta(milliseconds=900))
    connector = org.connector(bulk_threshold=None)
    pulled = records(
        list(
            connector.pull(
                "accounts",
                since=START + timedelta(milliseconds=300),
                until=START + timedelta(milliseconds=700),
            )
        )
    )
    connector.close()
    assert [r.source_id for r in pulled] == [inside]


def test_check_passes_and_primes_the_budget_from_the_org(org: Org) -> None:
    org.state.set_daily_api_requests(5000, used=100)
    connector = org.connector(api_reserve=1000)
    connector.check()
    connector.close()
    assert connector.budget.max_calls == 1 + 5000 - 101 - 1000

"""The sync runner against the Ledgerly fake over real HTTP, on both store backends."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fakeledger import (
    TOKEN,
    LedgerlyConnector,
    LedgerlySettings,
    LedgerlyState,
    ledgerly_config,
    running_ledgerly,
    seed_invoices,
)

from tieout.connectors.base import Page
from tieout.errors import MappingError
from tieout.model import Customer
from tieout.page_mapping import storable_row as _storable_row
from tieout.runner import SyncService
from tieout.store import Store

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def ledgerly() -> LedgerlyState:
    state = LedgerlyState()
    seed_invoices(state, 120, start=START, same_time_every=4)
    return state


@pytest.fixture
def ledgerly_url(ledgerly: LedgerlyState) -> Iterator[str]:
    with running_ledgerly(ledgerly) as url:
        yield url


def service_for(store: Store, url: str, **config: object) -> SyncService:
    connector = LedgerlyConnector(LedgerlySettings(base_url=url, api_token=TOKEN, page_size=25))  # type: ignore[arg-type]
    return SyncService(
        ledgerly_config(str(store.engine.url), **config), store, connectors={"ledgerly": connector}
    )  # type: ignore[arg-type]


def stored_ids(store: Store) -> list[str]:
    with store.transaction() as tx:
        return list(tx.iter_raw_ids("ledgerly", "invoices"))


def test_full_sync_stores_raw_and_canonical_and_advances_the_cursor(store: Store, ledgerly_url: str) -> None:
    result = service_for(store, ledgerly_url).sync_stream("ledgerly", "invoices")
    assert (result.status, result.pulled, result.mapped, result.failed, result.pages) == (
        "succeeded",
        120,
        120,
        0,
        5,
    )
    assert result.api_calls == 5
    with store.transaction() as tx:
        assert tx.count_raw("ledgerly", "invoices") == 120
        assert len(list(tx.iter_canonical("invoice", "ledgerly"))) == 120
        cursor = tx.get_cursor("ledgerly", "invoices")
        run = tx.get_run(result.run_id)
    assert cursor is not None and cursor.watermark == START + timedelta(seconds=29)
    assert run is not None and (run.status, run.pulled, run.api_calls) == ("succeeded", 120, 5)


def test_incremental_sync_repulls_only_from_the_cursor_and_never_skips_ties(
    store: Store, ledgerly: LedgerlyState, ledgerly_url: str
) -> None:
    service = service_for(store, ledgerly_url)
    service.sync_stream("ledgerly", "invoices")
    # A record arrives with the same timestamp as the newest already synced: it must not be skipped.
    newest = START + timedelta(seconds=29)
    ledgerly.add(
        "invoices",
        {
            "id": "inv-late",
            "customer": "c",
            "currency": "EUR",
            "total": "5",
            "status": "open",
            "updated_at": newest.isoformat(),
        },
    )
    result = service.sync_stream("ledgerly", "invoices")
    assert result.status == "succeeded"
    assert result.pulled == 5  # the four records at the cursor timestamp, plus the late one
    assert result.api_calls == 1
    assert "inv-late" in stored_ids(store)


def test_lookback_repulls_a_window_before_the_cursor(store: Store, ledgerly_url: str) -> None:
    service = service_for(store, ledgerly_url, lookback_seconds=2)
    service.sync_stream("ledgerly", "invoices")
    assert service.sync_stream("ledgerly", "invoices").pulled == 12


def test_a_record_that_cannot_be_mapped_is_filed_and_the_run_goes_on(
    store: Store, ledgerly: LedgerlyState, ledgerly_url: str
) -> None:
    ledgerly.add(
        "invoices",
        {
            "id": "inv-bad",
            "customer": "c",
            "currency": "XXQ",
            "total": "5",
            "status": "open",
            "updated_at": (START + timedelta(seconds=3)).isoformat(),
        },
    )
    service = service_for(store, ledgerly_url)
    result = service.sync_stream("ledgerly", "invoices")
    assert (result.status, result.pulled, result.mapped, result.failed) == ("succeeded", 121, 120, 1)
    with store.transaction() as tx:
        raw = tx.get_raw("ledgerly", "invoices", "inv-bad")
        [exception] = tx.list_exceptions(status=["open"])
    assert (
        raw is not None
        and raw.mapping_error is not None
        and "unknown currency code 'XXQ'" in raw.mapping_error
    )
    assert exception.rule_code == "SYNC_MAPPING_FAILED"
    assert "inv-bad" in exception.explanation and "XXQ" in exception.explanation
    # Fixed at the source: the next sync maps it and the exception closes itself.
    ledgerly.add(
        "invoices",
        {
            "id": "inv-bad",
            "customer": "c",
            "currency": "EUR",
            "total": "5",
            "status": "open",
            "updated_at": (START + timedelta(seconds=60)).isoformat(),
        },
    )
    service.sync_stream("ledgerly", "invoices")
    with store.transaction() as tx:
        assert tx.get_exception(exception.exception_id).status == "resolved"  # type: ignore[union-attr]
        assert tx.get_raw("ledgerly", "invoices", "inv-bad").mapping_error is None  # type: ignore[union-attr]


def test_a_failing_system_fails_the_run_without_moving_the_cursor(
    store: Store, ledgerly: LedgerlyState, ledgerly_url: str
) -> None:
    service = service_for(store, ledgerly_url)
    ledgerly.fail_next(401, times=5)
    result = service.sync_stream("ledgerly", "invoices")
    assert result.status == "failed"
    assert result.error is not None and "401" in result.error and TOKEN not in result.error
    with store.transaction() as tx:
        assert tx.get_cursor("ledgerly", "invoices") is None
        assert tx.get_run(result.run_id).status == "failed"  # type: ignore[union-attr]


def test_unordered_streams_move_the_cursor_only_after_the_last_page(
    store: Store, ledgerly: LedgerlyState, ledgerly_url: str
) -> None:
    for number in range(60):
        ledgerly.add(
            "customers",
            {
                "id": f"c-{number:03d}",
                "name": f"Customer {number}",
                "updated_at": (START + timedelta(minutes=60 - number)).isoformat(),
            },
        )
    service = service_for(store, ledgerly_url)
    # The first page commits, then the system fails for good: nothing may be bookmarked, because
    # the newest record of an id-ordered stream may be on a page not yet seen.
    service.on_page = lambda progress: ledgerly.fail_next(500, times=20) if progress.pages == 1 else None
    failed = service.sync_stream("ledgerly", "customers")
    assert (failed.status, failed.pulled) == ("failed", 25)
    with store.transaction() as tx:
        assert tx.get_cursor("ledgerly", "customers") is None
        assert tx.count_raw("ledgerly", "customers") == 25
    ledgerly.failures.clear()
    service.on_page = None
    result = service.sync_stream("ledgerly", "customers")
    assert (result.status, result.pulled) == ("succeeded", 60)
    with store.transaction() as tx:
        cursor = tx.get_cursor("ledgerly", "customers")
        assert tx.count_raw("ledgerly", "customers") == 60
    assert cursor is not None and cursor.watermark == START + timedelta(minutes=60)


def test_the_cursor_never_passes_the_start_of_the_run(
    store: Store, ledgerly: LedgerlyState, ledgerly_url: str
) -> None:
    started = datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)
    service = service_for(store, ledgerly_url)
    service.clock = lambda: started
    result = service.sync_stream("ledgerly", "invoices")
    assert result.pulled == 40  # records updated before the run started
    with store.transaction() as tx:
        assert tx.get_cursor("ledgerly", "invoices").watermark < started  # type: ignore[union-attr]


def test_a_stop_request_ends_the_run_at_a_page_boundary(store: Store, ledgerly_url: str) -> None:
    service = service_for(store, ledgerly_url)
    service.stop_event = threading.Event()
    service.on_page = lambda progress: service.stop_event.set() if progress.pages == 2 else None
    result = service.sync_stream("ledgerly", "invoices")
    assert (result.status, result.pulled) == ("interrupted", 50)
    with store.transaction() as tx:
        assert tx.count_raw("ledgerly", "invoices") == 50
        assert tx.get_cursor("ledgerly", "invoices").watermark == START + timedelta(seconds=12)  # type: ignore[union-attr]
    service.stop_event.clear()
    service.on_page = None
    assert service.sync_stream("ledgerly", "invoices").status == "succeeded"
    assert len(stored_ids(store)) == 120


def test_the_call_budget_stops_the_run_cleanly(store: Store, ledgerly_url: str) -> None:
    connector = LedgerlyConnector(LedgerlySettings(base_url=ledgerly_url, api_token=TOKEN, page_size=25))  # type: ignore[arg-type]
    connector.budget.max_calls = 2
    service = SyncService(ledgerly_config(str(store.engine.url)), store, connectors={"ledgerly": connector})
    result = service.sync_stream("ledgerly", "invoices")
    assert result.status == "failed" and result.error is not None and "budget" in result.error
    assert len(stored_ids(store)) == 50


class FeedReadingLedgerly(LedgerlyConnector):
    """Ledgerly as if it kept a change feed: after its pages, an empty one saying how far it was read."""

    def pull(
        self, stream: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Page]:
        yield from super().pull(stream, since=since, until=until)
        yield Page([], watermark=until)


def test_a_change_feed_watermark_moves_the_cursor_even_when_nothing_changed(
    store: Store, ledgerly_url: str
) -> None:
    started = datetime(2026, 3, 1, tzinfo=UTC)
    connector = FeedReadingLedgerly(LedgerlySettings(base_url=ledgerly_url, api_token=TOKEN, page_size=25))  # type: ignore[arg-type]
    service = SyncService(
        ledgerly_config(str(store.engine.url)),
        store,
        connectors={"ledgerly": connector},
        clock=lambda: started,
    )  # type: ignore[arg-type]
    for stream in ("invoices", "customers"):
        assert service.sync_stream("ledgerly", stream).status == "succeeded"
        with store.transaction() as tx:
            cursor = tx.get_cursor("ledgerly", stream)
        assert cursor is not None and cursor.watermark == started, stream


@pytest.mark.parametrize(
    ("legal_name", "links", "problem"),
    [
        ("Acme\x00 GmbH", {}, "legal_name: the text holds a NUL character"),
        ("Acme \ud800", {}, "legal_name: the text holds a lone surrogate"),
        ("Acme", {"stripe\ud800": "cus_1"}, "links: the text holds a lone surrogate"),
    ],
)
def test_text_the_store_cannot_hold_fails_its_own_record_by_field(
    legal_name: str, links: dict[str, str], problem: str
) -> None:
    record = Customer(system="ledgerly", native_id="c-1", legal_name=legal_name, links=links)
    with pytest.raises(MappingError) as raised:
        _storable_row(record, "customers")
    assert str(raised.value).startswith(problem)


@pytest.mark.parametrize("legal_name", ["Caf\u00e9 \u2603 K.K.", "a literal \\u0000 and \ufffd"])
def test_text_that_only_looks_unstorable_is_stored(legal_name: str) -> None:
    record = Customer(system="ledgerly", native_id="c-1", legal_name=legal_name, links={"stripe": "cus_1"})
    row = _storable_row(record, "customers")
    assert Customer.model_validate_json(str(row["payload"])) == record

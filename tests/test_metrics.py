"""Prometheus metrics, scraped over HTTP from a running metrics server and parsed as Prometheus would.

Counters are per process, so each test compares a scrape after the work with one before it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fakeledger import LedgerlyState, connector_for, ledgerly_config, running_ledgerly, seed_invoices
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tieout.config_sections import MetricsConfig
from tieout.findings import Finding, Severity
from tieout.flows.pusher import Pusher, PushIntent
from tieout.observability.metrics import MetricsServer, build_registry, start_metrics_server
from tieout.runner import SyncService
from tieout.store import Store

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def invoice_intent(number: int) -> PushIntent:
    return PushIntent(
        flow="billing_invoices_to_ledger",
        target_system="ledgerly",
        target_stream="invoices",
        kind="invoice",
        source_system="metronome",
        source_native_id=f"m-{number}",
        source_record_id=f"metronome:invoice:m-{number}",
        operation="create",
        payload={"customer": "cust-1", "currency": "EUR", "total": "10.00", "status": "open"},
    )


@pytest.fixture
def server(store: Store) -> Iterator[MetricsServer]:
    started = start_metrics_server(MetricsConfig(host="127.0.0.1", port=free_port()), store)
    assert started is not None
    yield started
    started.stop()


def scrape(server: MetricsServer) -> Samples:
    response = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def finding(rule_code: str, severity: Severity, record: str) -> Finding:
    return Finding(rule_code, f"{rule_code} on {record}", "test", severity, (record,))


def test_a_sync_shows_in_the_counters_with_its_rate_limits_and_duration(
    store: Store, server: MetricsServer
) -> None:
    ledgerly = LedgerlyState()
    seed_invoices(ledgerly, 120, start=datetime(2026, 1, 1, tzinfo=UTC))
    ledgerly.fail_next(429, retry_after=0)
    before = scrape(server)
    with running_ledgerly(ledgerly) as url:
        connector = connector_for(url, page_size=25)
        service = SyncService(
            ledgerly_config(str(store.engine.url)), store, connectors={"ledgerly": connector}
        )
        result = service.sync_stream("ledgerly", "invoices")
        service.close()
    after = scrape(server)
    assert result.status == "succeeded"

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("tieout_records_pulled_total", system="ledgerly", stream="invoices") == 120
    assert delta("tieout_api_rate_limited_total", system="ledgerly") == 1
    # Five pages of up to 25 records, and the attempt answered 429.
    assert delta("tieout_api_calls_total", system="ledgerly") == result.api_calls == 6
    assert delta("tieout_run_duration_seconds_count", job="sync:ledgerly:invoices", status="succeeded") == 1
    lag = value(after, "tieout_cursor_lag_seconds", system="ledgerly", stream="invoices")
    assert lag > 0 and result.watermark is not None
    assert lag >= (datetime.now(UTC) - result.watermark - timedelta(minutes=1)).total_seconds()


def test_pushes_and_refusals_are_counted_by_target(store: Store, server: MetricsServer) -> None:
    ledgerly = LedgerlyState()
    with running_ledgerly(ledgerly) as url:
        connector = connector_for(url)
        # Someone already used intent 3's key with another body: Ledgerly refuses it with a 409.
        connector.push("invoices", {"total": "1.00"}, idempotency_key=invoice_intent(3).key)
        before = scrape(server)
        push = Pusher(store, {"ledgerly": connector}, clock=lambda: datetime.now(UTC), run_id=None)
        outcomes = push.push([invoice_intent(1), invoice_intent(2), invoice_intent(3)]).outcomes
        after = scrape(server)
        connector.close()
    assert [outcome.status for outcome in outcomes] == ["created", "created", "rejected"]
    labels = {"system": "ledgerly", "stream": "invoices"}
    assert (
        value(after, "tieout_records_pushed_total", **labels)
        - value(before, "tieout_records_pushed_total", **labels)
        == 2
    )
    assert (
        value(after, "tieout_records_failed_total", stage="push", **labels)
        - value(before, "tieout_records_failed_total", stage="push", **labels)
        == 1
    )
    # The refusal is in the queue, and the store's figures say so.
    assert value(after, "tieout_open_exceptions", rule="SYNC_PUSH_REJECTED", severity="high") == 1


def test_open_exceptions_are_read_from_the_store_at_each_scrape(store: Store, server: MetricsServer) -> None:
    now = datetime.now(UTC)
    with store.transaction() as tx:
        tx.file_findings(
            [
                finding("INVOICE_TOTAL_DIFFERS", Severity.HIGH, "a"),
                finding("INVOICE_TOTAL_DIFFERS", Severity.HIGH, "b"),
                finding("CUSTOMER_NAME_MISMATCH", Severity.MEDIUM, "c"),
            ],
            at=now,
            run_id=None,
        )
    first = scrape(server)
    assert value(first, "tieout_store_up") == 1
    assert value(first, "tieout_open_exceptions", rule="INVOICE_TOTAL_DIFFERS", severity="high") == 2
    assert value(first, "tieout_open_exceptions", rule="CUSTOMER_NAME_MISMATCH", severity="medium") == 1
    with store.transaction() as tx:
        tx.auto_resolve(
            [finding("CUSTOMER_NAME_MISMATCH", Severity.MEDIUM, "c").fingerprint], at=now, note="gone"
        )
    second = scrape(server)
    assert (
        "tieout_open_exceptions",
        (("rule", "CUSTOMER_NAME_MISMATCH"), ("severity", "medium")),
    ) not in second
    assert value(second, "tieout_open_exceptions", rule="INVOICE_TOTAL_DIFFERS", severity="high") == 2


def test_a_store_that_cannot_be_read_reports_store_up_zero(tmp_path: Path) -> None:
    unreachable = Store.open(f"sqlite:///{tmp_path}/missing/dir/tieout.db", check_schema=False)
    samples = parse(generate_latest(build_registry(unreachable)).decode())
    assert value(samples, "tieout_store_up") == 0
    assert not any(name == "tieout_open_exceptions" for name, _ in samples)
    unreachable.close()


def test_metrics_can_be_switched_off(store: Store) -> None:
    assert start_metrics_server(MetricsConfig(enabled=False), store) is None


def test_the_calls_of_a_run_that_fails_before_its_first_page_are_counted(
    store: Store, server: MetricsServer
) -> None:
    ledgerly = LedgerlyState()
    seed_invoices(ledgerly, 10, start=datetime(2026, 1, 1, tzinfo=UTC))
    ledgerly.fail_next(401)
    before = scrape(server)
    with running_ledgerly(ledgerly) as url:
        service = SyncService(
            ledgerly_config(str(store.engine.url)), store, connectors={"ledgerly": connector_for(url)}
        )
        result = service.sync_stream("ledgerly", "invoices")
        service.close()
    after = scrape(server)
    assert result.status == "failed" and result.pages == 0
    assert (
        value(after, "tieout_api_calls_total", system="ledgerly")
        - value(before, "tieout_api_calls_total", system="ledgerly")
        == 1
    )
    failed_runs = ("tieout_run_duration_seconds_count", {"job": "sync:ledgerly:invoices", "status": "failed"})
    assert (
        value(after, failed_runs[0], **failed_runs[1]) - value(before, failed_runs[0], **failed_runs[1]) == 1
    )

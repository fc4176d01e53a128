"""Scheduled jobs one at a time: run records, followers, locks, the executor and the AR snapshot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING
from fakeledger import TOKEN
from prometheus_client import generate_latest
from typer.testing import CliRunner

from tieout.cli import app
from tieout.config import TieoutConfig, load_config
from tieout.model import Invoice, InvoiceStatus, Payment
from tieout.money import Money
from tieout.observability.metrics import build_registry
from tieout.reconcile.ar import GroupBy, build_report
from tieout.reconcile.queue import ExceptionQueue
from tieout.scheduler.ar_snapshot import take_ar_snapshot
from tieout.scheduler.executor import InProcessExecutor
from tieout.scheduler.jobs import lock_name, run_job
from tieout.scheduler.locks import LeaderLease, job_lock
from tieout.scheduler.service import SchedulerService
from tieout.store import Store

AS_OF = date(2026, 3, 31)


@pytest.fixture
def config(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TieoutConfig:
    # Nothing listens on port 9: a pull of ledgerly fails at once.
    monkeypatch.setenv("LEDGERLY_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LEDGERLY_TOKEN", TOKEN)
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "support"))
    path = tmp_path / "tieout.yaml"
    path.write_text(
        f"""
version: 1
store:
  url: {store_url}
systems:
  ledgerly:
    connector: fakeledger:LedgerlyConnector
    settings:
      base_url: ${{LEDGERLY_URL}}
      api_token: ${{LEDGERLY_TOKEN}}
schedule:
  jobs:
    pull:
      run: pull:ledgerly
      every: 5m
      then: [reconcile]
    reconcile:
      run: reconcile
      every: 1h
      then: [ar_snapshot]
    ar_snapshot:
      run: ar_snapshot
      cron: "0 2 * * *"
    reconcile_full:
      run: reconcile:full
      cron: "30 1 * * *"
    push_invoices:
      run: flow:invoices_to_netsuite
      every: 1h
    misspelt_flow:
      run: flow:invoices_to_netsuit
      every: 1h
    unknown_system:
      run: pull:nosuch
      every: 1h
"""
    )
    return load_config(path)


@pytest.fixture
def cached_config(config: TieoutConfig, tmp_path: Path) -> TieoutConfig:
    """The same jobs, with the reconcile projection kept in a file, so runs can look only at what changed."""
    path = config.path
    path.write_text(path.read_text() + f"reconcile:\n  cache_path: {tmp_path / 'reconcile.duckdb'}\n")
    return load_config(path)


@pytest.fixture
def other_store(store_url: str, store: Store) -> Iterator[Store]:
    opened = Store.open(store_url)
    yield opened
    opened.close()


def invoice(native_id: str, remaining: str, currency: str, subsidiary_id: str, due_on: date) -> Invoice:
    amount = Money.of(remaining, currency)
    return Invoice(
        system="netsuite",
        native_id=native_id,
        customer_id="C1",
        currency=currency,
        status=InvoiceStatus.OPEN,
        issued_on=due_on - timedelta(days=30),
        due_on=due_on,
        subtotal=amount,
        tax=Money.zero(currency),
        total=amount,
        amount_due=amount,
        amount_paid=Money.zero(currency),
        amount_remaining=amount,
        subsidiary_id=subsidiary_id,
    )


def unapplied_payment(native_id: str, amount: str, currency: str, subsidiary_id: str) -> Payment:
    return Payment(
        system="netsuite",
        native_id=native_id,
        customer_id="C1",
        currency=currency,
        gross=Money.of(amount, currency),
        received_at=datetime(2026, 3, 20, tzinfo=UTC),
        unapplied=Money.of(amount, currency),
        subsidiary_id=subsidiary_id,
    )


RECORDS = [
    invoice("INV-1", "1000.00", "USD", "1", due_on=AS_OF + timedelta(days=5)),
    invoice("INV-2", "250.50", "USD", "1", due_on=AS_OF - timedelta(days=45)),
    invoice("INV-3", "120000", "JPY", "2", due_on=AS_OF - timedelta(days=100)),
    unapplied_payment("PAY-1", "75.25", "USD", "1"),
    unapplied_payment("PAY-2", "40.00", "GBP", "3"),
]


def store_records(store: Store, records: list[Invoice | Payment]) -> None:
    with store.transaction() as tx:
        tx.upsert_canonical([(record, "records") for record in records], stored_at=datetime.now(UTC))


def test_the_ar_snapshot_keeps_one_row_per_subsidiary_and_currency_per_day(store: Store) -> None:
    store_records(store, RECORDS)
    taken_at = datetime(2026, 3, 31, 2, 0, tzinfo=UTC)
    rows = take_ar_snapshot(store, as_of=AS_OF, taken_at=taken_at)
    assert [(row.subsidiary_id, row.currency) for row in rows] == [("1", "USD"), ("2", "JPY"), ("3", "GBP")]
    with store.transaction() as tx:
        stored = {(row.subsidiary_id, row.currency): row for row in tx.ar_snapshots(since=AS_OF)}
    usd, jpy, gbp = stored[("1", "USD")], stored[("2", "JPY")], stored[("3", "GBP")]
    assert [bucket.amount for bucket in usd.buckets] == [Decimal("1000.00"), 0, Decimal("250.50"), 0, 0]
    assert usd.open_total == Money.of("1250.50", "USD")
    assert usd.unapplied_cash == Money.of("75.25", "USD")
    assert [bucket.amount for bucket in jpy.buckets] == [0, 0, 0, 0, Decimal("120000")]
    assert gbp.open_total == Money.zero("GBP") and gbp.unapplied_cash == Money.of("40.00", "GBP")
    assert usd.taken_at == taken_at
    # The DSO is the AR report's standard DSO for the same subsidiary and currency.
    report = build_report([r for r in RECORDS if isinstance(r, Invoice)], [], [], as_of=AS_OF)
    expected = {(row.subsidiary_id, row.currency): row.standard_days for row in report.dso}
    assert usd.dso_days == expected[("1", "USD")] and jpy.dso_days == expected[("2", "JPY")]
    assert len(report.aging[GroupBy.SUBSIDIARY]) == 2

    # Taking the same day again replaces it; another day adds to the trend.
    store_records(store, [invoice("INV-2", "0.00", "USD", "1", due_on=AS_OF - timedelta(days=45))])
    take_ar_snapshot(store, as_of=AS_OF, taken_at=taken_at + timedelta(hours=1))
    take_ar_snapshot(store, as_of=AS_OF + timedelta(days=1), taken_at=taken_at + timedelta(days=1))
    with store.transaction() as tx:
        today = tx.ar_snapshots(since=AS_OF, until=AS_OF, subsidiary_id="1", currency="USD")
        trend = tx.dso_trend(currency="USD")
    assert [row.open_total for row in today] == [Money.of("1000.00", "USD")]
    assert list(trend) == [("1", "USD")]
    assert [day for day, _ in trend[("1", "USD")]] == [AS_OF, AS_OF + timedelta(days=1)]


def test_a_job_keeps_a_run_record_and_runs_its_followers(config: TieoutConfig, store: Store) -> None:
    store_records(store, RECORDS)
    outcome = run_job(config, store, "reconcile")
    assert (outcome.status, outcome.error) == ("succeeded", None)
    assert [(follower.job, follower.status) for follower in outcome.followers] == [
        ("ar_snapshot", "succeeded")
    ]
    with store.transaction() as tx:
        [reconcile] = tx.list_runs(job="reconcile")
        [snapshot] = tx.list_runs(job="ar_snapshot")
        snapshots = tx.ar_snapshots()
        leases = tx.list_leases()
    assert (reconcile.status, reconcile.trigger) == ("succeeded", "schedule")
    assert (snapshot.status, snapshot.trigger) == ("succeeded", "after:reconcile")
    assert snapshots and leases == []
    exposed = generate_latest(build_registry()).decode()
    assert 'tieout_run_duration_seconds_count{job="reconcile",status="succeeded"}' in exposed
    assert 'tieout_run_duration_seconds_count{job="ar_snapshot",status="succeeded"}' in exposed


def test_the_nightly_full_reconcile_looks_at_everything_and_reopens_what_was_resolved_by_hand(
    cached_config: TieoutConfig, store: Store, other_store: Store
) -> None:
    store_records(store, RECORDS)
    assert "(every record)" in run_job(cached_config, store, "reconcile").detail
    with store.transaction() as tx:
        [unapplied] = [
            item
            for item in tx.list_exceptions(status=("open",))
            if any("PAY-1" in r for r in item.record_ids)
        ]
    ExceptionQueue(store).resolve(unapplied.exception_id, actor="ar@example.com", note="applied by hand")
    hourly = run_job(cached_config, store, "reconcile")
    assert "(what changed)" in hourly.detail and "0 reopened" in hourly.detail
    # Both reconciles keep one projection and one queue: they share a lock.
    with job_lock(other_store, lock_name("reconcile"), lease_seconds=60):
        assert run_job(cached_config, store, "reconcile_full").status == "skipped"
    nightly = run_job(cached_config, store, "reconcile_full")
    assert nightly.status == "succeeded" and nightly.target == "reconcile:full"
    assert "(every record)" in nightly.detail and "1 reopened" in nightly.detail
    with store.transaction() as tx:
        reopened = tx.get_exception(unapplied.exception_id)
        assert reopened is not None and reopened.status == "open"
        assert [run.status for run in tx.list_runs(job="reconcile:full")] == ["succeeded"]


def test_a_job_whose_lock_is_held_elsewhere_is_skipped(
    config: TieoutConfig, store: Store, other_store: Store
) -> None:
    with job_lock(other_store, lock_name("reconcile"), lease_seconds=60) as held:
        outcome = run_job(config, store, "reconcile")
    assert outcome.status == "skipped" and held.holder in (outcome.error or "")
    assert outcome.followers == []
    with store.transaction() as tx:
        assert tx.list_runs() == []


def test_a_failed_pull_fails_the_job_and_its_followers_wait(config: TieoutConfig, store: Store) -> None:
    outcome = run_job(config, store, "pull")
    assert outcome.status == "failed"
    assert "ledgerly invoices" in (outcome.error or "")
    assert outcome.followers == []
    with store.transaction() as tx:
        assert {run.status for run in tx.list_runs(job_prefix="sync:ledgerly:")} == {"failed"}
        assert tx.list_runs(job="reconcile") == []


def test_the_in_process_executor_runs_jobs_until_shut_down(config: TieoutConfig, store: Store) -> None:
    executor = InProcessExecutor(config, store)
    future = executor.submit("ar_snapshot", trigger="manual")
    assert future.result().status == "succeeded"
    executor.shutdown()
    assert executor.submit("ar_snapshot").cancelled()
    with store.transaction() as tx:
        [run] = tx.list_runs(job="ar_snapshot")
    assert run.trigger == "manual"


def test_a_flow_job_runs_only_its_flow_and_pulls_nothing(config: TieoutConfig, store: Store) -> None:
    outcome = run_job(config, store, "push_invoices")
    # NetSuite is not configured here, so the flow has nowhere to push: done, nothing pulled.
    assert (outcome.status, outcome.detail) == ("succeeded", "0 pulled, 0 pushed")
    with store.transaction() as tx:
        assert tx.list_runs() == []


def test_a_job_naming_an_unknown_flow_or_system_fails_saying_which(
    config: TieoutConfig, store: Store
) -> None:
    flow = run_job(config, store, "misspelt_flow")
    assert flow.status == "failed"
    assert "schedule.jobs.misspelt_flow.run: no flow 'invoices_to_netsuit'" in (flow.error or "")
    assert "invoices_to_netsuite" in (flow.error or "")
    system = run_job(config, store, "unknown_system")
    assert system.status == "failed" and "systems.nosuch: no such system" in (system.error or "")


def test_scheduler_show_names_the_leader_the_jobs_and_what_runs(config: TieoutConfig, store: Store) -> None:
    runner = CliRunner()
    before = json.loads(
        runner.invoke(app, ["--config", str(config.path), "scheduler", "show", "--json"]).stdout
    )
    assert before["leader"] is None and {job["next_run_at"] for job in before["jobs"]} == {None}
    scheduler = SchedulerService(config, store).build_scheduler()
    scheduler.start(paused=True)
    SchedulerService(config, store).sync_jobs(scheduler)
    scheduler.shutdown()
    leader = LeaderLease(store, lease_seconds=60, holder="host-a:1:lead")
    assert leader.try_acquire()
    with job_lock(store, lock_name("reconcile"), lease_seconds=60) as held:
        result = runner.invoke(app, ["--config", str(config.path), "scheduler", "show", "--json"])
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["leader"] == "host-a:1:lead"
    assert [(lock["name"], lock["holder"]) for lock in shown["locks"]] == [("job:reconcile", held.holder)]
    jobs = {job["job"]: job for job in shown["jobs"]}
    assert jobs["pull"]["then"] == ["reconcile"] and jobs["pull"]["trigger"] == "interval[0:05:00]"
    assert jobs["ar_snapshot"]["trigger"].startswith("cron[")
    assert jobs["ar_snapshot"]["next_run_at"].endswith("02:00:00+00:00")
    leader.release()
    result = runner.invoke(app, ["--config", str(config.path), "scheduler", "show"])
    assert result.exit_code == 0 and "leader: none" in result.stdout


def test_scheduler_trigger_runs_one_job_now_and_exits_by_its_outcome(
    config: TieoutConfig, store: Store
) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["--config", str(config.path), "scheduler", "trigger", "reconcile", "--json"])
    assert result.exit_code == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert (outcome["status"], outcome["trigger"]) == ("succeeded", "manual")
    assert [(item["job"], item["status"]) for item in outcome["followers"]] == [("ar_snapshot", "succeeded")]
    with store.transaction() as tx:
        [run] = tx.list_runs(job="reconcile")
    assert run.trigger == "manual"
    result = runner.invoke(app, ["--config", str(config.path), "scheduler", "trigger", "pull"])
    assert result.exit_code == 1 and "pull (pull:ledgerly): failed" in result.stdout
    result = runner.invoke(app, ["--config", str(config.path), "scheduler", "trigger", "nosuch"])
    assert result.exit_code == 2 and "no job 'nosuch' in the schedule" in result.stderr


def test_a_leader_that_loses_the_lease_pauses_and_resumes_when_it_wins_it_back(
    config: TieoutConfig, store: Store, other_store: Store
) -> None:
    service = SchedulerService(config, store, holder="host-a:1:aa")
    service.lead_or_stand_by()
    scheduler = service._scheduler
    assert scheduler is not None
    try:
        assert service.lease.is_leader and scheduler.state == STATE_RUNNING
        # A rival whose clock is past the lease's expiry (the leader stalled) takes it.
        later = datetime.now(UTC) + timedelta(seconds=config.schedule.leader_lease_seconds + 1)
        rival = LeaderLease(other_store, lease_seconds=60, holder="host-b:1:bb", clock=lambda: later)
        assert rival.try_acquire()
        service.lead_or_stand_by()
        assert not service.lease.is_leader and scheduler.state == STATE_PAUSED
        rival.release()
        service.lead_or_stand_by()
        assert service.lease.is_leader and scheduler.state == STATE_RUNNING
        assert {job.id for job in scheduler.get_jobs()} == set(config.schedule.jobs)
    finally:
        scheduler.shutdown()

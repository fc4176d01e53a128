"""`tieout scheduler run` as operators run it: a real process, signals, a crash, two instances.

The scheduled system is the Ledgerly fake (a real HTTP server on loopback that can hold a page
until the test lets it go), so a test can stop or kill the scheduler in the middle of a pull at
a known page. Every wait polls a condition against a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from fakeledger import TOKEN, LedgerlyState, running_ledgerly, seed_invoices

from tieout.config import load_config
from tieout.scheduler.locks import LEADER_LOCK
from tieout.scheduler.service import SchedulerService, stored_next_runs
from tieout.store import RunRecord, Store

SUPPORT = Path(__file__).parent / "support"
RECORDS = 150
PAGE = 20
START = datetime(2026, 1, 1, tzinfo=UTC)
JOB = "sync:ledgerly:invoices"


def wait_for(condition: Callable[[], object], *, deadline_seconds: float = 60.0, what: str) -> None:
    deadline = time.monotonic() + deadline_seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def ledgerly() -> LedgerlyState:
    state = LedgerlyState()
    seed_invoices(state, RECORDS, start=START, same_time_every=7)
    return state


@pytest.fixture
def ledgerly_url(ledgerly: LedgerlyState) -> Iterator[str]:
    with running_ledgerly(ledgerly) as url:
        yield url


def write_config(directory: Path, store_url: str, *, trigger: str = "every: 1s", extra: str = "") -> Path:
    path = directory / "tieout.yaml"
    path.write_text(
        f"""
version: 1
store:
  url: {store_url}
systems:
  ledgerly:
    connector: fakeledger:LedgerlyConnector
    lookback_seconds: 0
    streams: [invoices]
    settings:
      base_url: ${{LEDGERLY_URL}}
      api_token: ${{LEDGERLY_TOKEN}}
      page_size: {PAGE}
schedule:
  leader_lease_seconds: 15
  lock_lease_seconds: 6
  jobs:
    pull:
      run: pull:ledgerly
      {trigger}
metrics:
  enabled: false
{extra}"""
    )
    return path


class Scheduler:
    """`tieout scheduler run` in its own process."""

    def __init__(self, config: Path, url: str, **variables: str) -> None:
        environment = {
            **os.environ,
            "PYTHONPATH": str(SUPPORT),
            "LEDGERLY_URL": url,
            "LEDGERLY_TOKEN": TOKEN,
            **variables,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tieout", "--config", str(config), "scheduler", "run"],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def terminate(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        _, stderr = self.process.communicate(timeout=120)
        return self.process.returncode, stderr

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=60)

    def output(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        return self.process.communicate()[1]


@pytest.fixture
def alert_inbox() -> Iterator[tuple[str, list[Any]]]:
    """A local Slack-style webhook endpoint: its URL and the JSON bodies posted to it."""
    received: list[Any] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/services/T0/B0/planted-hook-secret", received
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def schedulers() -> Iterator[list[Scheduler]]:
    started: list[Scheduler] = []
    yield started
    for scheduler in started:
        if scheduler.process.poll() is None:
            scheduler.kill()


def runs_of(store: Store, job: str = JOB) -> list[RunRecord]:
    with store.transaction() as tx:
        return sorted(tx.list_runs(job=job, limit=1000), key=lambda run: run.started_at)


def test_sigterm_finishes_the_page_in_hand_commits_its_cursor_and_exits_0(
    store_url: str,
    store: Store,
    tmp_path: Path,
    ledgerly: LedgerlyState,
    ledgerly_url: str,
    schedulers: list[Scheduler],
) -> None:
    ledgerly.block_page = 3
    scheduler = Scheduler(write_config(tmp_path, store_url), ledgerly_url)
    schedulers.append(scheduler)
    assert ledgerly.blocked.wait(timeout=90), scheduler.output()
    scheduler.process.send_signal(signal.SIGTERM)
    # The signal arrives while page 3 is in flight; the page still gets stored.
    ledgerly.release.set()
    _, stderr = scheduler.process.communicate(timeout=120)
    assert scheduler.process.returncode == 0, stderr
    [run] = runs_of(store)
    with store.transaction() as tx:
        committed = tx.count_raw("ledgerly", "invoices")
        cursor = tx.get_cursor("ledgerly", "invoices")
        leases = tx.list_leases()
    assert run.status == "interrupted"
    assert run.pulled == committed == 3 * PAGE
    assert cursor is not None
    assert cursor.watermark == START + timedelta(seconds=(3 * PAGE - 1) // 7)
    assert leases == []  # the leader lease and the job lock were given back


def test_a_sigkilled_scheduler_is_restarted_the_dead_run_failed_and_the_pull_resumed(
    store_url: str,
    store: Store,
    tmp_path: Path,
    ledgerly: LedgerlyState,
    ledgerly_url: str,
    schedulers: list[Scheduler],
) -> None:
    config = write_config(tmp_path, store_url)
    ledgerly.block_page = 3
    victim = Scheduler(config, ledgerly_url)
    schedulers.append(victim)
    assert ledgerly.blocked.wait(timeout=90), victim.output()
    victim.kill()
    ledgerly.release.set()
    ledgerly.block_page = None
    [killed] = runs_of(store)
    with store.transaction() as tx:
        committed = tx.count_raw("ledgerly", "invoices")
    assert killed.status == "running" and committed == 2 * PAGE

    survivor = Scheduler(config, ledgerly_url)
    schedulers.append(survivor)
    wait_for(
        lambda: any(run.status == "succeeded" for run in runs_of(store)),
        what=f"the restarted scheduler to finish the pull: {survivor.output()}",
    )
    code, stderr = survivor.terminate()
    assert code == 0, stderr
    runs = runs_of(store)
    assert runs[0].run_id == killed.run_id
    assert runs[0].status == "failed" and "stopped before finishing" in (runs[0].error or "")
    resumed = next(run for run in runs if run.status == "succeeded")
    assert resumed.pid == survivor.process.pid
    # It went on from the committed cursor (re-reading only records tied with it), not from scratch.
    assert resumed.pulled <= RECORDS - committed + 7
    with store.transaction() as tx:
        assert sorted(tx.iter_raw_ids("ledgerly", "invoices")) == [f"inv-{n:05d}" for n in range(RECORDS)]


def test_of_two_schedulers_one_leads_and_the_other_takes_over_when_it_dies(
    store_url: str,
    store: Store,
    tmp_path: Path,
    ledgerly: LedgerlyState,
    ledgerly_url: str,
    schedulers: list[Scheduler],
) -> None:
    config = write_config(tmp_path, store_url)
    first = Scheduler(config, ledgerly_url)
    schedulers.append(first)

    def leader_pid() -> int | None:
        with store.transaction() as tx:
            lease = tx.get_lease(LEADER_LOCK)
        return None if lease is None else int(lease.holder.split(":")[1])

    wait_for(lambda: leader_pid() == first.process.pid, what=f"the first scheduler to lead: {first.output()}")
    second = Scheduler(config, ledgerly_url)
    schedulers.append(second)
    wait_for(
        lambda: sum(run.status == "succeeded" for run in runs_of(store)) >= 2,
        what="the leader to run the job twice",
    )
    assert second.process.poll() is None
    assert {run.pid for run in runs_of(store)} == {first.process.pid}  # the standby ran nothing
    first.kill()
    wait_for(lambda: leader_pid() == second.process.pid, what="the second scheduler to take over")
    wait_for(
        lambda: any(run.pid == second.process.pid and run.status == "succeeded" for run in runs_of(store)),
        what="the new leader to run the job",
    )
    code, stderr = second.terminate()
    assert code == 0, stderr


def test_a_failed_scheduled_run_is_alerted_once_and_counted_in_the_metrics(
    store_url: str,
    store: Store,
    tmp_path: Path,
    alert_inbox: tuple[str, list[Any]],
    schedulers: list[Scheduler],
) -> None:
    hook_url, payloads = alert_inbox
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = write_config(tmp_path, store_url, extra="alerts:\n  webhook_url: ${ALERT_WEBHOOK_URL}\n")
    config.write_text(config.read_text().replace("metrics:\n  enabled: false", f"metrics:\n  port: {port}"))
    # Nothing listens on port 9: every scheduled pull fails.
    scheduler = Scheduler(config, "http://127.0.0.1:9", ALERT_WEBHOOK_URL=hook_url)
    schedulers.append(scheduler)
    wait_for(lambda: payloads, what=f"an alert: {scheduler.output()}")
    wait_for(lambda: len(runs_of(store)) >= 3, what="more failed runs")
    # The scheduler serves its metrics on its own port while it runs.
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert f'job="{JOB}"' in metrics and "tieout_run_duration_seconds" in metrics
    code, stderr = scheduler.terminate()
    assert code == 0, stderr
    failed = [run for run in runs_of(store) if run.status == "failed"]
    assert len(failed) >= 3
    alerted = json.dumps(payloads)
    assert JOB in alerted and "failed" in alerted
    # Each failed run is told once, however many times the alerts were checked.
    assert sum(alerted.count(run.run_id[:8]) > 0 for run in failed) <= len(failed)
    assert hook_url not in stderr


def started(service: SchedulerService) -> BackgroundScheduler:
    scheduler = service.build_scheduler()
    scheduler.start(paused=True)  # paused: the test looks at the stored jobs, nothing fires
    service.sync_jobs(scheduler)
    return scheduler


def test_stored_jobs_are_brought_in_line_with_the_configuration_at_start(
    store_url: str, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGERLY_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LEDGERLY_TOKEN", TOKEN)
    config = load_config(write_config(tmp_path, store_url, trigger="cron: '0 3 * * *'"))
    scheduler = started(SchedulerService(config, store))
    [job] = scheduler.get_jobs()
    first_run = job.next_run_time
    assert job.id == "pull" and job.args == ("pull",)
    assert (first_run.hour, first_run.minute) == (3, 0)
    scheduler.shutdown()
    # A restart with the same configuration keeps the stored job and its next run time.
    scheduler = started(SchedulerService(config, store))
    assert scheduler.get_job("pull").next_run_time == first_run
    scheduler.shutdown()
    # A changed trigger replaces the stored job; a job no longer enabled is removed.
    changed = load_config(write_config(tmp_path, store_url, trigger="every: 2h"))
    scheduler = started(SchedulerService(changed, store))
    assert str(scheduler.get_job("pull").trigger) == "interval[2:00:00]"
    scheduler.shutdown()
    disabled = load_config(
        write_config(tmp_path, store_url, trigger="cron: '0 3 * * *'\n      enabled: false")
    )
    scheduler = started(SchedulerService(disabled, store))
    assert scheduler.get_jobs() == []
    scheduler.shutdown()


def test_a_scheduler_shutting_down_leaves_due_jobs_for_the_next_one(
    store_url: str, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGERLY_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LEDGERLY_TOKEN", TOKEN)
    config = load_config(write_config(tmp_path, store_url, trigger="every: 1h"))
    scheduler = started(SchedulerService(config, store))  # a fresh interval job is due at once
    [job] = scheduler.get_jobs()
    due = job.next_run_time
    assert due <= datetime.now(UTC)
    scheduler.shutdown()
    assert stored_next_runs(store) == {"pull": due}

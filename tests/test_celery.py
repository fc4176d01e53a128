"""Scale-out on Celery: two `tieout worker` processes share a sandbox sync, and survive one being killed.

Debian's redis-server runs as the broker on a free loopback port; the state store is the test
PostgreSQL; the workers are real `tieout worker` subprocesses (solo pool, so a task runs in the
worker's own process and its run record carries that pid). The in-process run of the same job on
a second copy of the company is the reference end state.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from pydantic import SecretStr
from sandbox_company import postgres_database, pushed_twice, sandbox_company
from sqlalchemy import select

from tieout.config import load_config
from tieout.sandbox.faults import FaultProfile
from tieout.sandbox.runtime import Sandbox
from tieout.scheduler.celery_app import client_app
from tieout.scheduler.celery_executor import CeleryExecutor
from tieout.scheduler.jobs import JobOutcome, run_job
from tieout.store import ExceptionQuery, RunRecord, Store
from tieout.store.schema import push_ledger

REDIS_SERVER = "/usr/bin/redis-server"
WORKERS = ("w1", "w2")
TIEOUT = (sys.executable, "-m", "tieout")
CELERY_SETTINGS = {
    "workers": {
        "executor": "celery",
        "broker_url": "${TIEOUT_TEST_BROKER_URL}",
        "partition_days": 180,
        "task_time_limit_seconds": 10,
    },
    "schedule": {
        "jobs": {
            "sync": {"run": "sync", "every": "1h", "then": ["reconcile"]},
            "reconcile": {"run": "reconcile", "every": "1h"},
            "salesforce": {"run": "pull:salesforce", "every": "1h"},
        }
    },
}

pytestmark = pytest.mark.postgres


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if shutil.which(REDIS_SERVER) is None:
        pytest.skip("redis-server not installed (make test installs Debian's redis-server)")
    workdir = tmp_path_factory.mktemp("redis")
    port = _free_port()
    server = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir), "--save", ""],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                    probe.sendall(b"PING\r\n")
                    if probe.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "redis-server did not start"
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=20)


class Workers:
    """Two `tieout worker` subprocesses on one config, their logs beside it."""

    def __init__(self, config_path: Path, client: Celery) -> None:
        self.config_path = config_path
        self.client = client
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        for name in WORKERS:
            log = (self.config_path.parent / f"{name}.log").open("wb")
            self.processes[name] = subprocess.Popen(
                [
                    *TIEOUT,
                    "--config",
                    str(self.config_path),
                    "worker",
                    "--pool",
                    "solo",
                    "--hostname",
                    f"{name}@x",
                ],
                cwd=self.config_path.parent,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while len(self.client.control.ping(timeout=0.5)) < len(WORKERS):
            dead = {name: proc.returncode for name, proc in self.processes.items() if proc.poll() is not None}
            assert not dead and time.monotonic() < deadline, f"workers did not come up: {dead} {self.logs()}"

    def pid(self, name: str) -> int:
        return self.processes[name].pid

    def logs(self) -> str:
        return "".join((self.config_path.parent / f"{name}.log").read_text()[-2000:] for name in WORKERS)

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)


@pytest.fixture(scope="module")
def celery_company(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, postgres_admin_url: str
) -> Iterator[tuple[Sandbox, Path, Workers]]:
    """A sandbox company on PostgreSQL, with two workers started on its config."""
    workdir = tmp_path_factory.mktemp("celery")
    with ExitStack() as stack:
        store_url = stack.enter_context(postgres_database(postgres_admin_url))
        sandbox, config_path, _ = stack.enter_context(
            sandbox_company(
                workdir,
                store_url,
                extra_config=CELERY_SETTINGS,
                extra_secrets={"TIEOUT_TEST_BROKER_URL": redis_url},
            )
        )
        client = client_app(load_config(config_path))
        workers = Workers(config_path, client)
        stack.callback(workers.stop)
        client.control.purge()
        workers.start()
        yield sandbox, config_path, workers


def end_state(store: Store) -> dict[str, Any]:
    """What a sync leaves: records by system and kind, pushes by target and status, open findings."""
    with store.transaction() as tx:
        exceptions, _ = tx.query_exceptions(ExceptionQuery(limit=1_000_000))
        kinds = ("customer", "contract", "invoice", "payment", "refund", "credit_note", "payout", "usage")
        records = Counter(
            (record.system, record.kind) for kind in kinds for record in tx.iter_canonical(kind)
        )
        ledger = select(push_ledger.c.target_system, push_ledger.c.target_stream, push_ledger.c.status)
        pushes = Counter(tuple(row) for row in tx.connection.execute(ledger))
    return {
        "records": records,
        "pushes": pushes,
        "exceptions": Counter(item.rule_code for item in exceptions),
    }


def in_process_run(config_path: Path) -> tuple[JobOutcome, dict[str, Any]]:
    """The sync job run by the in-process executor's path, and the end state it leaves."""
    config = load_config(config_path)
    store = Store.open(config.store_url)
    try:
        return run_job(config, store, "sync", trigger="test"), end_state(store)
    finally:
        store.close()


def runs_of(store: Store, prefix: str) -> list[RunRecord]:
    with store.transaction() as tx:
        return [run for run in tx.list_runs(limit=100_000) if run.job.startswith(prefix)]


def test_two_workers_share_a_sync_with_no_duplicate_push_and_the_in_process_end_state(
    tmp_path: Path, celery_company: tuple[Sandbox, Path, Workers]
) -> None:
    sandbox, config_path, workers = celery_company
    before = pushed_twice(sandbox)
    config = load_config(config_path)
    store = Store.open(config.store_url)
    try:
        with sandbox_company(tmp_path, f"sqlite:///{tmp_path}/reference.db") as (_, reference_config, _):
            # The reference runs in this process while the workers run the same job on their copy.
            reference_outcome: list[tuple[JobOutcome, dict[str, Any]]] = []
            in_process = threading.Thread(
                target=lambda: reference_outcome.append(in_process_run(reference_config))
            )
            in_process.start()
            distributed = CeleryExecutor(config, store).run("sync", trigger="test")
            in_process.join()
        outcome, expected = reference_outcome[0]
        assert outcome.status == "succeeded", outcome.as_dict()
        assert distributed.status == "succeeded", (distributed.as_dict(), workers.logs())
        assert [follower.status for follower in distributed.followers] == ["succeeded"]
        assert end_state(store) == expected
        assert pushed_twice(sandbox) == before

        windows = [run for run in runs_of(store, "sync:") if run.trigger == "test"]
        by_worker = Counter(run.pid for run in windows)
        assert set(by_worker) == {workers.pid(name) for name in WORKERS}, by_worker
        assert all(run.status == "succeeded" for run in windows)
        flow_pids = {run.pid for run in runs_of(store, "flow:")}
        assert flow_pids and flow_pids <= {workers.pid(name) for name in WORKERS}
        with store.transaction() as tx:
            cursors = {(cursor.system, cursor.stream): cursor.watermark for cursor in tx.list_cursors()}
        assert (
            cursors[("salesforce", "accounts")] is not None and cursors[("netsuite", "invoices")] is not None
        )
    finally:
        store.close()


def test_a_task_whose_worker_is_killed_finishes_on_the_other(
    celery_company: tuple[Sandbox, Path, Workers],
) -> None:
    sandbox, config_path, workers = celery_company
    config = load_config(config_path)
    store = Store.open(config.store_url)
    try:
        with store.transaction() as tx:
            accounts_before = sum(1 for _ in tx.iter_canonical("customer", "salesforce"))
            for stream in ("accounts", "opportunities"):
                tx.reset_cursor("salesforce", stream)
        sandbox.injectors["salesforce"].set_profile(FaultProfile(added_latency_seconds=0.3))
        done: list[JobOutcome] = []
        orchestrator = threading.Thread(
            target=lambda: done.append(CeleryExecutor(config, store).run("salesforce", trigger="kill-test"))
        )
        orchestrator.start()
        victim = workers.pid("w1")
        deadline = time.monotonic() + 60
        while True:
            running = [
                run
                for run in runs_of(store, "sync:salesforce:")
                if run.pid == victim and run.status == "running" and run.trigger == "kill-test"
            ]
            if running:
                break
            assert time.monotonic() < deadline and orchestrator.is_alive(), "w1 never took a window"
            time.sleep(0.02)
        os.kill(victim, signal.SIGKILL)
        killed_at = datetime.now().astimezone()
        orchestrator.join(timeout=180)
        assert not orchestrator.is_alive(), workers.logs()
        sandbox.injectors["salesforce"].set_profile(FaultProfile())

        assert done[0].status == "succeeded", done[0].as_dict()
        runs = runs_of(store, "sync:salesforce:")
        interrupted = next(run for run in runs if run.run_id == running[0].run_id)
        assert interrupted.status != "succeeded"
        survivor = workers.pid("w2")
        assert any(
            run.pid == survivor and run.status == "succeeded" and run.started_at >= killed_at
            for run in runs
            if run.stream == interrupted.stream and run.trigger == "kill-test"
        )
        with store.transaction() as tx:
            assert sum(1 for _ in tx.iter_canonical("customer", "salesforce")) == accounts_before
            assert tx.get_cursor("salesforce", "accounts") is not None
    finally:
        sandbox.injectors["salesforce"].set_profile(FaultProfile())
        store.close()


def test_with_no_worker_on_the_broker_a_job_fails_at_once_and_says_why(
    celery_company: tuple[Sandbox, Path, Workers], redis_url: str
) -> None:
    _, config_path, _ = celery_company
    config = load_config(config_path)
    unwatched = redis_url.rsplit("/", 1)[0] + "/1"  # a Redis database no worker listens on
    elsewhere = replace(
        config, workers=config.workers.model_copy(update={"broker_url": SecretStr(unwatched)})
    )
    store = Store.open(config.store_url)
    try:
        runs_before = len(runs_of(store, ""))
        outcome = CeleryExecutor(elsewhere, store).run("sync", trigger="test")
        assert outcome.status == "failed" and "no tieout worker answered" in str(outcome.error)
        assert len(runs_of(store, "")) == runs_before
    finally:
        store.close()

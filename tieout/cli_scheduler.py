"""`tieout scheduler ...`: run the scheduled jobs unattended, and see who leads and what is held.

`tieout scheduler run` runs until SIGTERM or SIGINT: then no new job starts, running jobs commit
the page in hand and advance their cursors, and the command exits 0. Several instances may run
(on one host or many): one leads and schedules, the others stand by to take over.
`tieout scheduler trigger JOB` runs one job now, under the same lock; `tieout scheduler show`
names the leader and the locks held.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from tieout.cli_common import (
    EXIT_CONFIG,
    EXIT_RUN_FAILED,
    JsonOption,
    err,
    errors_to_exit_codes,
    out,
    print_json,
    state,
)
from tieout.config import load_config
from tieout.observability.alerts import AlertService
from tieout.observability.logging import configure_logging
from tieout.observability.metrics import start_metrics_server
from tieout.scheduler.executor import executor_for
from tieout.scheduler.jobs import JobOutcome
from tieout.scheduler.locks import LEADER_LOCK
from tieout.scheduler.service import SchedulerService, stored_next_runs, trigger_for
from tieout.store import Store

scheduler_app = typer.Typer(
    help="Run the scheduled jobs (sync, reconcile, AR snapshot).", no_args_is_help=True
)
log = logging.getLogger("tieout.scheduler")


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    def request_stop(signum: int, _frame: object) -> None:
        log.info("%s: finishing the current page of running jobs, then stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _log_outcome(outcome: JobOutcome) -> None:
    level = logging.ERROR if outcome.status == "failed" else logging.INFO
    log.log(level, "job %s: %s", outcome.job, outcome.as_dict())


@scheduler_app.command("run")
def run(
    no_metrics: Annotated[
        bool, typer.Option("--no-metrics", help="Do not serve /metrics (even if metrics.enabled).")
    ] = False,
) -> None:
    """Schedule the configured jobs until SIGTERM/SIGINT; only the instance holding the leader lease runs them."""
    stop = threading.Event()
    with errors_to_exit_codes(), _stop_on_signals(stop):
        config = load_config(state.config_path)
        configure_logging(config)
        store = Store.open(config.store_url)
        metrics = None
        if not no_metrics:
            try:
                metrics = start_metrics_server(config.metrics, store)
            except OSError as exc:
                # A standby scheduler on the leader's host finds the port taken; it still stands by.
                log.warning("not serving metrics on %s:%s: %s", config.metrics.host, config.metrics.port, exc)
        alerts = AlertService(config, store)

        def send_alerts(_outcome: JobOutcome) -> None:
            report = alerts.check_and_send()
            for error in report.channel_errors:
                log.warning("alert not delivered: %s", error)

        try:
            SchedulerService(config, store, stop_event=stop, after_job=[_log_outcome, send_alerts]).run()
        finally:
            if metrics is not None:
                metrics.stop()
            store.close()
    log.info("scheduler stopped")


@scheduler_app.command("trigger")
def trigger(
    job_name: Annotated[str, typer.Argument(metavar="JOB", help="A job named in the schedule section.")],
    as_json: JsonOption = False,
) -> None:
    """Run one configured job now, under its lock, followed by its `then` jobs; exit 1 unless it succeeded."""
    stop = threading.Event()
    with errors_to_exit_codes(), _stop_on_signals(stop):
        config = load_config(state.config_path)
        if job_name not in config.schedule.jobs:
            known = ", ".join(config.schedule.jobs) or "none"
            err.print(f"no job {job_name!r} in the schedule (jobs: {known})", highlight=False)
            raise typer.Exit(EXIT_CONFIG)
        store = Store.open(config.store_url)
        try:
            # On the workers when workers.executor is celery, here otherwise.
            outcome = executor_for(config, store, stop_event=stop).submit(job_name, trigger="manual").result()
        finally:
            store.close()
    if as_json:
        print_json(outcome.as_dict())
    else:
        for item in _flatten(outcome):
            colour = "green" if item.status == "succeeded" else "red"
            line = f"{item.job} ({item.target}): [{colour}]{item.status}[/]"
            out.print(line + (f", {item.detail}" if item.detail else ""), highlight=False)
            if item.error:
                out.print(f"  {item.error}", highlight=False, soft_wrap=True, markup=False)
    if any(item.status != "succeeded" for item in _flatten(outcome)):
        raise typer.Exit(EXIT_RUN_FAILED)


def _flatten(outcome: JobOutcome) -> list[JobOutcome]:
    return [outcome, *(item for follower in outcome.followers for item in _flatten(follower))]


@scheduler_app.command("show")
def show(as_json: JsonOption = False) -> None:
    """The configured jobs with their triggers and next runs, the leader, and the job locks held right now."""
    with errors_to_exit_codes():
        config = load_config(state.config_path)
        store = Store.open(config.store_url)
        try:
            with store.transaction() as tx:
                leases = tx.list_leases()
            next_runs = stored_next_runs(store)
        finally:
            store.close()
    now = datetime.now(UTC)
    leader = next((lease for lease in leases if lease.name == LEADER_LOCK and not lease.expired(now)), None)
    report: dict[str, Any] = {
        "leader": leader.holder if leader else None,
        "jobs": [
            {
                "job": name,
                "run": job.run,
                "trigger": str(trigger_for(job, config.schedule.timezone)),
                "then": job.then,
                "enabled": job.enabled,
                "next_run_at": next_runs.get(name),
            }
            for name, job in config.schedule.jobs.items()
        ],
        "locks": [
            {
                "name": lease.name,
                "holder": lease.holder,
                "since": lease.acquired_at,
                "expires_at": lease.expires_at,
            }
            for lease in leases
            if lease.name != LEADER_LOCK and not lease.expired(now)
        ],
    }
    if as_json:
        print_json(report)
        return
    out.print(f"leader: {report['leader'] or 'none (no scheduler is running)'}", highlight=False)
    jobs = Table("job", "runs", "trigger", "then", "next run")
    for item in report["jobs"]:
        next_run = str(item["next_run_at"])[:19] if item["next_run_at"] else "-"
        jobs.add_row(
            item["job"],
            item["run"],
            item["trigger"],
            ", ".join(item["then"]),
            next_run if item["enabled"] else "disabled",
        )
    out.print(jobs)
    if report["locks"]:
        locks = Table("running", "holder", "since")
        for item in report["locks"]:
            locks.add_row(item["name"], item["holder"], str(item["since"])[:19])
        out.print(locks)
    else:
        err.print("no job is running")

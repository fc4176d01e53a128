"""One scheduled job, run to the end: its target under its job lock, then the jobs that follow it.

A job's target is what `schedule.jobs.<name>.run` names: `sync` (pull every enabled system, then
the flows of the systems in sync mode), `pull:<system>`, `flow:<name>`, `reconcile` (what changed
since the last complete run), `reconcile:full` (every record) or `ar_snapshot`. Every executor (in-process threads, Celery workers) runs jobs through `run_job`,
so the lock, the run records and the followers behave the same wherever a job runs.

The lock is named after the target ("job:sync"; both reconciles share "job:reconcile", since they
keep one projection and one queue), so two jobs that run the same target, or a
job and another host's scheduler, never run it at once; a job that finds its lock taken is
skipped, not queued: the next tick picks the work up. Followers (`then`) run after a job that
succeeded, under their own locks.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tieout.config import TieoutConfig
from tieout.connectors.http import redact
from tieout.errors import ConfigError, ConfigProblem, JobLocked, TieoutError
from tieout.flows.definitions import FLOWS
from tieout.observability import metrics, runs
from tieout.reconcile.engine import Reconciler
from tieout.runner import SyncService
from tieout.scheduler.ar_snapshot import take_ar_snapshot
from tieout.scheduler.locks import job_lock
from tieout.store import Store

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class JobOutcome:
    job: str
    target: str
    trigger: str
    status: str = "running"
    """succeeded, failed, interrupted (a shutdown stopped it at a page boundary) or skipped (locked)."""
    detail: str = ""
    error: str | None = None
    followers: list[JobOutcome] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "job": self.job,
            "target": self.target,
            "trigger": self.trigger,
            "status": self.status,
            "detail": self.detail,
            "error": self.error,
            "followers": [follower.as_dict() for follower in self.followers],
        }


def lock_name(target: str) -> str:
    return "job:reconcile" if target == "reconcile:full" else f"job:{target}"


def run_job(
    config: TieoutConfig,
    store: Store,
    job_name: str,
    *,
    trigger: str = "schedule",
    stop_event: threading.Event | None = None,
    clock: Clock = utc_now,
) -> JobOutcome:
    """Run the configured job `job_name` under its lock, then its followers if it succeeded."""
    job = config.schedule.jobs[job_name]
    stop = stop_event or threading.Event()
    outcome = JobOutcome(job=job_name, target=job.run, trigger=trigger)
    try:
        with job_lock(store, lock_name(job.run), lease_seconds=config.schedule.lock_lease_seconds):
            _run_target(config, store, outcome, stop, clock)
    except JobLocked as exc:
        outcome.status, outcome.error = "skipped", str(exc)
    except TieoutError as exc:
        outcome.status, outcome.error = "failed", redact(str(exc), config.secret_values)
    log.info("job %s (%s) %s %s", job_name, job.run, outcome.status, outcome.error or outcome.detail)
    if outcome.status == "succeeded" and not stop.is_set():
        for follower in job.then:
            outcome.followers.append(
                run_job(config, store, follower, trigger=f"after:{job_name}", stop_event=stop, clock=clock)
            )
    return outcome


def _run_target(
    config: TieoutConfig, store: Store, outcome: JobOutcome, stop: threading.Event, clock: Clock
) -> None:
    target = outcome.target
    if target in ("reconcile", "reconcile:full"):
        full = target == "reconcile:full"
        _recorded(config, store, outcome, clock, lambda run_id: _reconcile(config, store, run_id, full=full))
    elif target == "ar_snapshot":
        _recorded(config, store, outcome, clock, lambda _run_id: _snapshot(store, clock))
    else:
        _sync(config, store, outcome, stop, clock)


def _sync(
    config: TieoutConfig, store: Store, outcome: JobOutcome, stop: threading.Event, clock: Clock
) -> None:
    """sync, pull:<system> and flow:<name>: the runner keeps a run record per stream and per flow."""
    kind, _, name = outcome.target.partition(":")
    if kind == "flow" and name not in {flow.name for flow in FLOWS}:
        known = ", ".join(sorted(flow.name for flow in FLOWS))
        raise ConfigError(
            [
                ConfigProblem(
                    str(config.path),
                    None,
                    f"schedule.jobs.{outcome.job}.run",
                    f"no flow {name!r} (flows: {known})",
                )
            ]
        )
    service = SyncService(config, store, stop_event=stop, clock=clock)
    flows_stopped = False
    try:
        streams = [] if kind == "flow" else service.sync(name or None, trigger=outcome.trigger)
        flows = []
        if kind != "pull" and all(item.status == "succeeded" for item in streams):
            flows_stopped = stop.is_set()
            if not flows_stopped:
                flows = service.run_flows(flow_names=[name] if kind == "flow" else None)
    finally:
        service.close()
    errors = [f"{item.system} {item.stream}: {item.error}" for item in streams if item.status == "failed"]
    errors += [f"{flow.flow}: {flow.error}" for flow in flows if flow.error]
    if errors:
        outcome.status, outcome.error = "failed", "; ".join(errors)
    elif flows_stopped or any(item.status == "interrupted" for item in streams):
        outcome.status = "interrupted"
    else:
        outcome.status = "succeeded"
    pushed = sum(flow.count("created") + flow.count("updated") for flow in flows)
    outcome.detail = f"{sum(item.pulled for item in streams)} pulled, {pushed} pushed"


def _reconcile(config: TieoutConfig, store: Store, run_id: str, *, full: bool) -> str:
    result = Reconciler.from_config(config, store).run(run_id=run_id, full=full)
    looked_at = "what changed" if result.incremental else "every record"
    return (
        f"{sum(result.found.values())} mismatches ({looked_at}): {result.opened} new, "
        f"{result.reopened} reopened, {result.resolved} resolved"
    )


def _snapshot(store: Store, clock: Clock) -> str:
    now = clock()
    rows = take_ar_snapshot(store, as_of=now.date(), taken_at=now)
    return f"{len(rows)} subsidiary and currency rows for {now.date()}"


def _recorded(
    config: TieoutConfig, store: Store, outcome: JobOutcome, clock: Clock, work: Callable[[str], str]
) -> None:
    """Run work that keeps no run record of its own (reconcile, the AR snapshot) with one in sync_runs."""
    run_id = str(uuid.uuid4())
    started_at = clock()
    with store.transaction() as tx:
        stale = [run.run_id for run in tx.list_runs(job=outcome.target, status="running", limit=100)]
        # The job lock is ours, so any run still marked running for this target is a dead one.
        tx.fail_runs(stale, at=started_at, reason="the process running it stopped before finishing")
        tx.start_run(
            run_id=run_id,
            job=outcome.target,
            system=None,
            stream=None,
            trigger=outcome.trigger,
            mode=config.mode.value,
            started_at=started_at,
            host=socket.gethostname(),
            pid=os.getpid(),
        )
    with runs.scope(run_id, outcome.target):
        try:
            outcome.detail = work(run_id)
            outcome.status = "succeeded"
        except TieoutError as exc:
            outcome.status, outcome.error = "failed", redact(str(exc), config.secret_values)
        except BaseException as exc:
            with store.transaction() as tx:
                tx.finish_run(run_id, status="failed", at=clock(), error=f"{type(exc).__name__}: {exc}")
            raise
        finished_at = clock()
        with store.transaction() as tx:
            tx.finish_run(run_id, status=outcome.status, at=finished_at, error=outcome.error)
        metrics.record_run(outcome.target, outcome.status, started_at, finished_at)

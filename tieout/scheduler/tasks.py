"""The Celery tasks a worker runs: one window of one stream, the flows, or a whole scheduled job.

Every task runs under a job lock, so a task handed out twice (its first worker died, or the broker
redelivered it while it was still running) is never run twice at once: the second copy waits and
retries until the lock is free, then repeats work that is idempotent (pulls upsert; pushes go
through the ledger). A window pull stores its records but leaves the stream's cursor alone: the
orchestrating step advances it once every window of the stream has committed.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from celery import Task

from tieout.errors import JobLocked
from tieout.runner import PullScope, SyncService
from tieout.scheduler.celery_app import app, worker_context
from tieout.scheduler.jobs import run_job
from tieout.scheduler.locks import job_lock

LOCKED_RETRY_SECONDS = 2.0


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _worker(task: Task) -> dict[str, Any]:
    return {"hostname": task.request.hostname, "pid": os.getpid()}


def pull_window(
    self: Task, system: str, stream: str, since: str | None, until: str, trigger: str
) -> dict[str, Any]:
    """Pull `[since, until)` of one stream into the store (the cursor is not moved)."""
    config, store = worker_context()
    name = f"window:{system}:{stream}:{since or 'start'}..{until}"
    service = SyncService(config, store)
    try:
        with job_lock(store, name, lease_seconds=config.schedule.lock_lease_seconds):
            scope = PullScope(since=_moment(since), until=_moment(until), job_kind="sync")
            result = service.sync_stream(system, stream, trigger=trigger, scope=scope)
    except JobLocked as exc:
        raise self.retry(countdown=LOCKED_RETRY_SECONDS, exc=exc) from None
    finally:
        service.close()
    return {
        **_worker(self),
        "system": system,
        "stream": stream,
        "status": result.status,
        "pulled": result.pulled,
        "failed": result.failed,
        "error": result.error,
        "run_id": result.run_id,
        "watermark": result.watermark.isoformat() if result.watermark else None,
    }


def run_flows(self: Task, flow_names: list[str] | None) -> dict[str, Any]:
    """Run the flows (all, or these) of the systems in sync mode."""
    config, store = worker_context()
    service = SyncService(config, store)
    try:
        with job_lock(store, "flows", lease_seconds=config.schedule.lock_lease_seconds):
            flows = service.run_flows(flow_names=flow_names)
    except JobLocked as exc:
        raise self.retry(countdown=LOCKED_RETRY_SECONDS, exc=exc) from None
    finally:
        service.close()
    return {
        **_worker(self),
        "pushed": sum(flow.count("created") + flow.count("updated") for flow in flows),
        "errors": [f"{flow.flow}: {flow.error}" for flow in flows if flow.error],
    }


def run_scheduled_job(self: Task, job_name: str, trigger: str) -> dict[str, Any]:
    """Run a scheduled job that is not split (reconcile, the AR snapshot, one flow) with its followers."""
    config, store = worker_context()
    return {**_worker(self), **run_job(config, store, job_name, trigger=trigger).as_dict()}


# Registered without decorators: Celery is untyped, and the functions stay typed this way.
app.task(name="tieout.pull_window", bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)(
    pull_window
)
app.task(name="tieout.run_flows", bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)(
    run_flows
)
app.task(name="tieout.run_job", bind=True, acks_late=True, reject_on_worker_lost=True)(run_scheduled_job)

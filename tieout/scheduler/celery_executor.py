"""The Celery executor: the scheduler enqueues, workers execute, the scheduler keeps the cursors.

A sync job (`sync`, `pull:<system>`) is split here, in the scheduler, under the job's lock: one
`tieout.pull_window` task per stream and time window (`partitions`), all enqueued at once so
every worker takes a share. Once every window of a stream has committed, its cursor advances to
the newest record they read, never past the moment the job started; a stream with a failed
window keeps its cursor, and the next run reads that range again. Then, for `sync`, one
`tieout.run_flows` task pushes, and the job's followers are submitted the same way. Other jobs
(reconcile, the AR snapshot, one flow) are one `tieout.run_job` task each.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any

from celery.canvas import group
from celery.result import AsyncResult, GroupResult
from kombu.exceptions import OperationalError

from tieout.config import TieoutConfig
from tieout.connectors.http import redact
from tieout.errors import JobLocked, TieoutError
from tieout.runner import SyncService
from tieout.scheduler.celery_app import QUEUE, client_app
from tieout.scheduler.jobs import JobOutcome, lock_name
from tieout.scheduler.locks import job_lock
from tieout.scheduler.partitions import Partition, partitions
from tieout.store import Store

WAIT_TICK_SECONDS = 0.2
PING_SECONDS = 1.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def outcome_from_dict(values: dict[str, Any]) -> JobOutcome:
    return JobOutcome(
        job=str(values["job"]),
        target=str(values["target"]),
        trigger=str(values["trigger"]),
        status=str(values["status"]),
        detail=str(values.get("detail") or ""),
        error=values.get("error"),
        followers=[outcome_from_dict(item) for item in values.get("followers") or []],
    )


class CeleryExecutor:
    def __init__(
        self,
        config: TieoutConfig,
        store: Store,
        *,
        stop_event: threading.Event | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.config = config
        self.store = store
        self.stop_event = stop_event or threading.Event()
        self.clock = clock
        self.app = client_app(config)

    def submit(self, job_name: str, *, trigger: str = "schedule") -> Future[JobOutcome]:
        future: Future[JobOutcome] = Future()
        if self.stop_event.is_set():
            future.cancel()
            return future
        future.set_running_or_notify_cancel()
        try:
            future.set_result(self.run(job_name, trigger=trigger))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def shutdown(self) -> None:
        self.stop_event.set()

    def run(self, job_name: str, *, trigger: str = "schedule") -> JobOutcome:
        """Run the job on the workers and wait for it (and its followers) to finish."""
        job = self.config.schedule.jobs[job_name]
        try:
            return self._run(job_name, trigger)
        except OperationalError as exc:
            error = redact(f"the broker cannot be reached: {exc}", self.config.secret_values)
            return JobOutcome(job_name, job.run, trigger, status="failed", error=error)

    def _run(self, job_name: str, trigger: str) -> JobOutcome:
        job = self.config.schedule.jobs[job_name]
        if not self.app.control.ping(timeout=PING_SECONDS):
            # Enqueued work would wait for a worker with the job's lock held; say so instead.
            error = (
                "no tieout worker answered on the broker: start `tieout worker` (workers.executor is celery)"
            )
            return JobOutcome(job_name, job.run, trigger, status="failed", error=error)
        kind, _, system = job.run.partition(":")
        if kind not in ("sync", "pull"):
            answer = self._wait(self.app.send_task("tieout.run_job", args=(job_name, trigger), queue=QUEUE))
            if isinstance(answer, dict):
                return outcome_from_dict(answer)
            return JobOutcome(job_name, job.run, trigger, status="failed", error=str(answer))
        outcome = JobOutcome(job=job_name, target=job.run, trigger=trigger)
        try:
            with job_lock(
                self.store, lock_name(job.run), lease_seconds=self.config.schedule.lock_lease_seconds
            ):
                self._sync(outcome, system or None, with_flows=kind == "sync")
        except JobLocked as exc:
            outcome.status, outcome.error = "skipped", str(exc)
        except TieoutError as exc:
            outcome.status, outcome.error = "failed", redact(str(exc), self.config.secret_values)
        if outcome.status == "succeeded" and not self.stop_event.is_set():
            for follower in job.then:
                outcome.followers.append(self.run(follower, trigger=f"after:{job_name}"))
        return outcome

    def plan(self, system: str | None, until: datetime) -> list[Partition]:
        """Every window of every stream to pull (of one system, or of every enabled one)."""
        service = SyncService(self.config, self.store, clock=self.clock)
        try:
            systems = [system] if system else [n for n, s in self.config.systems.items() if s.enabled]
            planned: list[Partition] = []
            with self.store.transaction() as tx:
                for name in systems:
                    lookback = self.config.system(name).lookback_seconds
                    for stream in service.streams_for(name):
                        cursor = tx.get_cursor(name, stream)
                        watermark = cursor.watermark if cursor else None
                        since = watermark - timedelta(seconds=lookback) if watermark else None
                        spec = service.connector(name).stream(stream)
                        planned += partitions(
                            name, spec, since, until, partition_days=self.config.workers.partition_days
                        )
            return planned
        finally:
            service.close()

    def _sync(self, outcome: JobOutcome, system: str | None, *, with_flows: bool) -> None:
        started_at = self.clock()
        planned = self.plan(system, started_at)
        windows = group(
            self.app.signature(
                "tieout.pull_window",
                args=(
                    p.system,
                    p.stream,
                    p.since.isoformat() if p.since else None,
                    p.until.isoformat(),
                    outcome.trigger,
                ),
                queue=QUEUE,
            )
            for p in planned
        ).apply_async()
        answers = self._wait_all(windows)
        failures = self._advance_cursors(planned, answers)
        workers = {str(answer.get("hostname")) for answer in answers if isinstance(answer, dict)}
        pulled = sum(int(answer.get("pulled") or 0) for answer in answers if isinstance(answer, dict))
        outcome.detail = f"{pulled} pulled in {len(planned)} tasks on {len(workers)} workers"
        if self.stop_event.is_set():
            outcome.status = "interrupted"
            return
        if failures:
            outcome.status, outcome.error = "failed", "; ".join(failures[:10])
            return
        if with_flows:
            flows = self._wait(self.app.send_task("tieout.run_flows", args=(None,), queue=QUEUE))
            if not isinstance(flows, dict):
                outcome.status, outcome.error = "failed", f"flows: {flows}"
                return
            outcome.detail += f", {flows['pushed']} pushed"
            if flows["errors"]:
                outcome.status, outcome.error = "failed", "; ".join(flows["errors"])
                return
        outcome.status = "succeeded"

    def _advance_cursors(self, planned: list[Partition], answers: list[Any]) -> list[str]:
        """Advance each stream whose windows all committed; the failures of the others."""
        failures: list[str] = []
        by_stream: dict[tuple[str, str], list[datetime | None]] = {}
        failed_streams: set[tuple[str, str]] = set()
        for partition, answer in zip(planned, answers, strict=True):
            key = (partition.system, partition.stream)
            if not isinstance(answer, dict) or answer.get("status") != "succeeded":
                failed_streams.add(key)
                error = answer.get("error") if isinstance(answer, dict) else answer
                failures.append(f"{partition.name}: {error}")
                continue
            by_stream.setdefault(key, []).append(
                datetime.fromisoformat(answer["watermark"]) if answer.get("watermark") else None
            )
        now = self.clock()
        with self.store.transaction() as tx:
            for (system, stream), marks in by_stream.items():
                newest = max((mark for mark in marks if mark is not None), default=None)
                if (system, stream) in failed_streams or newest is None:
                    continue
                tx.advance_cursor(system, stream, newest, at=now, run_id=None)
        return failures

    def _wait_all(self, result: GroupResult) -> list[Any]:
        while not result.ready():
            if self.stop_event.wait(WAIT_TICK_SECONDS):
                break
        return [
            self._answer(item) if item.ready() else "stopped before it finished" for item in result.results
        ]

    def _wait(self, result: AsyncResult) -> Any:
        while not result.ready():
            if self.stop_event.wait(WAIT_TICK_SECONDS):
                return "stopped before it finished"
        return self._answer(result)

    @staticmethod
    def _answer(result: AsyncResult) -> Any:
        """The task's return value, or the text of its error."""
        if result.successful():
            return result.result
        return f"{type(result.result).__name__}: {result.result}"

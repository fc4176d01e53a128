"""`tieout scheduler run`: APScheduler 3 firing the configured jobs, on the leader only.

Every scheduler instance competes for the leader lease; the leader runs an APScheduler
`BackgroundScheduler` whose job store is a table in tieout's own database, so a nightly job
missed while no scheduler was up still fires when one starts (within the misfire grace), and
several due runs of one job coalesce into one. At start the stored jobs are brought in line with
the configuration: jobs added, changed or removed there are added, rescheduled or removed in the
store; unchanged jobs keep their next run time. An instance that loses the lease pauses its
scheduler until it wins the lease back.

Stopping (SIGTERM through `stop_event`): no new jobs start, running jobs finish the page in hand,
commit it and advance their cursors, the lease is released. On start, runs left `running` by a
process on this host that no longer exists (a SIGKILL) are marked failed; their streams resume
from their last committed cursor at their next run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from tieout.config import TieoutConfig
from tieout.config_sections import JobConfig
from tieout.errors import StoreError
from tieout.scheduler.executor import Executor, executor_for
from tieout.scheduler.jobs import JobOutcome
from tieout.scheduler.locks import LeaderLease
from tieout.stale_runs import fail_dead_runs
from tieout.store import Store

log = logging.getLogger(__name__)

JOBS_TABLE = "scheduler_jobs"
AfterJob = Callable[[JobOutcome], None]

_active: dict[str, SchedulerService] = {}


def fire_job(job_name: str) -> None:
    """What APScheduler calls (by reference, as stored jobs must): hand the job to the active service."""
    service = _active.get("service")
    if service is None:
        log.warning("job %s fired with no scheduler running; ignored", job_name)
        return
    service.fire(job_name)


def trigger_for(job: JobConfig, timezone: str) -> BaseTrigger:
    if job.cron is not None:
        return CronTrigger.from_crontab(job.cron, timezone=timezone)
    assert job.interval is not None
    return IntervalTrigger(seconds=job.interval.total_seconds(), timezone=timezone)


class _Scheduler(BackgroundScheduler):  # type: ignore[misc]
    """APScheduler's BackgroundScheduler, minus one last look for due jobs while shutting down.

    APScheduler 3 wakes its loop once more after `shutdown()` and handles the jobs due then: their
    next run moves on while the executor, already shut down, refuses them, so the run is lost.
    A scheduler that is stopping leaves due jobs in the store for the next one to run.
    """

    def _process_jobs(self) -> float | None:
        if self.state == STATE_STOPPED:
            return None
        wait_seconds: float | None = super()._process_jobs()
        return wait_seconds


def stored_next_runs(store: Store) -> dict[str, datetime | None]:
    """When each job in the job store runs next; read without starting a scheduler, so nothing fires."""
    jobstore = SQLAlchemyJobStore(engine=store.engine, tablename=JOBS_TABLE)
    jobstore.start(None, "default")
    return {job.id: job.next_run_time for job in jobstore.get_all_jobs()}


class SchedulerService:
    def __init__(
        self,
        config: TieoutConfig,
        store: Store,
        *,
        executor: Executor | None = None,
        stop_event: threading.Event | None = None,
        holder: str | None = None,
        after_job: list[AfterJob] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.stop_event = stop_event or threading.Event()
        self.executor = executor or executor_for(config, store, stop_event=self.stop_event)
        self.lease = LeaderLease(store, lease_seconds=config.schedule.leader_lease_seconds, holder=holder)
        self.after_job = list(after_job or [])
        self._scheduler: BackgroundScheduler | None = None

    def run(self) -> None:
        """Lead or stand by until `stop_event` is set; returns once running jobs have stopped."""
        if "service" in _active:
            raise RuntimeError("a scheduler is already running in this process")
        _active["service"] = self
        try:
            self.fail_dead_runs()
            while not self.stop_event.is_set():
                self.lead_or_stand_by()
                self.stop_event.wait(self.lease.renew_interval_seconds)
        finally:
            self.executor.shutdown()
            if self._scheduler is not None:
                self._scheduler.shutdown(wait=True)
            try:
                self.lease.release()
            finally:
                del _active["service"]

    def lead_or_stand_by(self) -> None:
        """One tick: renew or take the leader lease, then start, resume or pause scheduling to match."""
        was_leading = self.lease.is_leader
        try:
            leading = self.lease.try_acquire()
        except StoreError as exc:
            log.warning("cannot reach the state store to renew the leader lease: %s", exc)
            leading = False
            self.lease.is_leader = False
        if leading and self._scheduler is None:
            log.info("leading as %s; scheduling %s", self.lease.holder, ", ".join(self._enabled_jobs()))
            self._scheduler = self._start_scheduler()
        elif leading and not was_leading and self._scheduler is not None:
            log.info("leading again as %s", self.lease.holder)
            # Another leader may have stored its own configuration's jobs meanwhile.
            self.sync_jobs(self._scheduler)
            self._scheduler.resume()
        elif not leading and was_leading and self._scheduler is not None:
            log.warning("lost the leader lease; pausing until it is won back")
            self._scheduler.pause()
        elif not leading:
            log.debug("standing by for the leader lease, held by another scheduler")

    def _enabled_jobs(self) -> dict[str, JobConfig]:
        return {name: job for name, job in self.config.schedule.jobs.items() if job.enabled}

    def build_scheduler(self) -> BackgroundScheduler:
        """The APScheduler instance, not started, with its job store in tieout's database."""
        settings = self.config.schedule
        return _Scheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self.store.engine, tablename=JOBS_TABLE)},
            executors={"default": ThreadPoolExecutor(max_workers=max(1, len(self._enabled_jobs())))},
            job_defaults={
                "coalesce": settings.coalesce,
                "misfire_grace_time": settings.misfire_grace_seconds,
                "max_instances": 1,
            },
            timezone=settings.timezone,
        )

    def _start_scheduler(self) -> BackgroundScheduler:
        scheduler = self.build_scheduler()
        scheduler.start(paused=True)
        self.sync_jobs(scheduler)
        scheduler.resume()
        return scheduler

    def sync_jobs(self, scheduler: BackgroundScheduler) -> None:
        """Bring the stored jobs in line with the configuration, keeping unchanged jobs' next run."""
        wanted = self._enabled_jobs()
        for stored in scheduler.get_jobs():
            if stored.id not in wanted:
                log.info("removing job %s, no longer in the configuration", stored.id)
                stored.remove()
        now = datetime.now(UTC)
        for name, job in wanted.items():
            trigger = trigger_for(job, self.config.schedule.timezone)
            stored = scheduler.get_job(name)
            if stored is not None and repr(stored.trigger) == repr(trigger):
                continue
            scheduler.add_job(
                fire_job,
                trigger,
                args=[name],
                id=name,
                name=f"{name} ({job.run})",
                replace_existing=True,
                # An interval job runs at once on a fresh schedule; a cron job waits for its time.
                next_run_time=now if job.cron is None else trigger.get_next_fire_time(None, now),
            )

    def fire(self, job_name: str) -> None:
        if self.stop_event.is_set() or not self.lease.is_leader:
            return
        future = self.executor.submit(job_name, trigger="schedule")
        future.add_done_callback(self._job_done)

    def _job_done(self, future: Future[JobOutcome]) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            log.error("job failed unexpectedly: %s", error, exc_info=error)
            return
        outcome = future.result()
        for hook in self.after_job:
            try:
                hook(outcome)
            except Exception:  # a broken alert channel must not stop the schedule
                log.exception("after-job hook %r failed", hook)

    def fail_dead_runs(self) -> int:
        """Fail every run left `running` by a process on this host that is gone (killed outright)."""
        with self.store.transaction() as tx:
            dead = fail_dead_runs(tx, None, at=datetime.now(UTC), limit=10_000)
        if dead:
            log.warning("marked %d runs of dead processes as failed", len(dead))
        return len(dead)

"""Where scheduled jobs run: the `Executor` protocol and the in-process executor.

The scheduler decides when a job is due; an executor runs it. The in-process executor runs the
job in the scheduler's own worker thread (APScheduler's thread pool), so APScheduler's
one-instance-per-job rule holds within the process and the job lock holds across processes.
Other executors (Celery) enqueue the same job by name for `run_job` to run on a worker.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Protocol

from tieout.config import TieoutConfig
from tieout.config_sections import Executor as ExecutorKind
from tieout.scheduler.celery_executor import CeleryExecutor
from tieout.scheduler.jobs import JobOutcome, run_job
from tieout.store import Store


class Executor(Protocol):
    def submit(self, job_name: str, *, trigger: str = "schedule") -> Future[JobOutcome]:
        """Run (or hand off) the configured job `job_name`; the future holds its outcome."""
        ...

    def shutdown(self) -> None:
        """Stop taking jobs; jobs already running finish their current page and return."""
        ...


class InProcessExecutor:
    """Runs each job to the end in the calling thread, and stops jobs at a page boundary on shutdown."""

    def __init__(
        self, config: TieoutConfig, store: Store, *, stop_event: threading.Event | None = None
    ) -> None:
        self.config = config
        self.store = store
        self.stop_event = stop_event or threading.Event()

    def submit(self, job_name: str, *, trigger: str = "schedule") -> Future[JobOutcome]:
        future: Future[JobOutcome] = Future()
        if self.stop_event.is_set():
            future.cancel()
            return future
        future.set_running_or_notify_cancel()
        try:
            future.set_result(
                run_job(self.config, self.store, job_name, trigger=trigger, stop_event=self.stop_event)
            )
        except BaseException as exc:
            future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        return future

    def shutdown(self) -> None:
        self.stop_event.set()


def executor_for(config: TieoutConfig, store: Store, *, stop_event: threading.Event) -> Executor:
    """The executor `workers.executor` names: in this process, or on Celery workers."""
    if config.workers.executor is ExecutorKind.CELERY:
        return CeleryExecutor(config, store, stop_event=stop_event)
    return InProcessExecutor(config, store, stop_event=stop_event)

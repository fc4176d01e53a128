"""Which run the current thread is working for, so every log record can say so.

The sync runner and the flow runner `bind` a run when it starts and `release` it when it
finishes (a flow's refresh nests a sync run inside the flow's, and releasing the inner one
gives the outer one back); the scheduler and webhook handlers can wrap work in `scope(...)`.
`finished(run)` logs how a run ended, with its counts, stamped with its own run id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

from tieout.observability import metrics
from tieout.store import RunRecord

log = logging.getLogger("tieout.runs")

RUN_ID: ContextVar[str | None] = ContextVar("tieout_run_id", default=None)
JOB: ContextVar[str | None] = ContextVar("tieout_job", default=None)

_bound: dict[str, tuple[Token[str | None], Token[str | None]]] = {}


def bind(run_id: str, job: str) -> None:
    """Stamp what this thread logs with the run, until `release(run_id)`."""
    _bound[run_id] = (RUN_ID.set(run_id), JOB.set(job))


def release(run_id: str) -> None:
    tokens = _bound.pop(run_id, None)
    if tokens is not None:
        JOB.reset(tokens[1])
        RUN_ID.reset(tokens[0])


@contextmanager
def scope(run_id: str, job: str) -> Iterator[None]:
    bind(run_id, job)
    try:
        yield
    finally:
        release(run_id)


def current() -> tuple[str | None, str | None]:
    """(run id, job) of the run this thread is working for, or (None, None)."""
    return RUN_ID.get(), JOB.get()


def finished(run: RunRecord) -> None:
    """Log how a run ended, with its counts, and observe its duration; call before `release`."""
    metrics.record_run(run.job, run.status, run.started_at, run.finished_at or run.started_at)
    log.log(
        logging.WARNING if run.status == "failed" else logging.INFO,
        "%s %s: %d pulled, %d pushed, %d failed, %d API calls%s",
        run.job,
        run.status,
        run.pulled,
        run.pushed,
        run.failed,
        run.api_calls,
        f" ({run.error})" if run.error else "",
        extra={
            "status": run.status,
            "trigger": run.trigger,
            "pulled": run.pulled,
            "mapped": run.mapped,
            "pushed": run.pushed,
            "failed": run.failed,
            "api_calls": run.api_calls,
            "seconds": round(((run.finished_at or run.started_at) - run.started_at).total_seconds(), 3),
        },
    )

"""`tieout worker`: run a Celery worker that executes the scheduler's sync and reconcile tasks."""

from __future__ import annotations

from typing import Annotated

import typer

from tieout.cli_common import errors_to_exit_codes, state
from tieout.config import load_config
from tieout.scheduler.celery_app import broker_url, run_worker


def worker(
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Tasks run at once.")] = 1,
    pool: Annotated[str, typer.Option("--pool", help="prefork (processes), threads or solo.")] = "prefork",
    hostname: Annotated[
        str | None, typer.Option("--hostname", help="This worker's name (default: celery@<host>).")
    ] = None,
) -> None:
    """Execute the tasks the scheduler enqueues (workers.executor: celery); stop with SIGTERM."""
    if pool not in ("prefork", "threads", "solo"):
        raise typer.BadParameter("prefork, threads or solo", param_hint="--pool")
    with errors_to_exit_codes():
        config = load_config(state.config_path)
        broker_url(config)
    run_worker(config, concurrency=concurrency, pool=pool, hostname=hostname)

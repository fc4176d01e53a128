"""The Celery app: Redis broker and result backend, at-least-once delivery, and each worker's config and store.

Scheduled work runs on Celery when `workers.executor` is `celery`: the scheduler enqueues, any
number of `tieout worker` processes (on any host reaching Redis and the PostgreSQL state store)
execute. Delivery is at least once: tasks are acknowledged after they finish (`acks_late`), a
task whose worker process dies is put back (`reject_on_worker_lost`), and one whose whole worker
vanished is handed out again once the broker's visibility timeout passes. Running a task twice
is safe: pulls upsert, pushes go through the idempotent push ledger, and job locks keep two
copies of one task from running at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from celery import Celery

from tieout.config import TieoutConfig
from tieout.errors import ConfigError, ConfigProblem
from tieout.store import Store

QUEUE = "tieout"
VISIBILITY_MARGIN_SECONDS = 5
"""A task that outlives its hard time limit is killed, so after limit + margin an unacknowledged
task's worker is gone and the broker may hand the task to another."""
RESTORE_SWEEP_SECONDS = 2

app = Celery("tieout", include=["tieout.scheduler.tasks"])


def broker_url(config: TieoutConfig) -> str:
    if config.workers.broker_url is None:
        raise ConfigError(
            [
                ConfigProblem(
                    str(config.path),
                    None,
                    "workers.broker_url",
                    "the celery executor needs a broker, e.g. redis://host:6379/0",
                )
            ]
        )
    return config.workers.broker_url.get_secret_value()


def settings(config: TieoutConfig) -> dict[str, object]:
    """The Celery settings for this configuration's broker, with tieout's delivery settings."""
    url = broker_url(config)
    limit = config.workers.task_time_limit_seconds
    return {
        "broker_url": url,
        "result_backend": url,
        "task_default_queue": QUEUE,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_time_limit": limit,
        "worker_prefetch_multiplier": 1,
        "worker_hijack_root_logger": False,
        "broker_connection_retry_on_startup": True,
        "result_expires": 24 * 3600,
        "broker_transport_options": {
            "visibility_timeout": limit + VISIBILITY_MARGIN_SECONDS,
            "unacked_restore_interval": RESTORE_SWEEP_SECONDS,
            "unacked_restore_throttle": 1,
        },
        "result_backend_transport_options": {"visibility_timeout": limit + VISIBILITY_MARGIN_SECONDS},
    }


def client_app(config: TieoutConfig) -> Celery:
    """An app that sends tasks (by name) to this configuration's broker: the scheduler's side."""
    client = Celery("tieout-client")
    client.conf.update(settings(config))
    return client


@dataclass
class WorkerContext:
    config: TieoutConfig
    store: Store | None = None


_context: WorkerContext | None = None
_context_lock = threading.Lock()


def set_worker_config(config: TieoutConfig) -> None:
    """Called once by `tieout worker` before it starts: the config every task of this process uses."""
    global _context
    with _context_lock:
        _context = WorkerContext(config)
    app.conf.update(settings(config))


def worker_context() -> tuple[TieoutConfig, Store]:
    """The worker's config and its store, opened on first use in each (forked) worker process."""
    with _context_lock:
        if _context is None:
            raise RuntimeError("this process is not a tieout worker: set_worker_config() was not called")
        if _context.store is None:
            _context.store = Store.open(_context.config.store_url)
        return _context.config, _context.store


def run_worker(config: TieoutConfig, *, concurrency: int, pool: str, hostname: str | None) -> None:
    """Start a Celery worker for tieout's queue (blocks until it is told to stop)."""
    set_worker_config(config)
    argv = [
        "worker",
        f"--concurrency={concurrency}",
        f"--pool={pool}",
        f"--queues={QUEUE}",
        "--loglevel=INFO",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    app.worker_main(argv)

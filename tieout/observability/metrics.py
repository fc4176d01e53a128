"""Prometheus metrics: counters the sync runner and the pusher feed, and gauges read from the store.

Counters (records pulled, pushed and failed, API calls, rate-limit answers, run durations) count
what this process did. Open exceptions and cursor lag are read from the store when a scrape
arrives, so every process serving /metrics (the scheduler on its own port, the web app, the
webhook receiver) reports the same truth whichever of them ran the work. The store's figures
come with `tieout_store_up`, 0 when the store could not be read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from wsgiref.simple_server import WSGIServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import start_http_server
from prometheus_client.registry import Collector
from starlette.responses import Response

from tieout import errors
from tieout.config_sections import MetricsConfig
from tieout.errors import StoreError
from tieout.store import Store

RECORDS_PULLED = Counter(
    "tieout_records_pulled",
    "Records pulled from a system, by system and stream.",
    ["system", "stream"],
    registry=None,
)
RECORDS_PUSHED = Counter(
    "tieout_records_pushed",
    "Records created or updated in a target system, by target system and stream.",
    ["system", "stream"],
    registry=None,
)
RECORDS_FAILED = Counter(
    "tieout_records_failed",
    "Records that could not be mapped (stage=map) or that a target refused (stage=push).",
    ["system", "stream", "stage"],
    registry=None,
)
API_CALLS = Counter(
    "tieout_api_calls", "API requests sent to a system, retries included.", ["system"], registry=None
)
API_RATE_LIMITED = Counter(
    "tieout_api_rate_limited",
    "Answers from a system asking tieout to slow down (HTTP 429).",
    ["system"],
    registry=None,
)
RUN_DURATION = Histogram(
    "tieout_run_duration_seconds",
    "How long runs took, by job (sync:<system>:<stream>, flow:<name>) and final status.",
    ["job", "status"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, float("inf")),
    registry=None,
)
WEBHOOK_DELIVERIES = Counter(
    "tieout_webhook_deliveries",
    "Webhook deliveries by source and outcome (processed, ignored, duplicate, failed, forged, stale, "
    "oversized, malformed, unconfigured).",
    ["source", "outcome"],
    registry=None,
)
_PROCESS_METRICS: tuple[Collector, ...] = (
    RECORDS_PULLED,
    RECORDS_PUSHED,
    RECORDS_FAILED,
    API_CALLS,
    API_RATE_LIMITED,
    RUN_DURATION,
    WEBHOOK_DELIVERIES,
)


def record_pulled(system: str, stream: str, *, pulled: int, failed: int) -> None:
    RECORDS_PULLED.labels(system, stream).inc(pulled)
    if failed:
        RECORDS_FAILED.labels(system, stream, "map").inc(failed)


def record_push(system: str, stream: str, *, refused: bool) -> None:
    if refused:
        RECORDS_FAILED.labels(system, stream, "push").inc()
    else:
        RECORDS_PUSHED.labels(system, stream).inc()


def record_api_calls(system: str, calls: int) -> None:
    if calls:
        API_CALLS.labels(system).inc(calls)


def record_run(job: str, status: str, started_at: datetime, finished_at: datetime) -> None:
    RUN_DURATION.labels(job, status).observe(max(0.0, (finished_at - started_at).total_seconds()))


def record_webhook(source: str, outcome: str) -> None:
    WEBHOOK_DELIVERIES.labels(source, outcome).inc()


def _count_rate_limited(error: errors.RateLimited) -> None:
    API_RATE_LIMITED.labels(error.system or "unknown").inc()


errors.rate_limit_listeners.append(_count_rate_limited)


class StoreCollector(Collector):
    """Open exceptions by rule and severity, and cursor lag by stream, read at scrape time."""

    def __init__(self, store: Store, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.clock = clock

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterator[Metric]:
        up, open_exceptions, lag = self._families()
        try:
            with self.store.transaction() as tx:
                counts = tx.open_exception_counts()
                cursors = tx.list_cursors()
        except StoreError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for rule_code, severity, count in counts:
            open_exceptions.add_metric([rule_code, severity], count)
        now = self.clock()
        for cursor in cursors:
            if cursor.watermark is not None:
                lag.add_metric([cursor.system, cursor.stream], (now - cursor.watermark).total_seconds())
        yield from (up, open_exceptions, lag)

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily("tieout_store_up", "1 when the state store answered this scrape, else 0."),
            GaugeMetricFamily(
                "tieout_open_exceptions",
                "Open exceptions in the queue, by rule and severity.",
                labels=["rule", "severity"],
            ),
            GaugeMetricFamily(
                "tieout_cursor_lag_seconds",
                "Seconds between now and the newest record a stream's cursor has reached.",
                labels=["system", "stream"],
            ),
        )


def build_registry(store: Store | None = None) -> CollectorRegistry:
    """A registry with this process's counters and, given a store, the store's figures."""
    registry = CollectorRegistry()
    for metric in _PROCESS_METRICS:
        registry.register(metric)
    if store is not None:
        registry.register(StoreCollector(store))
    return registry


def metrics_response(registry: CollectorRegistry) -> Response:
    """The registry in Prometheus' text format, as a Starlette/FastAPI response."""
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class MetricsServer:
    """The scheduler's own /metrics endpoint, served from a daemon thread."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def start_metrics_server(config: MetricsConfig, store: Store | None = None) -> MetricsServer | None:
    """Serve metrics on config.host:config.port (None when metrics are disabled)."""
    if not config.enabled:
        return None
    server, thread = start_http_server(config.port, addr=config.host, registry=build_registry(store))
    return MetricsServer(server, thread)

"""The sync runner: pull -> store raw -> map -> store canonical -> advance cursor, one page at a time.

Each page is committed in one transaction together with its raw records, canonical records,
per-record failures and (for streams whose pages arrive oldest-first) the cursor, so a crash at
any point loses nothing and repeats nothing: on restart the runner pulls again from the last
committed cursor, and re-pulled records upsert onto themselves. Streams that page in another
order advance their cursor once, after the last page. The cursor never passes the moment the
run started (the "signpost"), so records written during a run are picked up by the next one.

A record that cannot be mapped is stored as pulled, marked with the reason, and filed in the
exception queue; the run goes on. A large pull's pages are mapped in worker processes
(`tieout.mapping_pool`) while this process stores the ones before them; what is stored, and
when, is the same as mapping them here. The scheduler, the CLI and the web app all sync through
`SyncService`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections import deque
from collections.abc import Callable, Collection, Generator, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tieout.config import Mode, SystemSettings, TieoutConfig
from tieout.connectors.base import CallBudget, Connector, Page, StreamSpec
from tieout.connectors.http import redact
from tieout.connectors.registry import connector_class
from tieout.errors import ConfigError, ConfigProblem, ConnectorError, RunInterrupted, TieoutError
from tieout.findings import SYNC_MAPPING_FAILED, fingerprint_for
from tieout.flows.definitions import FLOWS
from tieout.flows.runner import FlowResult, FlowRunner
from tieout.mapping_pool import MappingPool
from tieout.mappings.context import MappingContext
from tieout.observability import metrics, runs
from tieout.page_mapping import MappedPage, PageMapper, PageRecord
from tieout.stale_runs import fail_dead_runs
from tieout.store import Store
from tieout.store.queue import OPEN_STATUSES
from tieout.testing import killpoints

Clock = Callable[[], datetime]
log = logging.getLogger("tieout.runner")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PullScope:
    """Part of a stream, pulled outside its incremental order: a window, or records by id.

    A scoped pull stores what it reads like any sync page, but never moves the stream's cursor:
    the incremental syncs around it go on from where they were.
    """

    since: datetime | None = None
    until: datetime | None = None
    record_ids: tuple[str, ...] | None = None
    job_kind: str = "resync"
    """The run record's job is `<job_kind>:<system>:<stream>` ("sync" for a partition of a sync)."""


@dataclass
class StreamResult:
    system: str
    stream: str
    run_id: str
    status: str = "running"
    pulled: int = 0
    mapped: int = 0
    failed: int = 0
    api_calls: int = 0
    pages: int = 0
    error: str | None = None
    watermark: datetime | None = None
    record_ids: list[str] = field(default_factory=list)
    """The canonical records a scoped pull stored (a full sync does not collect them)."""
    source_ids: list[str] = field(default_factory=list)
    """The ids a scoped pull read, mapped or not."""

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class PageProgress:
    system: str
    stream: str
    pages: int
    pulled: int
    failed: int


def _page_records(page: Page) -> list[PageRecord]:
    return [(record.source_id, record.deleted, record.payload, None) for record in page.records]


def _with_texts(
    page: Page, page_calls: int, texts: list[str], mapped: MappedPage
) -> tuple[Page, int, MappedPage]:
    """A page mapped by a worker, with the payload texts this process made when it sent the page."""
    mapped.payload_texts = texts
    return page, page_calls, mapped


def _newest(page: Page) -> datetime | None:
    """How far the page reads: its watermark, or its newest record's time when that is later."""
    newest = page.watermark
    for record in page.records:
        if record.updated_at is not None and (newest is None or record.updated_at > newest):
            newest = record.updated_at
    return newest


class _CallCount:
    """The API calls a connector made for each page, and after the last one."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.seen = connector.api_calls

    def pages(self, pages: Iterator[Page]) -> Iterator[tuple[Page, int]]:
        for page in pages:
            calls, self.seen = self.connector.api_calls - self.seen, self.connector.api_calls
            yield page, calls

    def since_last_page(self) -> int:
        return self.connector.api_calls - self.seen


def default_mapping_processes() -> int:
    """With three CPUs or more, one mapping worker per CPU beyond the runner's, at most four; with two,
    none: there, shipping pages to a worker and back costs about what the worker saves the runner
    (`bench/sync.py --scale medium` on two CPUs: 10,157 records/s with one worker, 10,498 without)."""
    cpus = os.cpu_count() or 1
    return 0 if cpus <= 2 else min(4, cpus - 1)


class SyncService:
    """Runs syncs for a configuration against a store. One instance per process is enough."""

    mapping_pool_after = 1000
    """Records a stream yields before its further pages are mapped in worker processes: a
    smaller sync is not worth starting them."""

    def __init__(
        self,
        config: TieoutConfig,
        store: Store,
        *,
        connectors: Mapping[str, Connector] | None = None,
        clock: Clock = utc_now,
        stop_event: threading.Event | None = None,
        on_page: Callable[[PageProgress], None] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.stop_event = stop_event or threading.Event()
        self.on_page = on_page
        self._connectors: dict[str, Connector] = dict(connectors or {})
        configured = config.workers.mapping_processes
        self.mapping_processes = default_mapping_processes() if configured is None else configured

    def connector(self, system: str) -> Connector:
        if system not in self._connectors:
            settings = self._enabled_system(system)
            connector_type = connector_class(settings.connector)
            assert settings.settings is not None
            budget = CallBudget(system, settings.max_calls_per_run)
            self._connectors[system] = connector_type(settings.settings, budget=budget)
        return self._connectors[system]

    def _enabled_system(self, system: str) -> SystemSettings:
        settings = self.config.system(system)
        if not settings.enabled:
            raise ConfigError(
                [
                    ConfigProblem(
                        str(self.config.path), None, f"systems.{system}.enabled", "this system is disabled"
                    )
                ]
            )
        return settings

    def streams_for(self, system: str) -> list[str]:
        settings = self._enabled_system(system)
        if settings.streams:
            return list(settings.streams)
        return [spec.name for spec in self.connector(system).streams]

    def sync(
        self, system: str | None = None, stream: str | None = None, *, trigger: str = "manual"
    ) -> list[StreamResult]:
        """Sync one stream, one system's streams, or every enabled system's streams."""
        systems = [system] if system else [name for name, item in self.config.systems.items() if item.enabled]
        results = []
        for name in systems:
            for stream_name in [stream] if stream else self.streams_for(name):
                results.append(self.sync_stream(name, stream_name, trigger=trigger))
                if self.stop_event.is_set():
                    return results
        return results

    def sync_stream(
        self, system: str, stream: str, *, trigger: str = "manual", scope: PullScope | None = None
    ) -> StreamResult:
        settings = self._enabled_system(system)
        connector = self.connector(system)
        spec = connector.stream(stream)
        started_at = self.clock()
        result = StreamResult(system=system, stream=stream, run_id=str(uuid.uuid4()))
        job = f"{'sync' if scope is None else scope.job_kind}:{system}:{stream}"
        with self.store.transaction() as tx:
            fail_dead_runs(tx, job, at=started_at)
            tx.start_run(
                run_id=result.run_id,
                job=job,
                system=system,
                stream=stream,
                trigger=trigger,
                mode=settings.mode.value,
                started_at=started_at,
                host=socket.gethostname(),
                pid=os.getpid(),
            )
            cursor = tx.get_cursor(system, stream)
        runs.bind(result.run_id, job)
        watermark = cursor.watermark if cursor else None
        since = watermark - timedelta(seconds=settings.lookback_seconds) if watermark else None
        until = started_at
        if scope is not None:
            since, until, newest = scope.since, min(scope.until or started_at, started_at), None
        else:
            newest = watermark
        calls = _CallCount(connector)
        pages = self._mapped_pages(
            settings, spec, calls.pages(self._pages(connector, system, stream, since, until, scope))
        )
        try:
            with closing(pages):
                for page, page_calls, mapped in pages:
                    metrics.record_api_calls(system, page_calls)
                    killpoints.reached("pull.before_store")
                    page_newest = _newest(page)
                    if page_newest is not None and (newest is None or page_newest > newest):
                        newest = min(page_newest, started_at)
                    self._commit_page(
                        system,
                        spec,
                        page,
                        mapped,
                        result,
                        page_calls,
                        newest if spec.ordered and scope is None else None,
                    )
                    if scope is not None:
                        result.record_ids += [str(row["record_id"]) for row in mapped.canonical]
                        result.source_ids += [record.source_id for record in page.records]
                    if self.stop_event.is_set():
                        raise RunInterrupted(f"stopped after page {result.pages} on request")
            if scope is None and not spec.ordered and spec.cursor_field is not None:
                with self.store.transaction() as tx:
                    tx.advance_cursor(system, stream, newest, at=self.clock(), run_id=result.run_id)
                    killpoints.reached("cursor.mid_commit")
            result.status = "succeeded"
        except RunInterrupted as exc:
            result.status, result.error = "interrupted", str(exc)
        except TieoutError as exc:
            result.status, result.error = "failed", redact(str(exc), self.config.secret_values)
        except BaseException as exc:
            self._finish(
                result, "failed", f"{type(exc).__name__}: {redact(str(exc), self.config.secret_values)}"
            )
            raise
        # Calls after the last page: the one that found nothing more, or the attempts of a failure.
        metrics.record_api_calls(system, calls.since_last_page())
        result.watermark = newest
        self._finish(result, result.status, result.error)
        return result

    def _pages(
        self,
        connector: Connector,
        system: str,
        stream: str,
        since: datetime | None,
        until: datetime,
        scope: PullScope | None,
    ) -> Iterator[Page]:
        if scope is None or scope.record_ids is None:
            yield from connector.pull(stream, since=since, until=until)
            return
        with self.store.transaction() as tx:
            stored = {record_id: tx.get_raw(system, stream, record_id) for record_id in scope.record_ids}
        known = {record_id: raw.payload for record_id, raw in stored.items() if raw is not None}
        yield connector.fetch(stream, scope.record_ids, known=known)

    def _mapped_pages(
        self, settings: SystemSettings, spec: StreamSpec, pages: Iterator[tuple[Page, int]]
    ) -> Generator[tuple[Page, int, MappedPage], None, None]:
        """Each page with its API calls and its mapping, in page order.

        The first pages are mapped here; once the stream has yielded `mapping_pool_after` records,
        the rest go to worker processes (`workers.mapping_processes`), one page per worker in
        flight, while this process stores the pages before them.
        """
        mapper = PageMapper(
            system=settings.name,
            stream=spec.name,
            mapper=spec.mapper,
            context=MappingContext(system=settings.name, stream=spec.name, fields=self.config.field_mappings),
            max_record_bytes=settings.max_record_bytes,
            secrets=self.config.secret_values,
        )
        processes = self.mapping_processes
        pulled = 0
        pool: MappingPool | None = None
        waiting: deque[tuple[Page, int, list[str]]] = deque()
        failed: Exception | None = None
        try:
            while True:
                try:
                    page, page_calls = next(pages)
                except StopIteration:
                    break
                except Exception as exc:  # the pages pulled before it are stored first, as inline
                    failed = exc
                    break
                if pool is None and processes and pulled >= self.mapping_pool_after:
                    try:
                        pool = MappingPool(mapper, processes)
                    except (OSError, AssertionError) as exc:  # no fork here (limits, a daemonic process)
                        log.warning(
                            "mapping %s %s in the runner: no worker process (%s)",
                            mapper.system,
                            mapper.stream,
                            exc,
                        )
                        processes = 0
                pulled += len(page.records)
                if pool is None:
                    yield page, page_calls, mapper.map_page(_page_records(page))
                    continue
                # The oldest page's result is taken before this page goes out (one page per worker
                # in flight) and stored after, so the workers map while this process stores.
                ready = (
                    _with_texts(*waiting.popleft(), pool.result())
                    if pool.in_flight == pool.processes
                    else None
                )
                waiting.append((page, page_calls, pool.submit(page.records)))
                if ready is not None:
                    yield ready
            while waiting:
                assert pool is not None
                yield _with_texts(*waiting.popleft(), pool.result())
            if failed is not None:
                raise failed
        finally:
            if pool is not None:
                pool.close()

    def _commit_page(
        self,
        system: str,
        spec: StreamSpec,
        page: Page,
        mapped: MappedPage,
        result: StreamResult,
        api_calls: int,
        watermark: datetime | None,
    ) -> None:
        now = self.clock()
        raw_rows = [
            {
                "source_id": record.source_id,
                "updated_at": record.updated_at,
                "payload": text,
                "content_hash": content_hash,
                "deleted": record.deleted,
                "mapping_error": error,
            }
            for record, text, content_hash, error in zip(
                page.records, mapped.payload_texts, mapped.payload_hashes, mapped.errors, strict=True
            )
        ]
        with self.store.transaction() as tx:
            tx.upsert_raw_rows(
                raw_rows,
                constants={"system": system, "stream": spec.name, "pulled_at": now, "run_id": result.run_id},
            )
            tx.upsert_canonical_rows(mapped.canonical, stored_at=now)
            if mapped.findings:
                tx.file_findings(mapped.findings, at=now, run_id=result.run_id)
            # Most runs have no mapping failure open anywhere to close: one query says so, and
            # spares looking up every record mapped by its fingerprint.
            if tx.list_exceptions(status=OPEN_STATUSES, rule_code=SYNC_MAPPING_FAILED, limit=1):
                cleared = [
                    fingerprint_for(SYNC_MAPPING_FAILED, f"{system}:{spec.name}:{record.source_id}")
                    for record, error in zip(page.records, mapped.errors, strict=True)
                    if error is None
                ]
                tx.auto_resolve(cleared, at=now, note="the record now maps cleanly")
            killpoints.reached("pull.mid_commit")
            if watermark is not None:
                tx.advance_cursor(system, spec.name, watermark, at=now, run_id=result.run_id)
            tx.add_run_counts(
                result.run_id,
                at=now,
                pulled=len(page.records),
                mapped=len(mapped.canonical),
                failed=len(mapped.findings),
                api_calls=api_calls,
            )
        metrics.record_pulled(system, spec.name, pulled=len(page.records), failed=len(mapped.findings))
        killpoints.reached("pull.after_commit")
        result.pages += 1
        result.pulled += len(page.records)
        result.mapped += len(mapped.canonical)
        result.failed += len(mapped.findings)
        result.api_calls += api_calls
        if self.on_page is not None:
            self.on_page(PageProgress(system, spec.name, result.pages, result.pulled, result.failed))

    def _finish(self, result: StreamResult, status: str, error: str | None) -> None:
        finished_at = self.clock()
        with self.store.transaction() as tx:
            tx.finish_run(result.run_id, status=status, at=finished_at, error=error)
            run = tx.get_run(result.run_id)
        if run is not None:
            runs.finished(run)
        runs.release(result.run_id)

    def run_flows(
        self,
        *,
        dry_run: bool = False,
        sources: Collection[str] | None = None,
        flow_names: Collection[str] | None = None,
    ) -> list[FlowResult]:
        """Push what is missing in the systems in sync mode (all systems, planned only, in a dry run).

        `sources` keeps only the pushes of these canonical records (a resync), `flow_names` only
        these flows (a re-push from the exception queue).
        """
        sync_systems = {
            name
            for name, system in self.config.systems.items()
            if system.enabled and system.mode is Mode.SYNC
        }
        enabled = {name for name, system in self.config.systems.items() if system.enabled}
        runner = FlowRunner(
            self.store,
            self.connector,
            value_maps=self.config.field_mappings.value_maps,
            sync_systems=sync_systems,
            clock=self.clock,
            refresh=self._refresh,
            secrets=self.config.secret_values,
            flows=tuple(
                flow
                for flow in FLOWS
                if flow.target in enabled and (flow_names is None or flow.name in flow_names)
            ),
        )
        return runner.run(dry_run=dry_run, sources=sources)

    def _refresh(self, system: str) -> None:
        for stream in self.streams_for(system):
            result = self.sync_stream(system, stream, trigger="flow")
            if result.status != "succeeded":
                raise ConnectorError(
                    f"re-reading {system} {stream} after pushing failed: {result.error}", system=system
                )

    def close(self) -> None:
        for connector in self._connectors.values():
            connector.close()

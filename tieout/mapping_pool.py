"""Worker processes that map a stream's pages while the runner stores the ones before them.

Mapping is pure, so a large sync hands its pages to a few forked workers and keeps for itself
only what must stay in one place: the store writes, commits and cursor, in page order. Page k
goes to worker k mod n and its result is taken back in page order, so results never overtake
one another; one page per worker is in flight, which also means a worker is never sending a
result while the runner is sending it the next page (two full pipes would wait on each other).

Payloads cross as their stored text (`jsonutil.dumps_decoded`, keys sorted), which this process
needs for the raw rows anyway, whenever orjson wrote it without help, so it decodes to an equal
value (decoded JSON: dicts, lists, strings, integers, booleans, null); the rest (Decimals,
datetimes, integers past 64 bits, lone surrogates) is pickled. orjson writes and reads them
several times faster than pickle. A worker thus sees a payload's keys in sorted order: the keys
of a JSON object have no order, and no mapper may depend on the order its vendor sent them in.

A worker ignores Ctrl-C (the runner stops it) and exits when the runner's end of its task pipe
closes, which is also what happens when the runner is killed: no worker outlives its runner.
"""

from __future__ import annotations

import gc
import multiprocessing
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import orjson

from tieout import jsonutil
from tieout.connectors.base import RawRecord
from tieout.errors import MappingWorkerFailed
from tieout.page_mapping import MappedPage, PageMapper, PageRecord

_Sent = tuple[str, bool, bytes | Mapping[str, Any], str | None]
"""A record as sent: source id, deleted, payload (its text when exact, else the value), and its
stored text when that is not the text sent."""


def _refuse(value: Any) -> Any:
    raise TypeError(type(value).__name__)


def encoded(records: Sequence[RawRecord]) -> tuple[list[_Sent], list[str]]:
    """The records as sent to a worker, and their payloads' stored texts."""
    sent: list[_Sent] = []
    texts: list[str] = []
    for record in records:
        try:
            # `dumps_decoded`'s options; what orjson would write as something else goes to `_refuse`.
            exact = orjson.dumps(record.payload, default=_refuse, option=jsonutil.ORJSON_OPTIONS)
        except TypeError:
            text = jsonutil.dumps_decoded(record.payload)
            sent.append((record.source_id, record.deleted, record.payload, text))
        else:
            if jsonutil.written_as_dumps(exact):
                text = exact.decode("ascii")
                sent.append((record.source_id, record.deleted, exact, None))
            else:  # stored escaped, as `jsonutil.dumps` writes it
                text = jsonutil.dumps_decoded(record.payload)
                sent.append((record.source_id, record.deleted, exact, text))
        texts.append(text)
    return sent, texts


def _decoded(sent: list[_Sent]) -> list[PageRecord]:
    records: list[PageRecord] = []
    for source_id, deleted, payload, text in sent:
        if type(payload) is bytes:
            records.append(
                (source_id, deleted, orjson.loads(payload), payload.decode("ascii") if text is None else text)
            )
        else:
            assert isinstance(payload, Mapping) and text is not None
            records.append((source_id, deleted, payload, text))
    return records


@dataclass(frozen=True)
class _Failed:
    """A page the worker could not map at all (a fault of the mapping code, not of one record)."""

    error: BaseException


def _serve(mapper: PageMapper, tasks: Connection, results: Connection, inherited: list[Connection]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for connection in inherited:  # the runner's ends, and other workers': holding them would hide its exit
        connection.close()
    gc.freeze()  # what the fork copied stays out of the collector's way
    while True:
        try:
            sent = tasks.recv()
        except EOFError:
            return
        outcome: MappedPage | _Failed
        try:
            outcome = mapper.map_page(_decoded(sent))
        except BaseException as exc:  # the runner raises it, as it would have when mapping inline
            outcome = _Failed(exc)
        try:
            try:
                results.send(outcome)
            except Exception as exc:  # an error that cannot be pickled goes as its text
                if not isinstance(outcome, _Failed):
                    raise
                results.send(_Failed(MappingWorkerFailed(f"{type(exc).__name__}: {outcome.error!r}")))
        except OSError:  # the runner closed its end: it has stopped
            return


@dataclass
class _Worker:
    process: BaseProcess
    tasks: Connection
    results: Connection


class MappingPool:
    """`processes` forked workers mapping pages with `mapper`; `submit` pages, take `result`s in order."""

    def __init__(self, mapper: PageMapper, processes: int) -> None:
        if processes < 1:
            raise ValueError("a mapping pool needs at least one process")
        context = multiprocessing.get_context("fork")
        self._workers: list[_Worker] = []
        self._submitted = 0
        self._taken = 0
        inherited: list[Connection] = []
        try:
            for index in range(processes):
                task_reader, task_writer = context.Pipe(duplex=False)
                result_reader, result_writer = context.Pipe(duplex=False)
                process = context.Process(
                    target=_serve,
                    args=(mapper, task_reader, result_writer, [*inherited, task_writer, result_reader]),
                    name=f"tieout-mapping-{mapper.system}-{mapper.stream}-{index + 1}",
                    daemon=True,
                )
                process.start()
                task_reader.close()
                result_writer.close()
                self._workers.append(_Worker(process, task_writer, result_reader))
                inherited += [task_writer, result_reader]
        except BaseException:
            self.close()
            raise

    @property
    def processes(self) -> int:
        return len(self._workers)

    @property
    def in_flight(self) -> int:
        return self._submitted - self._taken

    def submit(self, records: Sequence[RawRecord]) -> list[str]:
        """Send a page to the next worker, and return its payloads' stored texts (the worker sends none back).

        At most one page per worker may be in flight.
        """
        if self.in_flight >= len(self._workers):
            raise RuntimeError("every mapping worker has a page in flight; take a result first")
        worker = self._workers[self._submitted % len(self._workers)]
        sent, texts = encoded(records)
        try:
            worker.tasks.send(sent)
        except OSError:
            raise self._died(worker) from None
        self._submitted += 1
        return texts

    def result(self) -> MappedPage:
        """The oldest submitted page, mapped; waits for it."""
        if not self.in_flight:
            raise RuntimeError("no page is being mapped")
        worker = self._workers[self._taken % len(self._workers)]
        try:
            outcome = worker.results.recv()
        except (EOFError, OSError):
            raise self._died(worker) from None
        self._taken += 1
        if isinstance(outcome, _Failed):
            raise outcome.error
        if not isinstance(outcome, MappedPage):
            raise MappingWorkerFailed(
                f"{worker.process.name} sent {type(outcome).__name__}, not a mapped page"
            )
        return outcome

    def _died(self, worker: _Worker) -> MappingWorkerFailed:
        worker.process.join(timeout=5)
        return MappingWorkerFailed(
            f"mapping worker {worker.process.name} (pid {worker.process.pid}) exited with code "
            f"{worker.process.exitcode} while mapping a page"
        )

    def close(self) -> None:
        """Stop the workers; pages still in flight are dropped (their records are pulled again)."""
        for worker in self._workers:
            worker.tasks.close()
            worker.results.close()
        for worker in self._workers:
            worker.process.join(timeout=2)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join()
        self._workers = []

    def __enter__(self) -> MappingPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

"""Pages mapped in worker processes: the same stored results as mapping inline, on both backends.

The runner is forced onto its process pool (`mapping_pool_after = 0`) against the Ledgerly fake
over real HTTP; what it stores is compared with what the inline path stores for the same pull.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fakeledger import (
    TOKEN,
    LedgerlyConnector,
    LedgerlySettings,
    LedgerlyState,
    ledgerly_config,
    map_invoice,
    running_ledgerly,
    seed_invoices,
)
from sqlalchemy import select

from tieout import jsonutil, runner
from tieout.config import TieoutConfig, load_config
from tieout.config_sections import WorkersConfig
from tieout.connectors.base import Page, RawRecord, StreamSpec
from tieout.errors import ConnectorError
from tieout.mapping_pool import MappingPool, encoded
from tieout.mappings.context import MappingContext
from tieout.model import Invoice
from tieout.page_mapping import PageMapper
from tieout.runner import PullScope, SyncService
from tieout.store import Store
from tieout.store.schema import canonical_records, raw_records
from tieout.testing.killpoints import KILL_AT_VARIABLE

START = datetime(2026, 1, 1, tzinfo=UTC)


BAD_RECORDS = [
    {"id": "inv-bad-currency", "customer": "c", "currency": "XXQ", "total": "5", "status": "open"},
    {"id": "inv-no-total", "customer": "c", "currency": "EUR", "status": "open"},
    {"id": "inv-nul", "customer": "c\x00d", "currency": "EUR", "total": "5", "status": "open"},
    {"id": "inv-bad-status", "customer": "c", "currency": "EUR", "total": "5", "status": "lost"},
]


@pytest.fixture
def ledgerly() -> LedgerlyState:
    state = LedgerlyState()
    seed_invoices(state, 150, start=START, same_time_every=3)
    for number, record in enumerate(BAD_RECORDS):
        state.add("invoices", {**record, "updated_at": (START + timedelta(seconds=7 * number)).isoformat()})
    return state


@pytest.fixture
def ledgerly_url(ledgerly: LedgerlyState) -> Iterator[str]:
    with running_ledgerly(ledgerly) as url:
        yield url


class CountingPool(MappingPool):
    pages = 0

    def submit(self, records: Sequence[RawRecord]) -> list[str]:
        CountingPool.pages += 1
        return super().submit(records)


@pytest.fixture
def counting_pool(monkeypatch: pytest.MonkeyPatch) -> type[CountingPool]:
    CountingPool.pages = 0
    monkeypatch.setattr(runner, "MappingPool", CountingPool)
    return CountingPool


def service_for(store: Store, url: str, *, processes: int) -> SyncService:
    connector = LedgerlyConnector(LedgerlySettings(base_url=url, api_token=TOKEN, page_size=20))  # type: ignore[arg-type]
    service = SyncService(ledgerly_config(str(store.engine.url)), store, connectors={"ledgerly": connector})
    service.mapping_processes = processes
    service.mapping_pool_after = 0
    return service


def snapshot(store: Store) -> dict[str, Any]:
    """What a sync stored, less when and by which run it was pulled."""
    with store.engine.connect() as connection:
        raw = connection.execute(
            select(
                raw_records.c.source_id,
                raw_records.c.updated_at,
                raw_records.c.payload,
                raw_records.c.content_hash,
                raw_records.c.deleted,
                raw_records.c.mapping_error,
            ).order_by(raw_records.c.source_id)
        ).all()
        canonical = connection.execute(
            select(canonical_records).order_by(canonical_records.c.record_id)
        ).all()
    with store.transaction() as tx:
        exceptions = [
            (item.fingerprint, item.status, item.explanation, item.details, item.record_ids)
            for item in tx.list_exceptions(limit=1000)
        ]
    return {"raw": raw, "canonical": canonical, "exceptions": exceptions}


@pytest.mark.parametrize("first", ["pool", "inline"])
def test_the_pool_stores_exactly_what_mapping_inline_stores(
    store: Store, ledgerly_url: str, counting_pool: type[CountingPool], first: str
) -> None:
    pooled = service_for(store, ledgerly_url, processes=2)
    inline = service_for(store, ledgerly_url, processes=0)
    one, other = (pooled, inline) if first == "pool" else (inline, pooled)
    result = one.sync_stream("ledgerly", "invoices")
    assert (result.status, result.pulled, result.mapped, result.failed) == ("succeeded", 154, 150, 4)
    stored = snapshot(store)
    # The same records pulled again the other way: raw rows are rewritten with what it makes, and
    # canonical rows only if their content differs (their stored_at would move).
    again = other.sync_stream("ledgerly", "invoices", scope=PullScope())
    assert (again.status, again.pulled, again.mapped, again.failed) == ("succeeded", 154, 150, 4)
    assert snapshot(store) == stored
    assert counting_pool.pages == 8  # 154 records in pages of 20, every one mapped by a worker
    errors = {row.source_id: row.mapping_error for row in stored["raw"] if row.mapping_error}
    assert set(errors) == {record["id"] for record in BAD_RECORDS}
    assert "XXQ" in errors["inv-bad-currency"] and "NUL" in errors["inv-nul"]
    assert [status for _, status, *_ in stored["exceptions"]] == ["open"] * 4
    assert multiprocessing.active_children() == []


def test_pages_are_committed_in_order_and_the_cursor_follows(
    store: Store, ledgerly_url: str, counting_pool: type[CountingPool]
) -> None:
    committed: list[int] = []
    service = service_for(store, ledgerly_url, processes=3)
    service.on_page = lambda progress: committed.append(progress.pulled)
    result = service.sync_stream("ledgerly", "invoices")
    assert result.status == "succeeded" and counting_pool.pages == 8
    assert committed == [20, 40, 60, 80, 100, 120, 140, 154]
    with store.transaction() as tx:
        cursor = tx.get_cursor("ledgerly", "invoices")
    assert cursor is not None and cursor.watermark == START + timedelta(seconds=49)


PARENT = os.getpid()


def dies_in_a_worker(payload: Mapping[str, Any], context: MappingContext) -> Invoice:
    if os.getpid() != PARENT and payload["id"] == "inv-00085":
        os._exit(3)
    return map_invoice(payload, context)


class DyingLedgerly(LedgerlyConnector):
    streams = tuple(
        StreamSpec(**{**spec.__dict__, "mapper": dies_in_a_worker}) if spec.name == "invoices" else spec
        for spec in LedgerlyConnector.streams
    )


def test_a_worker_that_dies_fails_the_run_clearly_after_the_pages_before_it(
    store: Store, ledgerly_url: str
) -> None:
    connector = DyingLedgerly(LedgerlySettings(base_url=ledgerly_url, api_token=TOKEN, page_size=20))  # type: ignore[arg-type]
    service = SyncService(ledgerly_config(str(store.engine.url)), store, connectors={"ledgerly": connector})
    service.mapping_processes, service.mapping_pool_after = 2, 0
    result = service.sync_stream("ledgerly", "invoices")
    assert result.status == "failed"
    assert (
        result.error is not None and "mapping worker" in result.error and "exited with code 3" in result.error
    )
    with store.transaction() as tx:
        stored = list(tx.iter_raw("ledgerly", "invoices"))
        cursor = tx.get_cursor("ledgerly", "invoices")
        assert tx.get_run(result.run_id).status == "failed"  # type: ignore[union-attr]
    # The pages before the one the worker died on are committed, with the cursor; none after it.
    assert result.pages >= 1 and len(stored) == 20 * result.pages
    assert "inv-00085" not in {raw.source_id for raw in stored}
    assert cursor is not None and cursor.watermark == max(raw.updated_at for raw in stored if raw.updated_at)
    assert cursor.watermark < START + timedelta(seconds=85 // 3)
    assert multiprocessing.active_children() == []


def test_an_interrupt_stops_the_workers(store: Store, ledgerly_url: str) -> None:
    service = service_for(store, ledgerly_url, processes=2)

    def interrupt(progress: object) -> None:
        raise KeyboardInterrupt

    service.on_page = interrupt
    with pytest.raises(KeyboardInterrupt):
        service.sync_stream("ledgerly", "invoices")
    assert multiprocessing.active_children() == []
    with store.transaction() as tx:
        [run] = tx.list_runs(limit=1)
    assert run.status == "failed" and run.pulled == 20


def test_payloads_cross_as_their_stored_text_or_pickled_and_map_as_inline() -> None:
    mapper = PageMapper("ledgerly", "invoices", map_invoice, MappingContext("ledgerly", "invoices"), 1 << 20)
    payloads: list[dict[str, Any]] = [
        {"status": "open", "id": "inv-0", "customer": "c", "currency": "EUR", "total": "5"},
        {"id": "inv-1", "customer": "Zürich AG", "currency": "EUR", "total": "5", "status": "open"},
        {"id": "inv-2", "customer": "c", "currency": "EUR", "total": Decimal("1.10"), "status": "open"},
        {"id": "inv-3", "customer": "c", "currency": "EUR", "total": "5", "status": "open", "big": 1 << 70},
        {"id": "inv-4", "customer": "\udc80", "currency": "EUR", "total": "5", "status": "open"},
        {"id": "inv-5", "customer": "c", "currency": "EUR", "total": "5", "status": "open", "at": START},
    ]
    for payload in payloads:
        payload["updated_at"] = START.isoformat()
    records = [RawRecord("ledgerly", "invoices", str(item["id"]), START, item) for item in payloads]
    sent, texts = encoded(records)
    assert [type(payload) is bytes for _, _, payload, _ in sent] == [True, True, False, False, False, False]
    assert texts == [jsonutil.dumps_decoded(payload) for payload in payloads]
    inline = mapper.map_page([(record.source_id, record.deleted, record.payload, None) for record in records])
    assert inline.payload_texts == texts
    with MappingPool(mapper, 1) as pool:
        assert pool.submit(records) == texts
        pooled = pool.result()
    assert pooled.payload_texts == []
    assert replace(pooled, payload_texts=texts) == inline
    assert inline.errors[:4] == [None, None, None, None] and inline.errors[4] is not None


def test_the_config_sets_the_number_of_mapping_processes(tmp_path: Any) -> None:
    path = tmp_path / "tieout.yaml"
    path.write_text("version: 1\nworkers:\n  mapping_processes: 0\n", encoding="utf-8")
    config = load_config(path)
    assert config.workers.mapping_processes == 0
    assert SyncService(config, Store.open(f"sqlite:///{tmp_path}/a.db")).mapping_processes == 0
    derived = TieoutConfig(**{**ledgerly_config("sqlite://").__dict__, "workers": WorkersConfig()})
    service = SyncService(derived, Store.open(f"sqlite:///{tmp_path}/b.db"))
    cpus = os.cpu_count() or 1
    assert service.mapping_processes == (0 if cpus <= 2 else min(4, cpus - 1))


VICTIM = """
import sys
from pathlib import Path
from tieout.config import load_config
from tieout.runner import SyncService
from tieout.store import Store

config = load_config(Path(sys.argv[1]))
service = SyncService(config, Store.open(config.store_url))
service.mapping_pool_after = 0
print(service.sync_stream("ledgerly", "invoices").status)
"""


def ended(pid: int) -> bool:
    """Whether a process has exited (an orphan no one reaps stays a zombie: it has exited too)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def test_killing_the_runner_ends_its_workers_and_the_rerun_completes(
    store_url: str, tmp_path: Path, ledgerly_url: str
) -> None:
    config = tmp_path / "tieout.yaml"
    config.write_text(
        f"version: 1\nstore:\n  url: {store_url}\nworkers:\n  mapping_processes: 2\n"
        "systems:\n  ledgerly:\n    connector: fakeledger:LedgerlyConnector\n    lookback_seconds: 0\n"
        "    settings:\n      base_url: ${LEDGERLY_URL}\n      api_token: ${LEDGERLY_TOKEN}\n      page_size: 20\n",
        encoding="utf-8",
    )
    support = Path(__file__).parent / "support"
    victim = subprocess.run(
        [sys.executable, "-c", VICTIM, str(config)],
        env={
            **os.environ,
            "PYTHONPATH": str(support),
            "LEDGERLY_URL": ledgerly_url,
            "LEDGERLY_TOKEN": TOKEN,
            KILL_AT_VARIABLE: "pull.mid_commit:3",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert victim.returncode == -signal.SIGKILL, victim.stderr
    store = Store.open(store_url)
    with store.transaction() as tx:
        assert tx.count_raw("ledgerly", "invoices") == 40
    # `run` returned, so nothing held the output pipes open any more: no worker outlived the runner.
    # Each worker kept a pipe end inherited from the runner, and exits when the runner's end closes.
    orphans = [
        pid
        for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
        if not ended(pid) and f"{victim.args[2]}" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    ]
    assert orphans == []
    service = service_for(store, ledgerly_url, processes=2)
    result = service.sync_stream("ledgerly", "invoices")
    assert result.status == "succeeded"
    with store.transaction() as tx:
        assert tx.count_raw("ledgerly", "invoices") == 154
        assert len(tx.list_exceptions(status=["open"])) == len(BAD_RECORDS)
    store.close()


def test_a_runner_that_cannot_start_workers_maps_inline(
    store: Store, ledgerly_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_fork(*args: object) -> None:
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(runner, "MappingPool", no_fork)
    result = service_for(store, ledgerly_url, processes=2).sync_stream("ledgerly", "invoices")
    assert (result.status, result.pulled, result.failed) == ("succeeded", 154, 4)
    assert "no worker process (Resource temporarily unavailable)" in caplog.text


class FailingAfterThreePages(LedgerlyConnector):
    def pull(
        self, stream: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Page]:
        for number, page in enumerate(super().pull(stream, since=since, until=until), start=1):
            yield page
            if number == 3:
                raise ConnectorError("ledgerly stopped answering", system="ledgerly")


@pytest.mark.parametrize("processes", [0, 2])
def test_the_pages_pulled_before_a_failure_are_stored_as_inline(
    store: Store, ledgerly_url: str, processes: int
) -> None:
    connector = FailingAfterThreePages(LedgerlySettings(base_url=ledgerly_url, api_token=TOKEN, page_size=20))  # type: ignore[arg-type]
    service = SyncService(ledgerly_config(str(store.engine.url)), store, connectors={"ledgerly": connector})
    service.mapping_processes, service.mapping_pool_after = processes, 0
    result = service.sync_stream("ledgerly", "invoices")
    assert (result.status, result.pages, result.pulled) == ("failed", 3, 60)
    assert result.error is not None and "ledgerly stopped answering" in result.error
    with store.transaction() as tx:
        assert tx.count_raw("ledgerly", "invoices") == 60
    assert multiprocessing.active_children() == []

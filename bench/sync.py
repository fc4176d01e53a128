"""Sync benchmark: API calls per 1,000 records per stream, and the local pipeline's throughput.

Generates a company in the sandbox (`--scale`, default medium), runs a full pull of every stream
through the four connectors into a fresh SQLite store, and prints per stream the records, the
API calls, the calls per 1,000 records, and the page-size lower bound (1,000 / page size) with
the ratio between them. Then it measures the local pipeline alone (map + store, no network):
every raw record pulled is mapped again and upserted into another fresh store, and the records
per second are printed. Targets (issue #4): calls within 1.1x of the lower bound; pipeline at
least 20,000 records/s on SQLite on a 2-core machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from tieout.config import TieoutConfig, load_config
from tieout.connectors.base import Connector, ConnectorSettings, Page, RawRecord
from tieout.connectors.registry import connector_class
from tieout.runner import SyncService
from tieout.sandbox.config_writer import write_sandbox_config
from tieout.sandbox.runtime import Sandbox, SandboxOptions
from tieout.sandbox.scenario.generate import generate
from tieout.store import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tieout-bench-sync-"))
    sandbox = Sandbox(SandboxOptions(workdir=workdir, seed=args.seed)).start()
    try:
        started = time.perf_counter()
        answer_key = generate(sandbox, seed=args.seed, scale=args.scale)
        print(f"generated scale {args.scale} in {time.perf_counter() - started:.1f} s")
        description = sandbox.describe()
        config = load_config(write_sandbox_config(description, workdir, value_maps=answer_key["value_maps"]))
        store = Store.open(config.store_url)
        service = SyncService(config, store)
        started = time.perf_counter()
        results = service.sync()
        pull_seconds = time.perf_counter() - started
        service.close()
        total = sum(result.pulled for result in results)
        print(
            f"full pull: {total:,} records in {pull_seconds:.1f} s ({total / pull_seconds:,.0f} records/s end to end)"
        )
        print(f"{'stream':<28}{'records':>10}{'calls':>8}{'per 1k':>9}{'bound':>8}{'ratio':>8}")
        for result in results:
            spec = connector_class(config.system(result.system).connector).stream(result.stream)
            per_thousand = 1000 * result.api_calls / result.pulled if result.pulled else 0.0
            bound = 1000 / spec.page_size
            ratio = per_thousand / bound if result.pulled else 0.0
            name = f"{result.system} {result.stream}"
            print(
                f"{name:<28}{result.pulled:>10,}{result.api_calls:>8,}{per_thousand:>9.2f}{bound:>8.2f}{ratio:>7.1f}x"
            )
        _pipeline(config, store, workdir)
    finally:
        sandbox.stop()


class Replay(Connector):
    """Serves records already pulled, page by page, so the runner's local work can be timed alone."""

    name = "replay"

    def __init__(self, pages: dict[str, list[RawRecord]], page_size: int = 1000) -> None:
        super().__init__(ConnectorSettings())
        self.pages = pages
        self.page_size = page_size

    def check(self) -> None:
        return None

    def pull(
        self, stream: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Page]:
        records = self.pages.get(stream, [])
        for start in range(0, len(records), self.page_size):
            yield Page(records[start : start + self.page_size])


def _pipeline(config: TieoutConfig, store: Store, workdir: Path) -> None:
    """Run the runner (map, raw and canonical upserts, cursors, run counts) on records already pulled."""
    replays: dict[str, Connector] = {}
    total = 0
    with store.transaction() as tx:
        for system in config.systems.values():
            if not system.enabled:
                continue
            real = connector_class(system.connector)
            pages: dict[str, list[RawRecord]] = {}
            for spec in real.streams:
                raws = [
                    tx.get_raw(system.name, spec.name, source_id)
                    for source_id in tx.iter_raw_ids(system.name, spec.name)
                ]
                pages[spec.name] = [
                    RawRecord(system.name, spec.name, raw.source_id, raw.updated_at, raw.payload, raw.deleted)
                    for raw in raws
                    if raw is not None
                ]
                total += len(pages[spec.name])
            # The real connector's stream facts (mappers, ordering), served from memory.
            replay = type(f"Replay{real.__name__}", (Replay,), {"streams": real.streams, "name": real.name})
            replays[system.name] = replay(pages)
    target = Store.open(f"sqlite:///{workdir}/pipeline.db")
    service = SyncService(config, target, connectors=replays)
    started = time.perf_counter()
    results = service.sync()
    seconds = time.perf_counter() - started
    assert all(result.status == "succeeded" for result in results), [r.error for r in results if r.error]
    print(
        f"local pipeline (map + store, SQLite): {total:,} records in {seconds:.1f} s = {total / seconds:,.0f} records/s"
    )


if __name__ == "__main__":
    main()

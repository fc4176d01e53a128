"""Sync benchmark: API calls per stream against what the APIs allow, unchanged re-syncs, and the pipeline.

Generates a company in the sandbox (`--scale`, default medium), runs a full pull of every stream
through the four connectors into a fresh SQLite store, and prints per stream the records, the
API calls and the calls per 1,000 records, next to two lower bounds:

- `pages`: 1,000 / page size, the bound if every record came in full pages of its own listing;
- `api`: the fewest calls the vendor's API allows for exactly these records (`_api_bound`):
  header pages, plus the detail rows the records carry (NetSuite lines and links, Salesforce
  line items) in full pages of their own query, plus the calls an endpoint forces per parent
  (Metronome lists contracts, invoices and billing configurations per customer; Stripe lists a
  payout's balance transactions per payout), plus fixed costs (NetSuite's token, Salesforce's
  count that picks REST or Bulk). `ratio` is calls / api bound (target: within 1.1x).

Then it syncs again with nothing changed and prints each stream's calls (target: O(1) per
stream). Last, the local pipeline alone (map + store, no network): every raw record pulled is
mapped again and upserted into another fresh store, and the records per second are printed
(target: at least 20,000 records/s on SQLite on a 2-core machine), with the CPU time of the
runner and of its mapping worker processes beside the wall time, since the machine may be shared.

Memory stays within one stream's records: the bounds keep only the few payload fields they
count, and the pipeline replays one stream at a time (its reading from the first store is not
timed), so `--scale large` (about 1.7 million records) fits.
"""

from __future__ import annotations

import argparse
import gc
import math
import resource
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from tieout.config import TieoutConfig, load_config
from tieout.connectors.base import Connector, ConnectorSettings, Page, RawRecord, StreamSpec
from tieout.connectors.registry import connector_class
from tieout.runner import StreamResult, SyncService
from tieout.sandbox.config_writer import write_sandbox_config
from tieout.sandbox.runtime import Sandbox, SandboxOptions
from tieout.sandbox.scenario.generate import generate
from tieout.store import Store
from tieout.store.records import StoredRaw

LOOKUPS = "tieout_lookups"
NETSUITE_DETAILS = {
    "invoices": ("lines",),
    "credit_memos": ("lines", "applications"),
    "payments": ("applications", "deposits"),
    "refunds": ("applications",),
    "deposits": ("lines", "applications"),
    "journal_entries": ("lines",),
}
"""The detail queries each NetSuite stream runs (each costs a call even when it finds nothing)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (stores, config)")
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
        resync = {(result.system, result.stream): result for result in service.sync()}
        service.close()
        total = sum(result.pulled for result in results)
        print(
            f"full pull: {total:,} records in {pull_seconds:.1f} s ({total / pull_seconds:,.0f} records/s end to end)"
        )
        _calls_table(config, results, resync, _bound_records(config, store))
        _pipeline(config, store, workdir)
    finally:
        sandbox.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _streams(config: TieoutConfig) -> list[tuple[str, StreamSpec]]:
    return [
        (system.name, spec)
        for system in config.systems.values()
        if system.enabled
        for spec in connector_class(system.connector).streams
    ]


BOUND_FIELDS = (
    *{key for keys in NETSUITE_DETAILS.values() for key in keys},
    "OpportunityLineItems",
    "automatic",
    "archived_at",
    "rate_card_id",
    "starting_at",
    "customer_id",
    "start_timestamp",
    "end_timestamp",
)
"""The payload fields `_api_bound` reads; lists are kept as their length only."""


def _bound_payload(payload: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key in BOUND_FIELDS:
        value = payload.get(key)
        kept[key] = [None] * len(value) if isinstance(value, list | dict) else value
    lookups = payload.get(LOOKUPS) or {}
    kept[LOOKUPS] = {
        "balance_transactions": [None] * len(lookups.get("balance_transactions") or []),
        "more_lines": bool(lookups.get("more_lines")),
    }
    return kept


def _bound_records(config: TieoutConfig, store: Store) -> dict[tuple[str, str], list[StoredRaw]]:
    """Every raw record pulled, with only what the API bounds count of its payload."""
    raws: dict[tuple[str, str], list[StoredRaw]] = {}
    with store.transaction() as tx:
        for system, spec in _streams(config):
            raws[(system, spec.name)] = [
                replace(raw, payload=_bound_payload(raw.payload)) for raw in tx.iter_raw(system, spec.name)
            ]
    return raws


def _calls_table(
    config: TieoutConfig,
    results: list[StreamResult],
    resync: dict[tuple[str, str], StreamResult],
    raws: dict[tuple[str, str], list[StoredRaw]],
) -> None:
    header = f"{'stream':<26}{'records':>9}{'calls':>8}{'per 1k':>9}{'pages':>8}{'api':>8}{'ratio':>7}"
    print(f"{header}{'unchanged re-sync':>19}   api bound counts")
    for result in results:
        spec = connector_class(config.system(result.system).connector).stream(result.stream)
        bound, counts = _api_bound(result.system, result.stream, spec.page_size, raws)
        per_thousand = 1000 * result.api_calls / result.pulled if result.pulled else 0.0
        page_bound = 1000 / spec.page_size
        again = resync.get((result.system, result.stream))
        again_text = f"{again.api_calls:,} calls" if again is not None else "-"
        print(
            f"{result.system + ' ' + result.stream:<26}{result.pulled:>9,}{result.api_calls:>8,}"
            f"{per_thousand:>9.2f}{page_bound:>8.2f}{bound:>8,}{result.api_calls / bound:>6.2f}x"
            f"{again_text:>19}   {counts}"
        )


def _pages(count: int, size: int) -> int:
    """Calls to list `count` rows `size` a page: an empty listing still costs its one call."""
    return max(1, math.ceil(count / size))


def _rows(records: list[StoredRaw], key: str) -> int:
    return sum(len(raw.payload.get(key) or []) for raw in records)


def _api_bound(
    system: str, stream: str, page_size: int, raws: dict[tuple[str, str], list[StoredRaw]]
) -> tuple[int, str]:
    """The fewest calls the vendor's API allows for these records, and what it is made of."""
    records = raws.get((system, stream), [])
    listing = _pages(len(records), page_size)
    if system == "netsuite":
        details = {key: _rows(records, key) for key in NETSUITE_DETAILS.get(stream, ())}
        detail_calls = sum(_pages(rows, 1000) for rows in details.values())
        token = 1 if stream == "customers" else 0
        parts = ", ".join(f"{rows:,} {key}" for key, rows in details.items())
        return (
            listing + detail_calls + token,
            f"{listing} pages + {detail_calls} for {parts or 'no details'}" + (" + token" if token else ""),
        )
    if system == "salesforce":
        lines = _rows(records, "OpportunityLineItems") if stream == "opportunities" else 0
        line_calls = _pages(lines, 2000) if lines else 0
        return 1 + listing + line_calls, f"count + {listing} pages + {line_calls} for {lines:,} line items"
    if system == "stripe":
        per_payout = sum(
            _pages(len(raw.payload.get(LOOKUPS, {}).get("balance_transactions") or []), 100)
            for raw in records
            if raw.payload.get("automatic") is True
        )
        extra = sum(1 for raw in records if raw.payload.get(LOOKUPS, {}).get("more_lines"))
        return (
            listing + per_payout + extra,
            f"{listing} pages + {per_payout} per payout + {extra} long invoices",
        )
    return _metronome_bound(stream, page_size, raws)


def _metronome_bound(
    stream: str, page_size: int, raws: dict[tuple[str, str], list[StoredRaw]]
) -> tuple[int, str]:
    customers = raws.get(("metronome", "customers"), [])
    archived = sum(1 for raw in customers if raw.payload.get("archived_at"))
    customer_list = _pages(len(customers) - archived, page_size) + _pages(archived, page_size)
    records = raws.get(("metronome", stream), [])
    # Customers, contracts and invoices read the audit log once (what makes their re-syncs O(1)).
    if stream == "customers":
        return (
            customer_list + len(customers) + 1,
            f"{customer_list} pages + 1 billing configuration per customer + audit log",
        )
    if stream == "contracts":
        books = {(raw.payload.get("rate_card_id"), raw.payload.get("starting_at")) for raw in records}
        price_book = 2 + len(books)  # the rate card and product lists, and each card's rates at each start
        return (
            customer_list + len(customers) + price_book + 1,
            f"{customer_list} customer pages + 1 per customer + {price_book} price book + audit log",
        )
    if stream == "invoices":
        per_customer = Counter(str(raw.payload.get("customer_id")) for raw in records)
        calls = sum(_pages(per_customer.get(str(raw.source_id), 0), page_size) for raw in customers)
        return (
            customer_list + calls + 1,
            f"{customer_list} customer pages + {calls} listings per customer + audit log",
        )
    periods = Counter(
        (raw.payload.get("start_timestamp"), raw.payload.get("end_timestamp")) for raw in records
    )
    usage_calls = sum(_pages(rows, page_size) for rows in periods.values())
    return (
        customer_list + len(customers) + usage_calls,
        f"{customer_list} customer pages + 1 invoice listing per customer + {usage_calls} usage pages by period",
    )


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
    """Run the runner (map, raw and canonical upserts, cursors, run counts) on records already pulled.

    Stream by stream: one stream's records are read from the first store (not timed), then
    synced from memory into the second store (timed).
    """
    replays: dict[str, Replay] = {}
    for settings in config.systems.values():
        if settings.enabled:
            real = connector_class(settings.connector)
            # The real connector's stream facts (mappers, ordering), served from memory.
            replay = type(f"Replay{real.__name__}", (Replay,), {"streams": real.streams, "name": real.name})
            replays[settings.name] = replay({})
    target = Store.open(f"sqlite:///{workdir}/pipeline.db")
    service = SyncService(config, target, connectors=dict(replays))
    total, seconds, cpu_seconds, worker_seconds = 0, 0.0, 0.0, 0.0
    for system, spec in _streams(config):
        with store.transaction() as tx:
            records = [
                RawRecord(system, spec.name, raw.source_id, raw.updated_at, raw.payload, raw.deleted)
                for raw in tx.iter_raw(system, spec.name)
            ]
        replays[system].pages = {spec.name: records}
        # A real sync holds a page, not a stream: the collector need not keep walking the records
        # loaded here for the replay.
        gc.collect()
        gc.freeze()
        started, cpu_started, workers_started = time.perf_counter(), time.process_time(), _children_cpu()
        result = service.sync_stream(system, spec.name)
        seconds += time.perf_counter() - started
        cpu_seconds += time.process_time() - cpu_started
        worker_seconds += _children_cpu() - workers_started
        gc.unfreeze()
        assert result.status == "succeeded", result.error
        total += len(records)
        replays[system].pages = {}
    print(
        f"local pipeline (map + store, SQLite, {service.mapping_processes} mapping processes): {total:,} records "
        f"in {seconds:.1f} s = {total / seconds:,.0f} records/s (CPU: {cpu_seconds:.1f} s in the runner = "
        f"{total / cpu_seconds:,.0f} records per CPU second, + {worker_seconds:.1f} s in mapping workers)"
    )


def _children_cpu() -> float:
    """CPU seconds of the child processes that have ended (the runner's mapping workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()

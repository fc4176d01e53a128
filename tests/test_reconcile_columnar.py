"""The columnar engine against the row engine: the same findings, on the sandbox and at scale, on both backends.

The row engine (every check over a snapshot of every record) is the reference; the columnar
engine must produce identical findings (codes, records, amounts, details) while reading only
the records its screens select. A change re-projects only what changed, a re-run without change
rewrites no exception, and SQLite and PostgreSQL state stores end with the same queue.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tieout.config import load_config
from tieout.findings import Finding
from tieout.reconcile.columnar import Facts
from tieout.reconcile.engine import Reconciler
from tieout.reconcile.synthetic import change, generate
from tieout.runner import SyncService
from tieout.sandbox.config_writer import write_sandbox_config
from tieout.sandbox.runtime import Sandbox, SandboxOptions
from tieout.sandbox.scenario.generate import generate as generate_company
from tieout.sandbox.verify import verification_config
from tieout.store import Store
from tieout.store.schema import canonical_records, exceptions


def _by_fingerprint(findings: list[Finding]) -> dict[str, Finding]:
    return {finding.fingerprint: finding for finding in findings}


def _both(
    store: Store, value_maps: dict[str, Any] | None = None
) -> tuple[dict[str, Finding], dict[str, Finding]]:
    rows = Reconciler(store, value_maps=value_maps, engine="rows")
    columnar = Reconciler(store, value_maps=value_maps, engine="columnar")
    codes = rows.select(None)
    return _by_fingerprint(rows.collect(codes)[0]), _by_fingerprint(columnar.collect(codes)[0])


def _assert_same(expected: dict[str, Finding], actual: dict[str, Finding]) -> None:
    missing = sorted(expected[key].rule_code for key in expected.keys() - actual.keys())
    extra = sorted(actual[key].rule_code for key in actual.keys() - expected.keys())
    assert (missing, extra) == ([], [])
    for key, finding in expected.items():
        assert actual[key] == finding, finding.rule_code


@contextmanager
def _synced_sandbox(workdir: Path, seed: int, mode: str) -> Iterator[tuple[Store, dict[str, Any]]]:
    sandbox = Sandbox(SandboxOptions(workdir=workdir, seed=seed)).start()
    try:
        answer_key = generate_company(sandbox, seed=seed)
        written = write_sandbox_config(sandbox.describe(), workdir, value_maps=answer_key["value_maps"])
        config = load_config(verification_config(written, mode))
        store = Store.open(config.store_url)
        service = SyncService(config, store)
        try:
            service.sync()
            if mode == "sync":
                service.run_flows()
        finally:
            service.close()
        try:
            yield store, dict(config.field_mappings.value_maps)
        finally:
            store.close()
    finally:
        sandbox.stop()


@pytest.mark.parametrize(("seed", "mode"), [(42, "observe"), (3, "observe"), (42, "sync")])
def test_on_the_sandbox_the_columnar_engine_finds_exactly_what_the_row_engine_finds(
    tmp_path: Path, seed: int, mode: str
) -> None:
    with _synced_sandbox(tmp_path, seed, mode) as (store, value_maps):
        rows, columnar = _both(store, value_maps)
        assert len(rows) > 20  # the planted defects are there to be found
        _assert_same(rows, columnar)
        _, _, decoded = Reconciler(store, value_maps=value_maps).collect(Reconciler(store).select(None))
        with store.transaction() as tx:
            stored = tx.connection.execute(select(func.count()).select_from(canonical_records)).scalar_one()
        assert 0 < decoded < stored


def test_at_scale_the_columnar_engine_reads_only_what_it_screens_and_agrees_with_the_row_engine(
    store: Store,
) -> None:
    ledger = generate(store, 3000, seed=3, defect_rate=0.001)
    rows, columnar = _both(store)
    _assert_same(rows, columnar)
    assert set(columnar) == set(ledger.expected)
    reconciler = Reconciler(store)
    _, projected, decoded = reconciler.collect(reconciler.select(None))
    records = sum(ledger.counts.values())
    if store.dialect == "sqlite":
        assert projected == 0  # the projection beside the store was built by the first columnar run
    assert decoded < records / 10


def _queue(store: Store) -> list[tuple[Any, ...]]:
    with store.transaction() as tx:
        rows = tx.connection.execute(exceptions.select().order_by(exceptions.c.fingerprint)).mappings()
        return [
            (
                row["fingerprint"],
                row["rule_code"],
                row["status"],
                row["currency"],
                row["amount_at_risk_minor"],
                row["title"],
                row["details"],
                row["record_ids"],
            )
            for row in rows
        ]


def test_a_change_is_projected_alone_and_the_queue_follows_it(store: Store, tmp_path: Path) -> None:
    ledger = generate(store, 2000, seed=5, defect_rate=0.002)
    facts_path = tmp_path / "facts.duckdb"
    first = Reconciler(store, facts_path=facts_path).run()
    assert first.projected == sum(ledger.counts.values())
    written = change(store, ledger, 0.01)
    incremental = Reconciler(store, facts_path=facts_path)
    codes = incremental.select(None)
    rows = _by_fingerprint(Reconciler(store, engine="rows").collect(codes)[0])
    caught_up, projected, _ = incremental.collect(codes)  # the derived tables recomputed group by group
    assert projected == written
    _assert_same(rows, _by_fingerprint(caught_up))
    again = Reconciler(store, facts_path=facts_path).run()
    assert again.projected == 0
    assert again.resolved == 4 and again.opened >= 1
    open_now = {row[0] for row in _queue(store) if row[2] == "open"}
    assert open_now == set(ledger.expected)
    with store.transaction() as tx:
        before = tx.connection.execute(exceptions.select().order_by(exceptions.c.exception_id)).all()
    later = datetime(2030, 1, 1, tzinfo=UTC)
    quiet = Reconciler(store, facts_path=facts_path, clock=lambda: later).run()
    assert (quiet.projected, quiet.opened, quiet.reopened, quiet.resolved) == (0, 0, 0, 0)
    with store.transaction() as tx:
        after = tx.connection.execute(exceptions.select().order_by(exceptions.c.exception_id)).all()
    assert after == before  # findings unchanged: not one row rewritten, not even its last-seen time


def test_sqlite_and_postgresql_state_stores_end_with_the_same_queue(
    tmp_path: Path, postgres_url: str
) -> None:
    queues = []
    for url in (f"sqlite:///{tmp_path / 'state.db'}", postgres_url):
        store = Store.open(url)
        try:
            ledger = generate(store, 1500, seed=9, defect_rate=0.002)
            Reconciler(store).run()
            change(store, ledger, 0.02)
            Reconciler(store).run()
            queues.append(_queue(store))
        finally:
            store.close()
    assert queues[0] == queues[1]
    assert len(queues[0]) > 30


def test_since_files_and_resolves_only_what_names_a_record_changed_or_dated_since(
    store: Store, tmp_path: Path
) -> None:
    ledger = generate(store, 1500, seed=5, defect_rate=0.002)
    facts_path = tmp_path / "facts.duckdb"
    Reconciler(store, facts_path=facts_path).run()
    before = _queue(store)
    fixed = set(ledger.total_differences)
    change(store, ledger, 0.01)  # written to the store on 2 November 2026
    # Nothing is changed or dated in 2030: the corrected totals are not looked at again, so their
    # exceptions stay open, where a full run would close them.
    later = Reconciler(store, facts_path=facts_path).run(since=date(2030, 1, 1))
    assert (later.opened, later.refreshed, later.resolved) == (0, 0, 0)
    assert _queue(store) == before
    recent = Reconciler(store, facts_path=facts_path).run(since=date(2026, 11, 2))
    assert recent.resolved == len(fixed) > 0 and recent.opened >= 1
    assert {row[0] for row in _queue(store) if row[2] == "open"} == set(ledger.expected)


def test_after_the_flows_link_and_push_records_the_caught_up_projection_agrees_with_the_row_engine(
    tmp_path: Path,
) -> None:
    """The flows push records and link twins in the crosswalk after a first reconcile: the change log
    carries both, groups merge, and the incrementally maintained tables give the full run's findings."""
    sandbox = Sandbox(SandboxOptions(workdir=tmp_path, seed=4)).start()
    try:
        answer_key = generate_company(sandbox, seed=4)
        written = write_sandbox_config(sandbox.describe(), tmp_path, value_maps=answer_key["value_maps"])
        config = load_config(verification_config(written, "sync"))
        value_maps = dict(config.field_mappings.value_maps)
        store = Store.open(config.store_url)
        facts_path = tmp_path / "facts.duckdb"
        service = SyncService(config, store)
        try:
            service.sync()
            before = Reconciler(store, value_maps=value_maps, facts_path=facts_path)
            before.collect(before.select(None))
            service.run_flows()
        finally:
            service.close()
        after = Reconciler(store, value_maps=value_maps, facts_path=facts_path)
        codes = after.select(None)
        caught_up, projected, _ = after.collect(codes)
        assert projected > 0
        rows = Reconciler(store, value_maps=value_maps, engine="rows").collect(codes)[0]
        _assert_same(_by_fingerprint(rows), _by_fingerprint(caught_up))
        store.close()
    finally:
        sandbox.stop()


@pytest.mark.parametrize(
    "values",
    [
        ["a", "", "b"],
        ["one\x1etwo", "three"],  # holds the separator: goes as a list
        ["a", None, "c"],  # a NULL: goes as a list
        [],
        ['{"memo": "\\u001e"}'],
    ],
)
def test_a_temp_table_holds_exactly_the_values_it_was_given(values: list[str | None], store: Store) -> None:
    facts = Facts(store)
    try:
        facts.temp_table(
            "given", {"value": values, "position": list(range(len(values)))}, {"position": "BIGINT"}
        )
        rows = facts.db.execute("SELECT value FROM given ORDER BY position").fetchall()
    finally:
        facts.close()
    assert [row[0] for row in rows] == values

"""The kill harness: SIGKILL `tieout sync` at chosen points, restart it, and compare with a clean run.

A *company* is a small sandbox (seed, customer count) in sync mode, with a few Salesforce accounts
added after it is generated that no other system knows yet, so the flows have customers to create
in NetSuite, Stripe and Metronome and ids to write back, besides the planted defects they fix.
The harness runs `tieout sync` once on a fresh company to learn the clean end state and how
often each kill point (`tieout.testing.killpoints`) is reached. Each iteration then builds the
same company afresh, runs `tieout sync` with `TIEOUT_TEST_KILL_AT` set for each planned kill (the
process SIGKILLs itself there), restarts it until it exits 0, and compares the end state with the
clean one: what every emulator holds, which source record a target holds twice, the raw records
and crosswalk in the store, the open exceptions after reconciling, pushes still pending and runs
still marked running.

The first kill of an iteration is at a named point (points taken in turn, the occurrence drawn
from the clean run's count); later kills are at the n-th point of any name. Each killed run
traces the points it reached, so its last line names where it died.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tieout.config import load_config
from tieout.connectors.registry import connector_class
from tieout.reconcile.engine import Reconciler
from tieout.sandbox.config_writer import write_sandbox_config
from tieout.sandbox.runtime import Sandbox, SandboxOptions
from tieout.sandbox.scenario.company import SUBSIDIARIES
from tieout.sandbox.scenario.generate import generate
from tieout.store import ExceptionQuery, Store
from tieout.testing import killpoints
from tieout.testing.emulator_census import Census, census, duplicates

SYNC_TIMEOUT_SECONDS = 300
RESTARTS = 4


@dataclass(frozen=True)
class Company:
    """The sandbox company every run of one harness syncs, built the same each time."""

    seed: int = 42
    customers: int = 5
    new_accounts: int = 6
    retry: dict[str, float] = field(default_factory=lambda: {"backoff_base_seconds": 0.05})


def _add_new_accounts(sandbox: Sandbox, company: Company) -> None:
    """Accounts only Salesforce knows: each one is a customer for three flows to create."""
    for number in range(company.new_accounts):
        subsidiary = SUBSIDIARIES[number % len(SUBSIDIARIES)]
        sandbox.salesforce.create_account(
            f"Crashproof {company.seed}-{number} {subsidiary.key}",
            currency=subsidiary.currency,
            Type="Customer - Direct",
            BillingCountry=subsidiary.country,
            Subsidiary__c=subsidiary.name,
        )


@contextmanager
def running_company(company: Company, workdir: Path, store_url: str) -> Iterator[tuple[Sandbox, Path]]:
    """A started sandbox holding `company`, and a sync-mode config for it on `store_url`."""
    sandbox = Sandbox(SandboxOptions(workdir=workdir, seed=company.seed)).start()
    try:
        answer_key = generate(sandbox, seed=company.seed, scale=company.customers)
        _add_new_accounts(sandbox, company)
        written = write_sandbox_config(sandbox.describe(), workdir, value_maps=answer_key["value_maps"])
        config = yaml.safe_load(written.read_text())
        config["mode"] = "sync"
        config["store"] = {"url": store_url}
        for system in config["systems"].values():
            system["settings"].update(company.retry)
        written.write_text(yaml.safe_dump(config, sort_keys=False))
        yield sandbox, written
    finally:
        sandbox.stop()


def run_sync(config: Path, *, kill_at: str | None = None, trace: Path | None = None) -> int:
    """Run `tieout sync` to its end (or its kill); its exit code, negative for a signal."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in (killpoints.KILL_AT_VARIABLE, killpoints.TRACE_VARIABLE)
    }
    if kill_at is not None:
        environment[killpoints.KILL_AT_VARIABLE] = kill_at
    if trace is not None:
        environment[killpoints.TRACE_VARIABLE] = str(trace)
    finished = subprocess.run(  # noqa: S603 - this same tieout, on a config the harness wrote
        [sys.executable, "-m", "tieout", "--config", str(config), "sync", "--json"],
        cwd=config.parent,
        env=environment,
        capture_output=True,
        text=True,
        timeout=SYNC_TIMEOUT_SECONDS,
        check=False,
    )
    if finished.returncode not in (0, 1, -signal.SIGKILL):
        raise RuntimeError(f"`tieout sync` exited {finished.returncode}: {finished.stderr[-3000:]}")
    return finished.returncode


# ---- end states ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EndState:
    census: Census
    duplicates: dict[str, dict[Any, int]]
    raw_ids: dict[tuple[str, str], frozenset[str]]
    linked: frozenset[tuple[str, str, str]]
    open_exceptions: frozenset[tuple[str, tuple[str, ...]]]
    pending_pushes: int
    unfinished_runs: int


def read_end_state(sandbox: Sandbox, config_path: Path) -> EndState:
    """The emulators' records and the store's, after reconciling the store."""
    config = load_config(config_path)
    streams = [
        (name, spec.name)
        for name, system in config.systems.items()
        if system.enabled
        for spec in connector_class(system.connector).streams
    ]
    store = Store.open(config.store_url)
    try:
        Reconciler.from_config(config, store).run()
        with store.transaction() as tx:
            raw_ids = {
                (system, stream): frozenset(tx.iter_raw_ids(system, stream)) for system, stream in streams
            }
            linked = frozenset(tx.crosswalk_entries())
            exceptions, _ = tx.query_exceptions(ExceptionQuery(limit=1_000_000))
            pending = len(tx.pending_pushes())
            running = len(tx.list_runs(status="running", limit=1_000_000))
    finally:
        store.close()
    return EndState(
        census=census(sandbox),
        duplicates=duplicates(sandbox),
        raw_ids=raw_ids,
        linked=linked,
        open_exceptions=frozenset((item.rule_code, tuple(sorted(item.record_ids))) for item in exceptions),
        pending_pushes=pending,
        unfinished_runs=running,
    )


@dataclass(frozen=True)
class Verdict:
    """How an end state differs from the clean run's."""

    duplicates: int
    """Extra copies: records a target holds more than once, counted beyond the first."""
    lost: int
    """Records the clean run leaves in a target or the store that this run does not."""
    differences: tuple[str, ...]

    @property
    def converged(self) -> bool:
        return self.duplicates == 0 and self.lost == 0 and not self.differences


def compare(clean: EndState, end: EndState) -> Verdict:
    lost = 0
    differences = []
    for what, counted in clean.census.items():
        missing, extra = counted - end.census[what], end.census[what] - counted
        lost += sum(missing.values())
        if missing or extra:
            differences.append(f"{what}: missing {dict(missing)}, extra {dict(extra)}")
    for stream, ids in clean.raw_ids.items():
        gone = ids - end.raw_ids.get(stream, frozenset())
        lost += len(gone)
        if gone or end.raw_ids.get(stream, frozenset()) != ids:
            differences.append(f"store raw {stream}: missing {sorted(gone)[:5]}")
    if clean.linked != end.linked:
        differences.append(f"crosswalk: missing {sorted(clean.linked - end.linked)[:5]}")
    if clean.open_exceptions != end.open_exceptions:
        differences.append(
            f"open exceptions: missing {sorted(clean.open_exceptions - end.open_exceptions)[:3]}, "
            f"extra {sorted(end.open_exceptions - clean.open_exceptions)[:3]}"
        )
    if end.pending_pushes:
        differences.append(f"{end.pending_pushes} push(es) still pending in the ledger")
    if end.unfinished_runs:
        differences.append(f"{end.unfinished_runs} run record(s) still marked running")
    extra_copies = sum(count - 1 for keys in end.duplicates.values() for count in keys.values())
    return Verdict(duplicates=extra_copies, lost=lost, differences=tuple(differences))


# ---- plans and iterations -----------------------------------------------------------------------


@dataclass(frozen=True)
class KillPlan:
    iteration: int
    backend: str
    kills: tuple[str, ...]
    """`TIEOUT_TEST_KILL_AT` values, one per killed run, in order."""


def plan_kills(
    clean_trace: Counter[str],
    *,
    iterations: int,
    kills_per_iteration: int,
    seed: int,
    backends: tuple[str, ...],
) -> list[KillPlan]:
    """Seeded plans: each iteration's first kill at the next named point, the rest anywhere."""
    rng = random.Random(seed)
    points = sorted(point for point, count in clean_trace.items() if count)
    rng.shuffle(points)
    total = sum(clean_trace.values())
    plans = []
    for iteration in range(iterations):
        point = points[iteration % len(points)]
        kills = [f"{point}:{rng.randint(1, clean_trace[point])}"]
        # A restart re-pulls only from its cursors, so it reaches fewer points than a clean run.
        kills += [
            f"{killpoints.ANY_POINT}:{rng.randint(1, max(1, total // 3))}"
            for _ in range(kills_per_iteration - 1)
        ]
        plans.append(KillPlan(iteration, backends[iteration % len(backends)], tuple(kills)))
    return plans


@dataclass
class IterationOutcome:
    plan: KillPlan
    killed_at: list[str]
    """The point each killed run died at (the last point its trace names)."""
    missed: int
    """Planned kills the run finished before reaching."""
    restarts: int
    verdict: Verdict


def trace_of(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def clean_run(company: Company, workdir: Path, store_url: str) -> tuple[EndState, Counter[str]]:
    """The end state of one undisturbed `tieout sync`, and how often it reached each kill point."""
    trace = workdir / "trace"
    with running_company(company, workdir, store_url) as (sandbox, config):
        code = run_sync(config, trace=trace)
        if code != 0:
            raise RuntimeError(f"the clean `tieout sync` exited {code}")
        return read_end_state(sandbox, config), Counter(trace_of(trace))


def run_iteration(
    plan: KillPlan, company: Company, workdir: Path, store_url: str, clean: EndState
) -> IterationOutcome:
    killed_at: list[str] = []
    missed = 0
    with running_company(company, workdir, store_url) as (sandbox, config):
        for number, kill_at in enumerate(plan.kills):
            trace = workdir / f"trace-{number}"
            code = run_sync(config, kill_at=kill_at, trace=trace)
            if code == -signal.SIGKILL:
                killed_at.append(trace_of(trace)[-1])
            else:
                missed += 1
        restarts = 0
        while True:
            restarts += 1
            if run_sync(config) == 0:
                break
            if restarts == RESTARTS:
                raise RuntimeError(f"`tieout sync` did not finish cleanly in {RESTARTS} runs after {plan}")
        end = read_end_state(sandbox, config)
    return IterationOutcome(plan, killed_at, missed, restarts, compare(clean, end))


def run_harness(
    company: Company,
    workdir: Path,
    *,
    store_url: Callable[[str, Path], str],
    iterations: int,
    kills_per_iteration: int,
    seed: int,
    backends: tuple[str, ...] = ("sqlite",),
    on_outcome: Callable[[IterationOutcome], None] | None = None,
) -> list[IterationOutcome]:
    """The clean run, then `iterations` killed-and-restarted runs; `store_url(backend, directory)`."""
    clean_dir = workdir / "clean"
    clean, trace = clean_run(company, clean_dir, store_url("sqlite", clean_dir))
    outcomes = []
    plans = plan_kills(
        trace, iterations=iterations, kills_per_iteration=kills_per_iteration, seed=seed, backends=backends
    )
    for plan in plans:
        directory = workdir / f"iteration-{plan.iteration:03d}"
        outcome = run_iteration(plan, company, directory, store_url(plan.backend, directory), clean)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes


# ---- the table ----------------------------------------------------------------------------------


@dataclass
class PointRow:
    point: str
    kills: int = 0
    iterations: int = 0
    converged: int = 0
    duplicates: int = 0
    lost: int = 0


def summary_rows(outcomes: list[IterationOutcome]) -> list[PointRow]:
    """One row per kill point (each iteration counted under every point it was killed at), and a total."""
    rows: dict[str, PointRow] = {point: PointRow(point) for point in killpoints.POINTS}
    total = PointRow("all")
    for outcome in outcomes:
        verdict = outcome.verdict
        for row in [*(rows[point] for point in sorted(set(outcome.killed_at))), total]:
            row.iterations += 1
            row.converged += int(verdict.converged)
            row.duplicates += verdict.duplicates
            row.lost += verdict.lost
        for point in outcome.killed_at:
            rows[point].kills += 1
            total.kills += 1
    return [*(row for row in rows.values() if row.iterations), total]


def render_table(outcomes: list[IterationOutcome]) -> str:
    header = ("kill point", "kills", "runs", "converged", "duplicates", "lost")
    lines = [header] + [
        (
            row.point,
            str(row.kills),
            str(row.iterations),
            str(row.converged),
            str(row.duplicates),
            str(row.lost),
        )
        for row in summary_rows(outcomes)
    ]
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    )

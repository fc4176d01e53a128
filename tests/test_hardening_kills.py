"""Crash anywhere: `tieout sync` SIGKILLed at seeded kill points, restarted, ends where a clean run ends.

Each iteration builds the same small sandbox company (sync mode, with accounts only Salesforce
knows, so the flows create customers in three systems and write ids back), kills `tieout sync`
at planned points (`tieout.testing.killpoints`: between pulling a page and storing it, inside the
transaction that stores it and moves the cursor, after the commit, between reserving a push and
sending it, between sending and confirming, after confirming), restarts it until it exits 0 and
compares with a clean run: no target holds a record twice, none misses one, the store holds the
same raw records, crosswalk and open exceptions, no push is left pending, no run left running.

`make test` runs 8 kill points (one iteration on PostgreSQL); `make soak` runs 225 planned kill
points (45 iterations of 5) over both backends and prints the table.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tieout.testing import killpoints
from tieout.testing.kill_harness import Company, IterationOutcome, render_table, run_harness, summary_rows

KillStore = Callable[[str, Path], str]


@pytest.fixture
def kill_store(request: pytest.FixtureRequest) -> Iterator[KillStore]:
    """A fresh store per iteration: a SQLite file in its directory, or a new PostgreSQL database."""
    created: list[str] = []
    admin: list[str] = []

    def store_url(backend: str, directory: Path) -> str:
        directory.mkdir(parents=True, exist_ok=True)
        if backend == "sqlite":
            return f"sqlite:///{directory}/state.db"
        if not admin:
            admin.append(request.getfixturevalue("postgres_admin_url"))
        name = f"tieout_kill_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(admin[0], autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return f"{admin[0].rsplit('/', 1)[0]}/{name}"

    yield store_url
    for name in created:
        with psycopg.connect(admin[0], autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def report(outcome: IterationOutcome) -> None:
    verdict = outcome.verdict
    print(
        f"iteration {outcome.plan.iteration} ({outcome.plan.backend}): killed at {outcome.killed_at}, "
        f"missed {outcome.missed}, restarts {outcome.restarts}, converged {verdict.converged}"
        + ("" if verdict.converged else f": {list(verdict.differences)}")
    )


def kill_and_compare(
    tmp_path: Path,
    kill_store: KillStore,
    capsys: pytest.CaptureFixture[str],
    company: Company,
    *,
    iterations: int,
    kills: int,
    seed: int,
) -> list[IterationOutcome]:
    """Run the harness on both backends; print the table; every iteration must have converged."""
    outcomes = run_harness(
        company,
        tmp_path,
        store_url=kill_store,
        iterations=iterations,
        kills_per_iteration=kills,
        seed=seed,
        backends=("sqlite", "postgresql"),
        on_outcome=report,
    )
    table = render_table(outcomes)
    with capsys.disabled():  # the table is the soak's report: shown even when the test passes
        print("\n" + table)
    total = summary_rows(outcomes)[-1]
    assert total.duplicates == 0, table
    assert total.lost == 0, table
    unconverged = [
        (outcome.plan, outcome.verdict.differences) for outcome in outcomes if not outcome.verdict.converged
    ]
    assert unconverged == []
    assert {outcome.plan.backend for outcome in outcomes} == {"sqlite", "postgresql"}
    return outcomes


@pytest.mark.postgres
def test_kills_at_eight_points_converge_to_the_clean_run(
    tmp_path: Path, kill_store: KillStore, capsys: pytest.CaptureFixture[str]
) -> None:
    # Seed 5 puts the first kills after a push was sent (the write lands, its confirmation does
    # not) and inside the transaction that stores a page and moves its cursor.
    outcomes = kill_and_compare(
        tmp_path, kill_store, capsys, Company(customers=3, new_accounts=3), iterations=2, kills=4, seed=5
    )
    assert summary_rows(outcomes)[-1].kills >= 7
    assert outcomes[0].killed_at[0] == "push.after_send" and outcomes[1].killed_at[0] == "pull.mid_commit"


@pytest.mark.soak
@pytest.mark.postgres
@pytest.mark.timeout(3 * 3600)
def test_kills_at_two_hundred_points_converge_to_the_clean_run(
    tmp_path: Path, kill_store: KillStore, capsys: pytest.CaptureFixture[str]
) -> None:
    outcomes = kill_and_compare(
        tmp_path, kill_store, capsys, Company(customers=3, new_accounts=3), iterations=45, kills=5, seed=2026
    )
    rows = summary_rows(outcomes)
    assert rows[-1].kills >= 200, render_table(outcomes)
    assert {row.point for row in rows[:-1]} == set(killpoints.POINTS)


def test_kill_point_setting_is_checked() -> None:
    assert killpoints.parse_kill_at("push.after_send:17") == ("push.after_send", 17)
    assert killpoints.parse_kill_at("*:3") == ("*", 3)
    for bad in ("push.after_send", "push.after_send:0", "nowhere:2", "pull.mid_commit:x"):
        with pytest.raises(ValueError, match="TIEOUT_TEST_KILL_AT"):
            killpoints.parse_kill_at(bad)


def test_kill_points_are_off_without_the_variables() -> None:
    assert killpoints.KILL_AT_VARIABLE not in os.environ and killpoints.TRACE_VARIABLE not in os.environ
    assert killpoints._HOOK is None
    killpoints.reached("push.after_send")  # does nothing, and certainly does not kill the test

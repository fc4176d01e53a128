"""Database trouble: PostgreSQL stopped in the middle of `tieout sync`, then started again.

The sync pulls from the Ledgerly fake (tests/support/fakeledger.py), which holds its third page
request until the test releases it. While it waits, the test stops the run's own PostgreSQL
server (immediate mode: every connection cut, as in a crash) and then releases the page. The run
must end cleanly: the store's exit code (3) with the store error named, no traceback, and nothing of the page
it could not store, the cursor still where the second page left it. With the server started
again, the next run marks the dead run failed, resumes from that cursor and completes: every
record stored once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from fakeledger import TOKEN, LedgerlyState, running_ledgerly, seed_invoices

from tieout.cli_common import EXIT_STORE
from tieout.store import Store
from tieout.testing.postgres_server import PostgresServer

SUPPORT = Path(__file__).parent / "support"
RECORDS = 100
PAGE = 20


@pytest.fixture
def ledgerly() -> Iterator[tuple[LedgerlyState, str]]:
    state = LedgerlyState()
    seed_invoices(state, RECORDS, start=datetime(2026, 1, 1, tzinfo=UTC))
    with running_ledgerly(state) as url:
        yield state, url


def tieout_sync(config: Path, url: str) -> subprocess.Popen[str]:
    environment = {**os.environ, "PYTHONPATH": str(SUPPORT), "LEDGERLY_URL": url, "LEDGERLY_TOKEN": TOKEN}
    return subprocess.Popen(
        [sys.executable, "-m", "tieout", "--config", str(config), "sync", "ledgerly", "invoices"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.postgres
def test_postgres_stopped_mid_run_fails_the_run_cleanly_and_the_next_run_completes(
    tmp_path: Path, own_postgres: PostgresServer, ledgerly: tuple[LedgerlyState, str]
) -> None:
    state, url = ledgerly
    with psycopg.connect(own_postgres.admin_url, autocommit=True) as connection:
        connection.execute('CREATE DATABASE "tieout_db_trouble"')
    store_url = own_postgres.admin_url.rsplit("/", 1)[0] + "/tieout_db_trouble"
    config = tmp_path / "tieout.yaml"
    config.write_text(
        f"""
version: 1
store:
  url: {store_url}
systems:
  ledgerly:
    connector: fakeledger:LedgerlyConnector
    lookback_seconds: 0
    settings:
      base_url: ${{LEDGERLY_URL}}
      api_token: ${{LEDGERLY_TOKEN}}
      page_size: {PAGE}
"""
    )

    state.block_page = 3
    victim = tieout_sync(config, url)
    assert state.blocked.wait(timeout=60), victim.communicate()
    own_postgres.stop("immediate")
    state.release.set()
    stdout, stderr = victim.communicate(timeout=120)

    assert victim.returncode == EXIT_STORE, stderr
    assert "Traceback" not in stderr + stdout
    assert "state store error" in stderr + stdout

    own_postgres.start()
    store = Store.open(store_url)
    try:
        with store.transaction() as tx:
            stored = tx.count_raw("ledgerly", "invoices")
            cursor = tx.get_cursor("ledgerly", "invoices")
            [failed_run] = tx.list_runs()
            updated = [
                tx.get_raw("ledgerly", "invoices", source_id)
                for source_id in tx.iter_raw_ids("ledgerly", "invoices")
            ]
        # Two pages committed, the third (pulled while the database was down) not at all, and the
        # cursor exactly where the second page left it.
        assert stored == 2 * PAGE
        assert cursor is not None
        assert cursor.watermark == max(
            raw.updated_at for raw in updated if raw is not None and raw.updated_at
        )
        assert failed_run.status in ("running", "failed")

        survivor = tieout_sync(config, url)
        _, stderr = survivor.communicate(timeout=120)
        assert survivor.returncode == 0, stderr

        with store.transaction() as tx:
            ids = sorted(tx.iter_raw_ids("ledgerly", "invoices"))
            canonical = list(tx.iter_canonical("invoice", "ledgerly"))
            runs = {run.run_id: run for run in tx.list_runs()}
    finally:
        store.close()
    assert ids == sorted(f"inv-{number:05d}" for number in range(RECORDS))
    assert len(canonical) == RECORDS
    assert runs[failed_run.run_id].status == "failed"
    assert runs[failed_run.run_id].error
    [completed] = [run for run in runs.values() if run.run_id != failed_run.run_id]
    assert completed.status == "succeeded"

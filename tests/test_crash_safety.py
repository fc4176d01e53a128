"""Kill `tieout sync` (SIGKILL) in the middle of a pull; the restart neither loses nor repeats a record."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fakeledger import TOKEN, LedgerlyState, running_ledgerly, seed_invoices

from tieout.store import Store

SUPPORT = Path(__file__).parent / "support"
RECORDS = 150


@pytest.fixture
def ledgerly() -> LedgerlyState:
    state = LedgerlyState()
    seed_invoices(state, RECORDS, start=datetime(2026, 1, 1, tzinfo=UTC), same_time_every=7)
    return state


@pytest.fixture
def ledgerly_url(ledgerly: LedgerlyState) -> Iterator[str]:
    with running_ledgerly(ledgerly) as url:
        yield url


def write_config(directory: Path, store_url: str) -> Path:
    path = directory / "tieout.yaml"
    path.write_text(
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
      page_size: 20
"""
    )
    return path


def tieout(config: Path, url: str, *args: str) -> subprocess.Popen[str]:
    environment = {**os.environ, "PYTHONPATH": str(SUPPORT), "LEDGERLY_URL": url, "LEDGERLY_TOKEN": TOKEN}
    return subprocess.Popen(
        [sys.executable, "-m", "tieout", "--config", str(config), *args],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("kill_on_page", [2, 5])
def test_restart_after_sigkill_between_pages_loses_and_repeats_nothing(
    store_url: str, tmp_path: Path, ledgerly: LedgerlyState, ledgerly_url: str, kill_on_page: int
) -> None:
    config = write_config(tmp_path, store_url)
    ledgerly.block_page = kill_on_page
    victim = tieout(config, ledgerly_url, "sync", "ledgerly", "invoices")
    assert ledgerly.blocked.wait(timeout=60), victim.communicate()
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    ledgerly.release.set()
    ledgerly.block_page = None

    store = Store.open(store_url)
    with store.transaction() as tx:
        committed = tx.count_raw("ledgerly", "invoices")
        cursor = tx.get_cursor("ledgerly", "invoices")
        [killed_run] = tx.list_runs()
    assert committed == (kill_on_page - 1) * 20
    assert killed_run.status == "running"
    assert cursor is not None

    survivor = tieout(config, ledgerly_url, "sync", "ledgerly", "invoices", "--json")
    _, stderr = survivor.communicate(timeout=120)
    assert survivor.returncode == 0, stderr

    with store.transaction() as tx:
        ids = list(tx.iter_raw_ids("ledgerly", "invoices"))
        canonical = list(tx.iter_canonical("invoice", "ledgerly"))
        runs = {run.run_id: run for run in tx.list_runs()}
    store.close()
    assert sorted(ids) == sorted(f"inv-{number:05d}" for number in range(RECORDS))
    assert len(canonical) == RECORDS
    assert runs[killed_run.run_id].status == "failed"
    assert "stopped before finishing" in (runs[killed_run.run_id].error or "")
    [restart] = [run for run in runs.values() if run.run_id != killed_run.run_id]
    assert restart.status == "succeeded"
    # The restart resumed from the committed cursor: it re-read at most the records sharing the
    # cursor's timestamp, not the pages already committed.
    assert restart.pulled <= RECORDS - committed + 7

"""The CLI end to end: init, db upgrade, connectors list, sync and status, JSON output and exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from fakeledger import TOKEN, LedgerlyState, running_ledgerly, seed_invoices
from typer.testing import CliRunner

from tieout.cli import app
from tieout.connectors import registry
from tieout.scheduler.jobs import lock_name
from tieout.scheduler.locks import job_lock
from tieout.store import Store

SUPPORT = Path(__file__).parent / "support"


@pytest.fixture(autouse=True)
def support_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(SUPPORT))


@pytest.fixture
def ledgerly_url() -> Iterator[str]:
    state = LedgerlyState()
    seed_invoices(state, 45, start=datetime(2026, 1, 1, tzinfo=UTC))
    state.add(
        "invoices",
        {
            "id": "inv-broken",
            "customer": "c",
            "currency": "EUR",
            "total": "ten",
            "status": "open",
            "updated_at": "2026-01-01T00:00:01+00:00",
        },
    )
    with running_ledgerly(state) as url:
        yield url


def config_file(tmp_path: Path, store_url: str, url: str) -> Path:
    path = tmp_path / "tieout.yaml"
    path.write_text(
        f"""version: 1
store: {{url: "{store_url}"}}
systems:
  ledgerly:
    connector: fakeledger:LedgerlyConnector
    settings: {{base_url: "{url}", api_token: "${{LEDGERLY_TOKEN}}", page_size: 20}}
"""
    )
    return path


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"LEDGERLY_TOKEN": TOKEN})
    return result.exit_code, result.stdout, result.stderr


def test_help_lists_every_command() -> None:
    code, stdout, _ = invoke("--help")
    assert code == 0
    for command in ("init", "config", "db", "connectors", "sync", "status"):
        assert command in stdout


def test_sync_then_status_with_json(store_url: str, tmp_path: Path, ledgerly_url: str) -> None:
    config = str(config_file(tmp_path, store_url, ledgerly_url))
    code, stdout, stderr = invoke("--config", config, "db", "upgrade")
    assert code == 0, stderr
    code, stdout, stderr = invoke("--config", config, "sync", "--json")
    assert code == 0, stderr
    output = json.loads(stdout)
    assert output["flows"] == []  # the fake system is in observe mode, and no flow targets it
    results = {result["stream"]: result for result in output["streams"]}
    assert set(results) == {"invoices", "customers"}
    result = results["invoices"]
    assert (result["system"], result["status"]) == ("ledgerly", "succeeded")
    assert (result["pulled"], result["mapped"], result["failed"]) == (46, 45, 1)
    assert TOKEN not in stdout + stderr
    code, stdout, stderr = invoke("--config", config, "status", "--json")
    assert code == 0, stderr
    report = json.loads(stdout)
    streams = {item["stream"]: item for item in report["streams"]}
    assert streams["invoices"]["last_run"]["status"] == "succeeded"
    assert streams["invoices"]["watermark"].startswith("2026-01-01")
    assert streams["customers"]["last_run"]["pulled"] == 0
    assert report["open_exceptions"] == {"medium": 1}
    code, stdout, _ = invoke("--config", config, "status")
    assert code == 0 and "open exceptions: 1 (1 medium)" in stdout


def test_sync_failure_exits_1_and_names_the_problem(tmp_path: Path) -> None:
    config = str(config_file(tmp_path, f"sqlite:///{tmp_path}/t.db", "http://127.0.0.1:9"))
    code, stdout, _ = invoke("--config", config, "sync", "ledgerly", "invoices")
    assert code == 1
    assert (
        "failed" in stdout and "ledgerly invoices: ledgerly: GET /v1/invoices failed: ConnectError" in stdout
    )


def test_a_sync_by_hand_waits_for_no_one_while_the_scheduled_sync_runs(
    store_url: str, tmp_path: Path, ledgerly_url: str
) -> None:
    config = str(config_file(tmp_path, store_url, ledgerly_url))
    assert invoke("--config", config, "db", "upgrade")[0] == 0
    scheduler_store = Store.open(store_url)
    try:
        with job_lock(scheduler_store, lock_name("sync"), lease_seconds=60) as held:
            code, stdout, stderr = invoke("--config", config, "sync", "ledgerly")
        assert code == 1
        assert "job job:sync is already running" in stderr and held.holder in stderr
        assert "nothing was pulled or pushed" in stderr and stdout == ""
        with scheduler_store.transaction() as tx:
            assert tx.list_runs() == []
    finally:
        scheduler_store.close()
    # Once the scheduler's sync is over, the lock is free again.
    assert invoke("--config", config, "sync", "ledgerly")[0] == 0


def test_unknown_system_or_stream_exits_2(tmp_path: Path, ledgerly_url: str) -> None:
    config = str(config_file(tmp_path, f"sqlite:///{tmp_path}/t.db", ledgerly_url))
    code, _, stderr = invoke("--config", config, "sync", "nosuch")
    assert code == 2 and "systems.nosuch" in stderr
    code, _, stderr = invoke("--config", config, "sync", "ledgerly", "payouts")
    assert code == 4 and "unknown stream 'payouts'" in stderr


def test_store_errors_exit_3(tmp_path: Path) -> None:
    config = str(config_file(tmp_path, "postgresql://nobody@127.0.0.1:1/none", "http://127.0.0.1:9"))
    code, _, stderr = invoke("--config", config, "status")
    assert code == 3 and "cannot open the state store" in stderr


def test_connectors_list_shows_entry_points_and_broken_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    points = [
        EntryPoint("ledgerly", "fakeledger:LedgerlyConnector", registry.ENTRY_POINT_GROUP),
        EntryPoint("broken", "no_such_module:Thing", registry.ENTRY_POINT_GROUP),
        EntryPoint("notaconnector", "fakeledger:LedgerlyState", registry.ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(
        registry, "entry_points", lambda group: points if group == registry.ENTRY_POINT_GROUP else []
    )
    code, stdout, _ = invoke("connectors", "list", "--json")
    assert code == 0
    listed = {row["name"]: row for row in json.loads(stdout)}
    assert listed["ledgerly"]["streams"] == ["invoices", "customers"] and listed["ledgerly"]["error"] is None
    assert "ModuleNotFoundError" in listed["broken"]["error"]
    assert listed["notaconnector"]["error"] == "not a tieout Connector subclass"
    assert registry.connector_class("ledgerly").name == "ledgerly"


def test_reconcile_command_reports_and_files(tmp_path: Path) -> None:
    config = str(config_file(tmp_path, f"sqlite:///{tmp_path}/t.db", "http://127.0.0.1:9"))
    code, stdout, stderr = invoke("--config", config, "reconcile", "--json")
    assert code == 0, stderr
    result = json.loads(stdout)
    assert "INVOICE_MISSING_IN_NETSUITE" in result["rules"] and result["found"] == {}
    code, _, stderr = invoke("--config", config, "reconcile", "--rule", "NO_SUCH_RULE")
    assert code == 2 and "unknown rule NO_SUCH_RULE" in stderr

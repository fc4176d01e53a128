"""`tieout runs list|show` and `tieout status` on a real run history: successes, failures in a row, budgets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fakeledger import TOKEN, LedgerlyState, running_ledgerly, seed_invoices
from typer.testing import CliRunner

from tieout.cli import app

SUPPORT = Path(__file__).parent / "support"


@pytest.fixture(autouse=True)
def support_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(SUPPORT))


@pytest.fixture
def ledgerly() -> Iterator[tuple[LedgerlyState, str]]:
    state = LedgerlyState()
    seed_invoices(state, 45, start=datetime(2026, 1, 1, tzinfo=UTC))
    with running_ledgerly(state) as url:
        yield state, url


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"LEDGERLY_TOKEN": TOKEN})
    return result.exit_code, result.stdout, result.stderr


def as_json(*args: str) -> Any:
    code, stdout, stderr = invoke(*args, "--json")
    assert code == 0, stderr
    return json.loads(stdout)


@pytest.fixture
def history(store_url: str, tmp_path: Path, ledgerly: tuple[LedgerlyState, str]) -> str:
    """One clean sync of both streams, then two syncs of invoices refused with 401."""
    state, url = ledgerly
    path = tmp_path / "tieout.yaml"
    path.write_text(
        f"""version: 1
store: {{url: "{store_url}"}}
systems:
  ledgerly:
    connector: fakeledger:LedgerlyConnector
    max_calls_per_run: 40
    settings: {{base_url: "{url}", api_token: "${{LEDGERLY_TOKEN}}", page_size: 20}}
"""
    )
    config = str(path)
    assert invoke("--config", config, "sync")[0] == 0
    for _ in range(2):
        state.fail_next(401)
        assert invoke("--config", config, "sync", "ledgerly", "invoices")[0] == 1
    return config


def test_runs_list_filters_by_job_status_and_limit(history: str) -> None:
    runs = as_json("--config", history, "runs", "list")
    assert [(run["job"], run["status"]) for run in runs] == [
        ("sync:ledgerly:invoices", "failed"),
        ("sync:ledgerly:invoices", "failed"),
        ("sync:ledgerly:customers", "succeeded"),
        ("sync:ledgerly:invoices", "succeeded"),
    ]
    assert runs[0]["trigger"] == "manual" and runs[3]["pulled"] == 45 and runs[3]["api_calls"] == 3
    assert "401" in runs[0]["error"] or "credentials" in runs[0]["error"]
    assert len(as_json("--config", history, "runs", "list", "--status", "failed")) == 2
    assert len(as_json("--config", history, "runs", "list", "--job", "sync:ledgerly:customers")) == 1
    assert len(as_json("--config", history, "runs", "list", "--job", "sync:ledgerly:")) == 4
    assert len(as_json("--config", history, "runs", "list", "--job", "sync:*")) == 4
    assert len(as_json("--config", history, "runs", "list", "--job", "flow:")) == 0
    assert len(as_json("--config", history, "runs", "list", "--limit", "1")) == 1
    code, _, stderr = invoke("--config", history, "runs", "list", "--status", "exploded")
    assert code == 2 and "--status" in stderr
    code, stdout, _ = invoke("--config", history, "runs", "list")
    assert code == 0 and "sync:ledgerly:invoices: ledgerly: GET /v1/invoices answered 401" in stdout


def test_runs_show_finds_a_run_by_the_start_of_its_id(history: str) -> None:
    newest = as_json("--config", history, "runs", "list")[0]
    shown = as_json("--config", history, "runs", "show", newest["run_id"][:8])
    assert shown == newest
    code, stdout, _ = invoke("--config", history, "runs", "show", newest["run_id"])
    assert code == 0 and newest["run_id"] in stdout and "sync:ledgerly:invoices" in stdout
    code, _, stderr = invoke("--config", history, "runs", "show", "no-such-run")
    assert code == 2 and "no run has an id starting with 'no-such-run'" in stderr


def test_status_gives_last_success_lag_failures_in_a_row_and_the_budget(history: str) -> None:
    report = as_json("--config", history, "status")
    jobs = {item["job"]: item for item in report["jobs"]}
    invoices, customers = jobs["sync:ledgerly:invoices"], jobs["sync:ledgerly:customers"]
    assert invoices["failures_in_a_row"] == 2 and invoices["last_run"]["status"] == "failed"
    assert invoices["last_success_at"] is not None and invoices["lag_seconds"] >= 0
    assert customers["failures_in_a_row"] == 0 and customers["last_run"]["status"] == "succeeded"
    [budget] = report["api_budget"]
    spent = invoices["last_run"]["api_calls"] + customers["last_run"]["api_calls"]
    assert budget == {
        "system": "ledgerly",
        "calls_last_run": spent,
        "max_calls_per_run": 40,
        "left": 40 - spent,
    }
    streams = {item["stream"]: item for item in report["streams"]}
    assert streams["invoices"]["watermark"].startswith("2026-01-01")
    assert report["open_exceptions"] == {}
    code, stdout, _ = invoke("--config", history, "status")
    assert code == 0
    assert "sync:ledgerly:invoices: failed 2 times in a row; last error: ledgerly: GET" in stdout
    assert "open exceptions: 0" in stdout

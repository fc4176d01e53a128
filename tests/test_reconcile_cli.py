"""`tieout reconcile --since DATE` from the command line: only what changed since is looked at."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tieout.cli import app
from tieout.reconcile.synthetic import change, generate
from tieout.store import Store


def _reconcile(config: Path, *args: str) -> dict[str, object]:
    result = CliRunner().invoke(app, ["--config", str(config), "reconcile", "--json", *args])
    assert result.exit_code == 0, result.output
    found: dict[str, object] = json.loads(result.output)
    return found


def test_since_leaves_exceptions_of_records_not_changed_since_alone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    config = tmp_path / "tieout.yaml"
    config.write_text(f"version: 1\nstore: {{url: '{url}'}}\n")
    store = Store.open(url)
    ledger = generate(store, 1000, seed=2, defect_rate=0.003)
    first = _reconcile(config)
    assert first["opened"] == len(ledger.expected)
    fixed = len(ledger.total_differences)
    change(store, ledger, 0.01)
    store.close()
    assert _reconcile(config, "--since", "2030-01-01")["resolved"] == 0
    recent = _reconcile(config, "--since", "2026-11-02")
    assert recent["resolved"] == fixed > 0


def test_since_must_be_a_day(tmp_path: Path) -> None:
    config = tmp_path / "tieout.yaml"
    config.write_text(f"version: 1\nstore: {{url: 'sqlite:///{tmp_path / 'state.db'}'}}\n")
    result = CliRunner().invoke(app, ["--config", str(config), "reconcile", "--since", "last week"])
    assert result.exit_code == 2
    assert "--since" in result.output and "YYYY-MM-DD" in result.output

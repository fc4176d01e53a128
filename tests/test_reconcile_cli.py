"""`tieout reconcile` from the command line: what changed since the last run, `--since DATE`, `--full`."""

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


def _configured(tmp_path: Path) -> tuple[Path, Store]:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    config = tmp_path / "tieout.yaml"
    config.write_text(f"version: 1\nstore: {{url: '{url}'}}\n")
    return config, Store.open(url)


def test_since_leaves_exceptions_of_records_not_changed_since_alone(tmp_path: Path) -> None:
    config, store = _configured(tmp_path)
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


def test_a_plain_run_checks_what_changed_and_full_checks_everything(tmp_path: Path) -> None:
    config, store = _configured(tmp_path)
    ledger = generate(store, 500, seed=3, defect_rate=0.004)
    store.close()
    first = _reconcile(config)
    assert (first["incremental"], first["open_total"]) == (False, len(ledger.expected))
    quiet = _reconcile(config)
    assert (quiet["incremental"], quiet["records_read"], quiet["open_total"]) == (
        True,
        0,
        len(ledger.expected),
    )
    full = _reconcile(config, "--full")
    assert full["incremental"] is False and full["refreshed"] == len(ledger.expected)
    text = CliRunner().invoke(app, ["--config", str(config), "reconcile"]).output
    assert f"{len(ledger.expected)} open in the queue (checked what changed since the last run" in text


def test_a_cache_path_keeps_the_projection_between_runs_for_postgresql(
    tmp_path: Path, postgres_url: str
) -> None:
    """In memory, a PostgreSQL store's projection is rebuilt by every run, which then looks at every
    record; `reconcile.cache_path` keeps it in a file, and runs look only at what changed."""
    config = tmp_path / "tieout.yaml"
    config.write_text(
        f"version: 1\nstore: {{url: '{postgres_url}'}}\nreconcile: {{cache_path: projection.duckdb}}\n"
    )
    store = Store.open(postgres_url)
    ledger = generate(store, 300, seed=4, defect_rate=0.01)
    first = _reconcile(config)
    assert (tmp_path / "projection.duckdb").exists() and first["incremental"] is False
    change(store, ledger, 0.02)
    store.close()
    again = _reconcile(config)
    assert again["incremental"] is True and 0 < int(str(again["projected"])) < 300
    assert again["open_total"] == len(ledger.expected)

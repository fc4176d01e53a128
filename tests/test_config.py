"""Configuration loading: pointed errors, env interpolation, secrets kept out of files and output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tieout.cli import app
from tieout.config import load_config
from tieout.errors import ConfigError

SUPPORT = Path(__file__).parent / "support"
SECRET = "sk_live_sentinel_7d1e0c4b"

GOOD = """\
version: 1
mode: observe
store:
  url: sqlite:///state/tieout.db
systems:
  ledgerly:
    connector: fakeledger:LedgerlyConnector
    settings:
      base_url: http://127.0.0.1:9
      api_token: ${LEDGERLY_TOKEN}
"""

BROKEN = """\
version: 1
mode: observe
stor:
  url: sqlite:///x.db
systems:
  ledgerly:
    connector: fakeledger:LedgerlyConnector
    lookback_seconds: -5
    settings:
      base_url: http://127.0.0.1:9
      api_token: ${LEDGERLY_TOKEN}
"""


@pytest.fixture(autouse=True)
def support_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(SUPPORT))


def write(tmp_path: Path, text: str, name: str = "tieout.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems_of(path: Path, environ: dict[str, str] | None = None) -> list[tuple[int | None, str, str]]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=environ or {})
    return [(p.line, p.field_path, p.message) for p in caught.value.problems]


def test_a_good_config_loads_with_secrets_from_the_environment(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), environ={"LEDGERLY_TOKEN": SECRET})
    system = config.system("ledgerly")
    assert system.settings is not None
    assert system.settings.api_token.get_secret_value() == SECRET  # type: ignore[attr-defined]
    assert SECRET not in repr(config) and SECRET not in str(system.settings)
    assert config.store_url == f"sqlite:///{tmp_path.resolve()}/state/tieout.db"
    assert SECRET in config.secret_values


def test_every_problem_is_reported_with_line_and_field(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, BROKEN))
    assert (3, "stor", "unknown setting (check the spelling)") in problems
    assert any(
        line == 11
        and field == "systems.ledgerly.settings.api_token"
        and "LEDGERLY_TOKEN is not set" in message
        for line, field, message in problems
    )
    assert any(line == 8 and field == "systems.ledgerly.lookback_seconds" for line, field, _ in problems)


def test_connector_settings_are_checked_against_the_connector(tmp_path: Path) -> None:
    text = GOOD.replace(
        "      base_url: http://127.0.0.1:9\n", "      base_ur: http://127.0.0.1:9\n      page_size: lots\n"
    )
    problems = problems_of(write(tmp_path, text), {"LEDGERLY_TOKEN": SECRET})
    fields = {field: line for line, field, _ in problems}
    assert fields["systems.ledgerly.settings.base_ur"] == 9
    assert fields["systems.ledgerly.settings.page_size"] == 10
    assert fields["systems.ledgerly.settings.base_url"] == 8


def test_unknown_connectors_and_streams_are_named(tmp_path: Path) -> None:
    text = GOOD.replace("fakeledger:LedgerlyConnector", "fakeledger:Nope")
    [(line, field, message)] = problems_of(write(tmp_path, text), {"LEDGERLY_TOKEN": SECRET})
    assert (line, field) == (7, "systems.ledgerly.connector") and "Nope" in message
    text = GOOD.replace("    settings:\n", "    streams: [invoices, refunds]\n    settings:\n")
    [(line, field, message)] = problems_of(write(tmp_path, text), {"LEDGERLY_TOKEN": SECRET})
    assert (line, field) == (8, "systems.ledgerly.streams[1]") and "no stream 'refunds'" in message


def test_inline_secrets_are_refused_unless_allowed(tmp_path: Path) -> None:
    text = GOOD.replace("${LEDGERLY_TOKEN}", SECRET)
    [(line, field, message)] = problems_of(write(tmp_path, text))
    assert (line, field) == (10, "systems.ledgerly.settings.api_token") and "inline" in message
    assert SECRET not in message
    allowed = load_config(write(tmp_path, "allow_inline_secrets: true\n" + text))
    assert allowed.system("ledgerly").settings is not None


def test_secrets_file_supplies_variables(tmp_path: Path) -> None:
    write(tmp_path, f"# kept out of git\nLEDGERLY_TOKEN='{SECRET}'\n", "secrets.env")
    config = load_config(write(tmp_path, "secrets_file: secrets.env\n" + GOOD), environ={})
    assert config.system("ledgerly").settings.api_token.get_secret_value() == SECRET  # type: ignore[union-attr]


def test_yaml_syntax_errors_point_at_the_line(tmp_path: Path) -> None:
    [(line, _, message)] = problems_of(write(tmp_path, "version: 1\nsystems:\n  a: [1, 2\n  b: 3\n"))
    assert line == 4 and "not valid YAML" in message


def test_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    [(_, _, message)] = problems_of(tmp_path / "absent.yaml")
    assert "tieout init" in message


def test_config_check_command_exits_2_with_pointed_errors(tmp_path: Path) -> None:
    path = write(tmp_path, BROKEN)
    result = CliRunner().invoke(app, ["--config", str(path), "config", "check"])
    assert result.exit_code == 2
    assert f"{path}:3: stor: unknown setting" in result.stderr
    assert (
        f"{path}:11: systems.ledgerly.settings.api_token: environment variable LEDGERLY_TOKEN"
        in result.stderr
    )
    as_json = CliRunner().invoke(app, ["--config", str(path), "config", "check", "--json"])
    assert as_json.exit_code == 2
    assert {
        "file": str(path),
        "line": 3,
        "field": "stor",
        "message": "unknown setting (check the spelling)",
    } in json.loads(as_json.stdout)["problems"]


def test_config_check_never_prints_a_secret(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    environment = {**os.environ, "LEDGERLY_TOKEN": SECRET, "PYTHONPATH": str(SUPPORT)}
    for extra in ([], ["--json"]):
        result = subprocess.run(
            [sys.executable, "-m", "tieout", "--config", str(path), "config", "check", *extra],
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert SECRET not in result.stdout + result.stderr


def test_example_config_shipped_in_the_package_matches_the_repository() -> None:
    root = Path(__file__).parent.parent
    assert (root / "config/tieout.example.yaml").read_text() == (
        root / "tieout/templates/tieout.example.yaml"
    ).read_text()
    assert (root / "config/mappings/example.yaml").read_text() == (
        root / "tieout/templates/mappings/example.yaml"
    ).read_text()


def test_init_writes_a_config_that_checks_clean(tmp_path: Path) -> None:
    path = tmp_path / "tieout.yaml"
    runner = CliRunner()
    assert runner.invoke(app, ["--config", str(path), "init"]).exit_code == 0
    assert runner.invoke(app, ["--config", str(path), "init"]).exit_code == 2
    checked = runner.invoke(app, ["--config", str(path), "config", "check", "--json"])
    assert checked.exit_code == 0, checked.stderr
    assert json.loads(checked.stdout)["ok"] is True
    assert runner.invoke(app, ["--config", str(path), "init", "--force"]).exit_code == 0


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_any_text_gives_a_config_or_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text)
    try:
        load_config(path, environ={})
    except ConfigError as exc:
        assert exc.problems
        assert all(problem.file == str(path) for problem in exc.problems)


def test_operational_sections_default_to_an_embedded_deployment(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), environ={"LEDGERLY_TOKEN": SECRET})
    assert set(config.schedule.jobs) == {"sync", "reconcile", "reconcile_full", "ar_snapshot"}
    assert config.schedule.jobs["reconcile_full"].run == "reconcile:full"
    assert config.schedule.jobs["sync"].then == ["reconcile"]
    assert config.workers.executor == "inprocess"
    assert config.alerts.webhook_url is None and config.alerts.smtp is None
    assert config.web.port == 8080


def test_operational_sections_are_checked_with_lines(tmp_path: Path) -> None:
    text = GOOD + (
        "schedule:\n"
        "  jobs:\n"
        "    sync:\n"
        "      run: sync\n"
        "      every: 5 minutes\n"
        "    nightly:\n"
        "      run: backup\n"
        "      cron: '0 2 * * *'\n"
        "web:\n"
        "  record_links:\n"
        "    stripe: https://example.test/invoices\n"
    )
    problems = problems_of(write(tmp_path, text), {"LEDGERLY_TOKEN": SECRET})
    by_field = {field: (line, message) for line, field, message in problems}
    assert by_field["schedule.jobs.sync.every"][0] == 15
    assert "such as 30s, 5m" in by_field["schedule.jobs.sync.every"][1]
    assert by_field["schedule.jobs.nightly.run"][0] == 17
    assert "{id}" in by_field["web.record_links"][1]


def test_a_job_needs_exactly_one_trigger(tmp_path: Path) -> None:
    text = GOOD + "schedule:\n  jobs:\n    sync:\n      run: sync\n"
    [(_, field, message)] = problems_of(write(tmp_path, text), {"LEDGERLY_TOKEN": SECRET})
    assert field == "schedule.jobs.sync" and "exactly one of 'every'" in message


def test_inline_secrets_in_operational_sections_are_refused(tmp_path: Path) -> None:
    text = GOOD + (
        "webhooks:\n"
        f"  stripe_signing_secret: {SECRET}\n"
        "alerts:\n"
        "  smtp:\n"
        "    host: 127.0.0.1\n"
        "    from_address: tieout@example.test\n"
        "    to: [ar@example.test]\n"
        "    password: ${SMTP_PASSWORD}\n"
    )
    environ = {"LEDGERLY_TOKEN": SECRET, "SMTP_PASSWORD": "smtp-sentinel-pw"}
    [(line, field, message)] = problems_of(write(tmp_path, text), environ)
    assert (line, field) == (12, "webhooks.stripe_signing_secret") and "inline" in message
    assert SECRET not in message
    config = load_config(write(tmp_path, "allow_inline_secrets: true\n" + text), environ=environ)
    assert config.webhooks.stripe_signing_secret is not None
    assert config.alerts.smtp is not None and config.alerts.smtp.password is not None
    assert config.alerts.smtp.password.get_secret_value() == "smtp-sentinel-pw"
    assert "smtp-sentinel-pw" in config.secret_values

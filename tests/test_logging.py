"""Structured logs: JSON lines with run ids, and no secret in them, from tieout or any library below it."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tieout.cli import main
from tieout.config import load_config
from tieout.config_sections import LogFormat, LoggingConfig
from tieout.observability import runs
from tieout.observability.logging import configure_logging, scrub
from tieout.runner import SyncService
from tieout.sandbox.config_writer import write_sandbox_config
from tieout.sandbox.runtime import Sandbox, SandboxOptions
from tieout.sandbox.scenario.generate import generate
from tieout.store import Store

PLANTED = "planted-Secret-4f1c9e77"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Whatever tieout's handler writes; the root logger is put back as it was afterwards."""
    root = logging.getLogger()
    saved_level, saved_handlers, saved_factory = (
        root.level,
        list(root.handlers),
        logging.getLogRecordFactory(),
    )
    libraries = {
        name: logging.getLogger(name).level
        for name in ("httpx", "httpcore", "urllib3", "stripe", "metronome", "alembic")
    }
    stream = io.StringIO()
    yield stream
    for handler in [item for item in root.handlers if item not in saved_handlers]:
        root.removeHandler(handler)
    root.setLevel(saved_level)
    logging.setLogRecordFactory(saved_factory)
    for name, level in libraries.items():
        logging.getLogger(name).setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


def test_records_are_json_with_level_logger_and_extras(captured: io.StringIO) -> None:
    configure_logging(LoggingConfig(level="INFO"), stream=captured)
    logging.getLogger("tieout.test").info("pulled %d records", 3, extra={"system": "stripe"})
    logging.getLogger("tieout.test").debug("not at INFO")
    [entry] = lines(captured)
    assert entry["level"] == "INFO" and entry["logger"] == "tieout.test"
    assert entry["message"] == "pulled 3 records" and entry["system"] == "stripe"
    assert entry["ts"].endswith("+00:00")
    assert "run_id" not in entry


def test_text_format_is_one_readable_line(captured: io.StringIO) -> None:
    configure_logging(LoggingConfig(format=LogFormat.TEXT, level="INFO"), stream=captured)
    with runs.scope("run-7", "sync:stripe:invoices"):
        logging.getLogger("tieout.test").warning("slow page")
    text = captured.getvalue()
    assert "WARNING tieout.test [run-7]: slow page" in text


def test_run_ids_follow_the_run_and_nested_runs_give_the_outer_one_back(captured: io.StringIO) -> None:
    configure_logging(LoggingConfig(level="INFO"), stream=captured)
    log = logging.getLogger("tieout.test")
    runs.bind("flow-run", "flow:invoices_to_netsuite")
    log.info("flow starts")
    runs.bind("sync-run", "sync:netsuite:invoices")
    log.info("refresh")
    runs.release("sync-run")
    log.info("flow goes on")
    runs.release("flow-run")
    log.info("idle")
    stamped = [(entry["message"], entry.get("run_id"), entry.get("job")) for entry in lines(captured)]
    assert stamped == [
        ("flow starts", "flow-run", "flow:invoices_to_netsuite"),
        ("refresh", "sync-run", "sync:netsuite:invoices"),
        ("flow goes on", "flow-run", "flow:invoices_to_netsuite"),
        ("idle", None, None),
    ]


def test_secrets_are_removed_from_messages_arguments_extras_and_tracebacks(captured: io.StringIO) -> None:
    configure_logging(LoggingConfig(level="DEBUG"), secrets=[PLANTED], stream=captured)
    log = logging.getLogger("tieout.test")
    log.info(f"inline {PLANTED}")
    log.info("as an argument %s", PLANTED)
    log.info("as an extra", extra={"header": f"Bearer {PLANTED}"})
    try:
        raise RuntimeError(f"failed with {PLANTED}")
    except RuntimeError:
        log.exception("it broke")
    log.warning("shaped like credentials: %s", "sk_live_abcdefgh12345678 https://ops:hunter2@db.internal/x")
    output = captured.getvalue()
    assert PLANTED not in output
    assert "sk_live_abcdefgh12345678" not in output and "hunter2" not in output
    entries = lines(captured)
    assert entries[0]["message"] == "inline ***"
    assert entries[3]["exception"].startswith("Traceback") and "failed with ***" in entries[3]["exception"]


def test_scrub_keeps_the_names_of_the_fields_it_blanks() -> None:
    assert scrub('{"password": "p4ss", "user": "ana"}', []) == '{"password": "***", "user": "ana"}'
    assert scrub("client_secret=abc123&grant_type=x", []) == "client_secret=***&grant_type=x"
    assert scrub("Authorization: Bearer abcdefgh12345", []) == "Authorization: Bearer ***"
    assert scrub("42 tokens: fine", []) == "42 tokens: fine"


def test_a_debug_sync_on_the_sandbox_logs_no_secret(captured: io.StringIO, tmp_path: Path) -> None:
    sandbox = Sandbox(SandboxOptions(workdir=tmp_path, seed=7)).start()
    try:
        answer_key = generate(sandbox, seed=7, scale=5)
        config_path = write_sandbox_config(sandbox.describe(), tmp_path, value_maps=answer_key["value_maps"])
        config = load_config(config_path)
        assert len(config.secret_values) >= 4  # every system's credentials come from the secrets file
        configure_logging(
            LoggingConfig(level="DEBUG"), secrets=[*config.secret_values, PLANTED], stream=captured
        )
        store = Store.open(config.store_url)
        service = SyncService(config, store)
        # A library that logs what it was given, as SDKs do at DEBUG, mid-run.
        service.on_page = lambda progress: logging.getLogger("httpx").debug("request with token=%s", PLANTED)
        try:
            results = service.sync()
        finally:
            service.close()
            store.close()
    finally:
        sandbox.stop()
    assert results and all(result.status == "succeeded" for result in results)
    output = captured.getvalue()
    for secret in (*config.secret_values, PLANTED):
        assert secret not in output
    entries = lines(captured)
    loggers = {entry["logger"].split(".")[0] for entry in entries}
    assert {"httpx", "httpcore", "urllib3", "stripe", "metronome"} <= loggers  # DEBUG reached the libraries
    run_ids = {result.run_id for result in results}
    assert {entry["run_id"] for entry in entries if "run_id" in entry} == run_ids
    assert any(entry["message"] == "request with token=***" for entry in entries)
    finished = {entry["run_id"]: entry for entry in entries if entry["logger"] == "tieout.runs"}
    assert set(finished) == run_ids
    for result in results:
        entry = finished[result.run_id]
        assert entry["job"] == f"sync:{result.system}:{result.stream}" and entry["level"] == "INFO"
        assert (entry["status"], entry["pulled"], entry["api_calls"]) == (
            "succeeded",
            result.pulled,
            result.api_calls,
        )
        assert entry["message"].startswith(
            f"sync:{result.system}:{result.stream} succeeded: {result.pulled} pulled"
        )


def test_other_handlers_never_see_a_secret_either(
    captured: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    configure_logging(LoggingConfig(level="INFO"), secrets=[PLANTED], stream=captured)
    with caplog.at_level(logging.INFO, logger="httpx"):
        logging.getLogger("httpx").info("HTTP Request: POST https://hooks.example/%s", PLANTED)
    assert caplog.messages == ["HTTP Request: POST https://hooks.example/***"]
    assert PLANTED not in caplog.text


def test_the_command_line_logs_json_before_a_command_loads_its_config(
    captured: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["connectors", "list", "--json"])
    assert stopped.value.code == 0
    logging.getLogger("tieout.test").warning("token=%s", PLANTED)
    entry = json.loads(capsys.readouterr().err.splitlines()[-1])
    assert entry["message"] == "token=***" and entry["level"] == "WARNING"


def test_interactive_commands_log_warnings_unless_the_config_sets_a_level(captured: io.StringIO) -> None:
    log = logging.getLogger("tieout.test")
    configure_logging(LoggingConfig(), stream=captured, interactive=True)
    log.info("a run finished")
    log.warning("a run failed")
    assert [entry["message"] for entry in lines(captured)] == ["a run failed"]

    configure_logging(LoggingConfig(level="INFO"), stream=captured, interactive=True)
    log.info("asked for")
    configure_logging(LoggingConfig(), stream=captured)
    log.info("a service logs at INFO")
    assert [entry["message"] for entry in lines(captured)][-2:] == ["asked for", "a service logs at INFO"]

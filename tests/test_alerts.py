"""Alerts against a local webhook receiver (a real HTTP server) and a local SMTP server (aiosmtpd).

Every store test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from pydantic import SecretStr
from typer.testing import CliRunner

from tieout.cli import app
from tieout.config import Mode, TieoutConfig
from tieout.config_sections import AlertsConfig, LoggingConfig, SmtpConfig
from tieout.findings import Finding, Severity
from tieout.mappings.context import FieldMappings
from tieout.money import Money
from tieout.observability.alerts import AlertService
from tieout.observability.logging import configure_logging
from tieout.store import Store

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@dataclass
class Receiver:
    """A webhook endpoint that keeps what it is sent and answers with `status`."""

    status: int = 200
    payloads: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if state.status == 200:
                state.payloads.append(json.loads(body))
            self.send_response(state.status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # The path is the secret part of a Slack webhook URL, as in hooks.slack.com/services/T/B/<token>.
    state.url = f"http://127.0.0.1:{server.server_port}/services/T000/B000/xoxb-planted-7731"
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def config_for(
    store: Store, *, webhook_url: str | None = None, smtp_port: int | None = None, min_severity: str = "high"
) -> TieoutConfig:
    smtp = (
        SmtpConfig(
            host="127.0.0.1",
            port=smtp_port,
            starttls=False,
            from_address="tieout@example.com",
            to=["ar@example.com"],
        )
        if smtp_port
        else None
    )
    alerts = AlertsConfig(
        webhook_url=SecretStr(webhook_url) if webhook_url else None,
        smtp=smtp,
        lag_threshold_minutes=60,
        min_severity=min_severity,  # type: ignore[arg-type]
    )
    return TieoutConfig(
        path=Path("tieout.yaml"),
        mode=Mode.OBSERVE,
        store_url=str(store.engine.url),
        systems={},
        field_mappings=FieldMappings(),
        secret_values=(webhook_url,) if webhook_url else (),
        alerts=alerts,
    )


def add_run(
    store: Store, run_id: str, job: str, status: str, *, started_at: datetime, error: str | None = None
) -> None:
    with store.transaction() as tx:
        tx.start_run(
            run_id=run_id,
            job=job,
            system=None,
            stream=None,
            trigger="schedule",
            mode="observe",
            started_at=started_at,
            host="test",
            pid=1,
        )
        tx.finish_run(run_id, status=status, at=started_at + timedelta(minutes=1), error=error)


def file_exception(store: Store, record: str, severity: Severity, amount: str | None = None) -> None:
    finding = Finding(
        "INVOICE_TOTAL_DIFFERS",
        f"Invoice {record} totals differ",
        "test",
        severity,
        (record,),
        amount_at_risk=Money.of(amount, "USD") if amount else None,
    )
    with store.transaction() as tx:
        tx.file_findings([finding], at=NOW, run_id=None)


def seed_trouble(store: Store) -> None:
    add_run(
        store,
        "r-failed",
        "sync:stripe:invoices",
        "failed",
        started_at=NOW - timedelta(minutes=5),
        error="boom",
    )
    add_run(store, "r-old", "flow:payments_to_netsuite", "succeeded", started_at=NOW - timedelta(hours=3))
    add_run(store, "r-fresh", "sync:stripe:customers", "succeeded", started_at=NOW - timedelta(minutes=10))
    add_run(store, "r-resync", "resync:stripe:invoices", "succeeded", started_at=NOW - timedelta(days=2))
    file_exception(store, "inv-1", Severity.CRITICAL, "1250.00")
    file_exception(store, "inv-2", Severity.HIGH)
    file_exception(store, "inv-3", Severity.MEDIUM)


def alert_log_keys(store: Store) -> set[str]:
    with store.transaction() as tx:
        return tx.sent_alert_keys("")


def test_each_kind_is_sent_once_on_both_channels(
    store: Store, receiver: Receiver, mailbox: tuple[Mailbox, int]
) -> None:
    box, smtp_port = mailbox
    seed_trouble(store)
    service = AlertService(
        config_for(store, webhook_url=receiver.url, smtp_port=smtp_port), store, clock=lambda: NOW
    )

    report = service.check_and_send()

    assert sorted(alert.kind for alert in report.sent) == ["exceptions", "failed_run", "lagging"]
    assert report.failed == [] and report.channel_errors == []
    texts = sorted(payload["text"] for payload in receiver.payloads)
    assert texts == [
        "tieout: 1 job behind by more than 60 minutes",
        "tieout: 1 run failed",
        "tieout: 2 new exceptions at high severity or above",
    ]
    by_text = {payload["text"]: payload for payload in receiver.payloads}
    exceptions = by_text["tieout: 2 new exceptions at high severity or above"]["blocks"]
    assert exceptions[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "2 new exceptions at high severity or above"},
    }
    assert (
        exceptions[1]["type"] == "section"
        and "[critical] INVOICE_TOTAL_DIFFERS" in exceptions[1]["text"]["text"]
    )
    assert "(1,250.00 USD at risk)" in exceptions[1]["text"]["text"]
    assert "sync:stripe:invoices failed: boom" in by_text["tieout: 1 run failed"]["blocks"][1]["text"]["text"]
    lag_text = by_text["tieout: 1 job behind by more than 60 minutes"]["blocks"][1]["text"]["text"]
    assert "flow:payments_to_netsuite is 179 minutes behind" in lag_text
    assert sorted(message["Subject"] for message in box.messages) == [
        "[tieout] 1 job behind by more than 60 minutes",
        "[tieout] 1 run failed",
        "[tieout] 2 new exceptions at high severity or above",
    ]
    assert all(message["To"] == "ar@example.com" for message in box.messages)

    again = service.check_and_send()
    assert again.sent == [] and len(receiver.payloads) == 3 and len(box.messages) == 3

    file_exception(store, "inv-4", Severity.HIGH)
    third = service.check_and_send()
    assert [alert.subject for alert in third.sent] == ["1 new exception at high severity or above"]
    assert "inv-4" in receiver.payloads[-1]["blocks"][1]["text"]["text"]
    assert "inv-1" not in receiver.payloads[-1]["blocks"][1]["text"]["text"]


def test_a_job_that_succeeds_again_and_then_lags_is_told_again(store: Store, receiver: Receiver) -> None:
    add_run(store, "r-1", "sync:netsuite:invoices", "succeeded", started_at=NOW - timedelta(hours=5))
    later = NOW
    service = AlertService(config_for(store, webhook_url=receiver.url), store, clock=lambda: later)
    assert len(service.check_and_send().sent) == 1
    assert service.check_and_send().sent == []
    add_run(store, "r-2", "sync:netsuite:invoices", "succeeded", started_at=NOW)
    later = NOW + timedelta(hours=2)
    assert [alert.kind for alert in service.check_and_send().sent] == ["lagging"]
    assert len(receiver.payloads) == 2


def test_an_alert_no_channel_took_is_tried_again(store: Store, receiver: Receiver) -> None:
    add_run(store, "r-failed", "sync:stripe:invoices", "failed", started_at=NOW, error="boom")
    service = AlertService(config_for(store, webhook_url=receiver.url), store, clock=lambda: NOW)
    receiver.status = 500
    first = service.check_and_send()
    assert first.sent == [] and [alert.kind for alert in first.failed] == ["failed_run"]
    assert "HTTPStatusError" in first.channel_errors[0]
    assert alert_log_keys(store) == set()
    receiver.status = 200
    assert [alert.kind for alert in service.check_and_send().sent] == ["failed_run"]
    assert alert_log_keys(store) == {"run:r-failed"}


def test_one_channel_working_is_enough_to_count_as_told(
    store: Store, receiver: Receiver, mailbox: tuple[Mailbox, int]
) -> None:
    box, smtp_port = mailbox
    add_run(store, "r-failed", "sync:stripe:invoices", "failed", started_at=NOW, error="boom")
    receiver.status = 503
    service = AlertService(
        config_for(store, webhook_url=receiver.url, smtp_port=smtp_port), store, clock=lambda: NOW
    )
    report = service.check_and_send()
    assert [alert.kind for alert in report.sent] == ["failed_run"] and len(report.channel_errors) == 1
    assert len(box.messages) == 1
    assert service.check_and_send().sent == []


def test_without_channels_nothing_is_claimed(store: Store) -> None:
    add_run(store, "r-failed", "sync:stripe:invoices", "failed", started_at=NOW, error="boom")
    report = AlertService(config_for(store), store, clock=lambda: NOW).check_and_send()
    assert report.sent == [] and alert_log_keys(store) == set()


def test_the_webhook_url_never_reaches_the_logs(store: Store, receiver: Receiver) -> None:
    add_run(store, "r-failed", "sync:stripe:invoices", "failed", started_at=NOW, error="boom")
    config = config_for(store, webhook_url=receiver.url)
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.level, list(root.handlers), logging.getLogger("httpx").level, logging.getLogRecordFactory())
    try:
        configure_logging(LoggingConfig(level="DEBUG"), secrets=config.secret_values, stream=stream)
        receiver.status = 500
        AlertService(config, store, clock=lambda: NOW).check_and_send()
        receiver.status = 200
        AlertService(config, store, clock=lambda: NOW).check_and_send()
    finally:
        for handler in [item for item in root.handlers if item not in saved[1]]:
            root.removeHandler(handler)
        root.setLevel(saved[0])
        logging.getLogger("httpx").setLevel(saved[2])
        logging.setLogRecordFactory(saved[3])
    output = stream.getvalue()
    messages = [json.loads(line)["message"] for line in output.splitlines()]
    assert 'HTTP Request: POST *** "HTTP/1.0 200 OK"' in messages  # httpx logged the request, URL and all
    assert any(message.startswith("alert webhook failed") for message in messages)
    assert "xoxb-planted-7731" not in output


def test_alerts_check_from_the_command_line(store: Store, receiver: Receiver, tmp_path: Path) -> None:
    add_run(store, "r-failed", "sync:stripe:invoices", "failed", started_at=datetime.now(UTC), error="boom")
    config = tmp_path / "tieout.yaml"
    config.write_text(
        f'version: 1\nstore: {{url: "{store.engine.url.render_as_string(hide_password=False)}"}}\n'
        "alerts: {webhook_url: '${ALERT_WEBHOOK_URL}'}\n"
    )
    runner = CliRunner()
    env = {"ALERT_WEBHOOK_URL": receiver.url}
    first = runner.invoke(app, ["--config", str(config), "alerts", "check", "--json"], env=env)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["channels"] == ["webhook"] and [item["kind"] for item in report["sent"]] == ["failed_run"]
    assert receiver.url not in first.output
    second = runner.invoke(app, ["--config", str(config), "alerts", "check"], env=env)
    assert second.exit_code == 0 and "nothing new to tell" in second.stdout
    receiver.status = 500
    add_run(
        store,
        "r-failed-2",
        "sync:stripe:invoices",
        "failed",
        started_at=datetime.now(UTC),
        error="boom again",
    )
    third = runner.invoke(app, ["--config", str(config), "alerts", "check"], env=env)
    assert third.exit_code == 1 and "not sent: 1 run failed" in third.stdout
    assert receiver.url not in third.output


def test_an_exception_that_is_resolved_and_comes_back_is_told_again(store: Store, receiver: Receiver) -> None:
    file_exception(store, "inv-7", Severity.HIGH)
    service = AlertService(config_for(store, webhook_url=receiver.url), store, clock=lambda: NOW)
    assert [alert.kind for alert in service.check_and_send().sent] == ["exceptions"]
    file_exception(store, "inv-7", Severity.HIGH)  # still there: nothing new
    assert service.check_and_send().sent == []
    with store.transaction() as tx:
        [fingerprint] = [item.fingerprint for item in tx.list_exceptions()]
        tx.auto_resolve([fingerprint], at=NOW, note="fixed at the source")
    assert service.check_and_send().sent == []
    file_exception(store, "inv-7", Severity.HIGH)  # reopened
    [again] = service.check_and_send().sent
    assert again.subject == "1 new exception at high severity or above" and len(receiver.payloads) == 2

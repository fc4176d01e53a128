"""Webhook endpoints: signed Stripe and Metronome events resync what they name, once; the rest is refused.

The endpoint tests go through FastAPI's TestClient or a real uvicorn server, on both store
backends; the resync service is a recorder here (tests/test_webhooks_sandbox.py drives the real
one against the Stripe emulator's own signed deliveries).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from typer.testing import CliRunner

from tieout.cli import app as cli_app
from tieout.config import Mode, TieoutConfig
from tieout.config_sections import WebhooksConfig
from tieout.errors import ConnectorError
from tieout.mappings.context import FieldMappings
from tieout.sandbox.server import EmulatorServer
from tieout.sandbox.stripe.webhooks import sign as stripe_sign
from tieout.store import Store
from tieout.webhooks.app import create_webhook_app
from tieout.webhooks.events import RecordRef, metronome_records, stripe_records
from tieout.webhooks.receiver import WebhookReceiver
from tieout.webhooks.verify import metronome_signature

STRIPE_SECRET = "whsec_test_4d1b7c0e9a2f"
METRONOME_SECRET = "metronome-test-secret-81f2"
MAX_BODY = 4096


@dataclass
class Outcome:
    errors: list[str] = field(default_factory=list)


@dataclass
class RecordingResyncer:
    calls: list[tuple[str, str, str, str]] = field(default_factory=list)
    fail_with: list[str] = field(default_factory=list)
    raise_error: bool = False

    def resync_record(
        self, system: str, stream: str, record_id: str, *, dry_run: bool = False, trigger: str = "manual"
    ) -> Outcome:
        self.calls.append((system, stream, record_id, trigger))
        if self.raise_error:
            raise ConnectorError("emulator unreachable", system=system)
        return Outcome(list(self.fail_with))


def make_config(store: Store, *, metronome: bool = True) -> TieoutConfig:
    return TieoutConfig(
        path=Path("tieout.yaml"),
        mode=Mode.OBSERVE,
        store_url=str(store.engine.url),
        systems={},
        field_mappings=FieldMappings(),
        secret_values=(STRIPE_SECRET, METRONOME_SECRET),
        webhooks=WebhooksConfig(
            stripe_signing_secret=SecretStr(STRIPE_SECRET),
            metronome_signing_secret=SecretStr(METRONOME_SECRET) if metronome else None,
            tolerance_seconds=300,
            max_body_bytes=MAX_BODY,
        ),
    )


@pytest.fixture
def resyncer() -> RecordingResyncer:
    return RecordingResyncer()


@pytest.fixture
def client(store: Store, resyncer: RecordingResyncer) -> Iterator[TestClient]:
    config = make_config(store)
    app = create_webhook_app(
        config, store, receiver=WebhookReceiver(config, store, resyncer=lambda: resyncer)
    )
    with TestClient(app) as test_client:
        yield test_client


def stripe_event(event_id: str = "evt_1", customer_id: str = "cus_123", **extra: Any) -> bytes:
    event = {
        "id": event_id,
        "object": "event",
        "type": "customer.updated",
        "data": {"object": {"id": customer_id, "object": "customer", "name": "Acme"}},
        **extra,
    }
    return json.dumps(event).encode()


def stripe_headers(body: bytes, *, secret: str = STRIPE_SECRET, at: datetime | None = None) -> dict[str, str]:
    timestamp = int((at or datetime.now(UTC)).timestamp())
    return {"Stripe-Signature": stripe_sign(body, secret, timestamp), "Content-Type": "application/json"}


def metronome_event(event_id: str = "ntf-1", invoice_id: str = "inv-9") -> bytes:
    properties = {"invoice_id": invoice_id, "customer_id": "cust-4"}
    return json.dumps({"id": event_id, "type": "invoice.finalized", "properties": properties}).encode()


def metronome_headers(
    body: bytes, *, secret: str = METRONOME_SECRET, at: datetime | None = None
) -> dict[str, str]:
    date = format_datetime(at or datetime.now(UTC), usegmt=True)
    return {"Date": date, "Metronome-Webhook-Signature": metronome_signature(secret, date, body)}


def stored_event(store: Store, source: str, event_id: str) -> Any:
    with store.transaction() as tx:
        return tx.get_webhook_event(source, event_id)


def test_a_stripe_event_is_processed_once_even_when_delivered_twice(
    client: TestClient, resyncer: RecordingResyncer, store: Store
) -> None:
    body = stripe_event()
    first = client.post("/webhooks/stripe", content=body, headers=stripe_headers(body))
    assert first.status_code == 200
    assert first.json() == {
        "status": "processed",
        "event_id": "evt_1",
        "records": ["stripe:customers:cus_123"],
    }
    assert resyncer.calls == [("stripe", "customers", "cus_123", "webhook")]
    again = client.post("/webhooks/stripe", content=body, headers=stripe_headers(body))
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert len(resyncer.calls) == 1
    event = stored_event(store, "stripe", "evt_1")
    assert event.status == "processed" and event.event_type == "customer.updated" and event.error is None


def test_a_metronome_invoice_event_is_processed_once(
    client: TestClient, resyncer: RecordingResyncer, store: Store
) -> None:
    body = metronome_event()
    for _ in range(2):
        response = client.post("/webhooks/metronome", content=body, headers=metronome_headers(body))
        assert response.status_code == 200
    assert resyncer.calls == [("metronome", "invoices", "inv-9", "webhook")]
    assert stored_event(store, "metronome", "ntf-1").status == "processed"


@pytest.mark.parametrize(
    ("source", "body", "headers"),
    [
        ("stripe", stripe_event(), stripe_headers(stripe_event(), secret="whsec_someone_else")),
        ("stripe", stripe_event(), {}),
        ("stripe", stripe_event(customer_id="cus_evil"), stripe_headers(stripe_event())),
        ("metronome", metronome_event(), metronome_headers(metronome_event(), secret="guessed")),
        ("metronome", metronome_event(invoice_id="inv-evil"), metronome_headers(metronome_event())),
        ("metronome", metronome_event(), {"Date": format_datetime(datetime.now(UTC), usegmt=True)}),
    ],
    ids=[
        "stripe-wrong-secret",
        "stripe-unsigned",
        "stripe-tampered",
        "metronome-wrong-secret",
        "metronome-tampered",
        "metronome-unsigned",
    ],
)
def test_forged_deliveries_are_refused_and_logged(
    client: TestClient,
    resyncer: RecordingResyncer,
    store: Store,
    caplog: pytest.LogCaptureFixture,
    source: str,
    body: bytes,
    headers: dict[str, str],
) -> None:
    with caplog.at_level(logging.WARNING, logger="tieout.webhooks"):
        response = client.post(f"/webhooks/{source}", content=body, headers=headers)
    assert response.status_code == 400 and response.json()["status"] == "forged"
    assert resyncer.calls == []
    assert stored_event(store, source, json.loads(body)["id"]) is None
    refusals = [
        message for message in caplog.messages if f"webhook from {source} refused as forged" in message
    ]
    assert refusals and refusals[0].endswith("(client testclient)")  # who sent it, for the operator
    assert all(
        STRIPE_SECRET not in message and METRONOME_SECRET not in message for message in caplog.messages
    )


@pytest.mark.parametrize("minutes", [-10, 10])
def test_stale_deliveries_are_refused_even_when_signed(
    client: TestClient, resyncer: RecordingResyncer, minutes: int
) -> None:
    at = datetime.now(UTC) + timedelta(minutes=minutes)
    stripe_body, metronome_body = stripe_event(), metronome_event()
    stale_stripe = client.post(
        "/webhooks/stripe", content=stripe_body, headers=stripe_headers(stripe_body, at=at)
    )
    stale_metronome = client.post(
        "/webhooks/metronome", content=metronome_body, headers=metronome_headers(metronome_body, at=at)
    )
    assert [stale_stripe.status_code, stale_metronome.status_code] == [400, 400]
    assert stale_stripe.json()["status"] == stale_metronome.json()["status"] == "stale"
    assert resyncer.calls == []


def test_a_replay_of_a_captured_delivery_is_not_processed_again(
    client: TestClient, resyncer: RecordingResyncer
) -> None:
    body = stripe_event("evt_captured")
    captured = stripe_headers(body, at=datetime.now(UTC) - timedelta(minutes=2))
    assert client.post("/webhooks/stripe", content=body, headers=captured).json()["status"] == "processed"
    # Re-signed by Stripe on its retry, or replayed as captured: the event id is what counts.
    for headers in (captured, stripe_headers(body)):
        assert client.post("/webhooks/stripe", content=body, headers=headers).json()["status"] == "duplicate"
    assert len(resyncer.calls) == 1


def test_an_oversized_body_is_refused_with_413(client: TestClient, resyncer: RecordingResyncer) -> None:
    body = stripe_event(padding="x" * MAX_BODY)
    response = client.post("/webhooks/stripe", content=body, headers=stripe_headers(body))
    assert response.status_code == 413 and response.json()["status"] == "oversized"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies to what arrives
        for _ in range(8):
            yield b"x" * 1024

    streamed = client.post("/webhooks/stripe", content=chunks(), headers={"Stripe-Signature": "t=1,v1=00"})
    assert streamed.status_code == 413
    assert resyncer.calls == []


def test_over_real_http_an_oversized_request_is_answered_before_its_body_is_sent(
    store: Store, resyncer: RecordingResyncer
) -> None:
    config = make_config(store)
    app = create_webhook_app(
        config, store, receiver=WebhookReceiver(config, store, resyncer=lambda: resyncer)
    )
    with (
        EmulatorServer(app, name="webhooks") as server,
        socket.create_connection(("127.0.0.1", server.port)) as conn,
    ):
        conn.sendall(
            b"POST /webhooks/stripe HTTP/1.1\r\nHost: tieout\r\nContent-Type: application/json\r\n"
            b'Content-Length: 50000000\r\n\r\n{"id": '
        )
        conn.settimeout(30)
        answer = conn.recv(4096).decode()
        # And a valid delivery on a fresh connection still goes through.
        body = stripe_event("evt_http")
        response = httpx.post(
            f"{server.base_url}/webhooks/stripe", content=body, headers=stripe_headers(body)
        )
    assert answer.startswith("HTTP/1.1 413")
    assert response.status_code == 200 and response.json()["status"] == "processed"
    assert resyncer.calls == [("stripe", "customers", "cus_123", "webhook")]


def test_a_failed_resync_answers_500_and_the_retry_processes_the_event(
    client: TestClient, resyncer: RecordingResyncer, store: Store
) -> None:
    body = stripe_event("evt_retry")
    resyncer.raise_error = True
    failed = client.post("/webhooks/stripe", content=body, headers=stripe_headers(body))
    assert failed.status_code == 500 and failed.json()["status"] == "failed"
    assert "emulator unreachable" in stored_event(store, "stripe", "evt_retry").error
    resyncer.raise_error = False
    retried = client.post("/webhooks/stripe", content=body, headers=stripe_headers(body))
    assert retried.status_code == 200 and retried.json()["status"] == "processed"
    assert len(resyncer.calls) == 2
    assert stored_event(store, "stripe", "evt_retry").status == "processed"


def test_events_naming_nothing_tieout_syncs_are_acknowledged_and_ignored(
    client: TestClient, resyncer: RecordingResyncer, store: Store
) -> None:
    body = json.dumps(
        {"id": "evt_plan", "type": "plan.created", "data": {"object": {"id": "plan_1", "object": "plan"}}}
    ).encode()
    response = client.post("/webhooks/stripe", content=body, headers=stripe_headers(body))
    assert response.status_code == 200 and response.json()["status"] == "ignored"
    assert resyncer.calls == [] and stored_event(store, "stripe", "evt_plan").status == "ignored"


def test_malformed_events_are_refused(client: TestClient, resyncer: RecordingResyncer) -> None:
    for body in (b"not json", json.dumps({"type": "customer.updated"}).encode()):
        response = client.post("/webhooks/stripe", content=body, headers=stripe_headers(body))
        assert response.status_code == 400 and response.json()["status"] == "malformed"
    assert resyncer.calls == []


def test_a_source_without_a_secret_has_no_endpoint(store: Store, resyncer: RecordingResyncer) -> None:
    config = make_config(store, metronome=False)
    app = create_webhook_app(
        config, store, receiver=WebhookReceiver(config, store, resyncer=lambda: resyncer)
    )
    body = metronome_event()
    with TestClient(app) as test_client:
        response = test_client.post("/webhooks/metronome", content=body, headers=metronome_headers(body))
    assert response.status_code == 404 and resyncer.calls == []


def test_healthz_and_metrics(client: TestClient) -> None:
    body = stripe_event("evt_metrics")
    client.post("/webhooks/stripe", content=body, headers=stripe_headers(body))
    client.post("/webhooks/stripe", content=body, headers=stripe_headers(body, secret="whsec_forger"))
    assert client.get("/healthz").json() == {"status": "ok"}
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    samples = {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in text_string_to_metric_families(metrics.text)
        for sample in family.samples
    }
    for outcome in ("processed", "forged"):
        assert ("tieout_webhook_deliveries_total", (("outcome", outcome), ("source", "stripe"))) in samples
    assert ("tieout_store_up", ()) in samples


def test_stripe_events_name_their_records_and_the_records_they_point_at() -> None:
    def event(event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        return {"id": "evt", "type": event_type, "data": {"object": obj}}

    refund = {"id": "re_1", "object": "refund", "charge": "ch_1"}
    assert stripe_records(event("charge.refund.updated", refund)) == [
        RecordRef("stripe", "charges", "ch_1"),
        RecordRef("stripe", "refunds", "re_1"),
    ]
    dispute = {"id": "dp_1", "object": "dispute", "charge": {"id": "ch_2", "object": "charge"}}
    assert stripe_records(event("charge.dispute.created", dispute)) == [
        RecordRef("stripe", "charges", "ch_2")
    ]
    item = {"id": "ii_1", "object": "invoiceitem", "invoice": "in_7"}
    assert stripe_records(event("invoiceitem.created", item)) == [RecordRef("stripe", "invoices", "in_7")]
    payout = {"id": "po_1", "object": "payout"}
    assert stripe_records(event("payout.paid", payout)) == [RecordRef("stripe", "payouts", "po_1")]
    assert stripe_records({"id": "evt", "type": "customer.updated"}) == []


def test_metronome_notifications_name_invoices_contracts_or_else_the_customer() -> None:
    assert metronome_records({"properties": {"invoice_id": "i1", "customer_id": "c1"}}) == [
        RecordRef("metronome", "invoices", "i1")
    ]
    assert metronome_records({"properties": {"contract_id": "k1", "customer_id": "c1"}}) == [
        RecordRef("metronome", "contracts", "k1")
    ]
    assert metronome_records(
        {"type": "alerts.low_credit_balance_reached", "properties": {"customer_id": "c1"}}
    ) == [RecordRef("metronome", "customers", "c1")]
    assert metronome_records({"properties": {}}) == [] and metronome_records({}) == []


def test_the_date_header_may_be_x_metronome_date(client: TestClient, resyncer: RecordingResyncer) -> None:
    body = metronome_event("ntf-x")
    date = datetime.now(UTC).isoformat()
    headers = {
        "X-Metronome-Date": date,
        "Metronome-Webhook-Signature": metronome_signature(METRONOME_SECRET, date, body),
    }
    assert client.post("/webhooks/metronome", content=body, headers=headers).status_code == 200
    assert resyncer.calls == [("metronome", "invoices", "inv-9", "webhook")]


def test_webhooks_list_shows_what_was_received(client: TestClient, store: Store, tmp_path: Path) -> None:
    body = stripe_event("evt_listed")
    client.post("/webhooks/stripe", content=body, headers=stripe_headers(body))
    config = tmp_path / "tieout.yaml"
    config.write_text(
        f'version: 1\nstore: {{url: "{store.engine.url.render_as_string(hide_password=False)}"}}\n'
    )
    listed = CliRunner().invoke(cli_app, ["--config", str(config), "webhooks", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    [event] = json.loads(listed.stdout)
    assert (event["source"], event["event_id"], event["event_type"], event["status"]) == (
        "stripe",
        "evt_listed",
        "customer.updated",
        "processed",
    )
    table = CliRunner().invoke(cli_app, ["--config", str(config), "webhooks", "list"])
    assert table.exit_code == 0 and "evt_listed" in table.stdout


def test_an_event_whose_processing_died_is_taken_over_by_a_later_delivery(
    store: Store, resyncer: RecordingResyncer
) -> None:
    claimed_at = datetime.now(UTC).replace(microsecond=0)
    with store.transaction() as tx:  # a process claimed it, then died before finishing
        tx.claim_webhook_event(
            "stripe", "evt_orphan", event_type="customer.updated", payload_hash="0", at=claimed_at
        )
    moment = [claimed_at + timedelta(minutes=5)]
    config = make_config(store)
    receiver = WebhookReceiver(config, store, resyncer=lambda: resyncer, clock=lambda: moment[0])
    body = stripe_event("evt_orphan")

    def deliver() -> str:
        headers = {name.lower(): value for name, value in stripe_headers(body, at=moment[0]).items()}
        return receiver.receive("stripe", body, headers).outcome

    assert deliver() == "duplicate" and resyncer.calls == []  # it may still be working on it
    moment[0] = claimed_at + timedelta(minutes=20)
    assert deliver() == "processed" and len(resyncer.calls) == 1
    assert deliver() == "duplicate" and len(resyncer.calls) == 1


def test_tieout_webhooks_serve_answers_signed_deliveries_and_keeps_metrics_off_the_internet(
    store: Store, tmp_path: Path
) -> None:
    config = tmp_path / "tieout.yaml"
    config.write_text(
        f'version: 1\nstore: {{url: "{store.engine.url.render_as_string(hide_password=False)}"}}\n'
        "webhooks: {stripe_signing_secret: '${STRIPE_WEBHOOK_SECRET}'}\n"
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    command = [
        sys.executable,
        "-m",
        "tieout",
        "--config",
        str(config),
        "webhooks",
        "serve",
        "--port",
        str(port),
    ]
    env = {**os.environ, "STRIPE_WEBHOOK_SECRET": STRIPE_SECRET}
    served = subprocess.Popen(
        [*command, "--no-metrics"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{base}/healthz", timeout=5)
                break
            except httpx.TransportError:
                assert served.poll() is None and time.monotonic() < deadline, (
                    served.stderr.read() if served.stderr else ""
                )
                time.sleep(0.1)
        body = json.dumps(
            {
                "id": "evt_served",
                "type": "plan.created",
                "data": {"object": {"id": "plan_1", "object": "plan"}},
            }
        ).encode()
        delivered = httpx.post(
            f"{base}/webhooks/stripe", content=body, headers=stripe_headers(body), timeout=30
        )
        forged = httpx.post(f"{base}/webhooks/stripe", content=body, headers=stripe_headers(body, secret="x"))
        metrics = httpx.get(f"{base}/metrics", timeout=5)
    finally:
        served.terminate()
        _, stderr = served.communicate(timeout=30)
    assert health.json() == {"status": "ok"}
    assert delivered.status_code == 200 and delivered.json()["status"] == "ignored"
    assert forged.status_code == 400 and metrics.status_code == 404
    logged = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    assert any(entry["message"].startswith("webhook from stripe refused as forged") for entry in logged)
    assert STRIPE_SECRET.encode() not in stderr
    assert stored_event(store, "stripe", "evt_served").status == "ignored"

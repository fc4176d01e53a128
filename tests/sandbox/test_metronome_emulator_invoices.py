"""The Metronome emulator's invoices and signed webhooks, through metronome-sdk."""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import metronome
import pytest

sys.path.append(str(Path(__file__).resolve().parent))
from metronome_emulator_fixtures import WebhookReceiver, World, receiver, seed_price_book, world

from tieout.sandbox.metronome.wire import CREDIT_TYPE_ID_BY_CURRENCY, ApiError

__all__ = ["receiver", "world"]

JAN = datetime(2025, 1, 1, tzinfo=UTC)


def month(index: int) -> tuple[datetime, datetime]:
    start = JAN.replace(month=1 + index)
    return start, JAN.replace(month=2 + index)


def seed_invoice(world: World, customer_id: str, index: int, status: str = "FINALIZED", **extra: Any) -> str:
    start, end = month(index)
    lines = extra.pop("line_items", [{"name": "API calls", "quantity": 1488, "unit_price": 9.67}])
    record = world.state.create_invoice(
        customer_id, start_timestamp=start, end_timestamp=end, status=status, line_items=lines, **extra
    )
    return str(record["id"])


def test_invoice_lines_totals_and_links(world: World) -> None:
    ids = seed_price_book(world.state)
    world.state.products[ids["usage"]]["initial"]["netsuite_internal_item_id"] = "NS-77"
    customer = world.state.create_customer("Invoiced", custom_fields={"tier": "gold"})
    contract = world.state.create_contract(
        customer["id"], "2025-01-01T00:00:00Z", rate_card_id=ids["rate_card"], net_payment_terms_days=30
    )
    invoice_id = seed_invoice(
        world,
        customer["id"],
        0,
        contract_id=contract["id"],
        line_items=[
            {
                "name": "API calls",
                "product_id": ids["usage"],
                "quantity": 1488,
                "unit_price": 9.67,
                "total": 14392,
                "starting_at": "2025-01-01T00:00:00Z",
                "ending_before": "2025-02-01T00:00:00Z",
            },
            {
                "name": "Postpaid commit",
                "type": "applied_commit_or_credit",
                "total": -500,
                "applied_commit_or_credit": {"id": "c1", "type": "POSTPAID"},
            },
        ],
        external_invoice={
            "billing_provider_type": "stripe",
            "invoice_id": "in_1PX",
            "external_status": "PAID",
        },
        revenue_system_invoices=[
            {
                "revenue_system_provider": "netsuite",
                "revenue_system_external_entity_type": "invoice",
                "revenue_system_external_entity_id": "7781",
                "sync_status": "synced",
            }
        ],
    )
    invoice = world.client.v1.customers.invoices.retrieve(
        customer_id=customer["id"], invoice_id=invoice_id
    ).data
    line = invoice.line_items[0]

    assert invoice.total == 14392 and invoice.credit_type.name == "USD (cents)"
    assert (line.name, line.type, line.quantity, line.unit_price, line.total) == (
        "API calls",
        "usage",
        1488,
        9.67,
        14392,
    )
    assert (line.product_id, line.netsuite_item_id) == (ids["usage"], "NS-77")
    assert line.starting_at == JAN and line.ending_before == JAN.replace(month=2)
    assert invoice.contract_id == contract["id"] and invoice.net_payment_terms_days == 30
    assert invoice.customer_custom_fields == {"tier": "gold"}
    assert invoice.external_invoice is not None
    assert (invoice.external_invoice.billing_provider_type, invoice.external_invoice.invoice_id) == (
        "stripe",
        "in_1PX",
    )
    assert [r.revenue_system_external_entity_id for r in invoice.revenue_system_invoices or []] == ["7781"]


def test_invoice_list_filters_and_paginates(world: World) -> None:
    customer = world.state.create_customer("Many invoices")
    finalized = [seed_invoice(world, customer["id"], index) for index in range(5)]
    draft = seed_invoice(world, customer["id"], 5, status="DRAFT")
    void = seed_invoice(world, customer["id"], 6, status="VOID")
    invoices = world.client.v1.customers.invoices

    first = invoices.list(customer_id=customer["id"], limit=2)
    everything = [i.id for i in invoices.list(customer_id=customer["id"], limit=2)]
    only_final = [i.id for i in invoices.list(customer_id=customer["id"], status="FINALIZED")]
    period = invoices.list(
        customer_id=customer["id"], starting_on=JAN.replace(month=2), ending_before=JAN.replace(month=5)
    )
    newest_first = [i.id for i in invoices.list(customer_id=customer["id"], sort="date_desc", limit=3)]

    assert len(first.data) == 2 and first.next_page
    assert everything == [*finalized, draft, void]
    assert only_final == finalized
    assert [i.id for i in period] == finalized[1:4]
    assert newest_first == [void, draft, *reversed(finalized)]


def test_fiat_credit_types(world: World) -> None:
    customer = world.state.create_customer("Multi currency")
    for index, currency in enumerate(("EUR", "GBP", "JPY")):
        seed_invoice(
            world,
            customer["id"],
            index,
            credit_type_id=CREDIT_TYPE_ID_BY_CURRENCY[currency],
            line_items=[{"name": "Seats", "quantity": 3, "unit_price": 1500}],
        )
    rows = list(world.client.v1.customers.invoices.list(customer_id=customer["id"]))
    jpy = list(
        world.client.v1.customers.invoices.list(
            customer_id=customer["id"], credit_type_id=CREDIT_TYPE_ID_BY_CURRENCY["JPY"]
        )
    )

    assert [(r.credit_type.name, r.total) for r in rows] == [
        ("EUR (cents)", 4500),
        ("GBP (pence)", 4500),
        ("JPY (yen)", 4500),
    ]
    assert [r.credit_type.name for r in jpy] == ["JPY (yen)"]


def test_void_through_the_api(world: World) -> None:
    customer = world.state.create_customer("Voided")
    invoice_id = seed_invoice(world, customer["id"], 0)
    assert world.client.v1.invoices.void(id=invoice_id).data is not None
    invoice = world.client.v1.customers.invoices.retrieve(
        customer_id=customer["id"], invoice_id=invoice_id
    ).data
    assert invoice.status == "VOID"
    with pytest.raises(metronome.BadRequestError):
        world.client.v1.invoices.void(id=invoice_id)
    with pytest.raises(metronome.NotFoundError):
        world.client.v1.customers.invoices.retrieve(customer_id=customer["id"], invoice_id=customer["id"])


def _verified(received: Any, secret: str) -> dict[str, Any]:
    date = received.headers["date"]
    expected = hmac.new(secret.encode(), date.encode() + b"\n" + received.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(received.headers["metronome-webhook-signature"], expected)
    assert received.headers["x-metronome-date"] == date
    return dict(json.loads(received.body))


def test_draft_finalizes_after_grace_and_sends_signed_webhook(
    world: World, receiver: WebhookReceiver
) -> None:
    secret = "whsec-local-test"
    admin = httpx.put(
        f"{world.server.base_url}/__sandbox/metronome/webhooks",
        json={"url": receiver.start(), "secret": secret},
    )
    customer = world.state.create_customer("Webhooks")
    draft = world.state.create_invoice(
        customer["id"],
        start_timestamp=world.clock.now() - timedelta(days=30),
        end_timestamp=world.clock.now() - timedelta(hours=1),
        line_items=[{"name": "API calls", "quantity": 10, "unit_price": 100}],
    )
    invoices = world.client.v1.customers.invoices
    try:
        world.state.update_draft_invoice(
            draft["id"], line_items=[{"name": "API calls", "quantity": 12, "unit_price": 100}]
        )
        still_draft = invoices.retrieve(customer_id=customer["id"], invoice_id=draft["id"]).data
        world.clock.advance(timedelta(hours=24))
        world.client.v1.customers.retrieve(customer_id=customer["id"])
        delivered = receiver.received.get(timeout=10)
        finalized = invoices.retrieve(customer_id=customer["id"], invoice_id=draft["id"]).data
        with pytest.raises(ApiError):
            world.state.update_draft_invoice(draft["id"], line_items=[])
    finally:
        world.clock.freeze(world.clock.now() - timedelta(hours=24))
        world.state.configure_webhooks(None)
    notification = _verified(delivered, secret)

    assert admin.status_code == 200 and admin.json()["secret"] == secret
    assert (still_draft.status, still_draft.total) == ("DRAFT", 1200)
    assert (finalized.status, finalized.total) == ("FINALIZED", 1200)
    assert parsedate_to_datetime(delivered.headers["date"]) == world.clock.now() + timedelta(hours=24)
    assert notification["type"] == "invoice.finalized"
    assert notification["properties"]["invoice_id"] == draft["id"]
    assert notification["properties"]["customer_id"] == customer["id"]


def test_webhook_retries_until_the_receiver_accepts(world: World, receiver: WebhookReceiver) -> None:
    secret = "whsec-retry"
    receiver.failures = 1
    world.state.configure_webhooks(receiver.start(), secret)
    customer = world.state.create_customer("Retry")
    try:
        invoice_id = seed_invoice(world, customer["id"], 0, status="DRAFT")
        world.state.finalize_invoice(invoice_id)
        world.state.set_external_invoice(
            invoice_id,
            {"billing_provider_type": "stripe", "billing_provider_error": "No such customer: 'cus_X'"},
        )
        world.state.webhooks.join()
    finally:
        world.state.configure_webhooks(None)
    first, retried, error = (_verified(receiver.received.get(timeout=10), secret) for _ in range(3))

    assert first == retried and first["type"] == "invoice.finalized"
    assert error["type"] == "invoice.billing_provider_error"
    assert error["properties"]["billing_provider"] == "STRIPE"
    statuses = [d.status_code for d in world.state.webhooks.deliveries if d.notification_id == first["id"]]
    assert statuses == [500, 200]

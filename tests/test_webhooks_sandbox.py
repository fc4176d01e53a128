"""End to end: the emulators' own signed deliveries, to the webhook app under uvicorn, resync the record.

A customer renamed in the Stripe emulator emits `customer.updated`; an invoice finalized in the
Metronome emulator emits `invoice.finalized`. Each emulator POSTs its event, signed its own way,
to tieout's endpoint; tieout verifies it, resyncs that one record through the real ResyncService
(trigger "webhook") and the store holds it as it is now, without a scheduled sync having run.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import SecretStr

from tieout.config import TieoutConfig, load_config
from tieout.config_sections import WebhooksConfig
from tieout.runner import SyncService
from tieout.sandbox.config_writer import write_sandbox_config
from tieout.sandbox.runtime import Sandbox, SandboxOptions
from tieout.sandbox.scenario.generate import generate
from tieout.sandbox.server import EmulatorServer
from tieout.store import Store
from tieout.webhooks.app import create_webhook_app

SECRET = "whsec_sandbox_e2e_5c2d"


def wait_for_event(store: Store, deliveries: int, seconds: float = 60) -> None:
    """Until the store has settled `deliveries` events (the emulator delivers from its own thread)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with store.transaction() as tx:
            events = tx.list_webhook_events()
        if len([event for event in events if event.status != "received"]) >= deliveries:
            return
        time.sleep(0.1)
    raise AssertionError(f"fewer than {deliveries} webhook events were settled within {seconds} s")


@contextmanager
def sandbox_company(
    tmp_path: Path, webhooks: WebhooksConfig
) -> Iterator[tuple[Sandbox, TieoutConfig, Store]]:
    """A small generated company in the emulators, a config for it with these webhook secrets, its store."""
    sandbox = Sandbox(SandboxOptions(workdir=tmp_path, seed=11)).start()
    try:
        answer_key = generate(sandbox, seed=11, scale=5)
        config_path = write_sandbox_config(sandbox.describe(), tmp_path, value_maps=answer_key["value_maps"])
        config = dataclasses.replace(load_config(config_path), webhooks=webhooks)
        store = Store.open(config.store_url)
        try:
            yield sandbox, config, store
        finally:
            store.close()
    finally:
        sandbox.stripe.close()
        sandbox.metronome.webhooks.join()
        sandbox.stop()


def test_a_customer_renamed_in_stripe_reaches_the_store_through_its_webhook(tmp_path: Path) -> None:
    with sandbox_company(tmp_path, WebhooksConfig(stripe_signing_secret=SecretStr(SECRET))) as (
        sandbox,
        config,
        store,
    ):
        sync = SyncService(config, store)
        assert sync.sync_stream("stripe", "customers").status == "succeeded"
        sync.close()
        customer_id = sorted(sandbox.stripe.tables["customer"].records)[0]
        with EmulatorServer(create_webhook_app(config, store), name="webhooks") as server:
            sandbox.stripe.create_webhook_endpoint(
                f"{server.base_url}/webhooks/stripe", enabled_events=["customer.updated"], secret=SECRET
            )
            sandbox.stripe.update_customer(customer_id, {"name": "Renamed Through A Webhook Ltd"})
            wait_for_event(store, 1)
        with store.transaction() as tx:
            [event] = tx.list_webhook_events()
            raw = tx.get_raw("stripe", "customers", customer_id)
            resyncs = tx.list_runs(job="resync:stripe:customers")
    assert event.status == "processed" and event.event_type == "customer.updated", event.error
    assert raw is not None and raw.payload["name"] == "Renamed Through A Webhook Ltd"
    assert [(run.trigger, run.status, run.pulled) for run in resyncs] == [("webhook", "succeeded", 1)]
    assert [delivery.status_code for delivery in sandbox.stripe.webhooks.deliveries] == [200]


def test_an_invoice_finalized_in_metronome_is_pulled_through_its_signed_notification(tmp_path: Path) -> None:
    with sandbox_company(tmp_path, WebhooksConfig(metronome_signing_secret=SecretStr(SECRET))) as (
        sandbox,
        config,
        store,
    ):
        invoice_id = sorted(sandbox.metronome.invoices)[0]  # never synced: tieout has not seen it
        with EmulatorServer(create_webhook_app(config, store), name="webhooks") as server:
            sandbox.metronome.configure_webhooks(f"{server.base_url}/webhooks/metronome", SECRET)
            sandbox.metronome.set_invoice_status(invoice_id, "FINALIZED")
            wait_for_event(store, 1)
        with store.transaction() as tx:
            [event] = tx.list_webhook_events()
            raw = tx.get_raw("metronome", "invoices", invoice_id)
            resyncs = tx.list_runs(job="resync:metronome:invoices")
    assert (event.source, event.event_type, event.status) == (
        "metronome",
        "invoice.finalized",
        "processed",
    ), event.error
    assert raw is not None and raw.payload["id"] == invoice_id
    assert [(run.trigger, run.status, run.pulled) for run in resyncs] == [("webhook", "succeeded", 1)]
    assert [delivery.status_code for delivery in sandbox.metronome.webhooks.deliveries] == [200]

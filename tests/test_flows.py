"""Flows against the NetSuite emulator: missing invoices and payments are created once, dry runs write nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from netsuite_connector_fixtures import Account, running_account

from tieout.config import Mode, SystemSettings, TieoutConfig
from tieout.mappings.context import FieldMappings
from tieout.model import Customer, Invoice, InvoiceLine, InvoiceStatus, Payment, PaymentApplication
from tieout.money import Money
from tieout.reconcile.engine import Reconciler
from tieout.runner import SyncService
from tieout.store import ExceptionQuery, Store

ACME = "001A000001AcmeAAA"


@pytest.fixture
def account() -> Iterator[Account]:
    with running_account() as running:
        yield running


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def billing_invoice(native_id: str, subtotal: str, *, links: dict[str, str] | None = None) -> Invoice:
    return Invoice(
        system="metronome",
        native_id=native_id,
        customer_id="m-acme",
        number=f"INV-{native_id}",
        currency="USD",
        status=InvoiceStatus.OPEN,
        issued_on=date(2024, 3, 1),
        due_on=date(2024, 3, 31),
        period_start=date(2024, 2, 1),
        period_end=date(2024, 3, 1),
        subtotal=usd(subtotal),
        tax=usd("0"),
        total=usd(subtotal),
        amount_due=usd(subtotal),
        amount_paid=usd("0"),
        amount_remaining=usd(subtotal),
        links=links or {},
        lines=(
            InvoiceLine(
                line_id="1",
                description="Platform",
                product_id="SKU-PLATFORM",
                quantity=Decimal(1),
                unit_price=usd(subtotal),
                amount=usd(subtotal),
            ),
        ),
    )


def service_for(store: Store, account: Account, *, mode: Mode) -> SyncService:
    connector = account.connector()
    settings = SystemSettings(
        name="netsuite",
        connector="netsuite",
        enabled=True,
        mode=mode,
        streams=None,
        lookback_seconds=0,
        max_calls_per_run=None,
        settings=connector.settings,
    )
    config = TieoutConfig(
        path=Path("tieout.yaml"),
        mode=mode,
        store_url=str(store.engine.url),
        systems={"netsuite": settings},
        field_mappings=FieldMappings(
            value_maps={
                "netsuite_currency": {"USD": str(account.ids["usd"])},
                "netsuite_item": {"SKU-PLATFORM": str(account.ids["item"])},
            }
        ),
    )

    def ticking() -> datetime:
        # The emulator's clock is frozen; time must pass between what it writes and the next pull.
        account.clock.advance(timedelta(seconds=1))
        return account.clock.now()

    return SyncService(config, store, connectors={"netsuite": connector}, clock=ticking)


def seed_billing(store: Store) -> None:
    """What the billing and payment systems hold, as a pull would have stored it."""
    records = [
        Customer(system="metronome", native_id="m-acme", legal_name="Acme Corp", links={"salesforce": ACME}),
        Customer(system="stripe", native_id="cus_acme", legal_name="Acme Corp", links={"salesforce": ACME}),
        billing_invoice("m-1", "150.00", links={"stripe": "in_1"}),
        billing_invoice("m-2", "80.00"),
        Invoice(
            **{
                **billing_invoice("in_1", "150.00").model_dump(),
                "system": "stripe",
                "customer_id": "cus_acme",
                "links": {"metronome": "m-1"},
            }
        ),
        Payment(
            system="stripe",
            native_id="ch_1",
            customer_id="cus_acme",
            currency="USD",
            gross=usd("150.00"),
            received_at=datetime(2024, 3, 5, tzinfo=UTC),
            applications=(PaymentApplication(invoice_id="in_1", amount=usd("150.00")),),
        ),
    ]
    with store.transaction() as tx:
        tx.upsert_canonical(
            [(record, "seeded") for record in records], stored_at=datetime(2024, 3, 6, tzinfo=UTC)
        )


def netsuite_documents(account: Account, kind: str) -> list[dict[str, object]]:
    rows = account.state.db.execute(
        'SELECT id, externalid, foreigntotal FROM "transaction" WHERE type = ? ORDER BY id', (kind,)
    ).fetchall()
    return [dict(row) for row in rows]


def test_invoices_then_payments_are_created_once(store: Store, account: Account) -> None:
    service = service_for(store, account, mode=Mode.SYNC)
    assert service.sync_stream("netsuite", "customers").status == "succeeded"
    seed_billing(store)
    results = {result.flow: result for result in service.run_flows()}
    assert results["invoices_to_netsuite"].count("created") == 2
    assert results["payments_to_netsuite"].count("created") == 1
    invoices = netsuite_documents(account, "CustInvc")
    assert sorted(str(row["externalid"]) for row in invoices) == ["m-1", "m-2"]
    [payment] = netsuite_documents(account, "CustPymt")
    assert payment["externalid"] == "ch_1"
    with store.transaction() as tx:
        stored = {
            record.links.get("metronome"): record for record in tx.iter_canonical("invoice", "netsuite")
        }
    assert stored["m-1"].status is InvoiceStatus.PAID and stored["m-2"].status is InvoiceStatus.OPEN

    with store.transaction() as tx:
        [invoices_run] = tx.list_runs(job="flow:invoices_to_netsuite")
        [payments_run] = tx.list_runs(job="flow:payments_to_netsuite")
    assert (invoices_run.status, invoices_run.system, invoices_run.pushed, invoices_run.failed) == (
        "succeeded",
        "netsuite",
        2,
        0,
    )
    assert invoices_run.api_calls >= 2 and payments_run.pushed == 1

    again = {result.flow: result for result in service.run_flows()}
    assert all(not result.outcomes for result in again.values())
    assert len(netsuite_documents(account, "CustInvc")) == 2


def test_dry_run_plans_with_fields_and_writes_nothing(store: Store, account: Account) -> None:
    service = service_for(store, account, mode=Mode.OBSERVE)
    service.sync_stream("netsuite", "customers")
    seed_billing(store)
    results = {result.flow: result for result in service.run_flows(dry_run=True)}
    planned = results["invoices_to_netsuite"]
    assert planned.count("planned") == 2
    fields = {change.field: change.after for change in planned.outcomes[0].changes}
    assert fields["externalId"] in ("m-1", "m-2") and fields["entity"] == {"id": str(account.ids["acme"])}
    # The payment waits for its invoice, which a dry run did not create.
    assert results["payments_to_netsuite"].skipped
    assert netsuite_documents(account, "CustInvc") == []


def test_observe_mode_pushes_nothing(store: Store, account: Account) -> None:
    service = service_for(store, account, mode=Mode.OBSERVE)
    service.sync_stream("netsuite", "customers")
    seed_billing(store)
    assert service.run_flows() == []
    assert netsuite_documents(account, "CustInvc") == []


def void_in_billing(store: Store, native_id: str, subtotal: str) -> None:
    voided = billing_invoice(native_id, subtotal).model_copy(
        update={"status": InvoiceStatus.VOID, "amount_due": usd("0"), "amount_remaining": usd("0")}
    )
    with store.transaction() as tx:
        tx.upsert_canonical([(voided, "seeded")], stored_at=datetime(2024, 3, 7, tzinfo=UTC))


def pushed_then_voided(store: Store, account: Account, native_id: str, subtotal: str) -> SyncService:
    """The billing invoices pushed to NetSuite (m-1 then paid there), then one of them voided in billing."""
    service = service_for(store, account, mode=Mode.SYNC)
    service.sync_stream("netsuite", "customers")
    seed_billing(store)
    service.run_flows()
    void_in_billing(store, native_id, subtotal)
    return service


def open_exceptions_naming(store: Store, record_ids: list[str]) -> list[str]:
    """The rules of the open exceptions a reconcile files about any of these records."""
    Reconciler(store).run()
    with store.transaction() as tx:
        found, _ = tx.query_exceptions(ExceptionQuery(limit=1000))
    return [item.rule_code for item in found if set(item.record_ids) & set(record_ids)]


def netsuite_invoice(account: Account, external_id: str) -> dict[str, object]:
    row = account.state.db.execute(
        'SELECT id, status, voided, foreigntotal, memo FROM "transaction" WHERE externalid = ?',
        (external_id,),
    ).fetchone()
    lines = account.state.db.execute(
        'SELECT foreignamount FROM transactionline WHERE "transaction" = ?', (row["id"],)
    ).fetchall()
    return {**dict(row), "line_amounts": {line["foreignamount"] for line in lines}}


def test_a_billing_invoice_voided_at_the_source_voids_its_netsuite_twin_once(
    store: Store, account: Account
) -> None:
    service = pushed_then_voided(store, account, "m-2", "80.00")

    planned = {result.flow: result for result in service.run_flows(dry_run=True)}["invoices_to_netsuite"]
    [outcome] = planned.outcomes
    assert [(change.field, change.before, change.after) for change in outcome.changes] == [
        ("voided", False, True)
    ]
    assert netsuite_invoice(account, "m-2")["voided"] == "F"

    results = {result.flow: result for result in service.run_flows()}
    assert results["invoices_to_netsuite"].count("updated") == 1
    voided = netsuite_invoice(account, "m-2")
    assert (voided["status"], voided["voided"], voided["foreigntotal"], voided["memo"]) == (
        "V",
        "T",
        0,
        "VOID",
    )
    assert voided["line_amounts"] == {0}
    with store.transaction() as tx:
        [twin] = [
            record
            for record in tx.iter_canonical("invoice", "netsuite")
            if record.links.get("metronome") == "m-2"
        ]
    assert twin.status is InvoiceStatus.VOID

    again = {result.flow: result for result in service.run_flows()}
    assert not again["invoices_to_netsuite"].outcomes
    assert len(netsuite_documents(account, "CustInvc")) == 2
    assert open_exceptions_naming(store, ["metronome:invoice:m-2", twin.record_id]) == []


def test_a_voided_billing_invoice_whose_netsuite_twin_was_paid_is_left_to_the_ar_team(
    store: Store, account: Account
) -> None:
    service = pushed_then_voided(store, account, "m-1", "150.00")
    results = {result.flow: result for result in service.run_flows()}
    assert not results["invoices_to_netsuite"].outcomes
    [(source, reason)] = results["invoices_to_netsuite"].skipped
    assert source == "metronome:invoice:m-1" and "refund or unapply" in reason
    assert netsuite_invoice(account, "m-1")["voided"] == "F"

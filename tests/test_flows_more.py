"""The remaining flows against the emulators they write to: deposits, new customers, CRM write-backs.

Each is run twice (the second run pushes nothing) and as a dry run (planned with its field
changes, nothing written).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import metronome_connector_fixtures as metronome_fx
import pytest
import salesforce_connector_fixtures as salesforce_fx
import stripe_connector_fixtures as stripe_fx
from netsuite_connector_fixtures import Account, running_account

from tieout.config import Mode, SystemSettings, TieoutConfig
from tieout.connectors.base import Connector
from tieout.mappings.context import FieldMappings
from tieout.model import (
    CanonicalRecord,
    Customer,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LedgerBalance,
    Payment,
    PaymentApplication,
    Payout,
)
from tieout.money import Money
from tieout.runner import SyncService
from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.metronome import MetronomeState
from tieout.sandbox.stripe import StripeState
from tieout.store import Store

ACME = "001A000001AcmeAAA"


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def seed_billing(store: Store) -> None:
    """A Metronome invoice for Acme collected in Stripe and paid there by charge ch_1 (150.00)."""
    line = InvoiceLine(
        line_id="1",
        description="Platform",
        product_id="SKU-PLATFORM",
        quantity=Decimal(1),
        unit_price=usd("150.00"),
        amount=usd("150.00"),
    )
    billed = Invoice(
        system="metronome",
        native_id="m-1",
        customer_id="m-acme",
        number="INV-m-1",
        currency="USD",
        status=InvoiceStatus.OPEN,
        issued_on=date(2024, 3, 1),
        due_on=date(2024, 3, 31),
        subtotal=usd("150.00"),
        tax=usd("0"),
        total=usd("150.00"),
        amount_due=usd("150.00"),
        amount_paid=usd("0"),
        amount_remaining=usd("150.00"),
        links={"stripe": "in_1"},
        lines=(line,),
    )
    collected = billed.model_copy(
        update={
            "system": "stripe",
            "native_id": "in_1",
            "customer_id": "cus_acme",
            "links": {"metronome": "m-1"},
        }
    )
    seed(
        store,
        Customer(system="metronome", native_id="m-acme", legal_name="Acme Corp", links={"salesforce": ACME}),
        Customer(system="stripe", native_id="cus_acme", legal_name="Acme Corp", links={"salesforce": ACME}),
        billed,
        collected,
        Payment(
            system="stripe",
            native_id="ch_1",
            customer_id="cus_acme",
            currency="USD",
            gross=usd("150.00"),
            received_at=datetime(2024, 3, 5, tzinfo=UTC),
            applications=(PaymentApplication(invoice_id="in_1", amount=usd("150.00")),),
        ),
    )


def netsuite_documents(account: Account, kind: str) -> list[dict[str, object]]:
    rows = account.state.db.execute(
        'SELECT id, externalid, foreigntotal FROM "transaction" WHERE type = ? ORDER BY id', (kind,)
    ).fetchall()
    return [dict(row) for row in rows]


@pytest.fixture
def account() -> Iterator[Account]:
    with running_account() as running:
        yield running


def service_for(
    store: Store,
    connectors: dict[str, Connector],
    clocks: list[SandboxClock],
    *,
    mode: Mode,
    value_maps: dict[str, dict[str, str]],
) -> SyncService:
    systems = {
        name: SystemSettings(
            name=name,
            connector=name,
            enabled=True,
            mode=mode,
            streams=None,
            lookback_seconds=0,
            max_calls_per_run=None,
            settings=connector.settings,
        )
        for name, connector in connectors.items()
    }
    config = TieoutConfig(
        path=Path("tieout.yaml"),
        mode=mode,
        store_url=str(store.engine.url),
        systems=systems,
        field_mappings=FieldMappings(value_maps=value_maps),
    )

    def ticking() -> datetime:
        # The emulators' clocks are frozen; time must pass between what they write and the next pull.
        for clock in clocks:
            clock.advance(timedelta(seconds=1))
        return clocks[0].now()

    return SyncService(config, store, connectors=connectors, clock=ticking)


def netsuite_maps(account: Account) -> dict[str, dict[str, str]]:
    ids = account.ids
    return {
        "netsuite_currency": {"USD": str(ids["usd"]), "JPY": str(ids["jpy"])},
        "netsuite_item": {"SKU-PLATFORM": str(ids["item"])},
        "netsuite_subsidiary": {"Parent US": str(ids["us"]), "JP KK": str(ids["jp"])},
        "netsuite_bank_account": {str(ids["us"]): str(ids["us_bank"])},
        "netsuite_fees_account": {str(ids["us"]): str(ids["us_fees"])},
    }


def seed(store: Store, *records: CanonicalRecord) -> None:
    with store.transaction() as tx:
        tx.upsert_canonical(
            [(record, "seeded") for record in records], stored_at=datetime(2024, 3, 6, tzinfo=UTC)
        )


def payout(native_id: str, charge_ids: tuple[str, ...], *, amount: str, fees: str) -> Payout:
    return Payout(
        system="stripe",
        native_id=native_id,
        currency="USD",
        amount=usd(amount),
        fees=usd(fees),
        arrival_on=date(2024, 3, 8),
        payment_ids=charge_ids,
    )


# ---- payouts -> deposits ------------------------------------------------------------------------


def test_a_payout_becomes_one_deposit_once_its_payments_are_in_netsuite(
    store: Store, account: Account
) -> None:
    service = service_for(
        store,
        {"netsuite": account.connector()},
        [account.clock],
        mode=Mode.SYNC,
        value_maps=netsuite_maps(account),
    )
    assert service.sync_stream("netsuite", "customers").status == "succeeded"
    seed_billing(store)
    seed(
        store,
        payout("po_1", ("ch_1",), amount="145.35", fees="4.65"),
        payout("po_2", ("ch_unknown",), amount="10.00", fees="0.30"),
        payout("po_manual", (), amount="50.00", fees="0"),
    )
    results = {result.flow: result for result in service.run_flows()}
    deposits = results["payouts_to_netsuite"]
    assert deposits.count("created") == 1
    assert [reason for source, reason in deposits.skipped] == [
        "charge ch_unknown of the payout is not a NetSuite payment yet"
    ]
    [deposit] = netsuite_documents(account, "Deposit")
    assert deposit["externalid"] == "po_1" and Decimal(str(deposit["foreigntotal"])) == Decimal("145.35")
    fields = {change.field: change.after for change in deposits.outcomes[0].changes}
    assert fields["account"] == {"id": str(account.ids["us_bank"])}
    assert fields["cashback"]["items"][0]["account"] == {"id": str(account.ids["us_fees"])}

    again = {result.flow: result for result in service.run_flows()}
    assert all(not result.outcomes for result in again.values())
    assert len(netsuite_documents(account, "Deposit")) == 1


def test_a_payout_that_swept_more_than_its_charges_is_not_booked(store: Store, account: Account) -> None:
    service = service_for(
        store,
        {"netsuite": account.connector()},
        [account.clock],
        mode=Mode.SYNC,
        value_maps=netsuite_maps(account),
    )
    service.sync_stream("netsuite", "customers")
    seed_billing(store)
    seed(store, payout("po_1", ("ch_1",), amount="120.00", fees="4.65"))
    results = {result.flow: result for result in service.run_flows()}
    assert not results["payouts_to_netsuite"].outcomes
    [(_, reason)] = results["payouts_to_netsuite"].skipped
    assert "swept refunds or adjustments" in reason
    assert netsuite_documents(account, "Deposit") == []


# ---- customers -> NetSuite, Stripe, Metronome ---------------------------------------------------

NEW_ACCOUNT = "001A000001NewcoAAA"


def new_account() -> Customer:
    return Customer(
        system="salesforce",
        native_id=NEW_ACCOUNT,
        legal_name="Newco Ltd",
        subsidiary_id="Parent US",
        currency="USD",
        email="ap@newco.test",
    )


@pytest.fixture
def three_targets(account: Account) -> Iterator[tuple[dict[str, Connector], list[SandboxClock], Account]]:
    # One time for all three: the service reads up to its clock's now in every system.
    stripe_clock = SandboxClock(account.clock.now())
    metronome_clock = SandboxClock(account.clock.now())
    with (
        stripe_fx.running(StripeState(stripe_clock, seed=3), stripe_clock) as stripe,
        metronome_fx.running(MetronomeState(metronome_clock), metronome_clock) as metronome,
    ):
        connectors: dict[str, Connector] = {
            "netsuite": account.connector(),
            "stripe": stripe.connector(),
            "metronome": metronome.connector(),
        }
        yield connectors, [account.clock, stripe_clock, metronome_clock], account


def test_an_account_gets_a_customer_in_every_system_once(
    store: Store, three_targets: tuple[dict[str, Connector], list[SandboxClock], Account]
) -> None:
    connectors, clocks, account = three_targets
    service = service_for(store, connectors, clocks, mode=Mode.SYNC, value_maps=netsuite_maps(account))
    seed(store, new_account())
    results = {result.flow: result for result in service.run_flows()}
    for flow in ("customers_to_netsuite", "customers_to_stripe", "customers_to_metronome"):
        assert results[flow].count("created") == 1, results[flow].as_dict()
    with store.transaction() as tx:
        customers = {system: list(tx.iter_canonical("customer", system)) for system in connectors}
    newco = {
        system: next(
            record for record in records if isinstance(record, Customer) and record.legal_name == "Newco Ltd"
        )
        for system, records in customers.items()
    }
    assert newco["netsuite"].links["salesforce"] == NEW_ACCOUNT
    assert newco["netsuite"].subsidiary_id == str(account.ids["us"])
    # Later targets carry the ids of the customers made before them.
    assert newco["stripe"].links == {"salesforce": NEW_ACCOUNT, "netsuite": newco["netsuite"].native_id}
    assert newco["metronome"].links["salesforce"] == NEW_ACCOUNT

    again = {result.flow: result for result in service.run_flows()}
    assert all(not result.outcomes for result in again.values())
    with store.transaction() as tx:
        assert sum(1 for _ in tx.iter_canonical("customer", "stripe")) == len(customers["stripe"])
        assert sum(1 for _ in tx.iter_canonical("customer", "metronome")) == len(customers["metronome"])


def test_customers_dry_run_plans_every_target_and_writes_nothing(
    store: Store, three_targets: tuple[dict[str, Connector], list[SandboxClock], Account]
) -> None:
    connectors, clocks, account = three_targets
    service = service_for(store, connectors, clocks, mode=Mode.OBSERVE, value_maps=netsuite_maps(account))
    seed(
        store,
        new_account(),
        Customer(system="salesforce", native_id="001A000001NosubAAA", legal_name="Nosub"),
    )
    results = {result.flow: result for result in service.run_flows(dry_run=True)}
    netsuite = results["customers_to_netsuite"]
    assert netsuite.count("planned") == 1 and len(netsuite.skipped) == 1
    fields = {change.field: (change.before, change.after) for change in netsuite.outcomes[0].changes}
    assert fields["externalId"] == (None, NEW_ACCOUNT)
    assert fields["subsidiary"] == (None, {"id": str(account.ids["us"])})
    assert results["customers_to_stripe"].count("planned") == 2
    assert results["customers_to_metronome"].count("planned") == 2
    assert service.sync_stream("netsuite", "customers").status == "succeeded"
    with store.transaction() as tx:
        assert not any(
            record.legal_name == "Newco Ltd" for record in tx.iter_canonical("customer", "netsuite")
        )


def newco_everywhere(
    store: Store, three_targets: tuple[dict[str, Connector], list[SandboxClock], Account]
) -> SyncService:
    """A sync-mode service after the new account got its customer in every system."""
    connectors, clocks, account = three_targets
    service = service_for(store, connectors, clocks, mode=Mode.SYNC, value_maps=netsuite_maps(account))
    seed(store, new_account())
    service.run_flows()
    return service


def test_a_renamed_account_renames_its_customer_in_every_system_once(
    store: Store, three_targets: tuple[dict[str, Connector], list[SandboxClock], Account]
) -> None:
    service = newco_everywhere(store, three_targets)
    connectors = three_targets[0]
    renamed = new_account().model_copy(update={"legal_name": "Newco Holdings Ltd", "email": "ar@newco.test"})
    seed(store, renamed)

    planned = {result.flow: result for result in service.run_flows(dry_run=True)}
    changes = {
        flow: {change.field: (change.before, change.after) for change in planned[flow].outcomes[0].changes}
        for flow in ("customers_to_netsuite", "customers_to_stripe", "customers_to_metronome")
    }
    assert changes["customers_to_netsuite"] == {
        "companyName": ("Newco Ltd", "Newco Holdings Ltd"),
        "email": ("ap@newco.test", "ar@newco.test"),
    }
    assert changes["customers_to_stripe"] == {
        "name": ("Newco Ltd", "Newco Holdings Ltd"),
        "email": ("ap@newco.test", "ar@newco.test"),
    }
    assert changes["customers_to_metronome"] == {"name": ("Newco Ltd", "Newco Holdings Ltd")}

    results = {result.flow: result for result in service.run_flows()}
    for flow in ("customers_to_netsuite", "customers_to_stripe", "customers_to_metronome"):
        assert results[flow].count("updated") == 1, results[flow].as_dict()
        assert results[flow].count("created") == 0
    with store.transaction() as tx:
        newco = {
            system: [
                record
                for record in tx.iter_canonical("customer", system)
                if isinstance(record, Customer) and record.legal_name.startswith("Newco")
            ]
            for system in connectors
        }
    for system, records in newco.items():
        assert [record.legal_name for record in records] == ["Newco Holdings Ltd"], system
    assert newco["netsuite"][0].email == newco["stripe"][0].email == "ar@newco.test"

    again = {result.flow: result for result in service.run_flows()}
    assert all(not result.outcomes for result in again.values())


def newco_invoice(customer_id: str, status: InvoiceStatus) -> Invoice:
    line = InvoiceLine(
        line_id="1",
        description="Platform",
        product_id="SKU-PLATFORM",
        quantity=Decimal(1),
        unit_price=usd("90.00"),
        amount=usd("90.00"),
    )
    due = usd("0") if status is InvoiceStatus.VOID else usd("90.00")
    return Invoice(
        system="metronome",
        native_id="m-newco-1",
        customer_id=customer_id,
        number="INV-NEWCO-1",
        currency="USD",
        status=status,
        issued_on=date(2024, 3, 1),
        due_on=date(2024, 3, 31),
        subtotal=usd("90.00"),
        tax=usd("0"),
        total=usd("90.00"),
        amount_due=due,
        amount_paid=usd("0"),
        amount_remaining=due,
        lines=(line,),
    )


def test_a_billing_invoice_voided_at_the_source_voids_its_stripe_and_netsuite_twins(
    store: Store, three_targets: tuple[dict[str, Connector], list[SandboxClock], Account]
) -> None:
    service = newco_everywhere(store, three_targets)
    with store.transaction() as tx:
        [billing_customer] = [
            record
            for record in tx.iter_canonical("customer", "metronome")
            if isinstance(record, Customer) and record.legal_name == "Newco Ltd"
        ]
    seed(store, newco_invoice(billing_customer.native_id, InvoiceStatus.OPEN))
    created = {result.flow: result for result in service.run_flows()}
    assert created["invoices_to_stripe"].count("created") == 1
    assert created["invoices_to_netsuite"].count("created") == 1

    seed(store, newco_invoice(billing_customer.native_id, InvoiceStatus.VOID))
    voided = {result.flow: result for result in service.run_flows()}
    assert voided["invoices_to_stripe"].count("updated") == 1, voided["invoices_to_stripe"].as_dict()
    assert voided["invoices_to_netsuite"].count("updated") == 1, voided["invoices_to_netsuite"].as_dict()
    with store.transaction() as tx:
        twins = {
            system: [
                record
                for record in tx.iter_canonical("invoice", system)
                if isinstance(record, Invoice) and record.links.get("metronome") == "m-newco-1"
            ]
            for system in ("stripe", "netsuite")
        }
    assert [twin.status for twin in twins["stripe"]] == [InvoiceStatus.VOID]
    assert [twin.status for twin in twins["netsuite"]] == [InvoiceStatus.VOID]

    again = {result.flow: result for result in service.run_flows()}
    assert all(not result.outcomes for result in again.values())


def test_a_netsuite_customer_with_transactions_keeps_its_currency(
    store: Store, three_targets: tuple[dict[str, Connector], list[SandboxClock], Account]
) -> None:
    service = newco_everywhere(store, three_targets)
    with store.transaction() as tx:
        [customer] = [
            record
            for record in tx.iter_canonical("customer", "netsuite")
            if isinstance(record, Customer) and record.legal_name == "Newco Ltd"
        ]
    booked = Invoice(
        system="netsuite",
        native_id="ns-inv-newco",
        customer_id=customer.native_id,
        currency="USD",
        status=InvoiceStatus.OPEN,
        subtotal=usd("10.00"),
        tax=usd("0"),
        total=usd("10.00"),
        amount_due=usd("10.00"),
        amount_paid=usd("0"),
        amount_remaining=usd("10.00"),
    )
    seed(store, booked, new_account().model_copy(update={"currency": "JPY"}))
    result = {result.flow: result for result in service.run_flows(dry_run=True)}["customers_to_netsuite"]
    assert not result.outcomes
    [(source, reason)] = result.skipped
    assert source == f"salesforce:customer:{NEW_ACCOUNT}" and "keeps a customer's currency" in reason


# ---- write-backs onto the Salesforce Account ----------------------------------------------------


@pytest.fixture
def org() -> Iterator[salesforce_fx.Org]:
    state = salesforce_fx.new_state()
    with tempfile.TemporaryDirectory() as directory, salesforce_fx.serving(state, Path(directory)) as served:
        yield served


def open_invoice(native_id: str, amount: str, due_on: date) -> Invoice:
    return Invoice(
        system="netsuite",
        native_id=native_id,
        customer_id="ns-acme",
        currency="USD",
        status=InvoiceStatus.OPEN,
        issued_on=due_on - timedelta(days=30),
        due_on=due_on,
        subtotal=usd(amount),
        tax=usd("0"),
        total=usd(amount),
        amount_due=usd(amount),
        amount_paid=usd("0"),
        amount_remaining=usd(amount),
    )


def seed_receivables(store: Store, account_id: str) -> None:
    """NetSuite's customer with two open invoices, read on 2026-03-20, and a Stripe customer: the Account states neither."""
    seed(
        store,
        Customer(system="netsuite", native_id="ns-acme", legal_name="Acme", links={"salesforce": account_id}),
        Customer(system="stripe", native_id="cus_acme", legal_name="Acme", links={"salesforce": account_id}),
        open_invoice("ns-inv-1", "100.50", date(2026, 3, 8)),
        open_invoice("ns-inv-2", "40.00", date(2026, 4, 8)),
        LedgerBalance(
            system="netsuite",
            native_id="ar-1",
            account_id="1200",
            currency="USD",
            as_of=date(2026, 3, 20),
            balance=usd("140.50"),
        ),
    )


def test_ids_and_ar_figures_are_written_onto_the_account_once(store: Store, org: salesforce_fx.Org) -> None:
    account_id = org.state.create_account("Acme", currency="USD", at=salesforce_fx.START)["Id"]
    clock = org.state.clock
    connector = org.connector()

    def one_by_one(*args: object, **kwargs: object) -> None:
        raise AssertionError("write-backs go through sObject Collections, not one record a call")

    connector.push = one_by_one  # type: ignore[method-assign,assignment]
    service = service_for(store, {"salesforce": connector}, [clock], mode=Mode.SYNC, value_maps={})
    assert service.sync_stream("salesforce", "accounts").status == "succeeded"
    seed_receivables(store, account_id)
    [result] = [result for result in service.run_flows() if result.flow == "accounts_to_salesforce"]
    assert result.count("updated") == 2, result.as_dict()
    record = org.state.get("Account", account_id)
    assert record["Stripe_Customer_Id__c"] == "cus_acme"
    assert (record["AR_Balance__c"], record["Days_Past_Due__c"]) == (140.5, 12)
    with store.transaction() as tx:
        shown = tx.get_canonical(f"salesforce:customer:{account_id}")
    assert isinstance(shown, Customer)
    assert (shown.ar_balance, shown.days_past_due, shown.links) == (
        usd("140.50"),
        12,
        {"netsuite": "ns-acme", "stripe": "cus_acme"},
    )

    [again] = [result for result in service.run_flows() if result.flow == "accounts_to_salesforce"]
    assert not again.outcomes and not again.skipped


def test_write_back_dry_run_shows_before_and_after(store: Store, org: salesforce_fx.Org) -> None:
    account_id = org.state.create_account(
        "Acme", currency="USD", at=salesforce_fx.START, AR_Balance__c=90.0, Days_Past_Due__c=3
    )["Id"]
    service = service_for(
        store, {"salesforce": org.connector()}, [org.state.clock], mode=Mode.OBSERVE, value_maps={}
    )
    service.sync_stream("salesforce", "accounts")
    seed_receivables(store, account_id)
    [result] = [
        result for result in service.run_flows(dry_run=True) if result.flow == "accounts_to_salesforce"
    ]
    assert [outcome.intent.operation for outcome in result.outcomes] == ["update", "update"]
    changes = {
        change.field: (change.before, change.after)
        for outcome in result.outcomes
        for change in outcome.changes
    }
    assert changes == {
        "NetSuite_Id__c": (None, "ns-acme"),
        "Stripe_Customer_Id__c": (None, "cus_acme"),
        "AR_Balance__c": (90.0, 140.5),
        "Days_Past_Due__c": (3, 12),
    }
    record = org.state.get("Account", account_id)
    assert (record["AR_Balance__c"], record["Stripe_Customer_Id__c"]) == (90.0, None)

"""Fixtures for the Metronome connector tests: a seeded emulator, the connector on it, a backend.

`seed_account` writes a small but complete Metronome account through the emulator's seeding
API, at several sandbox-clock moments so records carry distinct update times: a price book
with SKUs (USD and JPY rate cards, flat and tiered rates), customers with Salesforce ids and
Stripe / NetSuite billing configurations (one archived), contracts with overrides and a commit,
invoices in every status with external links, and usage events. `MetronomeBackend` is the
contract suite's view of the emulator: its fault injector and its record counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr

from tieout.connectors.base import CallBudget
from tieout.connectors.metronome import MetronomeConnector, MetronomeSettings
from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.faults import FaultInjector
from tieout.sandbox.metronome import MetronomeState, build_app, client_settings
from tieout.sandbox.metronome.wire import CREDIT_TYPE_ID_BY_CURRENCY
from tieout.sandbox.server import EmulatorServer
from tieout.testing.contract import InjectorBackend

SEEDED_AT = datetime(2025, 1, 1, tzinfo=UTC)
NOW = datetime(2025, 3, 15, 12, 0, tzinfo=UTC)
JPY = CREDIT_TYPE_ID_BY_CURRENCY["JPY"]


@dataclass
class Account:
    """Ids of what `seed_account` wrote."""

    products: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, str] = field(default_factory=dict)
    rate_cards: dict[str, str] = field(default_factory=dict)
    customers: list[str] = field(default_factory=list)
    contracts: list[str] = field(default_factory=list)
    invoices: list[str] = field(default_factory=list)


def seed_price_book(state: MetronomeState, account: Account) -> None:
    calls = state.create_billable_metric(
        "API calls",
        aggregation_type="SUM",
        aggregation_key="units",
        event_type_filter={"in_values": ["api_call"]},
        property_filters=[{"name": "units", "exists": True}],
    )
    storage = state.create_billable_metric(
        "Storage GB",
        aggregation_type="MAX",
        aggregation_key="gb",
        event_type_filter={"in_values": ["storage"]},
        property_filters=[{"name": "gb", "exists": True}],
    )
    account.metrics.update(calls=calls["id"], storage=storage["id"])
    products = {
        "calls": state.create_product(
            "API calls", "USAGE", billable_metric_id=calls["id"], custom_fields={"sku": "API-CALLS"}
        ),
        "storage": state.create_product(
            "Storage", "USAGE", billable_metric_id=storage["id"], custom_fields={"sku": "STORAGE-GB"}
        ),
        "platform": state.create_product("Platform fee", "FIXED", custom_fields={"sku": "PLATFORM"}),
        "commit": state.create_product("Prepaid commit", "FIXED", custom_fields={"sku": "COMMIT"}),
        "support": state.create_product("Support", "FIXED"),
    }
    account.products.update({name: record["id"] for name, record in products.items()})
    usd = state.create_rate_card("List USD")
    jpy = state.create_rate_card("List JPY", fiat_credit_type_id=JPY)
    account.rate_cards.update(usd=usd["id"], jpy=jpy["id"])
    start = "2025-01-01T00:00:00Z"
    state.add_rates(
        usd["id"],
        [
            {
                "product_id": products["calls"]["id"],
                "entitled": True,
                "rate_type": "FLAT",
                "price": 2.5,
                "starting_at": start,
            },
            {
                "product_id": products["storage"]["id"],
                "entitled": True,
                "rate_type": "TIERED",
                "tiers": [{"price": 100, "size": 1000}, {"price": 80}],
                "starting_at": start,
            },
            {
                "product_id": products["platform"]["id"],
                "entitled": True,
                "rate_type": "FLAT",
                "price": 50000,
                "starting_at": start,
            },
        ],
    )
    state.add_rates(
        jpy["id"],
        [
            {
                "product_id": products["calls"]["id"],
                "entitled": True,
                "rate_type": "FLAT",
                "price": 3,
                "starting_at": start,
            }
        ],
    )


def seed_account(state: MetronomeState, clock: SandboxClock, *, customers: int = 12) -> Account:
    """Customers at four moments (three each), a contract and two invoices for every other one."""
    account = Account()
    clock.freeze(SEEDED_AT)
    seed_price_book(state, account)
    for number in range(customers):
        clock.freeze(SEEDED_AT + timedelta(days=number // 3))
        configs = []
        if number % 2 == 0:
            configs.append(
                {
                    "billing_provider": "stripe",
                    "delivery_method": "direct_to_billing_provider",
                    "configuration": {
                        "stripe_customer_id": f"cus_{number:04d}",
                        "stripe_collection_method": "send_invoice",
                    },
                }
            )
        if number % 3 == 0:
            configs.append(
                {
                    "billing_provider": "netsuite",
                    "delivery_method": "direct_to_billing_provider",
                    "configuration": {"netsuite_customer_id": f"{7000 + number}"},
                }
            )
        customer = state.create_customer(
            f"Customer {number:02d}, Inc.",
            ingest_aliases=[f"001AC{number:013d}"],
            billing_provider_configurations=configs,
        )
        state.update_customer_config(customer["id"], salesforce_account_id=f"001AC{number:013d}")
        account.customers.append(customer["id"])
        if number % 2 == 0:
            seed_customer_documents(state, clock, account, customer["id"], number)
    state.archive_customer(account.customers[-1])
    clock.freeze(NOW)
    return account


def seed_customer_documents(
    state: MetronomeState, clock: SandboxClock, account: Account, customer_id: str, number: int
) -> None:
    contract = state.create_contract(
        customer_id,
        "2025-01-01T00:00:00Z",
        rate_card_id=account.rate_cards["usd"],
        net_payment_terms_days=30,
        uniqueness_key=f"006OP{number:013d}",
        overrides=[
            {
                "product_id": account.products["calls"],
                "starting_at": "2025-01-01T00:00:00Z",
                "overwrite_rate": {"rate_type": "FLAT", "price": 2.1},
            }
        ],
        commits=[
            {
                "type": "PREPAID",
                "product_id": account.products["commit"],
                "access_schedule": {
                    "schedule_items": [
                        {
                            "amount": 1000000,
                            "starting_at": "2025-01-01T00:00:00Z",
                            "ending_before": "2026-01-01T00:00:00Z",
                        }
                    ]
                },
                "invoice_schedule": {
                    "schedule_items": [{"amount": 1000000, "timestamp": "2025-01-01T00:00:00Z"}]
                },
            }
        ],
    )
    account.contracts.append(contract["id"])
    for month, status in ((1, "FINALIZED"), (2, "VOID")):
        start = datetime(2025, month, 1, tzinfo=UTC)
        end = datetime(2025, month + 1, 1, tzinfo=UTC)
        invoice = state.create_invoice(
            customer_id,
            start_timestamp=start,
            end_timestamp=end,
            issued_at=end + timedelta(days=1, hours=number),
            status=status,
            contract_id=contract["id"],
            line_items=[
                {
                    "name": "API calls",
                    "product_id": account.products["calls"],
                    "quantity": 1000,
                    "unit_price": 2.1,
                    "total": 2100,
                },
                {
                    "name": "Platform fee",
                    "product_id": account.products["platform"],
                    "quantity": 1,
                    "unit_price": 50000,
                },
            ],
            external_invoice={
                "billing_provider_type": "stripe",
                "invoice_id": f"in_{number:04d}{month}",
                "external_status": "PAID",
            },
            revenue_system_invoices=[
                {
                    "revenue_system_provider": "netsuite",
                    "sync_status": "synced",
                    "revenue_system_external_entity_type": "invoice",
                    "revenue_system_external_entity_id": f"{9000 + number * 10 + month}",
                }
            ],
        )
        account.invoices.append(invoice["id"])
    state.add_usage_events(
        {
            "transaction_id": f"seed-{number}-{day}",
            "customer_id": customer_id,
            "event_type": "api_call",
            "timestamp": f"2025-01-{day:02d}T10:00:00Z",
            "properties": {"units": 100 * day},
        }
        for day in range(1, 11)
    )


@dataclass
class Emulator:
    clock: SandboxClock
    state: MetronomeState
    injector: FaultInjector
    server: EmulatorServer

    def connector(self, **overrides: Any) -> MetronomeConnector:
        settings = client_settings(self.server.base_url, self.state)
        values: dict[str, Any] = {
            "base_url": settings["base_url"],
            "bearer_token": SecretStr(settings["bearer_token"]),
            "page_size": 5,
            "timeout_seconds": 0.5,
            "max_attempts": 3,
            "backoff_base_seconds": 0.01,
            "backoff_max_seconds": 0.5,
        }
        budget = overrides.pop("budget", None) or CallBudget("metronome")
        http_client = overrides.pop("http_client", None)
        values.update(overrides)
        return MetronomeConnector(MetronomeSettings(**values), budget=budget, http_client=http_client)


@contextmanager
def running(state: MetronomeState, clock: SandboxClock) -> Iterator[Emulator]:
    injector = FaultInjector()
    server = EmulatorServer(build_app(state, injector), name="metronome").start()
    try:
        yield Emulator(clock, state, injector, server)
    finally:
        server.stop()


class MetronomeBackend(InjectorBackend):
    """The contract suite's controls over the emulator."""

    def __init__(self, emulator: Emulator) -> None:
        super().__init__(emulator.injector)
        self.emulator = emulator

    def record_count(self, stream: str) -> int:
        state = self.emulator.state
        with state.lock:
            return {
                "customers": len(state.customers),
                "contracts": len(state.contracts),
                "invoices": len(state.invoices),
            }[stream]

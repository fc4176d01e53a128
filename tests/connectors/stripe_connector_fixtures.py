"""Fixtures for the Stripe connector tests: a seeded emulator, the connector on it, a backend.

`seed_account` writes a small but complete Stripe account through the emulator's seeding API,
one object family per sandbox-clock moment (so every object's events share its creation time,
and a pull through events sees the same times as a full list): customers with their twins' ids
in metadata (USD and JPY), invoices in every status (with tax, a negative credit line, one with
more lines than Stripe embeds), the charges that paid them (some refunded, one disputed),
credit notes, and automatic payouts sweeping chosen balance transactions plus one manual
payout. `StripeBackend` is the contract suite's view of the emulator: its fault injector and its
table sizes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr

from tieout.connectors.base import CallBudget
from tieout.connectors.stripe import StripeConnector, StripeSettings
from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.faults import FaultInjector
from tieout.sandbox.server import EmulatorServer
from tieout.sandbox.stripe import StripeState, build_app, client_settings
from tieout.testing.contract import InjectorBackend

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = 86_400

TABLES = {
    "customers": "customer",
    "invoices": "invoice",
    "charges": "charge",
    "refunds": "refund",
    "credit_notes": "credit_note",
    "payouts": "payout",
}


@dataclass
class Account:
    """Ids of what `seed_account` wrote."""

    customers: list[str] = field(default_factory=list)
    invoices: list[str] = field(default_factory=list)
    charges: list[str] = field(default_factory=list)
    payouts: list[str] = field(default_factory=list)
    long_invoice: str = ""
    jpy_invoice: str = ""
    disputed_charge: str = ""
    manual_payout: str = ""


def _lines(index: int, *, count: int = 2, negative: bool = False) -> list[dict[str, Any]]:
    lines = [
        {
            "amount": 1000 * (n + 1) + index,
            "description": f"Usage {n + 1}",
            "period_start": int(START.timestamp()) - 31 * DAY,
            "period_end": int(START.timestamp()),
            "metadata": {"sku": f"SKU-{n % 3}"},
        }
        for n in range(count)
    ]
    if negative:
        lines.append({"amount": -500, "description": "Applied credit", "metadata": {"sku": "CREDIT"}})
    return lines


def seed_invoice_for(
    state: StripeState, account: Account, customer_id: str, index: int, currency: str
) -> None:
    """One invoice in a status that depends on `index`, with the cash that goes with it."""
    count = 12 if index == 3 else 2 + index % 2
    invoice = state.create_invoice(
        customer_id,
        currency=currency,
        collection_method="send_invoice",
        days_until_due=30,
        lines=_lines(index, count=count, negative=index % 5 == 1),
        metadata={"metronome_invoice_id": f"m-inv-{index:03d}", "netsuite_invoice_id": f"ns-{index}"},
        tax=250 if index % 4 == 2 else None,
    )
    account.invoices.append(invoice["id"])
    if index == 3:
        account.long_invoice = invoice["id"]
    if currency == "jpy" and not account.jpy_invoice:
        account.jpy_invoice = invoice["id"]
    if index % 7 == 6:
        return  # left in draft
    state.finalize_invoice(invoice["id"])
    if index % 7 == 5:
        state.void_invoice(invoice["id"])
        return
    if index % 7 == 4:
        return  # left open
    partial = index % 7 == 3
    paid = state.pay_invoice(invoice["id"], amount=700 if partial else None)
    charge_id = paid["charge"]
    account.charges.append(charge_id)
    if index % 4 == 1 and not partial:
        state.create_refund(charge_id=charge_id, amount=300)
    if index % 4 == 3 and not partial:
        state.create_credit_note(invoice["id"], amount=200, refund_amount=200, reason="order_change")
    if index % 4 == 0 and paid["status"] == "paid":
        state.create_credit_note(invoice["id"], amount=100, reason="product_unsatisfactory")
    if index == 9:
        state.create_dispute(charge_id)
        account.disputed_charge = charge_id


def seed_account(state: StripeState, clock: SandboxClock, *, customers: int = 30) -> Account:
    account = Account()
    for index in range(customers):
        clock.freeze(START + timedelta(hours=index))
        currency = "jpy" if index % 6 == 5 else "usd"
        customer = state.create_customer(
            name=f"Customer {index:02d} Ltd" if index != 7 else None,
            email=f"billing{index}@example.com",
            currency=currency,
            metadata={
                "salesforce_account_id": f"001SF{index:013d}",
                "metronome_customer_id": f"m-cus-{index:03d}",
                **({"netsuite_customer_id": str(1000 + index)} if index % 2 == 0 else {}),
            },
        )
        account.customers.append(customer["id"])
        seed_invoice_for(state, account, customer["id"], index, currency)
    seed_payouts(state, clock, account)
    return account


def seed_payouts(state: StripeState, clock: SandboxClock, account: Account) -> None:
    """Six automatic payouts over chosen transactions, a JPY one, and a manual one."""
    clock.freeze(START + timedelta(days=4))
    pool = list(state.unswept.get("usd", {}))
    chunks = [pool[i::6] for i in range(6)]
    for number, chunk in enumerate(chunks):
        clock.freeze(START + timedelta(days=4, hours=number))
        chosen = [txn for txn in chunk if state.tables["balance_transaction"].records[txn]["net"] != 0]
        if sum(state.tables["balance_transaction"].records[txn]["net"] for txn in chosen) <= 0:
            continue
        payout = state.create_payout(
            "usd", balance_transaction_ids=chosen, status="paid" if number else "in_transit"
        )
        account.payouts.append(payout["id"])
    clock.freeze(START + timedelta(days=4, hours=7))
    jpy = state.create_payout("jpy")
    account.payouts.append(jpy["id"])


@dataclass
class Emulator:
    clock: SandboxClock
    state: StripeState
    injector: FaultInjector
    server: EmulatorServer

    def settings(self, **overrides: Any) -> StripeSettings:
        settings = client_settings(self.server.base_url, self.state)
        values: dict[str, Any] = {
            "base_url": settings["api_base"],
            "api_key": SecretStr(settings["api_key"]),
            "page_size": 5,
            "timeout_seconds": 0.5,
            "max_attempts": 3,
            "backoff_base_seconds": 0.01,
            "backoff_max_seconds": 0.5,
        }
        values.update(overrides)
        return StripeSettings(**values)

    def connector(self, **overrides: Any) -> StripeConnector:
        budget = overrides.pop("budget", None) or CallBudget("stripe")
        http_client = overrides.pop("http_client", None)
        return StripeConnector(
            self.settings(**overrides), budget=budget, http_client=http_client, clock=self.clock.now
        )


@contextmanager
def running(state: StripeState, clock: SandboxClock) -> Iterator[Emulator]:
    injector = FaultInjector()
    server = EmulatorServer(build_app(state, injector), name="stripe").start()
    try:
        yield Emulator(clock, state, injector, server)
    finally:
        server.stop()
        state.close()


def seeded_emulator() -> tuple[StripeState, SandboxClock, Account]:
    clock = SandboxClock(START)
    state = StripeState(clock, seed=11)
    account = seed_account(state, clock)
    return state, clock, account


class StripeBackend(InjectorBackend):
    """The contract suite's controls over the emulator."""

    def __init__(self, emulator: Emulator) -> None:
        super().__init__(emulator.injector)
        self.emulator = emulator

    def record_count(self, stream: str) -> int:
        state = self.emulator.state
        with state.lock:
            return len(state.tables[TABLES[stream]])

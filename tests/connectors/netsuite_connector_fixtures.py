"""Fixtures for the NetSuite connector tests: a seeded emulated account on loopback, and connectors for it.

The account has two subsidiaries (US/USD, JP/JPY) with their standard accounts, an EUR currency
the US customers may use, two items, Net 30 terms and 2024's accounting periods. The emulator's
clock is frozen; tests move it to stamp records at distinct times and to age tokens, and the
connector reads the same clock. `Backend` is the contract suite's failure control over the
emulator's `FaultInjector` and its state.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from tieout.connectors.netsuite import NetSuiteConnector, NetSuiteSettings
from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.faults import FaultInjector
from tieout.sandbox.netsuite import NetSuiteState, build_app, client_settings
from tieout.sandbox.server import EmulatorServer
from tieout.testing.contract import InjectorBackend

START = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
_accounts = itertools.count(1)

STREAM_TYPES = {
    "invoices": "CustInvc",
    "payments": "CustPymt",
    "credit_memos": "CustCred",
    "refunds": "CustRfnd",
    "deposits": "Deposit",
    "journal_entries": "Journal",
}


@dataclass
class Account:
    state: NetSuiteState
    clock: SandboxClock
    injector: FaultInjector
    app: Any
    server: EmulatorServer
    settings: dict[str, Any]
    ids: dict[str, int] = field(default_factory=dict)

    def connector(self, **overrides: Any) -> NetSuiteConnector:
        return connector_for(self, **overrides)


def seed_company(state: NetSuiteState) -> dict[str, int]:
    ids: dict[str, int] = {}
    ids["usd"] = int(state.create_currency("USD", name="US Dollar", is_base=True)["id"])
    ids["eur"] = int(state.create_currency("EUR", name="Euro", exchange_rate=1.08)["id"])
    ids["jpy"] = int(state.create_currency("JPY", name="Yen", exchange_rate=0.0067)["id"])
    ids["us"] = int(state.create_subsidiary("Parent US", currency_id=ids["usd"], country="US")["id"])
    ids["jp"] = int(
        state.create_subsidiary("JP KK", currency_id=ids["jpy"], country="JP", parent_id=ids["us"])["id"]
    )
    for sub in ("us", "jp"):
        for role, record in state.create_standard_accounts(ids[sub]).items():
            ids[f"{sub}_{role}"] = int(record["id"])
    ids["item"] = int(state.create_item("SKU-PLATFORM", income_account_id=ids["us_revenue"])["id"])
    ids["item2"] = int(state.create_item("SKU-SEATS", income_account_id=ids["us_revenue"])["id"])
    ids["net30"] = int(state.create_term("Net 30", 30)["id"])
    for month in range(1, 13):
        start = date(2024, month, 1)
        end = date(2024 + month // 12, month % 12 + 1, 1) - timedelta(days=1)
        state.create_accounting_period(start.strftime("%b %Y"), start, end)
    ids["acme"] = int(
        state.create_customer(
            "Acme Corp",
            subsidiary_id=ids["us"],
            external_id="001A000001AcmeAAA",
            terms_id=ids["net30"],
            currency_ids=[ids["eur"]],
            email="ap@acme.test",
        )["id"]
    )
    ids["kaisha"] = int(state.create_customer("Kaisha KK", subsidiary_id=ids["jp"])["id"])
    return ids


@contextmanager
def running_account(*, concurrency_limit: int = 5, token_lifetime_seconds: int = 3600) -> Iterator[Account]:
    clock = SandboxClock(START)
    state = NetSuiteState(
        clock,
        account_id=f"TSTDRV{next(_accounts):07d}",
        concurrency_limit=concurrency_limit,
        token_lifetime_seconds=token_lifetime_seconds,
    )
    ids = seed_company(state)
    injector = FaultInjector(seed=11)
    app = build_app(state, injector)
    server = EmulatorServer(app, name="netsuite").start()
    try:
        yield Account(state, clock, injector, app, server, client_settings(server.base_url, state), ids)
    finally:
        server.stop()


def connector_for(
    account: Account, *, auth: str = "jwt", transport: httpx.BaseTransport | None = None, **overrides: Any
) -> NetSuiteConnector:
    raw = account.settings
    values: dict[str, Any] = {
        "account_id": raw["account_id"],
        "base_url": raw["base_url"],
        "client_id": raw["client_id"],
        "concurrency_limit": raw["concurrency_limit"],
        "timeout_seconds": 2.0,
        "max_attempts": 4,
        "backoff_base_seconds": 0.01,
        "backoff_max_seconds": 2.0,
    }
    if auth == "jwt":
        values.update(
            certificate_id=raw["certificate_id"],
            private_key_pem=raw["private_key_pem"],
            jwt_algorithm=raw["jwt_algorithm"],
        )
    else:
        values.update(client_secret=raw["client_secret"], auth_method="basic")
    values.update(overrides)
    return NetSuiteConnector(NetSuiteSettings(**values), transport=transport, clock=account.clock.now)


def tick(account: Account, seconds: int = 1) -> None:
    account.clock.advance(timedelta(seconds=seconds))


def seed_invoices(account: Account, count: int, *, same_time_every: int = 1) -> list[int]:
    """`count` USD invoices for Acme, one or two lines and tax, the clock moving one second every `same_time_every`."""
    state, ids = account.state, account.ids
    created = []
    with state.batch():
        for number in range(count):
            if number and number % same_time_every == 0:
                tick(account)
            lines: list[dict[str, Any]] = [{"item": ids["item"], "quantity": 1 + number % 3, "rate": 100}]
            if number % 2:
                lines.append({"item": ids["item2"], "amount": 25.5, "description": "Seats"})
            record = state.create_invoice(
                ids["acme"], lines, tax_total=8.25, external_id=f"metronome-inv-{number:05d}"
            )
            created.append(int(record["id"]))
    tick(account)
    return created


class Backend(InjectorBackend):
    """The contract suite's controls over an emulated account."""

    def __init__(self, account: Account, *, timeout_seconds: float = 3.0) -> None:
        super().__init__(account.injector, timeout_seconds=timeout_seconds)
        self.account = account

    def record_count(self, stream: str) -> int:
        db = self.account.state.db
        if stream == "customers":
            return int(db.execute("SELECT COUNT(*) FROM customer").fetchone()[0])
        row = db.execute(
            'SELECT COUNT(*) FROM "transaction" WHERE type = ?', (STREAM_TYPES[stream],)
        ).fetchone()
        return int(row[0])

    def reset(self) -> None:
        self.account.injector.clear_scripted()

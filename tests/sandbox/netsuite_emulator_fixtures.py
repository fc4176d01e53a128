"""Fixtures for the NetSuite emulator tests: a seeded account served on loopback, and httpx clients.

The account has four subsidiaries (US/USD, UK/GBP, DE/EUR, JP/JPY) with their standard accounts,
an item, Net 30 terms, accounting periods for 2024, and a few customers. Clients talk to it as
tieout's connector will: httpx, an OAuth 2.0 client-credentials token, JSON bodies.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import httpx
import jwt
import pytest

from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.faults import FaultInjector
from tieout.sandbox.netsuite import NetSuiteState, build_app, client_settings
from tieout.sandbox.server import EmulatorServer

START = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


@dataclass
class Account:
    state: NetSuiteState
    clock: SandboxClock
    injector: FaultInjector
    server: EmulatorServer
    settings: dict[str, Any]
    ids: dict[str, int] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return self.server.base_url


def seed_company(state: NetSuiteState) -> dict[str, int]:
    ids: dict[str, int] = {}
    ids["usd"] = int(state.create_currency("USD", name="US Dollar", is_base=True)["id"])
    ids["gbp"] = int(state.create_currency("GBP", name="British Pound", exchange_rate=1.27)["id"])
    ids["eur"] = int(state.create_currency("EUR", name="Euro", exchange_rate=1.08)["id"])
    ids["jpy"] = int(state.create_currency("JPY", name="Yen", exchange_rate=0.0067)["id"])
    ids["us"] = int(state.create_subsidiary("Parent US", currency_id=ids["usd"], country="US")["id"])
    for key, name, currency, country in (
        ("uk", "UK Ltd", "gbp", "GB"),
        ("de", "DE GmbH", "eur", "DE"),
        ("jp", "JP KK", "jpy", "JP"),
    ):
        ids[key] = int(
            state.create_subsidiary(name, currency_id=ids[currency], country=country, parent_id=ids["us"])[
                "id"
            ]
        )
    for sub in ("us", "uk", "de", "jp"):
        for role, record in state.create_standard_accounts(ids[sub]).items():
            ids[f"{sub}_{role}"] = int(record["id"])
    ids["item"] = int(state.create_item("SaaS-Platform", income_account_id=ids["us_revenue"])["id"])
    ids["net30"] = int(state.create_term("Net 30", 30)["id"])
    for month in range(1, 13):
        start = date(2024, month, 1)
        end = date(2024 + month // 12, month % 12 + 1, 1).toordinal() - 1
        state.create_accounting_period(start.strftime("%b %Y"), start, date.fromordinal(end))
    ids["acme"] = int(
        state.create_customer(
            "Acme Corp",
            subsidiary_id=ids["us"],
            external_id="SF-ACME",
            terms_id=ids["net30"],
            currency_ids=[ids["eur"]],
        )["id"]
    )
    ids["globex"] = int(
        state.create_customer("Globex UK", subsidiary_id=ids["uk"], external_id="SF-GLOBEX")["id"]
    )
    ids["initech"] = int(state.create_customer("Initech KK", subsidiary_id=ids["jp"])["id"])
    return ids


def start_account(concurrency_limit: int = 5) -> Account:
    clock = SandboxClock(START)
    state = NetSuiteState(clock, concurrency_limit=concurrency_limit)
    ids = seed_company(state)
    injector = FaultInjector(seed=7)
    server = EmulatorServer(build_app(state, injector), name="netsuite").start()
    return Account(state, clock, injector, server, client_settings(server.base_url, state), ids)


@pytest.fixture(scope="module")
def account() -> Iterator[Account]:
    acct = start_account()
    try:
        yield acct
    finally:
        acct.server.stop()


def basic_token(acct: Account) -> str:
    settings = acct.settings
    credentials = base64.b64encode(f"{settings['client_id']}:{settings['client_secret']}".encode()).decode()
    response = httpx.post(
        settings["token_url"],
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {credentials}"},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def assertion(acct: Account, *, key_pem: str | None = None, lifetime: int = 300, **overrides: Any) -> str:
    settings = acct.settings
    issued = int(acct.clock.now().timestamp())
    claims = {
        "iss": settings["client_id"],
        "scope": ["restlets", "rest_webservices"],
        "aud": settings["token_url"],
        "iat": issued,
        "exp": issued + lifetime,
        **overrides,
    }
    return jwt.encode(
        claims,
        key_pem or settings["private_key_pem"],
        algorithm=settings["jwt_algorithm"],
        headers={"kid": settings["certificate_id"]},
    )


def assertion_grant(acct: Account, token: str) -> httpx.Response:
    return httpx.post(
        acct.settings["token_url"],
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": token,
        },
    )


@pytest.fixture
def api(account: Account) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {basic_token(account)}", "Prefer": "transient"}
    with httpx.Client(base_url=account.settings["rest_url"], headers=headers, timeout=30) as client:
        yield client


def suiteql(
    client: httpx.Client, query: str, *, limit: int | None = None, offset: int | None = None
) -> httpx.Response:
    params = {key: value for key, value in (("limit", limit), ("offset", offset)) if value is not None}
    return client.post("/query/v1/suiteql", params=params, json={"q": query})


def created_id(response: httpx.Response) -> int:
    assert response.status_code == 204, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])

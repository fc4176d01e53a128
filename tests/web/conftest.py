"""Fixtures for the web app's HTTP tests: a store with a small known queue, users, logged-in clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from web_support import FAST_HASHER, PASSWORD, T0, Clock, log_in, seed_queue

from tieout.config import TieoutConfig, load_config
from tieout.store import Store
from tieout.web.accounts import Accounts
from tieout.web.app import create_app


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def web_config(tmp_path: Path, store_url: str) -> TieoutConfig:
    path = tmp_path / "tieout.yaml"
    path.write_text(
        f"""version: 1
store: {{url: "{store_url}"}}
systems: {{}}
webhooks:
  stripe_signing_secret: ${{STRIPE_WEBHOOK_SECRET}}
web:
  login_attempts_per_minute: 3
  record_links:
    stripe: "https://dashboard.stripe.com/{{stream}}/{{id}}"
"""
    )
    return load_config(path, environ={"STRIPE_WEBHOOK_SECRET": "whsec_web_tests"})


@pytest.fixture
def web_store(store: Store, clock: Clock) -> Store:
    seed_queue(store, clock)
    accounts = Accounts(store, clock=clock, hasher=FAST_HASHER)
    accounts.add_user("ana", PASSWORD, "resolver", display_name="Ana Lopez")
    accounts.add_user("vic", PASSWORD, "viewer")
    accounts.add_user("root", PASSWORD, "admin")
    return store


@pytest.fixture
def make_client(
    web_config: TieoutConfig, web_store: Store, clock: Clock
) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(base_url: str = "http://testserver") -> TestClient:
        client = TestClient(
            create_app(web_config, web_store, clock=clock, password_hasher=FAST_HASHER), base_url=base_url
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def as_user(make_client: Callable[..., TestClient]) -> Callable[[str], tuple[TestClient, str]]:
    def logged_in(username: str) -> tuple[TestClient, str]:
        client = make_client()
        return client, log_in(client, username)

    return logged_in

"""The connector contract suite on the NetSuite connector, against the emulator over loopback HTTP."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from netsuite_connector_fixtures import Account, Backend, running_account, seed_invoices

from tieout.connectors.netsuite import NetSuiteConnector
from tieout.testing.contract import ConnectorContract

_ITEM_ID = 1  # the first item seed_company creates
_CUSTOMER_ID = 1  # Acme, the first customer


@pytest.fixture(scope="module")
def account() -> Iterator[Account]:
    with running_account() as acct:
        seed_invoices(acct, 30, same_time_every=3)
        yield acct


class TestNetSuiteContract(ConnectorContract):
    contract_stream = "invoices"
    push_stream = "invoices"

    @staticmethod
    def push_payload(number: int) -> dict[str, Any]:
        return {
            "entity": {"id": str(_CUSTOMER_ID)},
            "tranDate": "2024-03-05",
            "item": {"items": [{"item": {"id": str(_ITEM_ID)}, "quantity": 1, "rate": 40 * number}]},
        }

    @pytest.fixture
    def connector(self, account: Account) -> Iterator[NetSuiteConnector]:
        connector = account.connector(page_size=7, timeout_seconds=0.5, max_attempts=3)
        yield connector
        connector.close()

    @pytest.fixture
    def backend(self, account: Account) -> Iterator[Backend]:
        backend = Backend(account, timeout_seconds=1.0)
        yield backend
        backend.reset()

"""The connector contract suite on the Salesforce connector, against the emulated org over loopback TLS.

Both streams run it: accounts (pushable, 450 records in 200-record pages) and opportunities (250
deals with their line items, 200 a page). The backend adapter drives the emulator's FaultInjector;
record counts include deleted records, since pulls go through queryAll.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from salesforce_connector_fixtures import (
    CLIENT_TIMEOUT,
    Org,
    new_state,
    seed_accounts,
    seed_opportunities,
    serving,
)

from tieout.connectors.salesforce import SalesforceConnector
from tieout.testing.contract import ConnectorContract, InjectorBackend

OBJECTS = {"accounts": "Account", "opportunities": "Opportunity"}


class EmulatorBackend(InjectorBackend):
    """The contract's failure controls over the emulated org."""

    def __init__(self, org: Org) -> None:
        super().__init__(org.injector, timeout_seconds=CLIENT_TIMEOUT * 3)
        self.org = org

    def record_count(self, stream: str) -> int:
        with self.org.state.lock:
            return len(self.org.state.tables[OBJECTS[stream]])


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    state = new_state()
    seed_accounts(state, 450)
    seed_opportunities(state, 250)
    with serving(state, tmp_path_factory.mktemp("salesforce-contract")) as running:
        yield running


@pytest.fixture
def backend(org: Org) -> Iterator[EmulatorBackend]:
    yield EmulatorBackend(org)
    org.injector.clear_scripted()


@pytest.fixture
def connector(org: Org, backend: EmulatorBackend) -> Iterator[SalesforceConnector]:
    connector = org.connector(page_size=200, bulk_threshold=None)
    yield connector
    connector.close()


class TestSalesforceAccountsContract(ConnectorContract):
    contract_stream = "accounts"
    push_stream = "accounts"

    @staticmethod
    def push_payload(number: int) -> dict[str, Any]:
        return {
            "External_Id__c": "contract-account",
            "Name": f"Contract Account {number}",
            "CurrencyIsoCode": "USD",
        }


class TestSalesforceOpportunitiesContract(ConnectorContract):
    contract_stream = "opportunities"

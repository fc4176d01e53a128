"""The connector contract suite, run on the Ledgerly test double as a third-party author would."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fakeledger import LedgerlyConnector, LedgerlyState, connector_for, running_ledgerly, seed_invoices

from tieout.testing.contract import ConnectorContract


@pytest.fixture
def ledgerly() -> LedgerlyState:
    state = LedgerlyState()
    seed_invoices(state, 130, start=datetime(2026, 1, 1, tzinfo=UTC), same_time_every=3)
    return state


@pytest.fixture
def ledgerly_url(ledgerly: LedgerlyState) -> Iterator[str]:
    with running_ledgerly(ledgerly) as url:
        yield url


class TestLedgerlyContract(ConnectorContract):
    contract_stream = "invoices"
    push_stream = "invoices"

    @staticmethod
    def push_payload(number: int) -> dict[str, Any]:
        return {"customer": "cust-1", "currency": "EUR", "total": f"{number}.00", "status": "open"}

    @pytest.fixture
    def connector(self, ledgerly_url: str) -> Iterator[LedgerlyConnector]:
        connector = connector_for(ledgerly_url)
        yield connector
        connector.close()

    @pytest.fixture
    def backend(self, ledgerly: LedgerlyState) -> LedgerlyState:
        return ledgerly

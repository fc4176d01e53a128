"""The connector contract suite on the Stripe connector, against the running emulator.

Run on every stream: customers (with pushes), invoices (lines paged beside), charges (balance
transactions expanded), refunds, credit notes and payouts (composition fetched per payout).
Every object's events share its creation time in the seed, so the suite's `since` pulls (through
events) and `until` pulls (full lists) partition the stream exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from stripe_connector_fixtures import Emulator, StripeBackend, running, seeded_emulator

from tieout.connectors.stripe import StripeConnector
from tieout.testing.contract import ConnectorContract


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    state, clock, _ = seeded_emulator()
    with running(state, clock) as emulator:
        yield emulator


@pytest.fixture
def connector(emulator: Emulator) -> Iterator[StripeConnector]:
    connector = emulator.connector()
    yield connector
    connector.close()
    emulator.injector.clear_scripted()


@pytest.fixture
def backend(emulator: Emulator) -> StripeBackend:
    return StripeBackend(emulator)


class TestCustomersContract(ConnectorContract):
    contract_stream = "customers"
    push_stream = "customers"

    @staticmethod
    def push_payload(number: int) -> dict[str, Any]:
        return {
            "name": f"Pushed customer {number}",
            "email": f"pushed{number}@example.com",
            "metadata": {"salesforce_account_id": f"001PUSHED{number:09d}"},
        }


class TestInvoicesContract(ConnectorContract):
    contract_stream = "invoices"


class TestChargesContract(ConnectorContract):
    contract_stream = "charges"


class TestRefundsContract(ConnectorContract):
    contract_stream = "refunds"


class TestCreditNotesContract(ConnectorContract):
    contract_stream = "credit_notes"


class TestPayoutsContract(ConnectorContract):
    contract_stream = "payouts"

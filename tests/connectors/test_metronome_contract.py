"""The connector contract suite on the Metronome connector, against the running emulator.

Run on three streams: customers (with pushes), contracts and invoices (per-customer listings,
so every fault can land on the customer list or on a per-customer call).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from metronome_connector_fixtures import NOW, Emulator, MetronomeBackend, running, seed_account

from tieout.connectors.metronome import MetronomeConnector
from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.metronome import MetronomeState
from tieout.testing.contract import ConnectorContract


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    clock = SandboxClock(NOW)
    state = MetronomeState(clock)
    seed_account(state, clock)
    with running(state, clock) as emulator:
        yield emulator


@pytest.fixture
def connector(emulator: Emulator) -> Iterator[MetronomeConnector]:
    connector = emulator.connector()
    yield connector
    connector.close()
    emulator.injector.clear_scripted()


@pytest.fixture
def backend(emulator: Emulator) -> MetronomeBackend:
    return MetronomeBackend(emulator)


class TestCustomersContract(ConnectorContract):
    contract_stream = "customers"
    push_stream = "customers"

    @staticmethod
    def push_payload(number: int) -> dict[str, Any]:
        return {"name": f"Pushed customer {number}", "salesforce_account_id": "001PUSHED000000001"}


class TestContractsContract(ConnectorContract):
    contract_stream = "contracts"


class TestInvoicesContract(ConnectorContract):
    contract_stream = "invoices"

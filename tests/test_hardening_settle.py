"""Settling the pending pushes a crash left behind: only by the flow that reserved them.

A salesforce account has a NetSuite twin (the NetSuite customer states the account's id). Two
writes to NetSuite are pending: a create reserved by `customers_to_netsuite` (it landed: the twin
is the record it made) and an update reserved by another flow (it was reserved, then the process
died before sending it). Settling for `customers_to_netsuite` confirms and links the first and
must leave the second alone: a write missing from one flow's plan says nothing about another's.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tieout.flows.settle import settle_pending
from tieout.model import Customer
from tieout.reconcile.snapshot import Snapshot
from tieout.store import Store

AT = datetime(2026, 6, 1, tzinfo=UTC)
ACCOUNT = Customer(system="salesforce", native_id="001A", legal_name="Acme", updated_at=AT)
TWIN = Customer(
    system="netsuite", native_id="77", legal_name="Acme", links={"salesforce": "001A"}, updated_at=AT
)


def reserve(store: Store, *, key: str, flow: str, operation: str) -> None:
    with store.transaction() as tx:
        tx.start_run(
            run_id=f"run-{key}",
            job=f"flow:{flow}",
            system="netsuite",
            stream=None,
            trigger="flow",
            mode="sync",
            started_at=AT,
            host="elsewhere",
            pid=None,
        )
        tx.reserve_push(
            idempotency_key=key,
            target_system="netsuite",
            target_stream="customers",
            source_record_id=ACCOUNT.record_id,
            operation=operation,
            payload_hash="h-" + key,
            at=AT,
            run_id=f"run-{key}",
        )


def test_a_flow_settles_its_own_landed_write_and_leaves_another_flows_alone(store: Store) -> None:
    with store.transaction() as tx:
        tx.upsert_canonical([(ACCOUNT, "accounts"), (TWIN, "customers")], stored_at=AT)
    reserve(store, key="create-key", flow="customers_to_netsuite", operation="create")
    reserve(store, key="update-key", flow="fix_customers_in_netsuite", operation="update")

    def settle(planned: set[str]) -> int:
        return settle_pending(
            store,
            Snapshot.load(store),
            flow="customers_to_netsuite",
            target_system="netsuite",
            planned_sources=planned,
            clock=lambda: AT,
        )

    # While the flow still plans a write for the account, it sends it again instead.
    assert settle({ACCOUNT.record_id}) == 0
    assert settle(set()) == 1
    with store.transaction() as tx:
        created, other = tx.get_push("create-key"), tx.get_push("update-key")
        linked = tx.linked_ids("customer", "salesforce", "001A")
    assert created is not None and (created.status, created.target_id) == ("confirmed", "77")
    assert other is not None and other.status == "pending"
    assert linked.get("netsuite") == "77"

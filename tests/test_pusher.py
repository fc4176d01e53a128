"""The ledger-backed pusher: idempotent across crashes, rejections filed, dry runs write nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fakeledger import LedgerlyConnector, LedgerlyState, connector_for, running_ledgerly

from tieout.connectors.base import PushResult
from tieout.flows.pusher import Pusher, PushIntent, idempotency_key
from tieout.store import Store

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def ledgerly() -> LedgerlyState:
    return LedgerlyState()


@pytest.fixture
def connector(ledgerly: LedgerlyState) -> Iterator[LedgerlyConnector]:
    with running_ledgerly(ledgerly) as url:
        connector = connector_for(url)
        yield connector
        connector.close()


def intent(number: int, total: str = "10.00", operation: str = "create") -> PushIntent:
    return PushIntent(
        flow="billing_invoices_to_ledger",
        target_system="ledgerly",
        target_stream="invoices",
        kind="invoice",
        source_system="metronome",
        source_native_id=f"m-{number}",
        source_record_id=f"metronome:invoice:m-{number}",
        operation=operation,  # type: ignore[arg-type]
        payload={"customer": "cust-1", "currency": "EUR", "total": total, "status": "open"},
    )


def pusher(store: Store, connector: Any) -> Pusher:
    return Pusher(store, {"ledgerly": connector}, clock=lambda: NOW, run_id="run-1")


def test_keys_are_deterministic_and_distinct() -> None:
    assert idempotency_key("f", "stripe", "metronome:invoice:1") == idempotency_key(
        "f", "stripe", "metronome:invoice:1"
    )
    assert idempotency_key("f", "stripe", "metronome:invoice:1") != idempotency_key(
        "f", "stripe", "metronome:invoice:2"
    )
    assert intent(1).key == intent(1, total="99").key
    assert intent(1, operation="update").key != intent(1, total="99", operation="update").key


def test_push_links_the_records_and_a_second_run_changes_nothing(
    store: Store, connector: LedgerlyConnector, ledgerly: LedgerlyState
) -> None:
    first = pusher(store, connector).push([intent(1), intent(2)])
    assert [outcome.status for outcome in first.outcomes] == ["created", "created"]
    again = pusher(store, connector).push([intent(1), intent(2)])
    assert [outcome.status for outcome in again.outcomes] == ["unchanged", "unchanged"]
    assert ledgerly.record_count("invoices") == 2
    with store.transaction() as tx:
        links = tx.linked_ids("invoice", "metronome", "m-1")
        entry = tx.get_push(intent(1).key)
    assert links == {"metronome": "m-1", "ledgerly": first.outcomes[0].target_id}
    assert entry is not None and entry.status == "confirmed"


class DiesAfterSending:
    """Sends the push, then the process 'dies' before the ledger hears back."""

    def __init__(self, inner: LedgerlyConnector) -> None:
        self.inner = inner

    def push(self, stream: str, payload: dict[str, Any], *, idempotency_key: str) -> PushResult:
        self.inner.push(stream, payload, idempotency_key=idempotency_key)
        raise KeyboardInterrupt("killed between push and ledger confirm")


def test_a_crash_between_push_and_confirm_never_duplicates(
    store: Store, connector: LedgerlyConnector, ledgerly: LedgerlyState
) -> None:
    with pytest.raises(KeyboardInterrupt):
        pusher(store, DiesAfterSending(connector)).push([intent(7)])
    with store.transaction() as tx:
        assert tx.get_push(intent(7).key).status == "pending"  # type: ignore[union-attr]
    outcome = pusher(store, connector).push([intent(7)]).outcomes[0]
    assert outcome.status == "unchanged"  # the target replayed the first write
    assert ledgerly.record_count("invoices") == 1


def test_a_refused_record_is_filed_and_the_rest_go_on(
    store: Store, connector: LedgerlyConnector, ledgerly: LedgerlyState
) -> None:
    pusher(store, connector).push([intent(3)])
    # The same key with other content: the target refuses it as a conflict.
    clash = PushIntent(**{**intent(3).__dict__, "payload": {**intent(3).payload, "total": "11.00"}})
    store_pending = pusher(store, connector)
    with store.transaction() as tx:
        tx.mark_push(intent(3).key, status="pending", at=NOW)
    summary = store_pending.push([clash, intent(4)])
    assert [outcome.status for outcome in summary.outcomes] == ["rejected", "created"]
    with store.transaction() as tx:
        [exception] = tx.list_exceptions(status=["open"])
    assert exception.rule_code == "SYNC_PUSH_REJECTED" and "m-3" in exception.explanation
    assert ledgerly.record_count("invoices") == 2


def test_dry_run_writes_nothing_and_shows_the_fields(
    store: Store, connector: LedgerlyConnector, ledgerly: LedgerlyState
) -> None:
    update = PushIntent(
        **{**intent(5).__dict__, "operation": "update", "current": {"total": "9.00", "status": "open"}}
    )
    summary = pusher(store, connector).push([intent(5), update], dry_run=True)
    assert [outcome.status for outcome in summary.outcomes] == ["planned", "planned"]
    assert {change.field for change in summary.outcomes[0].changes} == {
        "customer",
        "currency",
        "total",
        "status",
    }
    assert [(c.field, c.before, c.after) for c in summary.outcomes[1].changes] == [
        ("currency", None, "EUR"),
        ("customer", None, "cust-1"),
        ("total", "9.00", "10.00"),
    ]
    assert ledgerly.record_count("invoices") == 0
    with store.transaction() as tx:
        assert tx.get_push(intent(5).key) is None

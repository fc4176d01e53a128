"""The exception queue's lifecycle on both backends: transitions, notes, audit trail, filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tieout.errors import InvalidTransition, UnknownException
from tieout.findings import Finding, Severity
from tieout.money import Money
from tieout.reconcile.queue import ExceptionQueue
from tieout.store import ExceptionQuery, Store

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def finding(
    number: int,
    *,
    rule: str = "INVOICE_TOTAL_DIFFERS",
    amount: str = "10",
    currency: str = "USD",
    customer: str = "Acme Corp",
    subsidiary: str = "US",
    severity: Severity = Severity.HIGH,
) -> Finding:
    return Finding(
        rule_code=rule,
        title="t",
        explanation="e",
        severity=severity,
        record_ids=(f"stripe:invoice:in_{number}",),
        customer_ref=f"cus_{number}",
        customer_name=customer,
        subsidiary_id=subsidiary,
        amount_at_risk=Money(amount=Decimal(amount), currency=currency),
    )


@pytest.fixture
def queue(store: Store) -> ExceptionQueue:
    with store.transaction() as tx:
        tx.file_findings(
            [
                finding(1, amount="500"),
                finding(
                    2,
                    amount="20",
                    rule="PAYMENT_MISSING_IN_NETSUITE",
                    customer="Globex 100% GmbH",
                    currency="EUR",
                    subsidiary="DE",
                ),
                finding(3, amount="3000", currency="JPY", subsidiary="JP", severity=Severity.LOW),
                finding(4, amount="900", rule="INVOICE_MISSING_IN_STRIPE"),
            ],
            at=T0,
            run_id=None,
        )
    return ExceptionQueue(store, clock=lambda: T0 + timedelta(hours=1))


def test_assign_resolve_reopen_ignore_with_audit(queue: ExceptionQueue) -> None:
    assert queue.assign(1, "dana@ar", actor="lee").status == "in_progress"
    with pytest.raises(InvalidTransition, match="needs a note"):
        queue.resolve(1, actor="dana@ar", note="  ")
    resolved = queue.resolve(1, actor="dana@ar", note="credit memo CM-12 issued")
    assert resolved.status == "resolved" and resolved.resolved_at is not None
    with pytest.raises(InvalidTransition, match="is resolved"):
        queue.resolve(1, actor="dana@ar", note="again")
    assert queue.reopen(1, actor="lee", note="customer disputes it").status == "open"
    with pytest.raises(InvalidTransition, match="needs a reason"):
        queue.ignore(1, actor="lee", reason="")
    assert queue.ignore(1, actor="lee", reason="expected: manual credit agreed").status == "ignored"
    queue.comment(1, actor="lee", note="see email of 3 April")
    detail = queue.show(1)
    actions = [(event.actor, event.action) for event in detail.events]
    assert actions == [
        ("tieout", "opened"),
        ("lee", "assigned"),
        ("dana@ar", "resolved"),
        ("lee", "reopened"),
        ("lee", "ignored"),
        ("lee", "commented"),
    ]
    resolved_event = detail.events[2]
    assert resolved_event.before == {"status": "in_progress", "assignee": "dana@ar"}
    assert resolved_event.after == {"status": "resolved", "assignee": "dana@ar"}
    assert resolved_event.note == "credit memo CM-12 issued"


def test_unknown_exception(queue: ExceptionQueue) -> None:
    with pytest.raises(UnknownException, match="#99"):
        queue.assign(99, "x", actor="y")


def test_filters_sort_and_page(queue: ExceptionQueue) -> None:
    rows, total = queue.list(ExceptionQuery(currency="USD"))
    assert [row.exception_id for row in rows] == [4, 1]  # the larger amount at risk first
    rows, total = queue.list(ExceptionQuery(sort="age"))
    assert total == 4 and [row.exception_id for row in rows] == [1, 2, 3, 4]
    rows, total = queue.list(ExceptionQuery(currency="eur"))
    assert (total, rows[0].exception_id) == (1, 2)
    assert queue.list(ExceptionQuery(customer="100%"))[1] == 1  # the % is a literal, not a wildcard
    assert queue.list(ExceptionQuery(customer="cus_3"))[1] == 1
    assert queue.list(ExceptionQuery(rule_codes=["PAYMENT_MISSING_IN_NETSUITE"]))[1] == 1
    assert queue.list(ExceptionQuery(severities=["low"], subsidiary_id="JP"))[1] == 1
    assert queue.list(ExceptionQuery(first_seen_before=T0))[1] == 0
    page, total = queue.list(ExceptionQuery(sort="id", limit=2, offset=2))
    assert (total, [row.exception_id for row in page]) == (4, [3, 4])
    queue.resolve(2, actor="a", note="n")
    assert queue.list(ExceptionQuery())[1] == 3
    assert queue.list(ExceptionQuery(statuses=["resolved"]))[1] == 1


def test_injection_in_filters_is_inert(queue: ExceptionQueue) -> None:
    for hostile in ("' OR '1'='1", "x%' --", "Robert'); DROP TABLE exceptions;--"):
        assert queue.list(ExceptionQuery(customer=hostile))[1] == 0
    assert queue.list(ExceptionQuery())[1] == 4

"""Amounts at risk in the subsidiary's base currency, and the queue ranked by them across currencies."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from tieout.findings import Finding, Severity
from tieout.model import Invoice, InvoiceStatus, LedgerBalance
from tieout.money import Money
from tieout.reconcile.base_amounts import RateBook, configured_rates
from tieout.reconcile.snapshot import Snapshot
from tieout.store import ExceptionQuery, Store

T = datetime(2026, 3, 2, tzinfo=UTC)


def _invoice(native_id: str, currency: str, amount: str, *, rate: str | None, subsidiary: str) -> Invoice:
    money = Money(amount=Decimal(amount), currency=currency)
    zero = Money(amount=Decimal(0), currency=currency)
    return Invoice(
        system="netsuite",
        native_id=native_id,
        customer_id="c",
        currency=currency,
        status=InvoiceStatus.OPEN,
        subtotal=money,
        tax=zero,
        total=money,
        amount_due=money,
        amount_paid=zero,
        amount_remaining=money,
        subsidiary_id=subsidiary,
        exchange_rate=Decimal(rate) if rate else None,
    )


def _finding(record_id: str, amount: str, currency: str, *, subsidiary: str | None = None) -> Finding:
    return Finding(
        rule_code="INVOICE_TOTAL_DIFFERS",
        title="t",
        explanation="e",
        severity=Severity.HIGH,
        record_ids=(record_id,),
        subsidiary_id=subsidiary,
        amount_at_risk=Money(amount=Decimal(amount), currency=currency),
    )


def _book(table: dict[str, dict[str, str]] | None = None) -> RateBook:
    balance = LedgerBalance(
        system="netsuite",
        native_id="ar:1:USD",
        account_id="1200",
        subsidiary_id="1",
        currency="USD",
        as_of=date(2026, 3, 1),
        balance=Money(amount=Decimal(0), currency="USD"),
    )
    records = [
        balance,
        _invoice("eur-1", "EUR", "100.00", rate="1.0855", subsidiary="1"),
        _invoice("gbp-1", "GBP", "50.00", rate=None, subsidiary="1"),
        _invoice("jpy-1", "JPY", "1000", rate="1", subsidiary="4"),
    ]
    return RateBook.from_snapshot(Snapshot(records), configured_rates(table or {}))


def test_the_records_own_rate_converts_to_the_subsidiarys_base_currency_rounded_half_up() -> None:
    [converted] = _book().apply([_finding("netsuite:invoice:eur-1", "100.005", "EUR")])
    assert converted.base_amount_at_risk == Money(amount=Decimal("108.56"), currency="USD")


def test_base_currency_from_documents_at_rate_one_when_no_ledger_balance() -> None:
    [same] = _book().apply([_finding("netsuite:invoice:jpy-1", "1000", "JPY")])
    assert same.base_amount_at_risk == Money(amount=Decimal("1000"), currency="JPY")


def test_a_configured_rate_fills_in_and_with_none_the_base_amount_stays_empty() -> None:
    finding = _finding("netsuite:invoice:gbp-1", "50.00", "GBP")
    assert _book().apply([finding])[0].base_amount_at_risk is None
    [converted] = _book({"exchange_rates": {"gbp:usd": "1.27"}}).apply([finding])
    assert converted.base_amount_at_risk == Money(amount=Decimal("63.50"), currency="USD")


def test_the_queue_ranks_by_base_amount_so_currencies_compare(store: Store) -> None:
    yen = _finding("netsuite:invoice:a", "20000", "JPY")
    euro = _finding("netsuite:invoice:b", "150.00", "EUR")
    unknown = _finding("netsuite:invoice:c", "999999.00", "GBP")
    filed = [
        Finding(**{**yen.__dict__, "base_amount_at_risk": Money(amount=Decimal("133.00"), currency="USD")}),
        Finding(**{**euro.__dict__, "base_amount_at_risk": Money(amount=Decimal("162.83"), currency="USD")}),
        unknown,
    ]
    with store.transaction() as tx:
        tx.file_findings(filed, at=T, run_id=None)
        ranked, _ = tx.query_exceptions(ExceptionQuery(sort="amount"))
    assert [item.currency for item in ranked] == ["EUR", "JPY", "GBP"]

"""The nightly AR snapshot: today's aging, unapplied cash and DSO per subsidiary and currency, kept per day.

The figures are the AR report's (`tieout.reconcile.ar`), from NetSuite's records as last synced;
keeping one row per subsidiary and currency per day is what lets the web dashboard draw DSO and
aging over time, which the live report (always as of now) cannot.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime

from tieout.model import Customer, Invoice, Payment
from tieout.money import Money, sum_money
from tieout.reconcile.ar import ERP_SYSTEM, ArReport, GroupBy, build_report
from tieout.store import Store
from tieout.store.snapshots import SNAPSHOT_BUCKETS, ArSnapshot


def snapshot_rows(report: ArReport, payments: Iterable[Payment], *, taken_at: datetime) -> list[ArSnapshot]:
    """One row per subsidiary and currency holding open AR or unapplied cash at the report's date."""
    aging = {(row.key, row.currency): row for row in report.aging[GroupBy.SUBSIDIARY]}
    dso_days = {(row.subsidiary_id or "", row.currency): row.standard_days for row in report.dso}
    unapplied: dict[tuple[str, str], list[Money]] = defaultdict(list)
    for payment in payments:
        if payment.deleted or payment.unapplied is None or payment.unapplied.is_zero():
            continue
        if payment.received_at.date() <= report.as_of:
            unapplied[(payment.subsidiary_id or "", payment.currency)].append(payment.unapplied)
    rows = []
    for subsidiary_id, currency in sorted(set(aging) | set(unapplied)):
        key = (subsidiary_id, currency)
        row = aging.get(key)
        buckets = (
            tuple(bucket.quantized() for bucket in row.buckets)
            if row is not None
            else tuple(Money.zero(currency) for _ in SNAPSHOT_BUCKETS)
        )
        rows.append(
            ArSnapshot(
                as_of=report.as_of,
                subsidiary_id=subsidiary_id,
                currency=currency,
                buckets=buckets,
                open_total=sum_money(list(buckets), currency),
                unapplied_cash=sum_money(unapplied.get(key, []), currency).quantized(),
                dso_days=dso_days.get(key),
                taken_at=taken_at,
            )
        )
    return rows


def take_ar_snapshot(store: Store, *, as_of: date, taken_at: datetime) -> list[ArSnapshot]:
    """Compute the snapshot of `as_of` from the store's NetSuite records and save it (replacing that day's)."""
    with store.transaction() as tx:
        invoices = [r for r in tx.iter_canonical(Invoice.kind, ERP_SYSTEM) if isinstance(r, Invoice)]
        payments = [r for r in tx.iter_canonical(Payment.kind, ERP_SYSTEM) if isinstance(r, Payment)]
        customers = [r for r in tx.iter_canonical(Customer.kind, ERP_SYSTEM) if isinstance(r, Customer)]
    report = build_report(invoices, payments, customers, as_of=as_of)
    rows = snapshot_rows(report, payments, taken_at=taken_at)
    with store.transaction() as tx:
        tx.save_ar_snapshot(as_of, rows)
    return rows

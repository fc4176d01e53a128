"""AR metrics from the ledger's open items: aging buckets, AR over 90 days, unapplied cash and DSO.

Pure functions over canonical records (no I/O, no clock: `as_of` is always a parameter). The
inputs are the ERP's (NetSuite's) invoices, payments and customers, as the state store holds them.

- **Aging** (DOMAIN 2.3): each open invoice's `amount_remaining` goes into one bucket by its days
  outstanding at `as_of`: days past the due date (the default basis) or days since the invoice
  date. Current is 0 days or fewer, then 1-30, 31-60, 61-90 and 90+ (more than 90 days). An
  invoice with no date on the chosen basis falls back to the other date; with neither it counts
  as current and is listed. Amounts stay in the transaction currency: rows are keyed by currency
  and nothing is ever added across currencies.
- **AR over 90 days**: the 90+ bucket's share of open AR, per currency.
- **Unapplied cash**: payments' `unapplied` amounts per customer and currency.
- **DSO** (DOMAIN 2.4), per subsidiary and currency, standard and countback. Revenue is the total
  (tax included, as it posts to AR) of invoices issued in the period, void and draft excluded.
  Months are calendar months; the month holding `as_of` counts from its first day through
  `as_of`. Ending AR is gross of unapplied cash unless the caller asks for it net.

Balances are the ones last synced: `as_of` dates the aging, and documents dated after it are left
out, but a payment made after `as_of` has already reduced what remains on an invoice.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from tieout.model import Customer, Invoice, InvoiceStatus, Payment
from tieout.money import Money, sum_money

ERP_SYSTEM = "netsuite"
BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")
_BUCKET_LIMITS = (0, 30, 60, 90)
"""Upper bounds (inclusive, in days) of every bucket but the last."""
_REVENUE_STATUSES = frozenset({InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.UNCOLLECTIBLE})
_DAYS = Decimal("0.1")
_PERCENT = Decimal("0.01")
_Key = tuple[str | None, str]
"""Subsidiary and currency."""


class AgingBasis(StrEnum):
    DUE = "due"
    INVOICE = "invoice"


class GroupBy(StrEnum):
    CUSTOMER = "customer"
    SUBSIDIARY = "subsidiary"
    CURRENCY = "currency"


def bucket_for(days: int) -> int:
    """Index into BUCKETS for an item `days` outstanding (past due, or since the invoice date)."""
    for index, limit in enumerate(_BUCKET_LIMITS):
        if days <= limit:
            return index
    return len(_BUCKET_LIMITS)


def days_outstanding(invoice: Invoice, as_of: date, basis: AgingBasis) -> int | None:
    """Days past due (or since issue) at `as_of`; None when the invoice carries neither date."""
    if basis is AgingBasis.DUE:
        anchor = invoice.due_on or invoice.issued_on
    else:
        anchor = invoice.issued_on or invoice.due_on
    return None if anchor is None else (as_of - anchor).days


@dataclass(frozen=True)
class AgingRow:
    """One group's open AR in one currency, split into BUCKETS."""

    key: str
    name: str | None
    currency: str
    buckets: tuple[Money, ...]
    invoice_count: int

    @property
    def total(self) -> Money:
        return sum_money(list(self.buckets), self.currency)

    @property
    def over_90(self) -> Money:
        return self.buckets[-1]


@dataclass(frozen=True)
class CurrencySummary:
    """Open AR of one currency: total, the part over 90 days and its share, unapplied cash."""

    currency: str
    open_ar: Money
    over_90: Money
    over_90_percent: Decimal | None
    unapplied: Money


@dataclass(frozen=True)
class UnappliedCash:
    customer_id: str | None
    customer_name: str | None
    currency: str
    amount: Money
    payment_count: int
    oldest_received_on: date


@dataclass(frozen=True)
class MonthRevenue:
    """Revenue of one calendar month (or of the month to date for the month holding `as_of`)."""

    month: date
    days: int
    revenue: Money


@dataclass(frozen=True)
class Dso:
    """DSO of one subsidiary and currency, standard and countback, with what went into each."""

    subsidiary_id: str | None
    currency: str
    ending_ar: Money
    period_start: date
    period_end: date
    period_days: int
    period_revenue: Money
    standard_days: Decimal | None
    """None when the period had no revenue."""
    countback_days: Decimal
    countback_complete: bool
    """False when the AR outlasted every month looked at: the countback is then a lower bound."""


@dataclass(frozen=True)
class ArReport:
    as_of: date
    basis: AgingBasis
    ar_net_of_unapplied: bool
    aging: Mapping[GroupBy, tuple[AgingRow, ...]]
    currencies: tuple[CurrencySummary, ...]
    unapplied: tuple[UnappliedCash, ...]
    dso: tuple[Dso, ...]
    undated_invoice_ids: tuple[str, ...]
    later_document_count: int
    """Invoices issued and payments received after `as_of`, left out of the report."""

    def method(self) -> dict[str, str]:
        """The choices behind the figures, in words, for the report's reader."""
        net = "net of unapplied cash" if self.ar_net_of_unapplied else "gross of unapplied cash"
        basis = "days past the due date" if self.basis is AgingBasis.DUE else "days since the invoice date"
        return {
            "source": "NetSuite open invoices (amount remaining) and customer payments (unapplied), as last synced",
            "aging_basis": basis,
            "buckets": "current (0 days or fewer), 1-30, 31-60, 61-90, 90+ (more than 90 days)",
            "currency": "transaction currency; amounts in different currencies are never added",
            "dso_ar": f"open AR per subsidiary and currency, {net}",
            "dso_revenue": "totals (tax included) of invoices issued in the period, void and draft excluded",
            "dso_standard": "ending AR / revenue of the period x days in the period",
            "dso_countback": "ending AR walked back month by month, most recent first (DOMAIN 2.4)",
            "months": "calendar months; the month holding as_of counts from its first day through as_of",
        }


def standard_dso(ending_ar: Money, revenue: Money, days: int) -> Decimal | None:
    """(ending AR / revenue) x days, to 0.1 day; None when there was no revenue."""
    if revenue.is_zero():
        return None
    return (ending_ar.amount / revenue.amount * days).quantize(_DAYS, ROUND_HALF_UP)


def countback_dso(ending_ar: Money, months: Sequence[MonthRevenue]) -> tuple[Decimal, bool]:
    """Countback DSO over `months` (most recent first), to 0.1 day, and whether the AR ran out.

    A month whose revenue the remaining AR covers adds all its days; the first one it does not
    cover adds the covered fraction of its days, and the walk stops there.
    """
    remaining = ending_ar.amount
    days = Decimal(0)
    for month in months:
        if remaining <= 0:
            return days.quantize(_DAYS, ROUND_HALF_UP), True
        revenue = month.revenue.amount
        if remaining >= revenue:
            remaining -= revenue
            days += month.days
        else:
            days += remaining / revenue * month.days
            return days.quantize(_DAYS, ROUND_HALF_UP), True
    return days.quantize(_DAYS, ROUND_HALF_UP), remaining <= 0


def month_windows(as_of: date, count: int) -> list[tuple[date, date]]:
    """The `count` calendar months ending with the one holding `as_of`, most recent first; each as
    (first day, last day counted), the current month ending at `as_of`."""
    windows = []
    year, month = as_of.year, as_of.month
    for index in range(count):
        last = as_of if index == 0 else date(year, month, calendar.monthrange(year, month)[1])
        windows.append((date(year, month, 1), last))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return windows


def _open_invoices(invoices: Iterable[Invoice], as_of: date) -> tuple[list[Invoice], int]:
    kept, later = [], 0
    for invoice in invoices:
        if invoice.deleted or invoice.status is not InvoiceStatus.OPEN:
            continue
        if invoice.issued_on is not None and invoice.issued_on > as_of:
            later += 1
            continue
        kept.append(invoice)
    return kept, later


def _group_key(invoice: Invoice, group_by: GroupBy) -> str:
    if group_by is GroupBy.CUSTOMER:
        return invoice.customer_id
    if group_by is GroupBy.SUBSIDIARY:
        return invoice.subsidiary_id or ""
    return invoice.currency


def aging(
    invoices: Sequence[Invoice],
    *,
    as_of: date,
    basis: AgingBasis,
    group_by: GroupBy,
    customer_names: Mapping[str, str] | None = None,
) -> tuple[AgingRow, ...]:
    """Open AR in BUCKETS per group and currency, sorted by customer name (if any), key, currency.

    `invoices` are taken as open items: callers pass open invoices dated on or before `as_of`.
    """
    names = customer_names or {}
    sums: dict[tuple[str, str], list[Money]] = {}
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for invoice in invoices:
        key = (_group_key(invoice, group_by), invoice.currency)
        buckets = sums.setdefault(key, [Money.zero(invoice.currency)] * len(BUCKETS))
        index = bucket_for(days_outstanding(invoice, as_of, basis) or 0)
        buckets[index] = buckets[index] + invoice.amount_remaining
        counts[key] += 1
    rows = [
        AgingRow(
            key=group,
            name=names.get(group) if group_by is GroupBy.CUSTOMER else None,
            currency=currency,
            buckets=tuple(sums[(group, currency)]),
            invoice_count=counts[(group, currency)],
        )
        for group, currency in sorted(sums)
    ]
    return tuple(sorted(rows, key=lambda row: (row.name or "", row.key, row.currency)))


def unapplied_cash(
    payments: Iterable[Payment], *, as_of: date, customer_names: Mapping[str, str] | None = None
) -> tuple[UnappliedCash, ...]:
    """Unapplied cash per customer and currency, from payments received on or before `as_of`."""
    names = customer_names or {}
    found: dict[tuple[str, str], list[Payment]] = defaultdict(list)
    for payment in payments:
        if payment.deleted or payment.unapplied is None or payment.unapplied.is_zero():
            continue
        if payment.received_at.date() > as_of:
            continue
        found[(payment.customer_id or "", payment.currency)].append(payment)
    rows = []
    for (customer_id, currency), items in sorted(found.items()):
        rows.append(
            UnappliedCash(
                customer_id=customer_id or None,
                customer_name=names.get(customer_id),
                currency=currency,
                amount=sum_money([item.unapplied for item in items if item.unapplied is not None], currency),
                payment_count=len(items),
                oldest_received_on=min(item.received_at.date() for item in items),
            )
        )
    return tuple(rows)


def _percent(part: Money, whole: Money) -> Decimal | None:
    if whole.is_zero():
        return None
    return (part.amount / whole.amount * 100).quantize(_PERCENT, ROUND_HALF_UP)


def currency_summaries(
    by_currency: Sequence[AgingRow], unapplied: Sequence[UnappliedCash]
) -> tuple[CurrencySummary, ...]:
    """Per currency: open AR, the part over 90 days and its share, and unapplied cash."""
    rows = {row.currency: row for row in by_currency}
    currencies = sorted(set(rows) | {item.currency for item in unapplied})
    summaries = []
    for currency in currencies:
        row = rows.get(currency)
        open_ar = row.total if row else Money.zero(currency)
        over_90 = row.over_90 if row else Money.zero(currency)
        cash = sum_money([item.amount for item in unapplied if item.currency == currency], currency)
        summaries.append(CurrencySummary(currency, open_ar, over_90, _percent(over_90, open_ar), cash))
    return tuple(summaries)


def dso(
    open_invoices: Sequence[Invoice],
    all_invoices: Iterable[Invoice],
    payments: Iterable[Payment],
    *,
    as_of: date,
    ar_net_of_unapplied: bool = False,
    standard_months: int = 1,
    countback_months: int = 24,
) -> tuple[Dso, ...]:
    """DSO per subsidiary and currency; see the module docstring for what goes into it."""
    ending: dict[_Key, Money] = {}
    for invoice in open_invoices:
        key = (invoice.subsidiary_id, invoice.currency)
        ending[key] = ending.get(key, Money.zero(invoice.currency)) + invoice.amount_remaining
    if ar_net_of_unapplied:
        for payment in payments:
            if payment.deleted or payment.unapplied is None or payment.received_at.date() > as_of:
                continue
            key = (payment.subsidiary_id, payment.currency)
            ending[key] = ending.get(key, Money.zero(payment.currency)) - payment.unapplied
    windows = month_windows(as_of, max(standard_months, countback_months))
    revenue: dict[_Key, list[Money]] = {}
    for invoice in all_invoices:
        if invoice.deleted or invoice.status not in _REVENUE_STATUSES or invoice.issued_on is None:
            continue
        index = next(
            (i for i, (first, last) in enumerate(windows) if first <= invoice.issued_on <= last), None
        )
        if index is None:
            continue
        key = (invoice.subsidiary_id, invoice.currency)
        amounts = revenue.setdefault(key, [Money.zero(invoice.currency)] * len(windows))
        amounts[index] = amounts[index] + invoice.total
    rows = []
    for key in sorted(set(ending) | set(revenue), key=lambda item: (item[0] or "", item[1])):
        subsidiary_id, currency = key
        ar = ending.get(key, Money.zero(currency))
        by_month = revenue.get(key, [Money.zero(currency)] * len(windows))
        months = [
            MonthRevenue(month=first, days=(last - first).days + 1, revenue=amount)
            for (first, last), amount in zip(windows, by_month, strict=True)
        ]
        period = months[:standard_months]
        period_days = sum(month.days for month in period)
        period_revenue = sum_money([month.revenue for month in period], currency)
        countback, complete = countback_dso(ar, months[:countback_months])
        rows.append(
            Dso(
                subsidiary_id=subsidiary_id,
                currency=currency,
                ending_ar=ar,
                period_start=windows[standard_months - 1][0],
                period_end=as_of,
                period_days=period_days,
                period_revenue=period_revenue,
                standard_days=standard_dso(ar, period_revenue, period_days),
                countback_days=countback,
                countback_complete=complete,
            )
        )
    return tuple(rows)


def build_report(
    invoices: Iterable[Invoice],
    payments: Iterable[Payment],
    customers: Iterable[Customer],
    *,
    as_of: date,
    basis: AgingBasis = AgingBasis.DUE,
    ar_net_of_unapplied: bool = False,
    standard_months: int = 1,
    countback_months: int = 24,
) -> ArReport:
    """The whole AR report from the ERP's records: aging three ways, currencies, unapplied, DSO."""
    if standard_months < 1 or countback_months < 1:
        raise ValueError("DSO needs at least one month")
    all_invoices = [invoice for invoice in invoices if not invoice.deleted]
    all_payments = [payment for payment in payments if not payment.deleted]
    names = {customer.native_id: customer.legal_name for customer in customers if not customer.deleted}
    open_items, later_invoices = _open_invoices(all_invoices, as_of)
    tables = {
        group_by: aging(open_items, as_of=as_of, basis=basis, group_by=group_by, customer_names=names)
        for group_by in GroupBy
    }
    unapplied = unapplied_cash(all_payments, as_of=as_of, customer_names=names)
    later_payments = sum(1 for payment in all_payments if payment.received_at.date() > as_of)
    return ArReport(
        as_of=as_of,
        basis=basis,
        ar_net_of_unapplied=ar_net_of_unapplied,
        aging=tables,
        currencies=currency_summaries(tables[GroupBy.CURRENCY], unapplied),
        unapplied=unapplied,
        dso=dso(
            open_items,
            all_invoices,
            all_payments,
            as_of=as_of,
            ar_net_of_unapplied=ar_net_of_unapplied,
            standard_months=standard_months,
            countback_months=countback_months,
        ),
        undated_invoice_ids=tuple(
            sorted(item.native_id for item in open_items if days_outstanding(item, as_of, basis) is None)
        ),
        later_document_count=later_invoices + later_payments,
    )

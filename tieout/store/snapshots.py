"""Storage of the nightly AR snapshots: aging, unapplied cash and DSO per subsidiary and currency per day.

One row per (day, subsidiary, currency); taking the day's snapshot again replaces that day's rows,
so a re-run after a late sync leaves the figures as of the last run. Amounts are integer minor
units beside their currency; a record with no subsidiary is kept under the empty subsidiary "".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, delete, select

from tieout.money import Money
from tieout.store.schema import ar_snapshots

SNAPSHOT_BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")


@dataclass(frozen=True)
class ArSnapshot:
    as_of: date
    subsidiary_id: str
    currency: str
    buckets: tuple[Money, ...]
    """Open AR in SNAPSHOT_BUCKETS order."""
    open_total: Money
    unapplied_cash: Money
    dso_days: Decimal | None
    taken_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "subsidiary_id": self.subsidiary_id,
            "currency": self.currency,
            "buckets": dict(zip(SNAPSHOT_BUCKETS, (str(item.amount) for item in self.buckets), strict=True)),
            "open_total": str(self.open_total.amount),
            "unapplied_cash": str(self.unapplied_cash.amount),
            "dso_days": None if self.dso_days is None else str(self.dso_days),
            "taken_at": self.taken_at,
        }


class SnapshotOps:
    connection: Connection

    def save_ar_snapshot(self, as_of: date, rows: Sequence[ArSnapshot]) -> int:
        """Replace the snapshot of `as_of` with `rows`; returns how many rows were written."""
        for row in rows:
            if row.as_of != as_of:
                raise ValueError(f"snapshot row for {row.as_of} given to the snapshot of {as_of}")
            if len(row.buckets) != len(SNAPSHOT_BUCKETS):
                raise ValueError(f"expected {len(SNAPSHOT_BUCKETS)} aging buckets, got {len(row.buckets)}")
        self.connection.execute(delete(ar_snapshots).where(ar_snapshots.c.as_of == as_of))
        if rows:
            self.connection.execute(ar_snapshots.insert(), [_columns(row) for row in rows])
        return len(rows)

    def ar_snapshots(
        self,
        *,
        since: date | None = None,
        until: date | None = None,
        subsidiary_id: str | None = None,
        currency: str | None = None,
    ) -> list[ArSnapshot]:
        """Snapshots oldest day first (the DSO trend reads them in this order)."""
        query = select(ar_snapshots).order_by(
            ar_snapshots.c.as_of, ar_snapshots.c.subsidiary_id, ar_snapshots.c.currency
        )
        if since is not None:
            query = query.where(ar_snapshots.c.as_of >= since)
        if until is not None:
            query = query.where(ar_snapshots.c.as_of <= until)
        if subsidiary_id is not None:
            query = query.where(ar_snapshots.c.subsidiary_id == subsidiary_id)
        if currency is not None:
            query = query.where(ar_snapshots.c.currency == currency)
        return [_snapshot(row) for row in self.connection.execute(query)]

    def dso_trend(
        self, *, since: date | None = None, subsidiary_id: str | None = None, currency: str | None = None
    ) -> dict[tuple[str, str], list[tuple[date, Decimal | None]]]:
        """Per (subsidiary, currency), the DSO of each day snapshotted, oldest first."""
        trend: dict[tuple[str, str], list[tuple[date, Decimal | None]]] = {}
        for item in self.ar_snapshots(since=since, subsidiary_id=subsidiary_id, currency=currency):
            trend.setdefault((item.subsidiary_id, item.currency), []).append((item.as_of, item.dso_days))
        return trend


def _columns(row: ArSnapshot) -> dict[str, Any]:
    current, days_1_30, days_31_60, days_61_90, over_90 = (item.to_minor() for item in row.buckets)
    return {
        "as_of": row.as_of,
        "taken_at": row.taken_at,
        "subsidiary_id": row.subsidiary_id,
        "currency": row.currency,
        "current_minor": current,
        "days_1_30_minor": days_1_30,
        "days_31_60_minor": days_31_60,
        "days_61_90_minor": days_61_90,
        "days_over_90_minor": over_90,
        "open_total_minor": row.open_total.to_minor(),
        "unapplied_cash_minor": row.unapplied_cash.to_minor(),
        "dso_days": None if row.dso_days is None else str(row.dso_days),
    }


def _snapshot(row: Any) -> ArSnapshot:
    currency = row.currency
    minor = (
        row.current_minor,
        row.days_1_30_minor,
        row.days_31_60_minor,
        row.days_61_90_minor,
        row.days_over_90_minor,
    )
    return ArSnapshot(
        as_of=row.as_of,
        subsidiary_id=row.subsidiary_id,
        currency=currency,
        buckets=tuple(Money.from_minor(value, currency) for value in minor),
        open_total=Money.from_minor(row.open_total_minor, currency),
        unapplied_cash=Money.from_minor(row.unapplied_cash_minor, currency),
        dso_days=None if row.dso_days is None else Decimal(row.dso_days),
        taken_at=row.taken_at,
    )

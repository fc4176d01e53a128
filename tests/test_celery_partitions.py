"""How a sync is cut into Celery tasks: windows only where the system filters by time, covering the range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from tieout.connectors.base import StreamSpec
from tieout.model import CanonicalRecord
from tieout.scheduler.partitions import BACKFILL_HORIZON, partitions

UNTIL = datetime(2026, 6, 1, tzinfo=UTC)


def _mapper(payload: object, context: object) -> CanonicalRecord:
    raise AssertionError("partitions never map records")


ORDERED = StreamSpec(
    name="accounts", kind="customer", mapper=_mapper, cursor_field="SystemModstamp", ordered=True
)
UNORDERED = StreamSpec(name="invoices", kind="invoice", mapper=_mapper, cursor_field="created")


def test_an_incremental_range_is_cut_into_adjacent_windows_of_partition_days() -> None:
    since = UNTIL - timedelta(days=65)
    windows = partitions("salesforce", ORDERED, since, UNTIL, partition_days=30)
    assert [(w.since, w.until) for w in windows] == [
        (since, since + timedelta(days=30)),
        (since + timedelta(days=30), since + timedelta(days=60)),
        (since + timedelta(days=60), UNTIL),
    ]


def test_a_backfill_cuts_the_last_year_and_reads_everything_older_in_one_window() -> None:
    windows = partitions("netsuite", ORDERED, None, UNTIL, partition_days=120)
    assert windows[0].since is None and windows[0].until == UNTIL - timedelta(days=360 + 120)
    assert windows[-1].until == UNTIL
    assert all(a.until == b.since for a, b in pairwise(windows))
    assert UNTIL - windows[1].since >= BACKFILL_HORIZON and len(windows) == 5


def test_streams_without_a_server_side_time_filter_stay_one_task() -> None:
    since = UNTIL - timedelta(days=400)
    assert [(w.since, w.until) for w in partitions("stripe", UNORDERED, since, UNTIL, partition_days=7)] == [
        (since, UNTIL)
    ]
    assert len(partitions("salesforce", ORDERED, UNTIL, UNTIL, partition_days=7)) == 1

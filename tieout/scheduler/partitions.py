"""Splitting a sync into tasks: one per stream, and one per time window where windows are cheap.

A stream whose system filters by modification time on the server and serves pages oldest-first
(`StreamSpec.ordered`: Salesforce, NetSuite) is cut into windows of `partition_days`, so several
workers share a backfill. A backfill (no cursor yet) cuts the last `BACKFILL_HORIZON` so, and
reads everything older in one open-ended window. Other streams (Stripe, Metronome) list or read
events with no time filter worth splitting on, so windows would only multiply their calls: they
are one task each. Windows are `[since, until)`, adjacent and covering the whole range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from tieout.connectors.base import StreamSpec

BACKFILL_HORIZON = timedelta(days=365)
"""How far back a backfill is cut into windows; older records are one window (most data is recent)."""


@dataclass(frozen=True)
class Partition:
    system: str
    stream: str
    since: datetime | None
    until: datetime

    @property
    def name(self) -> str:
        start = self.since.isoformat() if self.since else "start"
        return f"{self.system}:{self.stream}:{start}..{self.until.isoformat()}"


def partitions(
    system: str, spec: StreamSpec, since: datetime | None, until: datetime, *, partition_days: int
) -> list[Partition]:
    """The windows covering `[since, until)` of one stream (`since` None: from the beginning)."""
    if not spec.ordered or spec.cursor_field is None or (since is not None and since >= until):
        return [Partition(system, spec.name, since, until)]
    width = timedelta(days=partition_days)
    windows_back = math.ceil(BACKFILL_HORIZON / width)
    start = since if since is not None else until - windows_back * width
    windows = [] if since is not None else [Partition(system, spec.name, None, start)]
    edge = start
    while edge < until:
        end = min(edge + width, until)
        windows.append(Partition(system, spec.name, edge, end))
        edge = end
    return windows

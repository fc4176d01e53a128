"""How many header rows to ask SuiteQL for per page, so the page's detail queries fill their pages.

Each header page is followed by one detail query per kind of detail (lines, document links),
itself paged by 1,000 rows. A page of 1,000 payments with 1,050 applications costs two
application pages, the second nearly empty; 950 payments a page would cost one. From what the
last page carried per header row, `fitting_page_size` picks the page size with the fewest
expected calls per header row: the configured size, or one that fills a whole number of detail
pages with a little room to spare (the next page's mix varies).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

DETAIL_PAGE = 1000
ROOM = 0.97
"""Leave 3% of a detail page free when sizing for it, so a page a little richer still fits."""


def _calls_per_row(size: int, per_row: Mapping[str, float]) -> float:
    detail_calls = sum(max(1, math.ceil(size * ratio / ROOM / DETAIL_PAGE)) for ratio in per_row.values())
    return (1 + detail_calls) / size


def fitting_page_size(header_rows: int, detail_rows: Mapping[str, int], largest: int) -> int:
    """The header page size for the next page, given the last page's header and detail row counts."""
    if header_rows == 0:
        return largest
    per_row = {kind: rows / header_rows for kind, rows in detail_rows.items() if rows}
    candidates = {largest}
    for ratio in per_row.values():
        whole_pages = max(1, math.floor(largest * ratio / DETAIL_PAGE))
        candidates.add(min(largest, max(1, math.floor(whole_pages * DETAIL_PAGE * ROOM / ratio))))
    return min(sorted(candidates, reverse=True), key=lambda size: _calls_per_row(size, per_row))

"""Opportunity line items, read with as many opportunity ids a query as its request URI can carry.

A REST query travels in the URI, and Salesforce answers 414 to one longer than 16,384 bytes, so
what bounds an `OpportunityId IN (...)` list is its encoded length, not a count. SOQL takes an id
in its case-sensitive 15-character form as well as the 18-character one, and answers with the
18: listed as 15 characters an id costs 24 bytes URL-encoded (27 as 18), so one query names
about 650 opportunities. `attach` holds
opportunity pages until enough ids wait to fill a query (or the pull ends), then reads their
lines and yields the pages in order, each with its lines embedded as `OpportunityLineItems`. At
three lines a deal that fills 97% of a 2,000-row query page; one query per 200 opportunities
came back a quarter full and cost a call per page.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from tieout.connectors.base import RawRecord

from .client import SalesforceClient, without_attributes
from .soql import SObjectQuery, condition

Record = dict[str, Any]
URI_LIMIT = 16_000
"""Bytes of the whole request URL (scheme and host too), a little under Salesforce's 16,384-byte URI."""


def short_ids(ids: Sequence[str]) -> list[str]:
    """The 15-character form of each id: the shortest a query can name it by."""
    return [record_id[:15] for record_id in ids]


def fitting(
    ids: Sequence[str], soql_for: Callable[[Sequence[str]], str], length: Callable[[str], int]
) -> int:
    """How many of `ids`, from the front, one query can name within `URI_LIMIT` (at least one)."""
    if length(soql_for(ids)) <= URI_LIMIT:
        return len(ids)
    fits, too_many = 1, len(ids)
    while too_many - fits > 1:
        middle = (fits + too_many) // 2
        if length(soql_for(ids[:middle])) <= URI_LIMIT:
            fits = middle
        else:
            too_many = middle
    return fits


def id_chunks(
    ids: Sequence[str], soql_for: Callable[[Sequence[str]], str], length: Callable[[str], int]
) -> Iterator[Sequence[str]]:
    start = 0
    while start < len(ids):
        count = fitting(ids[start:], soql_for, length)
        yield ids[start : start + count]
        start += count


class LineItems:
    """Reads line items for opportunity pages and embeds them, one URI-full query of ids at a time."""

    def __init__(self, client: SalesforceClient, query: SObjectQuery) -> None:
        self.client = client
        self.query = query

    def soql(self, opportunity_ids: Sequence[str]) -> str:
        return self.query.select(
            [condition("OpportunityId", "IN", short_ids(opportunity_ids))], order_by=("OpportunityId", "Id")
        )

    def length(self, soql: str) -> int:
        return self.client.query_uri_length(soql, include_deleted=False)

    def _read(self, opportunity_ids: Sequence[str], found: dict[str, list[Record]]) -> None:
        body = self.client.query(self.soql(opportunity_ids), include_deleted=False)
        while True:
            for line in body["records"]:
                line = without_attributes(line)
                found.setdefault(str(line.get("OpportunityId")), []).append(line)
            if body["done"]:
                return
            body = self.client.query_more(body["nextRecordsUrl"])

    def attach(self, pages: Iterable[list[RawRecord]]) -> Iterator[list[RawRecord]]:
        """The pages in order, each once its live opportunities' lines are read, with them embedded."""
        waiting: deque[tuple[list[RawRecord], int]] = deque()  # a page, and how many ids end with it
        unread: list[str] = []
        queued = read = 0
        found: dict[str, list[Record]] = {}
        for page in pages:
            live = [record.source_id for record in page if not record.deleted]
            unread += live
            queued += len(live)
            waiting.append((page, queued))
            while unread:
                count = fitting(unread, self.soql, self.length)
                if count == len(unread):
                    break  # the next page's ids may still fit in this query
                self._read(unread[:count], found)
                del unread[:count]
                read += count
            while waiting and waiting[0][1] <= read:
                yield _embedded(waiting.popleft()[0], found)
        if unread:
            self._read(unread, found)
        while waiting:
            yield _embedded(waiting.popleft()[0], found)


def _embedded(page: list[RawRecord], found: dict[str, list[Record]]) -> list[RawRecord]:
    for record in page:
        lines = found.pop(record.source_id, [])
        record.payload["OpportunityLineItems"] = {"totalSize": len(lines), "done": True, "records": lines}
    return page

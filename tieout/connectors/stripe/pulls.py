"""Reading Stripe: full lists, incremental pulls through events, and what a mapper needs beside.

- No `since`: the list endpoint, newest first (so streams are not `ordered`), `limit` up to
  100 and `starting_after` the last id of the page, `created[lt]` for `until`, `expand[]` where
  it saves a call per object. `updated_at` is the object's `created`.
- With `since`: `GET /v1/events` with `types[]` of the stream, `created[gte]=since` and
  `created[lt]=until`. Events come newest first, so the first one seen for an object is its
  latest in the window: `updated_at` is that event's time, and its `data.object` is used as the
  object when it is the stream's own type and complete; otherwise the object is fetched: listed
  a hundred a call when several changed together, else retrieved once. Ids are deduplicated
  across pages, and events are read a hundred a call, so an unchanged stream costs one call.
- Stripe keeps events for 30 days: a `since` older than that (less a margin, by the clock or
  `until`, whichever is later) falls back to the full list, and says so in the log.
- The last page (an empty one when nothing changed) carries `watermark` = `until` (or now): the
  events (and a full list) were read up to then, so the cursor moves there even when no object changed, and the
  next pull reads events from there instead of falling back to a full list once the newest
  object is older than the event retention.

Beside each object the connector adds, under `tieout_lookups`: `updated_at` (unix seconds),
`more_lines` (invoice lines past the embedded first page) and `balance_transactions` (what an
automatic payout swept, from `GET /v1/balance_transactions?payout=`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from tieout.connectors.base import Page, RawRecord
from tieout.connectors.stripe.api import SYSTEM, StripeApi
from tieout.connectors.stripe.streams import StripeStream
from tieout.errors import MalformedResponse, NotFoundError
from tieout.mappings.stripe.common import LOOKUPS

log = logging.getLogger(__name__)

EVENT_RETENTION = timedelta(days=30)
RETENTION_MARGIN = timedelta(hours=1)
"""Events this close to the end of retention may be purged while a pull pages through them."""

MAX_PAGE = 100
_SWEPT_FIELDS = ("id", "type", "source", "amount", "fee", "net", "currency")

Clock = Callable[[], datetime]


def _unix_ceiling(moment: datetime) -> int:
    return math.ceil(moment.timestamp())


def _list_page(body: Any, what: str) -> tuple[list[dict[str, Any]], bool]:
    """The objects and `has_more` of a Stripe list object; anything else is MalformedResponse."""
    if not isinstance(body, dict) or body.get("object") != "list":
        raise MalformedResponse(f"{what} did not answer with a list object", system=SYSTEM)
    data, has_more = body.get("data"), body.get("has_more")
    if not isinstance(data, list) or not all(isinstance(item, dict) and "id" in item for item in data):
        raise MalformedResponse(f"{what} answered a list whose data are not objects with ids", system=SYSTEM)
    if not isinstance(has_more, bool):
        raise MalformedResponse(f"{what} answered a list without has_more", system=SYSTEM)
    return data, has_more


def _created(obj: Mapping[str, Any], what: str) -> int:
    created = obj.get("created")
    if isinstance(created, bool) or not isinstance(created, int):
        raise MalformedResponse(f"{what}: object {obj.get('id')!r} has no created time", system=SYSTEM)
    return created


def _created_or_none(obj: Mapping[str, Any]) -> int | None:
    created = obj.get("created")
    return created if isinstance(created, int) and not isinstance(created, bool) else None


class Puller:
    """One stream's pull: the pages it yields and the calls behind them."""

    def __init__(self, api: StripeApi, stream: StripeStream, page_size: int, clock: Clock) -> None:
        self.api = api
        self.stream = stream
        self.page_size = min(page_size, MAX_PAGE)
        self.clock = clock

    def pull(self, since: datetime | None, until: datetime | None) -> Iterator[Page]:
        last: Page | None = None
        for page in self.pages(since, until):
            if last is not None:
                yield last
            last = page
        yield Page(last.records if last is not None else [], watermark=until or self.clock())

    def pages(self, since: datetime | None, until: datetime | None) -> Iterator[Page]:
        if since is None:
            return self.full_list(until)
        reference = self.clock() if until is None else max(until, self.clock())
        if since < reference - EVENT_RETENTION + RETENTION_MARGIN:
            log.warning(
                "stripe %s: since %s is older than Stripe's %d-day event retention; pulling the full list",
                self.stream.name,
                since.isoformat(),
                EVENT_RETENTION.days,
            )
            return self.full_list(until)
        return self.changes(since, until)

    # -- full lists ---------------------------------------------------------------------------

    def full_list(self, until: datetime | None) -> Iterator[Page]:
        params: dict[str, Any] = {"limit": self.page_size}
        if self.stream.expand:
            params["expand"] = [f"data.{path}" for path in self.stream.expand]
        if until is not None:
            params["created"] = {"lt": _unix_ceiling(until)}
        what = f"GET {self.stream.path}"
        while True:
            objects, has_more = _list_page(self.api.get(self.stream.path, params), what)
            # An object without a usable created time is still that one record: its mapping fails
            # and files it, instead of the whole stream failing on it.
            records = [self._record(obj, _created_or_none(obj), deleted=False) for obj in objects]
            if records:
                yield Page(records)
            if not has_more or not objects:
                return
            params["starting_after"] = objects[-1]["id"]

    # -- changes through events ---------------------------------------------------------------

    def changes(self, since: datetime, until: datetime | None) -> Iterator[Page]:
        created: dict[str, int] = {"gte": _unix_ceiling(since)}
        if until is not None:
            created["lt"] = _unix_ceiling(until)
        params: dict[str, Any] = {
            "limit": MAX_PAGE,
            "types": list(self.stream.event_types),
            "created": created,
        }
        seen: set[str] = set()
        while True:
            events, has_more = _list_page(self.api.get("/v1/events", params), "GET /v1/events")
            changed: list[tuple[str, int, dict[str, Any] | None, bool]] = []
            hints: dict[str, int] = {}
            for event in events:
                target = self._target(event)
                if target is None:
                    continue
                object_id, obj, deleted = target
                if obj is not None and obj.get("object") == self.stream.object_type:
                    hints.setdefault(object_id, _created(obj, "GET /v1/events"))
                if object_id in seen:
                    continue
                seen.add(object_id)
                snapshot = obj if obj is not None and (self.stream.snapshot_complete or deleted) else None
                changed.append((object_id, _created(event, "GET /v1/events"), snapshot, deleted))
            fetched = self._fetch([oid for oid, _, snapshot, _ in changed if snapshot is None], hints)
            records = []
            for object_id, at, snapshot, deleted in changed:
                current = snapshot if snapshot is not None else fetched.get(object_id)
                if current is not None:
                    records.append(
                        self._record(current, at, deleted=deleted or current.get("deleted") is True)
                    )
            if records:
                yield Page(records)
            if not has_more or not events:
                return
            params["starting_after"] = events[-1]["id"]

    def _target(self, event: Mapping[str, Any]) -> tuple[str, dict[str, Any] | None, bool] | None:
        """(id of our object, the event's object when it is one of ours, deleted), or None."""
        data = event.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(obj, dict):
            raise MalformedResponse(f"event {event.get('id')!r} carries no data.object", system=SYSTEM)
        kind = obj.get("object")
        if kind == self.stream.object_type:
            object_id = obj.get("id")
            if not isinstance(object_id, str):
                raise MalformedResponse(f"event {event.get('id')!r}: its object has no id", system=SYSTEM)
            deleted = str(event.get("type", "")).endswith(".deleted") or obj.get("deleted") is True
            return object_id, obj, deleted
        pointer = self.stream.related.get(str(kind))
        related_id = obj.get(pointer) if pointer is not None else None
        if isinstance(related_id, dict):
            related_id = related_id.get("id")
        return (related_id, None, False) if isinstance(related_id, str) and related_id else None

    def _fetch(self, object_ids: list[str], created_at: Mapping[str, int]) -> dict[str, dict[str, Any]]:
        """The current objects, listing them where that is cheaper than one retrieval each.

        Changes cluster among recent objects, so when several ids come with their creation
        times the list (newest first, from the oldest of them) finds them a hundred a call; it
        stops after a third as many calls as there are ids, and the rest are retrieved.
        """
        found: dict[str, dict[str, Any]] = {}
        listable = [object_id for object_id in object_ids if object_id in created_at]
        if len(listable) >= 3:
            wanted = set(listable)
            params: dict[str, Any] = {
                "limit": MAX_PAGE,
                "created": {"gte": min(created_at[object_id] for object_id in listable)},
            }
            if self.stream.expand:
                params["expand"] = [f"data.{path}" for path in self.stream.expand]
            for _ in range(max(1, len(listable) // 3)):
                page, has_more = _list_page(self.api.get(self.stream.path, params), f"GET {self.stream.path}")
                found.update({obj["id"]: obj for obj in page if obj["id"] in wanted})
                if not has_more or not page or wanted <= found.keys():
                    break
                params["starting_after"] = page[-1]["id"]
        for object_id in object_ids:
            if object_id not in found:
                obj = self._retrieve(object_id)
                if obj is not None:
                    found[object_id] = obj
        return found

    def fetch(self, object_ids: Sequence[str]) -> Page:
        """The objects with these ids, retrieved one by one; ids Stripe no longer has are left out."""
        records = []
        for object_id in object_ids:
            obj = self._retrieve(object_id)
            if obj is not None:
                at = _created(obj, f"GET {self.stream.path}/{object_id}")
                records.append(self._record(obj, at, deleted=obj.get("deleted") is True))
        return Page(records)

    def _retrieve(self, object_id: str) -> dict[str, Any] | None:
        params = {"expand": list(self.stream.expand)} if self.stream.expand else {}
        try:
            body = self.api.get(f"{self.stream.path}/{object_id}", params)
        except NotFoundError:
            # Gone since the event (a deleted draft, a purged test object): its own event says so.
            log.info("stripe %s: %s no longer exists; skipped", self.stream.name, object_id)
            return None
        if not isinstance(body, dict) or body.get("id") != object_id:
            raise MalformedResponse(
                f"GET {self.stream.path}/{object_id} did not answer that object", system=SYSTEM
            )
        return body

    # -- what the mapper needs beside the object ------------------------------------------------

    def _record(self, obj: dict[str, Any], at: int | None, *, deleted: bool) -> RawRecord:
        lookups: dict[str, Any] = {"updated_at": at}
        if not deleted and self.stream.object_type == "invoice":
            more = self._more_lines(obj)
            if more is not None:
                lookups["more_lines"] = more
        if not deleted and self.stream.object_type == "payout" and obj.get("automatic") is True:
            lookups["balance_transactions"] = self._swept(obj["id"])
        return RawRecord(
            system=SYSTEM,
            stream=self.stream.name,
            source_id=str(obj["id"]),
            updated_at=datetime.fromtimestamp(at, UTC) if at is not None else None,
            payload={**obj, LOOKUPS: lookups},
            deleted=deleted,
        )

    def _more_lines(self, invoice: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        lines = invoice.get("lines")
        if not isinstance(lines, dict) or lines.get("has_more") is not True:
            return None
        embedded = lines.get("data")
        if not isinstance(embedded, list) or not embedded or not isinstance(embedded[-1], dict):
            raise MalformedResponse(
                f"invoice {invoice.get('id')!r}: has_more lines but none embedded", system=SYSTEM
            )
        path = f"/v1/invoices/{invoice['id']}/lines"
        params: dict[str, Any] = {"limit": MAX_PAGE, "starting_after": embedded[-1]["id"]}
        more: list[dict[str, Any]] = []
        while True:
            page, has_more = _list_page(self.api.get(path, params), f"GET {path}")
            more += page
            if not has_more or not page:
                return more
            params["starting_after"] = page[-1]["id"]

    def _swept(self, payout_id: str) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"payout": payout_id, "limit": MAX_PAGE}
        swept: list[dict[str, Any]] = []
        while True:
            page, has_more = _list_page(
                self.api.get("/v1/balance_transactions", params), "GET /v1/balance_transactions"
            )
            swept += [{key: txn.get(key) for key in _SWEPT_FIELDS} for txn in page]
            if not has_more or not page:
                return swept
            params["starting_after"] = page[-1]["id"]

"""The account's audit log (`GET /v1/auditLogs`): what changed, when, in time order.

Metronome logs every operation on the account, by API, UI or its own processes, as
`{id, timestamp, action, actor, request: {id}, resource_type, resource_id, description, status}`.
The emulator logs the writes that change what a sync reads: customers (created, renamed,
re-aliased, reconfigured, archived), contracts (created, archived) and invoices (created, draft
lines replaced, finalized, voided, their billing-provider or revenue-system copies updated).
Entries are kept ordered by (timestamp, sequence), so a scenario that writes history with a
frozen clock still lists in time order; `starting_on` is inclusive, `ending_before` exclusive,
`sort` is `date_asc` (default) or `date_desc`, and `next_page` continues after the last entry
(the dates then come from the cursor: metronome-sdk's pager sends the first request's again).
"""

from __future__ import annotations

import bisect
import threading
import uuid
from datetime import datetime
from typing import Any

from tieout.sandbox.metronome.wire import bad_request, decode_cursor, encode_cursor, iso

Record = dict[str, Any]
SYSTEM_ACTOR = {"id": "metronome", "name": "Metronome"}


class AuditLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: list[tuple[str, int]] = []  # (timestamp, sequence), sorted
        self._entries: list[Record] = []

    def record(self, at: datetime, resource_type: str, resource_id: str, action: str) -> None:
        with self._lock:
            sequence = len(self._entries) + 1
            key = (iso(at), sequence)
            entry = {
                "id": str(uuid.UUID(int=sequence, version=4)),
                "timestamp": key[0],
                "action": action,
                "actor": SYSTEM_ACTOR,
                "request": {"id": f"req-{sequence}"},
                "resource_type": resource_type,
                "resource_id": resource_id,
                "description": f"{resource_type} {resource_id}: {action}",
                "status": "success",
            }
            position = bisect.bisect(self._keys, key)
            self._keys.insert(position, key)
            self._entries.insert(position, entry)

    def page(
        self,
        *,
        limit: int,
        starting_on: datetime | None = None,
        ending_before: datetime | None = None,
        sort: str = "date_asc",
        next_page: str | None = None,
        resource_type: str | None = None,
        resource_id: str | None = None,
    ) -> tuple[list[Record], str | None]:
        if sort not in ("date_asc", "date_desc"):
            raise bad_request("sort must be date_asc or date_desc")
        if (resource_type is None) != (resource_id is None):
            raise bad_request("resource_type and resource_id must be given together")
        with self._lock:
            low = bisect.bisect_left(self._keys, (iso(starting_on), 0)) if starting_on else 0
            high = (
                bisect.bisect_left(self._keys, (iso(ending_before), 0)) if ending_before else len(self._keys)
            )
            if next_page is not None:
                after = decode_cursor(next_page)
                low, high = int(after["low"]), int(after["high"])
            step = 1 if sort == "date_asc" else -1
            positions = range(low, high) if step == 1 else range(high - 1, low - 1, -1)
            rows: list[Record] = []
            for position in positions:
                entry = self._entries[position]
                if resource_type is not None and (entry["resource_type"], entry["resource_id"]) != (
                    resource_type,
                    resource_id,
                ):
                    continue
                if len(rows) == limit:
                    rest = (
                        {"low": position, "high": high} if step == 1 else {"low": low, "high": position + 1}
                    )
                    return rows, encode_cursor(rest)
                rows.append(dict(entry))
            return rows, None

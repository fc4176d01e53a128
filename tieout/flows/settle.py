"""Settling pushes a crash left pending: writes that landed but were never confirmed.

A sync killed after a push went out and before the ledger confirmed it leaves a pending entry.
The restart pulls the target first, so it sees the record the push made, and the flow no
longer plans that write: the entry would stay pending, and the record unlinked, for ever. Before
a flow pushes, its pending entries are settled against the fresh snapshot:

- a pending write of this flow's (reserved by one of its runs) that its fresh plan no longer
  contains, whose source record has a twin in the target, is confirmed with the twin's id and
  linked to it in the crosswalk, as the push would have done (the target shows the record, or
  the values, the write was sending);
- a pending update of this flow's with no twin to link (a write-back onto the source record
  itself) is confirmed: the fresh plan has nothing left to write.

Only the flow that reserved a write settles it: another flow writing to the same target plans
other records, so a write missing from its plan says nothing about whether that write is needed.

Anything else stays pending, and the flow sends it again under the same key.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime

from tieout.model import RECORD_TYPES
from tieout.reconcile.snapshot import Snapshot
from tieout.store import Store
from tieout.store.ledger import LedgerEntry


def _reserved_by(store: Store, entry: LedgerEntry, flow: str) -> bool:
    if entry.run_id is None:
        return False
    with store.transaction() as tx:
        run = tx.get_run(entry.run_id)
    return run is not None and run.job == f"flow:{flow}"


def _landed_as(entry: LedgerEntry, snapshot: Snapshot) -> tuple[str, str, str, str] | None:
    """(kind, source system, source id, target id) when the source record has a twin in the target."""
    system, _, rest = entry.source_record_id.partition(":")
    kind, _, native_id = rest.partition(":")
    record_type = RECORD_TYPES.get(kind)
    source = snapshot.get(record_type, system, native_id) if record_type is not None else None
    twin = snapshot.twin(source, entry.target_system) if source is not None else None
    return (kind, system, native_id, twin.native_id) if twin is not None else None


def settle_pending(
    store: Store,
    snapshot: Snapshot,
    *,
    flow: str,
    target_system: str,
    planned_sources: Collection[str],
    clock: Callable[[], datetime],
) -> int:
    """Confirm the target's pending entries a crash left behind; how many were settled."""
    with store.transaction() as tx:
        pending = tx.pending_pushes(target_system)
    settled = 0
    for entry in pending:
        if entry.source_record_id in planned_sources or not _reserved_by(store, entry, flow):
            continue  # the flow sends it again now, under the same key; or it is another flow's
        now = clock()
        landed = _landed_as(entry, snapshot)
        if landed is not None:
            kind, system, native_id, target_id = landed
            with store.transaction() as tx:
                tx.mark_push(entry.idempotency_key, status="confirmed", at=now, target_id=target_id)
                if (system, native_id) != (target_system, target_id):
                    tx.link(
                        kind,
                        [(system, native_id), (target_system, target_id)],
                        established_by="push:settled",
                        at=now,
                    )
            settled += 1
        elif entry.operation == "update":
            with store.transaction() as tx:
                tx.mark_push(entry.idempotency_key, status="confirmed", at=now)
            settled += 1
    return settled

"""Running each check over the records its screen selected, not over every record.

The columnar projection is caught up, each check's screen picks the records it must see, those
records (only those) are read from the store and decoded, and the check runs unchanged on a
`Snapshot` of them, ordered as a full snapshot orders them so that twins are tried in the same
order. A record decoded for one check is reused by the next. A check with no screen sees every
record, so a new rule is correct before it is fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tieout.findings import Finding
from tieout.model import RECORD_TYPES, CanonicalRecord
from tieout.reconcile.columnar import Facts
from tieout.reconcile.rules.base import Check
from tieout.reconcile.scopes import Screen
from tieout.reconcile.snapshot import Snapshot
from tieout.store import Store
from tieout.store.records import decode_canonical

_KIND_ORDER = {kind: position for position, kind in enumerate(RECORD_TYPES)}


@dataclass
class ScopedRun:
    findings: list[Finding]
    records_read: int


class ScopedChecks:
    def __init__(self, store: Store, facts: Facts, screens: Mapping[frozenset[str], Screen]) -> None:
        self.store = store
        self.facts = facts
        self.screens = screens
        self._decoded: dict[str, CanonicalRecord] = {}
        self._screened: dict[Screen, set[str]] = {}

    def run(self, checks: Sequence[Check], wanted: set[str]) -> ScopedRun:
        found: list[Finding] = []
        for check in checks:
            if not check.codes & wanted:
                continue
            snapshot = self._snapshot(self._scope(check))
            found += [finding for finding in check.run(snapshot) if finding.rule_code in wanted]
        return ScopedRun(found, len(self._decoded))

    def _scope(self, check: Check) -> set[str]:
        screen = self.screens.get(frozenset(check.codes))
        if screen is None:
            return {row[0] for row in self.facts.db.execute("SELECT record_id FROM facts").fetchall()}
        if screen not in self._screened:
            self._screened[screen] = screen(self.facts)
        return self._screened[screen]

    def _snapshot(self, record_ids: set[str]) -> Snapshot:
        self._decode(sorted(record_ids - set(self._decoded)))
        records = sorted(
            (self._decoded[record_id] for record_id in record_ids if record_id in self._decoded),
            key=lambda record: (_KIND_ORDER.get(record.kind, len(_KIND_ORDER)), record.record_id),
        )
        return Snapshot(records, self._crosswalk(records))

    def _decode(self, record_ids: list[str]) -> None:
        with self.store.transaction() as tx:
            rows = tx.canonical_rows(record_ids)
        for record_id, kind, _, payload, _, deleted, _ in rows:
            if not deleted:
                self._decoded[record_id] = decode_canonical(kind, payload)

    def _crosswalk(self, records: list[CanonicalRecord]) -> dict[tuple[str, str, str], str]:
        if not records:
            return {}
        rows = self.facts.db.execute(
            "SELECT kind, system, native_id, entity_id FROM facts WHERE entity_id IS NOT NULL "
            "AND record_id IN (SELECT unnest(?))",
            [[record.record_id for record in records]],
        ).fetchall()
        return {(kind, system, native_id): entity_id for kind, system, native_id, entity_id in rows}

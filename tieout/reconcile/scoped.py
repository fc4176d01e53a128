"""Running each check over the records its screen selected, not over every record.

The columnar projection is caught up, each check's screen picks the records it must see, those
records (only those) are read from the store and decoded, and the check runs unchanged on a
`Snapshot` of them, ordered as a full snapshot orders them so that twins are tried in the same
order. A record decoded for one check is reused by the next. A check with no screen sees every
record, so a new rule is correct before it is fast.

Given a `Change`, the screens keep only what it reaches, and each check names the open exceptions
of its rules the run settles: those naming a record of the check's region. The engine resolves
the settled ones not found again and leaves the others as they are.
"""

# The region is SQL composed by the screens from constant fragments; values are bound.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tieout.findings import Finding
from tieout.model import RECORD_TYPES, CanonicalRecord
from tieout.reconcile.changes import Change
from tieout.reconcile.closure import Scope, Screen
from tieout.reconcile.columnar import Facts
from tieout.reconcile.rules.base import Check
from tieout.reconcile.snapshot import Snapshot
from tieout.store import Store
from tieout.store.records import decode_canonical

_KIND_ORDER = {kind: position for position, kind in enumerate(RECORD_TYPES)}


@dataclass
class ScopedRun:
    findings: list[Finding]
    records_read: int
    settled: dict[str, list[str]] = field(default_factory=dict)
    """fingerprint -> record ids of the open exceptions this run settles."""
    change: Change | None = None
    """What the screens were restricted to (None: every record was looked at)."""


class ScopedChecks:
    def __init__(
        self,
        store: Store,
        facts: Facts,
        screens: Mapping[frozenset[str], Screen],
        change: Change | None = None,
    ) -> None:
        self.store = store
        self.facts = facts
        self.screens = screens
        self.change = change
        self._decoded: dict[str, CanonicalRecord] = {}
        self._screened: dict[Screen, Scope] = {}
        self._open: dict[str, tuple[str, list[str]]] = {}

    def run(self, checks: Sequence[Check], wanted: set[str]) -> ScopedRun:
        result = ScopedRun([], 0, change=self.change)
        with self.store.transaction() as tx:
            self._open = tx.open_exception_rules(sorted(wanted))
        named = [(key, rule, record_id) for key, (rule, ids) in self._open.items() for record_id in ids]
        self.facts.temp_table(
            "open_named",
            {
                "fingerprint": [item[0] for item in named],
                "rule_code": [item[1] for item in named],
                "record_id": [item[2] for item in named],
            },
        )
        for check in checks:
            codes = check.codes & wanted
            if not codes:
                continue
            scope = self._scope(check)
            snapshot = self._snapshot(scope.record_ids)
            result.findings += [finding for finding in check.run(snapshot) if finding.rule_code in wanted]
            result.settled.update(self._settled(sorted(codes), scope.region))
        result.records_read = len(self._decoded)
        return result

    def _scope(self, check: Check) -> Scope:
        screen = self.screens.get(frozenset(check.codes))
        if screen is None:
            return Scope({row[0] for row in self.facts.db.execute("SELECT record_id FROM facts").fetchall()})
        if screen not in self._screened:
            self._screened[screen] = screen(self.facts, self.change)
        return self._screened[screen]

    def _settled(self, codes: list[str], region: str | None) -> dict[str, list[str]]:
        """The open exceptions of these rules the run settles: all of them, or those naming a record of the region."""
        if region is None:
            return {key: ids for key, (rule, ids) in self._open.items() if rule in codes}
        settled = (
            f"SELECT DISTINCT fingerprint FROM open_named WHERE rule_code IN (SELECT unnest(?)) "
            f"AND record_id IN ({region})"
        )
        reached = self.facts.db.execute(settled, [codes]).fetchall()
        return {row[0]: self._open[row[0]][1] for row in reached}

    def _snapshot(self, record_ids: set[str]) -> Snapshot:
        self._decode(sorted(record_ids - set(self._decoded)))
        records = sorted(
            (self._decoded[record_id] for record_id in record_ids if record_id in self._decoded),
            key=lambda record: (_KIND_ORDER.get(record.kind, len(_KIND_ORDER)), record.record_id),
        )
        return Snapshot(records, self._crosswalk(records))

    def _decode(self, record_ids: list[str]) -> None:
        """Decode these records: those the catch-up just read from what it read, the rest from the store."""
        known = self.facts.read_rows
        rows = [known[record_id] for record_id in record_ids if record_id in known]
        missing = [record_id for record_id in record_ids if record_id not in known]
        if missing:
            with self.store.transaction() as tx:
                rows += tx.canonical_rows(missing)
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

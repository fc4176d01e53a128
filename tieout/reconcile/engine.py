"""Running reconciliation: every check over one snapshot, findings filed, vanished ones resolved.

A run loads one `Snapshot` of the canonical records, runs the checks for the selected rules,
files each finding (a new exception, a refreshed one, or a reopened one: the fingerprint says
which) and resolves the open exceptions of those rules that were not found again, because their
mismatch is gone. Running it twice without a change in the data changes nothing in the queue.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tieout.errors import ConfigError, ConfigProblem
from tieout.findings import Finding
from tieout.reconcile.rules import all_checks, all_rules
from tieout.reconcile.rules.base import Check, Rule
from tieout.reconcile.snapshot import Snapshot
from tieout.store import Store


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ReconcileResult:
    rules: list[str]
    found: Counter[str] = field(default_factory=Counter)
    opened: int = 0
    refreshed: int = 0
    reopened: int = 0
    still_ignored: int = 0
    resolved: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "rules": self.rules,
            "found": dict(sorted(self.found.items())),
            "opened": self.opened,
            "refreshed": self.refreshed,
            "reopened": self.reopened,
            "still_ignored": self.still_ignored,
            "resolved": self.resolved,
            "seconds": round(self.seconds, 3),
        }


class Reconciler:
    def __init__(
        self,
        store: Store,
        *,
        value_maps: Mapping[str, Mapping[str, str]] | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.store = store
        self.clock = clock
        self.checks: list[Check] = all_checks(value_maps or {})
        self.rules: dict[str, Rule] = {rule.code: rule for rule in all_rules(self.checks)}

    def select(self, codes: Iterable[str] | None) -> list[str]:
        if not codes:
            return sorted(self.rules)
        chosen = [code.upper() for code in codes]
        unknown = [code for code in chosen if code not in self.rules]
        if unknown:
            known = ", ".join(sorted(self.rules))
            raise ConfigError(
                [
                    ConfigProblem(
                        "command line", None, "--rule", f"unknown rule {', '.join(unknown)} (rules: {known})"
                    )
                ]
            )
        return chosen

    def findings(self, snapshot: Snapshot, codes: list[str]) -> list[Finding]:
        wanted = set(codes)
        found: list[Finding] = []
        for check in self.checks:
            if check.codes & wanted:
                found += [finding for finding in check.run(snapshot) if finding.rule_code in wanted]
        return found

    def run(self, codes: Iterable[str] | None = None, *, run_id: str | None = None) -> ReconcileResult:
        started = time.monotonic()
        selected = self.select(codes)
        snapshot = Snapshot.load(self.store)
        findings = self.findings(snapshot, selected)
        result = ReconcileResult(rules=selected, found=Counter(finding.rule_code for finding in findings))
        now = self.clock()
        current = {finding.fingerprint for finding in findings}
        with self.store.transaction() as tx:
            counts = tx.file_findings(findings, at=now, run_id=run_id)
            gone = [
                fingerprint for fingerprint in tx.open_fingerprints(selected) if fingerprint not in current
            ]
            result.resolved = tx.auto_resolve(gone, at=now, note="reconcile no longer finds this mismatch")
        result.opened, result.refreshed = counts["opened"], counts["refreshed"]
        result.reopened, result.still_ignored = counts["reopened"], counts["ignored"]
        result.seconds = time.monotonic() - started
        return result

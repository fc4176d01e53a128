"""Running reconciliation: every check, findings filed, vanished ones resolved.

The columnar engine (the default) catches the DuckDB projection up with the store's change log,
lets each check's screen pick the records it must see, and runs the check over those only
(`scoped.py`). The row engine loads one `Snapshot` of every canonical record and runs every
check over it; it is the reference the columnar engine is tested against. Either way each
finding is filed (a new exception, a refreshed one, or a reopened one: the fingerprint says
which) and the open exceptions of the selected rules that were not found again are resolved,
because their mismatch is gone. Running it twice without a change in the data changes nothing
in the queue.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tieout.errors import ConfigError, ConfigProblem
from tieout.findings import Finding
from tieout.model import RECORD_TYPES
from tieout.reconcile import summaries
from tieout.reconcile.base_amounts import RateBook, configured_rates
from tieout.reconcile.changes import Change
from tieout.reconcile.columnar import Facts, cache_path_for
from tieout.reconcile.rules import all_checks, all_rules
from tieout.reconcile.rules.base import Check, Rule
from tieout.reconcile.scoped import ScopedChecks
from tieout.reconcile.scopes import screens
from tieout.reconcile.snapshot import Snapshot
from tieout.store import Store

if TYPE_CHECKING:
    from tieout.config import TieoutConfig

ENGINES = ("columnar", "rows")


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
    projected: int = 0
    """Records whose columnar projection was (re)built in this run."""
    records_read: int = 0
    """Canonical records read and decoded for the checks."""
    open_total: int = 0
    """Open exceptions of the selected rules in the queue after the run."""
    incremental: bool = False
    """Whether the run looked only at what changed since the last complete run (and what that reaches)."""

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
            "projected": self.projected,
            "records_read": self.records_read,
            "open_total": self.open_total,
            "incremental": self.incremental,
        }


class Reconciler:
    def __init__(
        self,
        store: Store,
        *,
        value_maps: Mapping[str, Mapping[str, str]] | None = None,
        clock: Callable[[], datetime] = _now,
        engine: str = "columnar",
        facts_path: Path | None = None,
    ) -> None:
        """`facts_path` is where the columnar projection is kept between runs; by default beside a
        SQLite store, and in memory (rebuilt each run) for PostgreSQL."""
        if engine not in ENGINES:
            raise ValueError(f"reconcile engine is one of {', '.join(ENGINES)}, not {engine!r}")
        self.store = store
        self.clock = clock
        self.engine = engine
        self.facts_path = facts_path
        self.value_maps = {name: dict(values) for name, values in (value_maps or {}).items()}
        self.screens = screens((value_maps or {}).get("netsuite_subsidiary", {}))
        self.rates = configured_rates(value_maps or {})
        self.checks: list[Check] = all_checks(value_maps or {})
        self.rules: dict[str, Rule] = {rule.code: rule for rule in all_rules(self.checks)}
        material = json.dumps([_release(), sorted(self.rules), self.value_maps], sort_keys=True, default=str)
        self.configuration = int.from_bytes(
            hashlib.sha256(material.encode()).digest()[:8], "big", signed=True
        )
        """A fingerprint of what the findings depend on besides the records: the rules (and the tieout
        release that implements them) and the value maps."""

    @classmethod
    def from_config(
        cls, config: TieoutConfig, store: Store, *, clock: Callable[[], datetime] = _now
    ) -> Reconciler:
        """The reconciler the configuration describes: its value maps, and where its projection is kept."""
        return cls(
            store, value_maps=config.field_mappings.value_maps, clock=clock, facts_path=config.reconcile_cache
        )

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

    def collect(self, selected: list[str], *, full: bool = False) -> tuple[list[Finding], int, int]:
        """Every finding of these rules; with the records projected and the records decoded to get them.

        `full` recomputes the screens' derived tables from the whole projection; otherwise only the
        twin groups the change log touched since the last run are recomputed."""
        if self.engine == "rows":
            collected = self._collect_rows(selected)
        else:
            facts = self._facts()
            try:
                collected = self._collect_columnar(facts, selected, full=full, incremental=False)
            finally:
                facts.close()
        return collected.findings, collected.projected, collected.records_read

    def _facts(self) -> Facts:
        return Facts(self.store, self.facts_path or cache_path_for(self.store))

    def _collect_rows(self, selected: list[str]) -> _Collected:
        snapshot = Snapshot.load(self.store)
        findings = RateBook.from_snapshot(snapshot, self.rates).apply(self.findings(snapshot, selected))
        with self.store.transaction() as tx:
            settled = {key: ids for key, (_, ids) in tx.open_exception_rules(selected).items()}
        return _Collected(findings, settled, 0, sum(1 for _ in snapshot.all_records()), None)

    def _collect_columnar(
        self, facts: Facts, selected: list[str], *, full: bool, incremental: bool
    ) -> _Collected:
        """With `incremental`, only what the change since the last complete run reaches is looked at,
        when the projection can say what that is: it was caught up from where that run left it,
        with the same rules and configuration. Otherwise every record is."""
        settled_at, configured = facts.meta("settled"), facts.meta("configuration")
        changed, _ = facts.catch_up()
        change = Change(facts) if facts.caught_up_from is not None and not full else None
        summaries.refresh(facts, change, full=full)
        reachable = (
            incremental
            and settled_at == facts.caught_up_from
            and configured == self.configuration
            and set(selected) == set(self.rules)
        )
        scoped = ScopedChecks(self.store, facts, self.screens, change if reachable else None).run(
            self.checks, set(selected)
        )
        findings = RateBook.from_facts(facts, self.rates, scoped.findings).apply(scoped.findings)
        return _Collected(findings, scoped.settled, changed, scoped.records_read, scoped.change)

    def run(
        self,
        codes: Iterable[str] | None = None,
        *,
        run_id: str | None = None,
        since: date | None = None,
        full: bool = False,
    ) -> ReconcileResult:
        """Reconcile the selected rules (all by default).

        On the columnar engine a run looks only at what changed since the last complete run (all
        rules, no `since`) and what that reaches; `full` looks at every record again. With `since`,
        only findings that name a record changed or dated on or after that day are filed, and only
        open exceptions that name one are resolved: the rest of the queue is left as it is, since
        those records were not looked at again.
        """
        started = time.monotonic()
        selected = self.select(codes)
        facts = None if self.engine == "rows" else self._facts()
        try:
            if facts is None:
                collected = self._collect_rows(selected)
            else:
                collected = self._collect_columnar(facts, selected, full=full, incremental=True)
            findings, open_records = collected.findings, collected.settled
            if since is not None and facts is not None:
                asked = {record_id for ids in open_records.values() for record_id in ids}
                named = {i for finding in findings for i in finding.record_ids}
                window = facts.changed_or_dated_since(asked | named, since)
                findings = [finding for finding in findings if _in_window(finding.record_ids, window)]
                open_records = {key: ids for key, ids in open_records.items() if _in_window(ids, window)}
            result = self._file(selected, findings, open_records, run_id)
            result.projected, result.records_read = collected.projected, collected.records_read
            result.incremental = collected.change is not None
            if facts is not None and since is None and set(selected) == set(self.rules):
                # Only now that the queue holds this run's findings may the next run start from here.
                facts.set_meta("settled", facts.watermark or 0)
                facts.set_meta("configuration", self.configuration)
                facts.prune_change_log()
        finally:
            if facts is not None:
                facts.close()
        result.seconds = time.monotonic() - started
        return result

    def _file(
        self,
        selected: list[str],
        findings: list[Finding],
        open_records: dict[str, list[str]],
        run_id: str | None,
    ) -> ReconcileResult:
        now = self.clock()
        result = ReconcileResult(rules=selected, found=Counter(finding.rule_code for finding in findings))
        current = {finding.fingerprint for finding in findings}
        with self.store.transaction() as tx:
            counts = tx.file_findings(findings, at=now, run_id=run_id)
            gone = [fingerprint for fingerprint in open_records if fingerprint not in current]
            result.resolved = tx.auto_resolve(gone, at=now, note="reconcile no longer finds this mismatch")
            result.open_total = tx.count_open(selected)
        result.opened, result.refreshed = counts["opened"], counts["refreshed"]
        result.reopened, result.still_ignored = counts["reopened"], counts["ignored"]
        return result


@dataclass
class _Collected:
    findings: list[Finding]
    settled: dict[str, list[str]]
    """fingerprint -> record ids of the open exceptions the run settles (resolved if not found)."""
    projected: int
    records_read: int
    change: Change | None


def _release() -> str:
    try:
        return importlib.metadata.version("tieout")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def parse_since(text: str) -> date:
    """A `--since` day as YYYY-MM-DD, or a usage error naming the option."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            [ConfigProblem("command line", None, "--since", f"{text!r} is not a day as YYYY-MM-DD")]
        ) from None


def _in_window(record_ids: Iterable[str], window: set[str]) -> bool:
    """A finding about no canonical record (an AR control account) is always in the window."""
    ids = list(record_ids)
    canonical = [
        record_id
        for record_id in ids
        if record_id.split(":")[1:2] and record_id.split(":")[1] in RECORD_TYPES
    ]
    return not canonical or any(record_id in window for record_id in canonical)

"""Scoring the exception queue against the scenario's answer key: precision and recall per defect kind.

An open exception matches a planted defect when its rule code is the defect's kind and it names
every record the answer key lists for the defect (the AR control check names a subsidiary, not
a record, so it matches by subsidiary). Each exception matches at most one defect. In sync mode a
defect the flows fix must leave no open exception behind, and one they cannot fix must be
flagged like in observe mode.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tieout.config import load_config
from tieout.reconcile.engine import Reconciler
from tieout.runner import SyncService
from tieout.sandbox.scenario.company import SUBSIDIARIES
from tieout.store import ExceptionQuery, Store, StoredException


@dataclass
class KindScore:
    """One defect kind: precision over what was found, recall over what should be flagged."""

    kind: str
    planted: int = 0
    found: int = 0
    matched: int = 0
    flagged: int = 0
    expected_fixed: int = 0
    fixed: int = 0

    @property
    def precision(self) -> float:
        return 1.0 if self.found == 0 else self.matched / self.found

    @property
    def recall(self) -> float:
        expected = self.planted - self.expected_fixed
        return 1.0 if expected == 0 else self.flagged / expected

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "planted": self.planted,
            "found": self.found,
            "matched": self.matched,
            "expected_fixed": self.expected_fixed,
            "fixed": self.fixed,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
        }


@dataclass
class Verification:
    mode: str
    kinds: dict[str, KindScore] = field(default_factory=dict)
    unmatched_defects: list[dict[str, Any]] = field(default_factory=list)
    unmatched_exceptions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def perfect(self) -> bool:
        return all(
            score.precision == 1.0 and score.recall == 1.0 and score.fixed == score.expected_fixed
            for score in self.kinds.values()
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "perfect": self.perfect,
            "kinds": [score.as_dict() for score in sorted(self.kinds.values(), key=lambda item: item.kind)],
            "unmatched_defects": self.unmatched_defects,
            "unmatched_exceptions": self.unmatched_exceptions,
        }


def _records_of(exception: StoredException) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for record_id in exception.record_ids:
        system, _, rest = record_id.partition(":")
        found[system].add(rest.partition(":")[2])
    return found


def _matches(
    defect: dict[str, Any], exception: StoredException, value_maps: dict[str, dict[str, str]]
) -> bool:
    if exception.rule_code != defect["kind"].upper():
        return False
    if defect["kind"] == "ar_control_mismatch":
        names = {subsidiary.key: subsidiary.name for subsidiary in SUBSIDIARIES}
        expected = value_maps.get("netsuite_subsidiary", {}).get(
            names.get(defect["detail"].get("subsidiary"), "")
        )
        return expected is not None and exception.subsidiary_id == expected
    records = _records_of(exception)
    return all(set(ids) <= records.get(system, set()) for system, ids in defect["records"].items())


def score(answer_key: dict[str, Any], exceptions: list[StoredException], *, mode: str) -> Verification:
    """Compare open exceptions with the planted defects."""
    value_maps = answer_key.get("value_maps", {})
    result = Verification(mode=mode)
    open_exceptions = [item for item in exceptions if item.status in ("open", "in_progress")]
    for code, count in Counter(item.rule_code for item in open_exceptions).items():
        result.kinds.setdefault(code, KindScore(code)).found = count
    taken: set[int] = set()
    for defect in answer_key["defects"]:
        code = defect["kind"].upper()
        kind = result.kinds.setdefault(code, KindScore(code))
        kind.planted += 1
        fixable = mode == "sync" and bool(defect["fixed_by_sync"])
        kind.expected_fixed += int(fixable)
        match = next(
            (
                item
                for item in open_exceptions
                if item.exception_id not in taken and _matches(defect, item, value_maps)
            ),
            None,
        )
        if match is None:
            if fixable:
                kind.fixed += 1
            else:
                result.unmatched_defects.append(defect)
            continue
        taken.add(match.exception_id)
        kind.matched += 1
        if fixable:
            result.unmatched_defects.append({**defect, "problem": "expected the sync flows to fix it"})
        else:
            kind.flagged += 1
    for item in open_exceptions:
        if item.exception_id not in taken:
            result.unmatched_exceptions.append(
                {"exception_id": item.exception_id, "rule_code": item.rule_code, "records": item.record_ids}
            )
    return result


def verification_config(config_path: Path, mode: str) -> Path:
    """A copy of the sandbox config in the given mode, with a fresh store of its own."""
    config = yaml.safe_load(config_path.read_text())
    config["mode"] = mode
    for leftover in config_path.parent.glob(f"verify-{mode}.db*"):
        leftover.unlink()
    config["store"] = {"url": f"sqlite:///verify-{mode}.db"}
    path = config_path.parent / f"verify-{mode}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def verify_running(description: dict[str, Any], mode: str) -> tuple[Verification, list[str]]:
    """Sync (and in sync mode, run the flows), reconcile, and score against the answer key."""
    answer_key = json.loads(Path(description["answer_key_path"]).read_text())
    config = load_config(verification_config(Path(description["config_path"]), mode))
    store = Store.open(config.store_url)
    service = SyncService(config, store)
    try:
        pulls = service.sync()
        flows = service.run_flows() if mode == "sync" else []
    finally:
        service.close()
    failed = [f"{item.system} {item.stream}: {item.error}" for item in pulls if item.status != "succeeded"]
    failed += [f"{flow.flow}: {flow.error}" for flow in flows if flow.error]
    Reconciler.from_config(config, store).run()
    with store.transaction() as tx:
        exceptions, _ = tx.query_exceptions(ExceptionQuery(limit=1_000_000))
    store.close()
    return score(answer_key, exceptions, mode=mode), failed

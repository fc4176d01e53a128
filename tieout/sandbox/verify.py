"""Scoring the exception queue against the scenario's answer key: precision and recall per defect kind.

An open exception matches a planted defect when its rule code is the defect's kind and it names
every record the answer key lists for the defect (the AR control check names a subsidiary, not
a record, so it matches by subsidiary). Each exception matches at most one defect. In sync mode a
defect the flows fix must leave no open exception behind, and one they cannot fix must be
flagged like in observe mode.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from tieout.sandbox.scenario.company import SUBSIDIARIES
from tieout.store import StoredException


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

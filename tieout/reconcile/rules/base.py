"""What a reconcile rule is: a stable code, words for accountants, a severity; and the checks.

A `Rule` is what the AR team sees: a code, a title, an explanation and a severity. A `Check` is
the code that finds problems: it looks at a `Snapshot` and returns `Finding`s for one or more
rules (one pass over paired invoices finds both total and currency differences), one per root
cause, each naming the records involved (which makes its fingerprint), the amount at risk in
the document currency, and the values side by side. `side_by_side()` builds that comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tieout.findings import Finding, Severity
from tieout.reconcile.snapshot import Snapshot


@dataclass(frozen=True)
class Rule:
    code: str
    title: str
    explanation: str
    """What the rule means and what usually fixes it, in an accountant's words."""
    severity: Severity
    version: int = 1


@dataclass(frozen=True)
class Check:
    rules: tuple[Rule, ...]
    run: Callable[[Snapshot], list[Finding]]

    @property
    def codes(self) -> set[str]:
        return {rule.code for rule in self.rules}


def side_by_side(systems: Sequence[str], fields: Sequence[tuple[str, Sequence[Any]]]) -> dict[str, Any]:
    """Details for the queue: each field's value in each system, and whether they differ."""
    rows = []
    for name, values in fields:
        shown = [None if value is None else str(value) for value in values]
        present = [value for value in shown if value is not None]
        rows.append(
            {"field": name, "values": shown, "differs": len(set(present)) > 1 or len(present) < len(shown)}
        )
    return {"systems": list(systems), "fields": rows}

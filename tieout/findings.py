"""A finding: one problem tieout found with the data, as it is filed in the exception queue.

Both the reconcile rules and the sync runner (records that fail mapping, pushes a target
rejects) produce findings. The fingerprint is stable for the same rule and the same records, so
filing a finding again updates the queue entry instead of adding a twin.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tieout.money import Money


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


def fingerprint_for(rule_code: str, *record_ids: str) -> str:
    """Stable across runs and record order: the rule plus the sorted ids of the records involved."""
    material = "\x1f".join([rule_code, *sorted(record_ids)])
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class Finding:
    rule_code: str
    title: str
    explanation: str
    severity: Severity
    record_ids: tuple[str, ...]
    details: dict[str, Any] = field(default_factory=dict)
    system: str | None = None
    customer_ref: str | None = None
    customer_name: str | None = None
    subsidiary_id: str | None = None
    amount_at_risk: Money | None = None
    base_amount_at_risk: Money | None = None
    rule_version: int = 1

    @property
    def fingerprint(self) -> str:
        return fingerprint_for(self.rule_code, *self.record_ids)


SYNC_MAPPING_FAILED = "SYNC_MAPPING_FAILED"
SYNC_PUSH_REJECTED = "SYNC_PUSH_REJECTED"

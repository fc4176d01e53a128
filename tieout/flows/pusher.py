"""Pushing through the ledger: every write is reserved under a deterministic key before it is sent.

A `PushIntent` says what one flow wants written where. `Pusher.push()` reserves it in the push
ledger (committed before the call goes out), sends it with the ledger's idempotency key,
confirms it with the target's id and links the two records in the crosswalk. A crash between
sending and confirming leaves a pending entry; the next run sends the same key again and the
target (Stripe Idempotency-Key, NetSuite externalId upsert, Salesforce external-id upsert,
Metronome uniqueness key) answers with the record it already made. A record the target refuses
is filed in the exception queue and the run goes on; a system-wide failure stops the flow.
With `dry_run`, nothing is reserved or sent: the plan is returned with field-level diffs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from tieout import jsonutil
from tieout.connectors.base import Connector
from tieout.errors import ConflictError, PushRejected, RecordError
from tieout.findings import SYNC_PUSH_REJECTED, Finding, Severity
from tieout.store import Store

Operation = Literal["create", "update"]


def idempotency_key(flow: str, target_system: str, source_record_id: str, *, version: str = "") -> str:
    """Stable for the same flow, target and source record (and payload version, for updates)."""
    material = "\x1f".join((flow, target_system, source_record_id, version))
    return "tieout-" + hashlib.sha256(material.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class PushIntent:
    flow: str
    target_system: str
    target_stream: str
    kind: str
    source_system: str
    source_native_id: str
    source_record_id: str
    operation: Operation
    payload: dict[str, Any]
    current: Mapping[str, Any] | None = None
    """The target's present values for the fields the payload sets, for dry-run diffs."""

    @property
    def payload_hash(self) -> str:
        return jsonutil.content_hash(self.payload)

    @property
    def key(self) -> str:
        version = self.payload_hash if self.operation == "update" else ""
        return idempotency_key(self.flow, self.target_system, self.source_record_id, version=version)


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any


def field_changes(intent: PushIntent) -> list[FieldChange]:
    """What the push would change, field by field (every field, for a create)."""
    current = intent.current or {}
    changes = []
    for name, value in sorted(intent.payload.items()):
        before = current.get(name)
        if intent.operation == "create" or before != value:
            changes.append(FieldChange(name, before, value))
    return changes


@dataclass
class PushOutcome:
    intent: PushIntent
    status: Literal["created", "updated", "unchanged", "rejected", "planned", "skipped"]
    target_id: str | None = None
    error: str | None = None
    changes: list[FieldChange] = field(default_factory=list)


@dataclass
class PushSummary:
    outcomes: list[PushOutcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)

    @property
    def pushed(self) -> int:
        return self.count("created") + self.count("updated")


def rejection_finding(intent: PushIntent, reason: str) -> Finding:
    return Finding(
        rule_code=SYNC_PUSH_REJECTED,
        title=f"{intent.target_system} refused a {intent.kind} from {intent.source_system}",
        explanation=(
            f"tieout tried to {intent.operation} the {intent.kind} {intent.source_native_id} from "
            f"{intent.source_system} in {intent.target_system}, and {intent.target_system} refused it: "
            f"{reason}. Nothing was written. Correct the record (or the field mapping) and the next "
            "sync tries again."
        ),
        severity=Severity.HIGH,
        record_ids=(intent.source_record_id, f"push:{intent.flow}:{intent.target_system}"),
        details={
            "flow": intent.flow,
            "target": intent.target_system,
            "reason": reason,
            "payload": intent.payload,
        },
        system=intent.target_system,
    )


class Pusher:
    def __init__(
        self,
        store: Store,
        connectors: Mapping[str, Connector],
        *,
        clock: Callable[[], datetime],
        run_id: str | None,
        secrets: Iterable[str] = (),
    ) -> None:
        self.store = store
        self.connectors = connectors
        self.clock = clock
        self.run_id = run_id
        self.secrets = tuple(secrets)

    def push(self, intents: Iterable[PushIntent], *, dry_run: bool = False) -> PushSummary:
        summary = PushSummary()
        for intent in intents:
            if dry_run:
                summary.outcomes.append(PushOutcome(intent, "planned", changes=field_changes(intent)))
                continue
            summary.outcomes.append(self._push_one(intent))
        return summary

    def _push_one(self, intent: PushIntent) -> PushOutcome:
        key = intent.key
        with self.store.transaction() as tx:
            entry = tx.reserve_push(
                idempotency_key=key,
                target_system=intent.target_system,
                target_stream=intent.target_stream,
                source_record_id=intent.source_record_id,
                operation=intent.operation,
                payload_hash=intent.payload_hash,
                at=self.clock(),
                run_id=self.run_id,
            )
        if entry.status == "confirmed" and entry.target_id is not None:
            self._link(intent, entry.target_id)
            return PushOutcome(intent, "unchanged", target_id=entry.target_id)
        connector = self.connectors[intent.target_system]
        try:
            result = connector.push(intent.target_stream, intent.payload, idempotency_key=key)
        except (PushRejected, RecordError, ConflictError) as exc:
            reason = str(exc)
            for secret in self.secrets:
                reason = reason.replace(secret, "***")
            now = self.clock()
            with self.store.transaction() as tx:
                ledger_status = "conflict" if isinstance(exc, ConflictError) else "failed"
                tx.mark_push(key, status=ledger_status, at=now, error=reason)
                tx.file_findings([rejection_finding(intent, reason)], at=now, run_id=self.run_id)
            return PushOutcome(intent, "rejected", error=reason)
        now = self.clock()
        with self.store.transaction() as tx:
            tx.mark_push(key, status="confirmed", at=now, target_id=result.target_id)
            tx.auto_resolve([rejection_finding(intent, "").fingerprint], at=now, note="the push went through")
        self._link(intent, result.target_id)
        return PushOutcome(
            intent, result.operation, target_id=result.target_id, changes=field_changes(intent)
        )

    def _link(self, intent: PushIntent, target_id: str) -> None:
        with self.store.transaction() as tx:
            tx.link(
                intent.kind,
                [(intent.source_system, intent.source_native_id), (intent.target_system, target_id)],
                established_by=f"push:{intent.flow}",
                at=self.clock(),
            )

"""Pushing through the ledger: every write is reserved under a deterministic key before it is sent.

A `PushIntent` says what one flow wants written where. `Pusher.push()` reserves it in the push
ledger (committed before the call goes out), sends it with the ledger's idempotency key,
confirms it with the target's id and links the two records in the crosswalk. A crash between
sending and confirming leaves a pending entry; the next run sends the same key again and the
target (Stripe Idempotency-Key, NetSuite externalId upsert, Salesforce external-id upsert,
Metronome uniqueness key) answers with the record it already made. A record the target refuses
is filed in the exception queue and the run goes on; a system-wide failure stops the flow.
With `dry_run`, nothing is reserved or sent: the plan is returned with field-level diffs.
A connector with a batch endpoint of its own (Salesforce sObject Collections) gets the intents for
one stream in one `push_batch` call, each item reserved and settled in the ledger as if alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from tieout import jsonutil
from tieout.connectors.base import Connector, PushResult
from tieout.errors import ConflictError, PushRejected, RecordError
from tieout.findings import SYNC_PUSH_REJECTED, Finding, Severity
from tieout.observability import metrics
from tieout.store import Store, StoreTransaction
from tieout.testing import killpoints

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
    fixed_key: str | None = None
    """A key the target itself needs to be this one (Metronome's ingest alias), instead of a derived one."""

    @property
    def payload_hash(self) -> str:
        return jsonutil.content_hash(self.payload)

    @property
    def key(self) -> str:
        if self.fixed_key is not None:
            return self.fixed_key
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
        batch: list[PushIntent] = []
        for intent in intents:
            if dry_run:
                summary.outcomes.append(PushOutcome(intent, "planned", changes=field_changes(intent)))
            elif self._batches(intent):
                if batch and (batch[0].target_system, batch[0].target_stream) != (
                    intent.target_system,
                    intent.target_stream,
                ):
                    summary.outcomes.extend(self._push_many(batch))
                    batch = []
                batch.append(intent)
            else:
                summary.outcomes.append(self._push_one(intent))
        if batch:
            summary.outcomes.extend(self._push_many(batch))
        return summary

    def _batches(self, intent: PushIntent) -> bool:
        """Whether the target has a batch endpoint of its own (not the one-by-one default)."""
        connector = self.connectors[intent.target_system]
        return getattr(type(connector), "push_batch", Connector.push_batch) is not Connector.push_batch

    def _reserve(self, intent: PushIntent) -> PushOutcome | None:
        """Reserve the intent in the ledger; the outcome when it was already confirmed, else None."""
        with self.store.transaction() as tx:
            entry = tx.reserve_push(
                idempotency_key=intent.key,
                target_system=intent.target_system,
                target_stream=intent.target_stream,
                source_record_id=intent.source_record_id,
                operation=intent.operation,
                payload_hash=intent.payload_hash,
                at=self.clock(),
                run_id=self.run_id,
            )
        if entry.status == "confirmed" and entry.target_id is not None:
            with self.store.transaction() as tx:
                self._link(tx, intent, entry.target_id)
            return PushOutcome(intent, "unchanged", target_id=entry.target_id)
        return None

    def _push_one(self, intent: PushIntent) -> PushOutcome:
        done = self._reserve(intent)
        if done is not None:
            return done
        killpoints.reached("push.after_reserve")
        connector = self.connectors[intent.target_system]
        try:
            result = connector.push(intent.target_stream, intent.payload, idempotency_key=intent.key)
        except (PushRejected, RecordError, ConflictError) as exc:
            return self._rejected(intent, exc)
        killpoints.reached("push.after_send")
        return self._confirmed(intent, result)

    def _push_many(self, intents: list[PushIntent]) -> list[PushOutcome]:
        outcomes: dict[int, PushOutcome] = {}
        pending: list[int] = []
        for index, intent in enumerate(intents):
            done = self._reserve(intent)
            if done is not None:
                outcomes[index] = done
            else:
                pending.append(index)
        if pending:
            killpoints.reached("push.after_reserve")
            first = intents[pending[0]]
            connector = self.connectors[first.target_system]
            answers = connector.push_batch(
                first.target_stream, [(intents[i].payload, intents[i].key) for i in pending]
            )
            killpoints.reached("push.after_send")
            failure: Exception | None = None
            for index, answer in zip(pending, answers, strict=True):
                if isinstance(answer, PushResult):
                    outcomes[index] = self._confirmed(intents[index], answer)
                elif isinstance(answer, PushRejected | RecordError | ConflictError):
                    outcomes[index] = self._rejected(intents[index], answer)
                else:
                    # A system-wide failure stops the flow, as it does one by one; what went
                    # through is confirmed first, what did not stays pending for the next run.
                    failure = failure or answer
            if failure is not None:
                raise failure
        return [outcomes[index] for index in range(len(intents))]

    def _rejected(self, intent: PushIntent, exc: Exception) -> PushOutcome:
        reason = str(exc)
        for secret in self.secrets:
            reason = reason.replace(secret, "***")
        now = self.clock()
        with self.store.transaction() as tx:
            ledger_status = "conflict" if isinstance(exc, ConflictError) else "failed"
            tx.mark_push(intent.key, status=ledger_status, at=now, error=reason)
            tx.file_findings([rejection_finding(intent, reason)], at=now, run_id=self.run_id)
        metrics.record_push(intent.target_system, intent.target_stream, refused=True)
        return PushOutcome(intent, "rejected", error=reason)

    def _confirmed(self, intent: PushIntent, result: PushResult) -> PushOutcome:
        now = self.clock()
        with self.store.transaction() as tx:
            tx.mark_push(intent.key, status="confirmed", at=now, target_id=result.target_id)
            tx.auto_resolve([rejection_finding(intent, "").fingerprint], at=now, note="the push went through")
            # In the confirming transaction: a crash after it must not leave a confirmed push unlinked.
            self._link(tx, intent, result.target_id)
        killpoints.reached("push.after_confirm")
        metrics.record_push(intent.target_system, intent.target_stream, refused=False)
        return PushOutcome(
            intent, result.operation, target_id=result.target_id, changes=field_changes(intent)
        )

    def _link(self, tx: StoreTransaction, intent: PushIntent, target_id: str) -> None:
        if (intent.target_system, target_id) == (intent.source_system, intent.source_native_id):
            return  # a write-back onto the source record itself links nothing new
        tx.link(
            intent.kind,
            [(intent.source_system, intent.source_native_id), (intent.target_system, target_id)],
            established_by=f"push:{intent.flow}",
            at=self.clock(),
        )

"""Resync: pull one record, a window or a whole stream again, outside the incremental order, and push it on.

`ResyncService` is what `tieout resync`, the exception queue's resolution actions and the
webhooks call. A resync stores what it pulls exactly like a sync page (raw, mapped, canonical,
per-record failures filed) but never moves the stream's cursor, so the scheduled syncs go on
from where they were. It then runs the flows for the records it pulled and no others (a dry run
plans them and shows the field diffs; it still stores what it pulled, as `tieout sync --dry-run`
does). Pushes go through the push ledger as always: a record already pushed is not pushed again.

From the exception queue, `resync_exception` pulls the source records an exception names and
re-checks its rule, so a mismatch fixed at the source closes; `repush_exception` sends the
exception's records through their flows again (a refused push is retried under its ledger key,
a confirmed one is not repeated). Both are audit events with the actor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tieout.config import TieoutConfig
from tieout.errors import ConnectorError, QueueError, TieoutError, UnknownException
from tieout.flows.runner import FlowResult
from tieout.reconcile.engine import Reconciler
from tieout.runner import PullScope, StreamResult, SyncService
from tieout.store import Store, StoredException


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ResyncResult:
    """One resync: what was pulled and stored, what the flows pushed (or would push), what failed."""

    system: str
    stream: str
    scope: str
    dry_run: bool
    pull: StreamResult | None = None
    missing: list[str] = field(default_factory=list)
    flows: list[FlowResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def pulled(self) -> int:
        return self.pull.pulled if self.pull else 0

    @property
    def mapped(self) -> int:
        return self.pull.mapped if self.pull else 0

    @property
    def failed(self) -> int:
        return self.pull.failed if self.pull else 0

    @property
    def pushed(self) -> int:
        return sum(flow.count("created") + flow.count("updated") for flow in self.flows)

    @property
    def ok(self) -> bool:
        return not self.errors and not any(flow.error for flow in self.flows)

    def as_dict(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "stream": self.stream,
            "scope": self.scope,
            "dry_run": self.dry_run,
            "run_id": self.pull.run_id if self.pull else None,
            "pulled": self.pulled,
            "mapped": self.mapped,
            "failed": self.failed,
            "pushed": self.pushed,
            "missing": self.missing,
            "flows": [flow.as_dict() for flow in self.flows if flow.outcomes or flow.error],
            "errors": self.errors,
        }


@dataclass
class ExceptionActionResult:
    """A resolution action taken from the queue, and the exception's status after it."""

    exception_id: int
    action: str
    resyncs: list[ResyncResult] = field(default_factory=list)
    flows: list[FlowResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    status: str = ""

    @property
    def ok(self) -> bool:
        return (
            not self.errors
            and all(item.ok for item in self.resyncs)
            and not any(flow.error for flow in self.flows)
        )

    def summary(self) -> str:
        parts = [f"{item.system} {item.stream}: {item.pulled} pulled" for item in self.resyncs]
        pushed = sum(flow.count("created") + flow.count("updated") for flow in self.flows)
        pushed += sum(item.pushed for item in self.resyncs)
        unchanged = sum(flow.count("unchanged") for flow in self.flows)
        rejected = sum(flow.count("rejected") for flow in self.flows)
        parts.append(f"{pushed} pushed, {unchanged} already there, {rejected} refused")
        parts += self.errors + self.notes
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "exception_id": self.exception_id,
            "action": self.action,
            "status": self.status,
            "resyncs": [item.as_dict() for item in self.resyncs],
            "flows": [flow.as_dict() for flow in self.flows if flow.outcomes or flow.error],
            "errors": self.errors,
            "notes": self.notes,
        }


class ResyncService:
    def __init__(
        self,
        config: TieoutConfig,
        store: Store,
        *,
        sync_service: SyncService | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.sync = sync_service or SyncService(config, store, clock=clock)

    # -- resync by record, window, backfill ------------------------------------------------------

    def resync_record(
        self, system: str, stream: str, record_id: str, *, dry_run: bool = False, trigger: str = "manual"
    ) -> ResyncResult:
        """Pull one record by its id in `system`, store it and send it through its flows."""
        return self.resync_records(system, stream, [record_id], dry_run=dry_run, trigger=trigger)

    def resync_records(
        self,
        system: str,
        stream: str,
        record_ids: Sequence[str],
        *,
        dry_run: bool = False,
        trigger: str = "manual",
    ) -> ResyncResult:
        ids = tuple(dict.fromkeys(record_ids))
        result = ResyncResult(system, stream, f"{len(ids)} record(s) by id", dry_run)
        return self._run(result, PullScope(record_ids=ids), trigger)

    def resync_window(
        self,
        system: str,
        stream: str,
        since: datetime | None,
        until: datetime | None,
        *,
        dry_run: bool = False,
        trigger: str = "manual",
    ) -> ResyncResult:
        """Pull the records updated in [since, until) again; the stream's cursor stays where it is."""
        for name, moment in (("since", since), ("until", until)):
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"{name} must be an aware datetime")
        if since is not None and until is not None and since >= until:
            raise ValueError(
                f"the window is empty: since {since.isoformat()} is not before {until.isoformat()}"
            )
        scope = f"window [{since.isoformat() if since else '-'}, {until.isoformat() if until else 'now'})"
        return self._run(ResyncResult(system, stream, scope, dry_run), PullScope(since, until), trigger)

    def backfill(
        self, system: str, stream: str, *, dry_run: bool = False, trigger: str = "manual"
    ) -> ResyncResult:
        """Pull every record of the stream again (its cursor stays where it is)."""
        return self._run(ResyncResult(system, stream, "everything", dry_run), PullScope(), trigger)

    def _run(self, result: ResyncResult, scope: PullScope, trigger: str) -> ResyncResult:
        pull = self.sync.sync_stream(result.system, result.stream, trigger=trigger, scope=scope)
        result.pull = pull
        if pull.status != "succeeded":
            result.errors.append(f"pulling {result.system} {result.stream} {pull.status}: {pull.error}")
            return result
        if scope.record_ids is not None:
            found = set(pull.source_ids)
            result.missing = [record_id for record_id in scope.record_ids if record_id not in found]
        if pull.record_ids:
            result.flows = self.sync.run_flows(dry_run=result.dry_run, sources=set(pull.record_ids))
        return result

    # -- resolution actions from the exception queue -------------------------------------------

    def resync_exception(self, exception_id: int, actor: str) -> ExceptionActionResult:
        """Pull the source records the exception names, re-check its rule; an audit event either way."""
        exception = self._exception(exception_id, actor)
        action = ExceptionActionResult(exception_id, "resynced")
        for (system, stream), native_ids in self._sources(exception, action.errors).items():
            try:
                action.resyncs.append(self.resync_records(system, stream, native_ids, trigger="exception"))
            except TieoutError as exc:
                action.errors.append(f"{system} {stream}: {exc}")
        reconciler = Reconciler.from_config(self.config, self.store, clock=self.clock)
        if exception.rule_code in reconciler.rules and all(item.pull for item in action.resyncs):
            reconciler.run([exception.rule_code])
        return self._audit(action, actor, exception.status)

    def repush_exception(self, exception_id: int, actor: str) -> ExceptionActionResult:
        """Send the exception's records through their flows again, through the push ledger."""
        exception = self._exception(exception_id, actor)
        action = ExceptionActionResult(exception_id, "repushed")
        sources = {record_id for record_id in exception.record_ids if record_id.count(":") >= 2}
        flow = exception.details.get("flow")
        flow_names = {flow} if isinstance(flow, str) else None
        try:
            action.flows = self.sync.run_flows(sources=sources, flow_names=flow_names)
        except TieoutError as exc:
            action.errors.append(str(exc))
        if not any(result.outcomes for result in action.flows) and not action.errors:
            action.notes.append(self._why_nothing_to_push(action.flows, flow_names))
        return self._audit(action, actor, exception.status)

    def _why_nothing_to_push(self, flows: list[FlowResult], flow_names: set[str] | None) -> str:
        if not flows:
            wanted = ", ".join(sorted(flow_names)) if flow_names else "any flow"
            return f"no flow to run: {wanted} needs its target system enabled and in sync mode"
        waiting = [f"{source}: {reason}" for flow in flows for source, reason in flow.skipped]
        if waiting:
            return "nothing pushed: " + "; ".join(waiting[:5])
        return "nothing to push: no flow plans a write for these records"

    def _exception(self, exception_id: int, actor: str) -> StoredException:
        if not actor.strip():
            raise QueueError("name who is acting (--as): the audit trail records it")
        with self.store.transaction() as tx:
            exception = tx.get_exception(exception_id)
        if exception is None:
            raise UnknownException(f"no exception #{exception_id}")
        return exception

    def _sources(self, exception: StoredException, errors: list[str]) -> dict[tuple[str, str], list[str]]:
        """(system, stream) -> native ids of the records the exception names that can be pulled."""
        grouped: dict[tuple[str, str], list[str]] = {}
        for record_id in exception.record_ids:
            located = self._locate(record_id)
            if located is None:
                continue
            system, stream, native_id = located
            grouped.setdefault((system, stream), []).append(native_id)
        if not grouped:
            errors.append(f"exception #{exception.exception_id} names no record tieout can pull again")
        return grouped

    def _locate(self, record_id: str) -> tuple[str, str, str] | None:
        """A canonical id (system:kind:native) or a failure's id (system:stream:native) -> its stream."""
        parts = record_id.split(":", 2)
        if len(parts) != 3 or parts[0] not in self.config.systems:
            return None
        system, kind_or_stream, native_id = parts
        try:
            specs = self.sync.connector(system).streams
        except (ConnectorError, TieoutError):
            return None
        for spec in specs:
            if spec.name == kind_or_stream:
                return system, spec.name, native_id
        matches = [spec.name for spec in specs if spec.kind == kind_or_stream]
        if len(matches) == 1:
            return system, matches[0], native_id
        with self.store.transaction() as tx:
            stored = [stream for stream in matches if tx.get_raw(system, stream, native_id) is not None]
        return (system, stored[0], native_id) if stored else None

    def _audit(self, action: ExceptionActionResult, actor: str, before: str) -> ExceptionActionResult:
        with self.store.transaction() as tx:
            current = tx.get_exception(action.exception_id)
            assert current is not None
            tx.add_event(
                action.exception_id,
                actor=actor,
                action=action.action,
                at=self.clock(),
                before={"status": before},
                after={"status": current.status},
                note=action.summary(),
            )
        action.status = current.status
        return action

    def close(self) -> None:
        self.sync.close()

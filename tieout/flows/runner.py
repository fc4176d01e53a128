"""Running the flows in sync mode: plan from a fresh snapshot, push through the ledger, re-read.

Each flow that runs for real gets a run record (job `flow:<name>`) with what it pushed, what the
target refused and the calls it made. Flows run in dependency order (deals before invoices before payments). After a flow pushes, the
target system is pulled again (incrementally), so the next flow and reconcile see the records
just created with their real ids, and what they changed (an invoice a payment was applied to). A flow whose target system is in observe mode does not run; a dry
run plans every flow and pushes nothing.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime

from tieout.connectors.base import Connector
from tieout.errors import TieoutError
from tieout.flows.definitions import FLOWS, Flow, FlowPlan, ValueMaps
from tieout.flows.pusher import Pusher, PushOutcome
from tieout.flows.settle import settle_pending
from tieout.observability import metrics, runs
from tieout.reconcile.snapshot import Snapshot
from tieout.stale_runs import fail_dead_runs
from tieout.store import Store


@dataclass
class FlowResult:
    flow: str
    title: str
    target: str
    outcomes: list[PushOutcome] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None

    def count(self, status: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)

    def as_dict(self) -> dict[str, object]:
        return {
            "flow": self.flow,
            "target": self.target,
            "planned": self.count("planned"),
            "created": self.count("created"),
            "updated": self.count("updated"),
            "unchanged": self.count("unchanged"),
            "rejected": self.count("rejected"),
            "skipped": len(self.skipped),
            "error": self.error,
            "changes": [
                {
                    "source": outcome.intent.source_record_id,
                    "operation": outcome.intent.operation,
                    "status": outcome.status,
                    "target_id": outcome.target_id,
                    "fields": [
                        {"field": c.field, "before": c.before, "after": c.after} for c in outcome.changes
                    ],
                }
                for outcome in self.outcomes
            ],
        }


class FlowRunner:
    def __init__(
        self,
        store: Store,
        connectors: Callable[[str], Connector],
        *,
        value_maps: ValueMaps,
        sync_systems: set[str],
        clock: Callable[[], datetime],
        refresh: Callable[[str], None],
        secrets: tuple[str, ...] = (),
        flows: tuple[Flow, ...] = FLOWS,
    ) -> None:
        self.store = store
        self.connectors = connectors
        self.value_maps = value_maps
        self.sync_systems = sync_systems
        self.clock = clock
        self.refresh = refresh
        self.secrets = secrets
        self.flows = flows

    def run(self, *, dry_run: bool = False, sources: Collection[str] | None = None) -> list[FlowResult]:
        """Run the flows; with `sources`, only the pushes planned for those canonical records."""
        results = []
        # One snapshot serves every flow until something changes the store: a push (and the
        # re-read of its target) or a settled pending entry; a dry run reads it once.
        snapshot: Snapshot | None = None
        for flow in self.flows:
            if flow.target not in self.sync_systems and not dry_run:
                continue
            result = FlowResult(flow.name, flow.title, flow.target)
            results.append(result)
            run_id = None if dry_run else self._start_run(flow)
            calls = 0
            try:
                if snapshot is None:
                    snapshot = Snapshot.load(self.store)
                full = flow.plan(snapshot, self.value_maps)
                plan = full
                if sources is not None:
                    plan = FlowPlan(
                        [intent for intent in full.intents if intent.source_record_id in sources],
                        [skip for skip in full.skipped if skip[0] in sources],
                    )
                result.skipped = plan.skipped
                # Settled against the whole plan: a write left out only because this run is
                # restricted to some records is still wanted, not to be taken as landed.
                if not dry_run and settle_pending(
                    self.store,
                    snapshot,
                    flow=flow.name,
                    target_system=flow.target,
                    planned_sources={intent.source_record_id for intent in full.intents},
                    clock=self.clock,
                ):
                    snapshot = None
                if plan.intents:
                    connector = self.connectors(flow.target)
                    before = connector.api_calls
                    pusher = Pusher(
                        self.store,
                        {flow.target: connector},
                        clock=self.clock,
                        run_id=run_id,
                        secrets=self.secrets,
                    )
                    try:
                        result.outcomes = pusher.push(plan.intents, dry_run=dry_run).outcomes
                    finally:
                        calls = connector.api_calls - before
                    if not dry_run and any(outcome.target_id for outcome in result.outcomes):
                        # Every stream of the target: a payment applied changes its invoices too.
                        self.refresh(flow.target)
                        snapshot = None
            except TieoutError as exc:
                result.error = str(exc)
                snapshot = None  # a flow stopped part-way may have confirmed and linked some pushes
            if run_id is not None:
                self._finish_run(run_id, result, calls)
        return results

    def _start_run(self, flow: Flow) -> str:
        run_id = str(uuid.uuid4())
        with self.store.transaction() as tx:
            fail_dead_runs(tx, f"flow:{flow.name}", at=self.clock())
            tx.start_run(
                run_id=run_id,
                job=f"flow:{flow.name}",
                system=flow.target,
                stream=None,
                trigger="flow",
                mode="sync",
                started_at=self.clock(),
                host=socket.gethostname(),
                pid=os.getpid(),
            )
        runs.bind(run_id, f"flow:{flow.name}")
        return run_id

    def _finish_run(self, run_id: str, result: FlowResult, api_calls: int) -> None:
        """The run record of a flow: what it pushed, what the target refused, the calls it made."""
        now = self.clock()
        with self.store.transaction() as tx:
            tx.add_run_counts(
                run_id,
                at=now,
                pushed=result.count("created") + result.count("updated"),
                failed=result.count("rejected"),
                api_calls=api_calls,
            )
            status = "failed" if result.error else "succeeded"
            tx.finish_run(run_id, status=status, at=now, error=result.error)
            run = tx.get_run(run_id)
        metrics.record_api_calls(result.target, api_calls)
        if run is not None:
            runs.finished(run)
        runs.release(run_id)

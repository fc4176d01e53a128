"""The exception queue's lifecycle: assign, resolve, ignore, reopen and comment, each audited.

    open ──assign──> in_progress ──resolve(note)──> resolved ──reopen──> open
      │                   │
      └──────────── ignore(reason) ──> ignored ──reopen──> open

An exception can also be resolved or ignored straight from open. Every action writes an audit
event (actor, action, time, before and after, note) in the same transaction as the change;
resolving needs a note and ignoring needs a reason, because an auditor will ask why. Reconcile
itself resolves an exception when its mismatch is gone and reopens it when it comes back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tieout.errors import InvalidTransition, UnknownException
from tieout.store import AuditEvent, ExceptionQuery, Store, StoredException, StoreTransaction


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ExceptionDetail:
    exception: StoredException
    events: list[AuditEvent]


class ExceptionQueue:
    def __init__(self, store: Store, *, clock: Callable[[], datetime] = _now) -> None:
        self.store = store
        self.clock = clock

    def list(self, query: ExceptionQuery) -> tuple[list[StoredException], int]:
        with self.store.transaction() as tx:
            return tx.query_exceptions(query)

    def show(self, exception_id: int) -> ExceptionDetail:
        with self.store.transaction() as tx:
            return ExceptionDetail(self._get(tx, exception_id), tx.events_for(exception_id))

    def assign(
        self, exception_id: int, assignee: str, *, actor: str, note: str | None = None
    ) -> StoredException:
        if not assignee.strip():
            raise InvalidTransition("name someone to assign the exception to")
        return self._change(
            exception_id,
            actor,
            "assigned",
            {"open", "in_progress"},
            {"status": "in_progress", "assignee": assignee},
            note,
        )

    def resolve(self, exception_id: int, *, actor: str, note: str) -> StoredException:
        if not note.strip():
            raise InvalidTransition("resolving needs a note saying what was done")
        return self._change(
            exception_id,
            actor,
            "resolved",
            {"open", "in_progress"},
            {"status": "resolved", "resolved_at": self.clock()},
            note,
        )

    def ignore(self, exception_id: int, *, actor: str, reason: str) -> StoredException:
        if not reason.strip():
            raise InvalidTransition("ignoring needs a reason, e.g. 'expected: manual credit agreed'")
        return self._change(
            exception_id,
            actor,
            "ignored",
            {"open", "in_progress"},
            {"status": "ignored", "resolved_at": self.clock()},
            reason,
        )

    def reopen(self, exception_id: int, *, actor: str, note: str | None = None) -> StoredException:
        return self._change(
            exception_id,
            actor,
            "reopened",
            {"resolved", "ignored"},
            {"status": "open", "resolved_at": None},
            note,
        )

    def comment(self, exception_id: int, *, actor: str, note: str) -> None:
        if not note.strip():
            raise InvalidTransition("a comment needs text")
        with self.store.transaction() as tx:
            self._get(tx, exception_id)
            tx.add_event(exception_id, actor=actor, action="commented", at=self.clock(), note=note)

    def _get(self, tx: StoreTransaction, exception_id: int) -> StoredException:
        found = tx.get_exception(exception_id)
        if found is None:
            raise UnknownException(f"no exception #{exception_id}")
        return found

    def _change(
        self,
        exception_id: int,
        actor: str,
        action: str,
        allowed_from: set[str],
        values: dict[str, Any],
        note: str | None,
    ) -> StoredException:
        with self.store.transaction() as tx:
            current = self._get(tx, exception_id)
            if current.status not in allowed_from:
                raise InvalidTransition(
                    f"exception #{exception_id} is {current.status}; it cannot be {action}"
                )
            before = {"status": current.status, "assignee": current.assignee}
            tx.update_exception(exception_id, **values)
            after = {
                "status": values.get("status", current.status),
                "assignee": values.get("assignee", current.assignee),
            }
            tx.add_event(
                exception_id,
                actor=actor,
                action=action,
                at=self.clock(),
                before=before,
                after=after,
                note=note,
            )
            return self._get(tx, exception_id)

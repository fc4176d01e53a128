"""Storage of the exception queue: exceptions by fingerprint and their append-only audit events.

Filing a finding inserts it (opened), refreshes it (still there), or reopens it (it had been
resolved and came back); an ignored exception stays ignored, because the AR team said that
difference is expected. Every status change writes an audit event in the same transaction;
the database refuses to update or delete audit events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from tieout import jsonutil
from tieout.findings import Finding
from tieout.store.schema import exception_events, exceptions

OPEN_STATUSES = ("open", "in_progress")
EXCEPTION_STATUSES = ("open", "in_progress", "resolved", "ignored")
SORTS = ("amount", "age", "newest", "id")


@dataclass(frozen=True)
class StoredException:
    exception_id: int
    fingerprint: str
    rule_code: str
    title: str
    explanation: str
    severity: str
    status: str
    assignee: str | None
    system: str | None
    customer_ref: str | None
    customer_name: str | None
    subsidiary_id: str | None
    currency: str | None
    amount_at_risk_minor: int | None
    record_ids: list[str]
    details: dict[str, Any]
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class ExceptionQuery:
    """Filters, sort and page for listing the queue; every filter is a bound parameter."""

    statuses: Sequence[str] = OPEN_STATUSES
    rule_codes: Sequence[str] = ()
    severities: Sequence[str] = ()
    assignee: str | None = None
    customer: str | None = None
    subsidiary_id: str | None = None
    currency: str | None = None
    first_seen_before: datetime | None = None
    first_seen_after: datetime | None = None
    customer_ref: str | None = None
    unassigned: bool = False
    sort: str = "amount"
    limit: int = 100
    offset: int = 0

    def conditions(self) -> list[Any]:
        conditions: list[Any] = []
        if self.statuses:
            conditions.append(exceptions.c.status.in_(list(self.statuses)))
        if self.rule_codes:
            conditions.append(exceptions.c.rule_code.in_(list(self.rule_codes)))
        if self.severities:
            conditions.append(exceptions.c.severity.in_(list(self.severities)))
        if self.assignee is not None:
            conditions.append(exceptions.c.assignee == self.assignee)
        if self.customer is not None:
            pattern = "%" + self.customer.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            conditions.append(
                exceptions.c.customer_name.ilike(pattern, escape="\\")
                | (exceptions.c.customer_ref == self.customer)
            )
        if self.subsidiary_id is not None:
            conditions.append(exceptions.c.subsidiary_id == self.subsidiary_id)
        if self.currency is not None:
            conditions.append(exceptions.c.currency == self.currency.upper())
        if self.first_seen_before is not None:
            conditions.append(exceptions.c.first_seen_at < self.first_seen_before)
        if self.first_seen_after is not None:
            conditions.append(exceptions.c.first_seen_at >= self.first_seen_after)
        if self.customer_ref is not None:
            conditions.append(exceptions.c.customer_ref == self.customer_ref)
        if self.unassigned:
            conditions.append(exceptions.c.assignee.is_(None))
        if self.sort not in SORTS:
            raise ValueError(f"sort by {', '.join(SORTS)}, not {self.sort!r}")
        return conditions


@dataclass(frozen=True)
class AuditEvent:
    event_id: int
    exception_id: int
    at: datetime
    actor: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    note: str | None


def _finding_values(finding: Finding, at: datetime, run_id: str | None) -> dict[str, Any]:
    amount = finding.amount_at_risk
    base = finding.base_amount_at_risk
    values: dict[str, Any] = {
        "rule_code": finding.rule_code,
        "rule_version": finding.rule_version,
        "title": finding.title,
        "explanation": finding.explanation,
        "severity": finding.severity.value,
        "system": finding.system,
        "customer_ref": finding.customer_ref,
        "customer_name": finding.customer_name,
        "subsidiary_id": finding.subsidiary_id,
        "currency": amount.currency if amount else None,
        "amount_at_risk_minor": amount.to_minor(rounding="ROUND_HALF_EVEN") if amount else None,
        "base_currency": base.currency if base else None,
        "base_amount_at_risk_minor": base.to_minor(rounding="ROUND_HALF_EVEN") if base else None,
        "record_ids": jsonutil.dumps(list(finding.record_ids)),
        "details": jsonutil.dumps(finding.details),
    }
    # What the queue shows of a finding; when it is unchanged, filing it again writes nothing.
    values["finding_hash"] = jsonutil.content_hash(values)
    return {**values, "last_seen_at": at, "run_id": run_id}


class QueueOps:
    connection: Connection

    def file_findings(
        self, findings: Sequence[Finding], *, at: datetime, run_id: str | None
    ) -> dict[str, int]:
        """File findings in batches; returns counts of opened, refreshed, reopened and still-ignored entries.

        A finding whose content (everything but when and by which run it was seen) is what was
        filed last time leaves its row alone, so a re-run over a million records writes only
        what changed.
        """
        counts = {"opened": 0, "refreshed": 0, "reopened": 0, "ignored": 0}
        unique = {finding.fingerprint: finding for finding in findings}
        existing: dict[str, Any] = {}
        fingerprints = list(unique)
        for start in range(0, len(fingerprints), 500):
            chunk = fingerprints[start : start + 500]
            for found in self.connection.execute(
                select(
                    exceptions.c.exception_id,
                    exceptions.c.fingerprint,
                    exceptions.c.status,
                    exceptions.c.finding_hash,
                ).where(exceptions.c.fingerprint.in_(chunk))
            ):
                existing[found.fingerprint] = found
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        refreshes: list[dict[str, Any]] = []
        reopened: list[int] = []
        for fingerprint, finding in unique.items():
            values = _finding_values(finding, at, run_id)
            row = existing.get(fingerprint)
            if row is None:
                inserts.append({"fingerprint": fingerprint, "status": "open", "first_seen_at": at, **values})
                counts["opened"] += 1
            elif row.status == "resolved":
                updates.append({"key": row.exception_id, "status": "open", "resolved_at": None, **values})
                reopened.append(row.exception_id)
                counts["reopened"] += 1
            else:
                if row.finding_hash != values["finding_hash"]:
                    refreshes.append({"key": row.exception_id, **values})
                counts["ignored" if row.status == "ignored" else "refreshed"] += 1
        if inserts:
            self.connection.execute(exceptions.insert(), inserts)
            opened = self._ids_of([row["fingerprint"] for row in inserts])
            self._add_events(opened, action="opened", at=at, after={"status": "open"})
        for batch in (updates, refreshes):
            if batch:
                self.connection.execute(
                    update(exceptions)
                    .where(exceptions.c.exception_id == bindparam("key"))
                    .values({name: bindparam(name) for name in batch[0] if name != "key"}),
                    batch,
                )
        self._add_events(
            reopened,
            action="reopened",
            at=at,
            before={"status": "resolved"},
            after={"status": "open"},
            note="the mismatch was found again",
        )
        return counts

    def _ids_of(self, fingerprints: Sequence[str]) -> list[int]:
        found: list[int] = []
        for start in range(0, len(fingerprints), 500):
            found += self.connection.execute(
                select(exceptions.c.exception_id)
                .where(exceptions.c.fingerprint.in_(list(fingerprints[start : start + 500])))
                .order_by(exceptions.c.exception_id)
            ).scalars()
        return found

    def _add_events(
        self,
        exception_ids: Sequence[int],
        *,
        action: str,
        at: datetime,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        note: str | None = None,
    ) -> None:
        """The same audit event for many exceptions, in one statement."""
        if not exception_ids:
            return
        self.connection.execute(
            exception_events.insert(),
            [
                {
                    "exception_id": exception_id,
                    "at": at,
                    "actor": "tieout",
                    "action": action,
                    "before": jsonutil.dumps(before) if before is not None else None,
                    "after": jsonutil.dumps(after) if after is not None else None,
                    "note": note,
                }
                for exception_id in exception_ids
            ],
        )

    def auto_resolve(self, fingerprints: Sequence[str], *, at: datetime, note: str) -> int:
        """Resolve the open exceptions among these fingerprints: the mismatch is gone."""
        resolved = 0
        for start in range(0, len(fingerprints), 500):
            chunk = list(fingerprints[start : start + 500])
            rows = self.connection.execute(
                select(exceptions.c.exception_id, exceptions.c.status).where(
                    exceptions.c.fingerprint.in_(chunk), exceptions.c.status.in_(OPEN_STATUSES)
                )
            ).all()
            if not rows:
                continue
            self.connection.execute(
                update(exceptions)
                .where(exceptions.c.exception_id.in_([row.exception_id for row in rows]))
                .values(status="resolved", resolved_at=at)
            )
            for status in sorted({row.status for row in rows}):
                self._add_events(
                    [row.exception_id for row in rows if row.status == status],
                    action="auto_resolved",
                    at=at,
                    before={"status": status},
                    after={"status": "resolved"},
                    note=note,
                )
            resolved += len(rows)
        return resolved

    def add_event(
        self,
        exception_id: int,
        *,
        actor: str,
        action: str,
        at: datetime,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        note: str | None = None,
    ) -> None:
        self.connection.execute(
            exception_events.insert().values(
                exception_id=exception_id,
                at=at,
                actor=actor,
                action=action,
                before=jsonutil.dumps(before) if before is not None else None,
                after=jsonutil.dumps(after) if after is not None else None,
                note=note,
            )
        )

    def get_exception(self, exception_id: int) -> StoredException | None:
        row = self.connection.execute(
            select(exceptions).where(exceptions.c.exception_id == exception_id)
        ).first()
        return None if row is None else _stored(row)

    def get_exception_by_fingerprint(self, fingerprint: str) -> StoredException | None:
        row = self.connection.execute(
            select(exceptions).where(exceptions.c.fingerprint == fingerprint)
        ).first()
        return None if row is None else _stored(row)

    def list_exceptions(
        self, *, status: Sequence[str] | None = None, rule_code: str | None = None, limit: int = 100
    ) -> list[StoredException]:
        query = select(exceptions).order_by(exceptions.c.exception_id).limit(limit)
        if status:
            query = query.where(exceptions.c.status.in_(list(status)))
        if rule_code is not None:
            query = query.where(exceptions.c.rule_code == rule_code)
        return [_stored(row) for row in self.connection.execute(query)]

    def events_for(self, exception_id: int) -> list[AuditEvent]:
        rows = self.connection.execute(
            select(exception_events)
            .where(exception_events.c.exception_id == exception_id)
            .order_by(exception_events.c.event_id)
        )
        return [
            AuditEvent(
                event_id=row.event_id,
                exception_id=row.exception_id,
                at=row.at,
                actor=row.actor,
                action=row.action,
                before=jsonutil.loads(row.before) if row.before else None,
                after=jsonutil.loads(row.after) if row.after else None,
                note=row.note,
            )
            for row in rows
        ]

    def update_exception(self, exception_id: int, **values: Any) -> None:
        """Change the queue fields of one exception (status, assignee, resolved_at)."""
        allowed = {"status", "assignee", "resolved_at"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))} of an exception")
        if "status" in values and values["status"] not in EXCEPTION_STATUSES:
            raise ValueError(f"unknown exception status {values['status']!r}")
        self.connection.execute(
            update(exceptions).where(exceptions.c.exception_id == exception_id).values(**values)
        )

    def query_exceptions(self, query: ExceptionQuery) -> tuple[list[StoredException], int]:
        """One page of exceptions matching the filters, and how many match in all."""
        total = self.connection.execute(
            select(func.count()).select_from(exceptions).where(*query.conditions())
        ).scalar_one()
        return self.exception_page(query), int(total)

    def exception_page(self, query: ExceptionQuery) -> list[StoredException]:
        """One page of exceptions matching the filters, without counting them all."""
        conditions = query.conditions()
        order = {
            # Base-currency amounts compare across currencies; an amount with no known rate sorts after them.
            "amount": (
                exceptions.c.base_amount_at_risk_minor.desc().nulls_last(),
                exceptions.c.amount_at_risk_minor.desc().nulls_last(),
                exceptions.c.exception_id,
            ),
            "age": (exceptions.c.first_seen_at, exceptions.c.exception_id),
            "newest": (exceptions.c.first_seen_at.desc(), exceptions.c.exception_id.desc()),
            "id": (exceptions.c.exception_id,),
        }[query.sort]
        # Sort and page on the ids alone (the indexes cover the sort keys), then read the page's
        # rows: sorting whole rows, details included, is what made deep pages slow.
        page_ids = list(
            self.connection.execute(
                select(exceptions.c.exception_id)
                .where(*conditions)
                .order_by(*order)
                .limit(query.limit)
                .offset(query.offset)
            ).scalars()
        )
        rows = {
            row.exception_id: row
            for row in self.connection.execute(
                select(exceptions).where(exceptions.c.exception_id.in_(page_ids))
            )
        }
        return [_stored(rows[exception_id]) for exception_id in page_ids]

    def count_matching_by_rule(self, query: ExceptionQuery) -> dict[str, int]:
        """How many exceptions match the query's filters, per rule (the rule filter itself aside)."""
        conditions = replace(query, rule_codes=()).conditions()
        rows = self.connection.execute(
            select(exceptions.c.rule_code, func.count()).where(*conditions).group_by(exceptions.c.rule_code)
        )
        return {row[0]: int(row[1]) for row in rows}

    def exception_facets(self) -> dict[str, list[str]]:
        """The values the queue can be filtered by: assignees, subsidiaries and currencies in use."""
        facets: dict[str, list[str]] = {}
        for name, column in (
            ("assignee", exceptions.c.assignee),
            ("subsidiary_id", exceptions.c.subsidiary_id),
            ("currency", exceptions.c.currency),
        ):
            rows = self.connection.execute(select(column).where(column.is_not(None)).distinct())
            facets[name] = sorted(str(row[0]) for row in rows)
        return facets

    def count_by_rule(self, statuses: Sequence[str] = OPEN_STATUSES) -> dict[str, int]:
        rows = self.connection.execute(
            select(exceptions.c.rule_code, func.count())
            .where(exceptions.c.status.in_(list(statuses)))
            .group_by(exceptions.c.rule_code)
        )
        return {row[0]: int(row[1]) for row in rows}

    def open_fingerprints(self, rule_codes: Sequence[str]) -> list[str]:
        rows = self.connection.execute(
            select(exceptions.c.fingerprint).where(
                exceptions.c.rule_code.in_(list(rule_codes)), exceptions.c.status.in_(OPEN_STATUSES)
            )
        )
        return [row.fingerprint for row in rows]

    def count_open(self, rule_codes: Sequence[str]) -> int:
        """Open (or in progress) exceptions of these rules."""
        return int(
            self.connection.execute(
                select(func.count()).where(
                    exceptions.c.rule_code.in_(list(rule_codes)), exceptions.c.status.in_(OPEN_STATUSES)
                )
            ).scalar_one()
        )

    def count_open_by_severity(self) -> dict[str, int]:
        rows = self.connection.execute(
            select(exceptions.c.severity, func.count())
            .where(exceptions.c.status.in_(OPEN_STATUSES))
            .group_by(exceptions.c.severity)
        )
        return {row[0]: int(row[1]) for row in rows}


def _stored(row: Any) -> StoredException:
    return StoredException(
        exception_id=row.exception_id,
        fingerprint=row.fingerprint,
        rule_code=row.rule_code,
        title=row.title,
        explanation=row.explanation,
        severity=row.severity,
        status=row.status,
        assignee=row.assignee,
        system=row.system,
        customer_ref=row.customer_ref,
        customer_name=row.customer_name,
        subsidiary_id=row.subsidiary_id,
        currency=row.currency,
        amount_at_risk_minor=row.amount_at_risk_minor,
        record_ids=jsonutil.loads(row.record_ids),
        details=jsonutil.loads(row.details),
        first_seen_at=row.first_seen_at,
        last_seen_at=row.last_seen_at,
        resolved_at=row.resolved_at,
    )

"""What alerts and metrics read from the store, and the log of alerts already sent.

An alert is claimed in `alert_log` under a stable key (a run id, an exception and the event that
opened it, a lagging job's last success) before it is sent, so two processes checking at once send it once; a
claim whose every channel failed is released, so the next check tries again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, String, cast, delete, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite

from tieout.store.queue import OPEN_STATUSES
from tieout.store.schema import alert_log, exception_events, exceptions, sync_runs


@dataclass(frozen=True)
class JobActivity:
    """One job's history in brief: when it last succeeded, and when it first ran at all."""

    job: str
    first_started_at: datetime
    last_success_run_id: str | None
    last_success_at: datetime | None


@dataclass(frozen=True)
class AlertableException:
    exception_id: int
    rule_code: str
    severity: str
    title: str
    currency: str | None
    amount_at_risk_minor: int | None
    opened_event_id: int

    @property
    def alert_key(self) -> str:
        return f"exception:{self.exception_id}:{self.opened_event_id}"


@dataclass(frozen=True)
class FailedRun:
    run_id: str
    job: str
    finished_at: datetime | None
    error: str | None


class AlertOps:
    connection: Connection

    def open_exception_counts(self) -> list[tuple[str, str, int]]:
        """(rule code, severity, open count) for every rule with open exceptions."""
        rows = self.connection.execute(
            select(exceptions.c.rule_code, exceptions.c.severity, func.count())
            .where(exceptions.c.status.in_(OPEN_STATUSES))
            .group_by(exceptions.c.rule_code, exceptions.c.severity)
            .order_by(exceptions.c.rule_code, exceptions.c.severity)
        )
        return [(row[0], row[1], int(row[2])) for row in rows]

    def untold_exceptions(self, severities: Sequence[str]) -> list[AlertableException]:
        """Open exceptions of these severities not told since they were last opened.

        The key is `exception:<id>:<audit event that opened it>`, so an exception resolved and
        reopened is new again, while one that stays open is told once.
        """
        opened_event = func.coalesce(
            select(func.max(exception_events.c.event_id))
            .where(
                exception_events.c.exception_id == exceptions.c.exception_id,
                exception_events.c.action.in_(("opened", "reopened")),
            )
            .correlate(exceptions)
            .scalar_subquery(),
            0,
        )
        key = (
            literal("exception:")
            + cast(exceptions.c.exception_id, String)
            + literal(":")
            + cast(opened_event, String)
        )
        rows = self.connection.execute(
            select(
                exceptions.c.exception_id,
                exceptions.c.rule_code,
                exceptions.c.severity,
                exceptions.c.title,
                exceptions.c.currency,
                exceptions.c.amount_at_risk_minor,
                opened_event,
            )
            .select_from(exceptions.outerjoin(alert_log, alert_log.c.alert_key == key))
            .where(
                exceptions.c.status.in_(OPEN_STATUSES),
                exceptions.c.severity.in_(list(severities)),
                alert_log.c.alert_key.is_(None),
            )
            .order_by(exceptions.c.exception_id)
        )
        return [AlertableException(*row) for row in rows]

    def untold_failed_runs(self) -> list[FailedRun]:
        """Failed runs with no `run:<run id>` entry in the alert log."""
        told = alert_log.c.alert_key == literal("run:") + sync_runs.c.run_id
        rows = self.connection.execute(
            select(sync_runs.c.run_id, sync_runs.c.job, sync_runs.c.finished_at, sync_runs.c.error)
            .select_from(sync_runs.outerjoin(alert_log, told))
            .where(sync_runs.c.status == "failed", alert_log.c.alert_key.is_(None))
            .order_by(sync_runs.c.started_at, sync_runs.c.run_id)
        )
        return [FailedRun(*row) for row in rows]

    def job_activity(self) -> list[JobActivity]:
        """Every job that has run, with its first start and its latest successful run."""
        first: dict[str, datetime] = {
            row[0]: row[1]
            for row in self.connection.execute(
                select(sync_runs.c.job, func.min(sync_runs.c.started_at)).group_by(sync_runs.c.job)
            )
        }
        latest = (
            select(sync_runs.c.job, func.max(sync_runs.c.finished_at).label("finished_at"))
            .where(sync_runs.c.status == "succeeded")
            .group_by(sync_runs.c.job)
            .subquery()
        )
        successes = {
            row.job: (row.run_id, row.finished_at)
            for row in self.connection.execute(
                select(sync_runs.c.job, sync_runs.c.run_id, sync_runs.c.finished_at).join(
                    latest,
                    (latest.c.job == sync_runs.c.job) & (latest.c.finished_at == sync_runs.c.finished_at),
                )
            )
        }
        return [
            JobActivity(job, first_started, *successes.get(job, (None, None)))
            for job, first_started in sorted(first.items())
        ]

    def claim_alert(self, alert_key: str, *, kind: str, subject: str, channels: str, at: datetime) -> bool:
        """Record the alert as sent; False when it already was (by this process or another)."""
        insert = postgresql.insert if self.connection.dialect.name == "postgresql" else sqlite.insert
        statement = (
            insert(alert_log)
            .values(alert_key=alert_key, kind=kind, subject=subject, channels=channels, sent_at=at)
            .on_conflict_do_nothing(index_elements=["alert_key"])
            .returning(alert_log.c.alert_key)
        )
        # RETURNING rather than rowcount: the PostgreSQL driver does not count a conflict-free insert here.
        return self.connection.execute(statement).first() is not None

    def release_alerts(self, alert_keys: Sequence[str]) -> None:
        if alert_keys:
            self.connection.execute(delete(alert_log).where(alert_log.c.alert_key.in_(list(alert_keys))))

    def sent_alert_keys(self, prefix: str) -> set[str]:
        rows = self.connection.execute(
            select(alert_log.c.alert_key).where(alert_log.c.alert_key.startswith(prefix, autoescape=True))
        )
        return {row[0] for row in rows}

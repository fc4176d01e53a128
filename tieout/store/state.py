"""Per-stream cursors and the history of sync runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, or_, select, update

from tieout import jsonutil
from tieout.store.schema import cursors, sync_runs
from tieout.store.upsert import upsert_rows

RUN_STATUSES = ("running", "succeeded", "failed", "interrupted")


@dataclass(frozen=True)
class CursorState:
    system: str
    stream: str
    watermark: datetime | None
    state: dict[str, Any]
    updated_at: datetime
    run_id: str | None


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    job: str
    system: str | None
    stream: str | None
    trigger: str
    mode: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    pulled: int
    mapped: int
    pushed: int
    failed: int
    api_calls: int
    error: str | None
    host: str | None
    pid: int | None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class JobHealth:
    """How one job (a stream's sync, a flow, reconcile, the AR snapshot) has been doing lately."""

    job: str
    last_run: RunRecord
    last_success_at: datetime | None
    """When the last successful run finished."""
    failures_in_a_row: int
    """Failed runs since the last success (all of them when it never succeeded)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "last_run": self.last_run.as_dict(),
            "last_success_at": self.last_success_at,
            "failures_in_a_row": self.failures_in_a_row,
        }


class StateOps:
    connection: Connection

    def get_cursor(self, system: str, stream: str) -> CursorState | None:
        row = self.connection.execute(
            select(cursors).where(and_(cursors.c.system == system, cursors.c.stream == stream))
        ).first()
        if row is None:
            return None
        return CursorState(
            system=row.system,
            stream=row.stream,
            watermark=row.watermark,
            state=jsonutil.loads(row.state) if row.state else {},
            updated_at=row.updated_at,
            run_id=row.run_id,
        )

    def list_cursors(self) -> list[CursorState]:
        rows = self.connection.execute(select(cursors).order_by(cursors.c.system, cursors.c.stream)).all()
        return [
            CursorState(
                system=row.system,
                stream=row.stream,
                watermark=row.watermark,
                state=jsonutil.loads(row.state) if row.state else {},
                updated_at=row.updated_at,
                run_id=row.run_id,
            )
            for row in rows
        ]

    def advance_cursor(
        self,
        system: str,
        stream: str,
        watermark: datetime | None,
        *,
        at: datetime,
        run_id: str | None,
        state: dict[str, Any] | None = None,
    ) -> None:
        """Move the watermark forward; a watermark older than the stored one is ignored."""
        current = self.get_cursor(system, stream)
        if (
            current is not None
            and current.watermark is not None
            and (watermark is None or watermark < current.watermark)
        ):
            watermark = current.watermark
        upsert_rows(
            self.connection,
            cursors,
            [
                {
                    "system": system,
                    "stream": stream,
                    "watermark": watermark,
                    "state": jsonutil.dumps(state) if state else None,
                    "updated_at": at,
                    "run_id": run_id,
                }
            ],
            key_columns=("system", "stream"),
        )

    def reset_cursor(self, system: str, stream: str) -> None:
        self.connection.execute(
            delete(cursors).where(and_(cursors.c.system == system, cursors.c.stream == stream))
        )

    def start_run(
        self,
        *,
        run_id: str,
        job: str,
        system: str | None,
        stream: str | None,
        trigger: str,
        mode: str,
        started_at: datetime,
        host: str,
        pid: int,
    ) -> None:
        self.connection.execute(
            sync_runs.insert().values(
                run_id=run_id,
                job=job,
                system=system,
                stream=stream,
                trigger=trigger,
                mode=mode,
                status="running",
                started_at=started_at,
                heartbeat_at=started_at,
                pulled=0,
                mapped=0,
                pushed=0,
                failed=0,
                api_calls=0,
                host=host,
                pid=pid,
            )
        )

    def add_run_counts(
        self,
        run_id: str,
        *,
        at: datetime,
        pulled: int = 0,
        mapped: int = 0,
        pushed: int = 0,
        failed: int = 0,
        api_calls: int = 0,
    ) -> None:
        self.connection.execute(
            update(sync_runs)
            .where(sync_runs.c.run_id == run_id)
            .values(
                pulled=sync_runs.c.pulled + pulled,
                mapped=sync_runs.c.mapped + mapped,
                pushed=sync_runs.c.pushed + pushed,
                failed=sync_runs.c.failed + failed,
                api_calls=sync_runs.c.api_calls + api_calls,
                heartbeat_at=at,
            )
        )

    def finish_run(self, run_id: str, *, status: str, at: datetime, error: str | None = None) -> None:
        if status not in RUN_STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        self.connection.execute(
            update(sync_runs)
            .where(sync_runs.c.run_id == run_id)
            .values(status=status, finished_at=at, error=error, heartbeat_at=at)
        )

    def fail_runs(self, run_ids: list[str], *, at: datetime, reason: str) -> None:
        """Mark runs whose process died as failed; only runs still marked running change."""
        if run_ids:
            self.connection.execute(
                update(sync_runs)
                .where(sync_runs.c.run_id.in_(run_ids), sync_runs.c.status == "running")
                .values(status="failed", finished_at=at, error=reason)
            )

    def get_run(self, run_id: str) -> RunRecord | None:
        row = self.connection.execute(select(sync_runs).where(sync_runs.c.run_id == run_id)).first()
        return None if row is None else _run_record(row)

    def list_runs(
        self,
        *,
        limit: int = 50,
        job: str | None = None,
        status: str | None = None,
        job_prefix: str | None = None,
    ) -> list[RunRecord]:
        """Newest first; `job_prefix` matches a family of jobs, e.g. "sync:stripe:" or "flow:"."""
        query = select(sync_runs).order_by(sync_runs.c.started_at.desc(), sync_runs.c.run_id).limit(limit)
        if job is not None:
            query = query.where(sync_runs.c.job == job)
        if job_prefix is not None:
            query = query.where(sync_runs.c.job.startswith(job_prefix, autoescape=True))
        if status is not None:
            query = query.where(sync_runs.c.status == status)
        return [_run_record(row) for row in self.connection.execute(query)]

    def runs_with_id_prefix(self, prefix: str, *, limit: int = 2) -> list[RunRecord]:
        """Runs whose id starts with `prefix` (operators type the first few characters of an id)."""
        query = (
            select(sync_runs)
            .where(sync_runs.c.run_id.startswith(prefix, autoescape=True))
            .order_by(sync_runs.c.run_id)
            .limit(limit)
        )
        return [_run_record(row) for row in self.connection.execute(query)]

    def job_health(self) -> list[JobHealth]:
        """Per job ever run: its newest run, when it last succeeded, and how many failed since."""
        newest = (
            select(sync_runs.c.job, func.max(sync_runs.c.started_at).label("started_at"))
            .group_by(sync_runs.c.job)
            .subquery()
        )
        latest_rows = self.connection.execute(
            select(sync_runs)
            .join(
                newest, and_(sync_runs.c.job == newest.c.job, sync_runs.c.started_at == newest.c.started_at)
            )
            .order_by(sync_runs.c.job, sync_runs.c.run_id)
        ).all()
        succeeded = (
            select(
                sync_runs.c.job,
                func.max(sync_runs.c.started_at).label("started_at"),
                func.max(sync_runs.c.finished_at).label("finished_at"),
            )
            .where(sync_runs.c.status == "succeeded")
            .group_by(sync_runs.c.job)
            .subquery()
        )
        last_success = {
            row.job: row.finished_at
            for row in self.connection.execute(select(succeeded.c.job, succeeded.c.finished_at))
        }
        failed_since = self.connection.execute(
            select(sync_runs.c.job, func.count())
            .select_from(sync_runs.outerjoin(succeeded, sync_runs.c.job == succeeded.c.job))
            .where(
                sync_runs.c.status == "failed",
                or_(succeeded.c.started_at.is_(None), sync_runs.c.started_at > succeeded.c.started_at),
            )
            .group_by(sync_runs.c.job)
        )
        failures = {row[0]: int(row[1]) for row in failed_since}
        health: dict[str, JobHealth] = {}
        for row in latest_rows:
            health.setdefault(
                row.job,
                JobHealth(
                    job=row.job,
                    last_run=_run_record(row),
                    last_success_at=_aware(last_success.get(row.job)),
                    failures_in_a_row=int(failures.get(row.job, 0)),
                ),
            )
        return list(health.values())


def _run_record(row: Any) -> RunRecord:
    return RunRecord(
        run_id=row.run_id,
        job=row.job,
        system=row.system,
        stream=row.stream,
        trigger=row.trigger,
        mode=row.mode,
        status=row.status,
        started_at=row.started_at,
        finished_at=row.finished_at,
        pulled=row.pulled,
        mapped=row.mapped,
        pushed=row.pushed,
        failed=row.failed,
        api_calls=row.api_calls,
        error=row.error,
        host=row.host,
        pid=row.pid,
    )


def _aware(value: Any) -> datetime | None:
    """max() over a column loses its type on SQLite; give back an aware UTC datetime."""
    if value is None:
        return None
    parsed: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

"""The state store's tables, as SQLAlchemy Core metadata.

This is the schema as the newest migration leaves it; Alembic migrations under
`tieout/store/migrations/` are what create and change it in a database, and a test checks the
two agree. Money is stored as integer minor units beside its currency so rules can compare it
set-based; datetimes go through `UtcDateTime`, which keeps them aware UTC on SQLite too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend.

    SQLite has no time zone type, so values are stored as naive UTC; naive values handed in by
    a caller are refused rather than guessed at.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        parsed: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


SYSTEM = String(64)
STREAM = String(64)
NATIVE_ID = String(255)

raw_records = Table(
    "raw_records",
    metadata,
    Column("system", SYSTEM, primary_key=True),
    Column("stream", STREAM, primary_key=True),
    Column("source_id", NATIVE_ID, primary_key=True),
    Column("updated_at", UtcDateTime(), nullable=True),
    Column("payload", Text, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("pulled_at", UtcDateTime(), nullable=False),
    Column("run_id", String(36), nullable=True),
    Column("mapping_error", Text, nullable=True),
)

canonical_records = Table(
    "canonical_records",
    metadata,
    Column("record_id", String(400), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("system", SYSTEM, nullable=False),
    Column("native_id", NATIVE_ID, nullable=False),
    Column("source_stream", STREAM, nullable=False),
    Column("customer_native_id", NATIVE_ID, nullable=True),
    Column("currency", String(3), nullable=True),
    Column("total_minor", BigInteger, nullable=True),
    Column("payload", Text, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("updated_at", UtcDateTime(), nullable=True),
    Column("stored_at", UtcDateTime(), nullable=False),
    Index(None, "kind", "system"),
    Index(None, "system", "kind", "customer_native_id"),
)

crosswalk = Table(
    "crosswalk",
    metadata,
    Column("crosswalk_id", Integer, primary_key=True, autoincrement=True),
    Column("entity_id", String(64), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("system", SYSTEM, nullable=False),
    Column("native_id", NATIVE_ID, nullable=False),
    Column("established_by", String(128), nullable=False),
    Column("established_at", UtcDateTime(), nullable=False),
    UniqueConstraint("kind", "system", "native_id"),
)

cursors = Table(
    "cursors",
    metadata,
    Column("system", SYSTEM, primary_key=True),
    Column("stream", STREAM, primary_key=True),
    Column("watermark", UtcDateTime(), nullable=True),
    Column("state", Text, nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("run_id", String(36), nullable=True),
)

sync_runs = Table(
    "sync_runs",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("job", String(200), nullable=False),
    Column("system", SYSTEM, nullable=True),
    Column("stream", STREAM, nullable=True),
    Column("trigger", String(32), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("heartbeat_at", UtcDateTime(), nullable=True),
    Column("pulled", Integer, nullable=False, default=0),
    Column("mapped", Integer, nullable=False, default=0),
    Column("pushed", Integer, nullable=False, default=0),
    Column("failed", Integer, nullable=False, default=0),
    Column("api_calls", Integer, nullable=False, default=0),
    Column("error", Text, nullable=True),
    Column("host", String(255), nullable=True),
    Column("pid", Integer, nullable=True),
    Index(None, "job", "started_at"),
    Index(None, "status"),
)

push_ledger = Table(
    "push_ledger",
    metadata,
    Column("idempotency_key", String(255), primary_key=True),
    Column("target_system", SYSTEM, nullable=False),
    Column("target_stream", STREAM, nullable=False),
    Column("source_record_id", String(400), nullable=False),
    Column("operation", String(16), nullable=False),
    Column("payload_hash", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("target_id", NATIVE_ID, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("run_id", String(36), nullable=True),
    Index(None, "status"),
    Index(None, "source_record_id"),
)

exceptions = Table(
    "exceptions",
    metadata,
    Column("exception_id", Integer, primary_key=True, autoincrement=True),
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("rule_code", String(64), nullable=False),
    Column("rule_version", Integer, nullable=False, default=1),
    Column("title", String(300), nullable=False),
    Column("explanation", Text, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("assignee", String(200), nullable=True),
    Column("system", SYSTEM, nullable=True),
    Column("customer_ref", String(255), nullable=True),
    Column("customer_name", String(300), nullable=True),
    Column("subsidiary_id", String(64), nullable=True),
    Column("currency", String(3), nullable=True),
    Column("amount_at_risk_minor", BigInteger, nullable=True),
    Column("base_currency", String(3), nullable=True),
    Column("base_amount_at_risk_minor", BigInteger, nullable=True),
    Column("finding_hash", String(64), nullable=True),
    Column("record_ids", Text, nullable=False),
    Column("details", Text, nullable=False),
    Column("first_seen_at", UtcDateTime(), nullable=False),
    Column("last_seen_at", UtcDateTime(), nullable=False),
    Column("resolved_at", UtcDateTime(), nullable=True),
    Column("run_id", String(36), nullable=True),
    Index(None, "status", "rule_code"),
    Index(None, "status", "severity"),
    Index(None, "status", "amount_at_risk_minor"),
    Index(None, "customer_ref"),
)

exception_events = Table(
    "exception_events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column(
        "exception_id", Integer, ForeignKey("exceptions.exception_id", ondelete="RESTRICT"), nullable=False
    ),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(32), nullable=False),
    Column("before", Text, nullable=True),
    Column("after", Text, nullable=True),
    Column("note", Text, nullable=True),
    Index(None, "exception_id", "event_id"),
)

# Operations (migration 0002): job locks and the scheduler's leader lease, webhook deliveries,
# alerts already sent, nightly AR snapshots, and the web app's users, sessions and login attempts.

job_locks = Table(
    "job_locks",
    metadata,
    # A job's name, or "scheduler:leader" for the leader lease.
    Column("name", String(200), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("acquired_at", UtcDateTime(), nullable=False),
    Column("renewed_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("run_id", String(36), nullable=True),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("source", SYSTEM, primary_key=True),
    Column("event_id", String(255), primary_key=True),
    Column("event_type", String(100), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("payload_hash", String(64), nullable=False),
    Column("processed_at", UtcDateTime(), nullable=True),
    Column("error", Text, nullable=True),
    Index(None, "received_at"),
)

alert_log = Table(
    "alert_log",
    metadata,
    Column("alert_key", String(300), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("subject", Text, nullable=False),
    Column("channels", String(100), nullable=False),
    Column("sent_at", UtcDateTime(), nullable=False),
)

ar_snapshots = Table(
    "ar_snapshots",
    metadata,
    Column("snapshot_id", Integer, primary_key=True, autoincrement=True),
    Column("as_of", Date, nullable=False),
    Column("taken_at", UtcDateTime(), nullable=False),
    Column("subsidiary_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("current_minor", BigInteger, nullable=False),
    Column("days_1_30_minor", BigInteger, nullable=False),
    Column("days_31_60_minor", BigInteger, nullable=False),
    Column("days_61_90_minor", BigInteger, nullable=False),
    Column("days_over_90_minor", BigInteger, nullable=False),
    Column("open_total_minor", BigInteger, nullable=False),
    Column("unapplied_cash_minor", BigInteger, nullable=False),
    # Days sales outstanding as a decimal string, e.g. "41.7" (None when there were no sales).
    Column("dso_days", String(32), nullable=True),
    UniqueConstraint("as_of", "subsidiary_id", "currency"),
    Index(None, "as_of"),
)

users = Table(
    "users",
    metadata,
    Column("user_id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(100), nullable=False, unique=True),
    Column("display_name", String(200), nullable=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_login_at", UtcDateTime(), nullable=True),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    # SHA-256 of the cookie's token: a copy of the table logs nobody in.
    Column("session_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("last_seen_at", UtcDateTime(), nullable=False),
    Index(None, "user_id"),
)

record_changes = Table(
    "record_changes",
    metadata,
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("record_id", String(400), nullable=False),
)

login_attempts = Table(
    "login_attempts",
    metadata,
    Column("attempt_id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(100), nullable=False),
    Column("client", String(64), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("succeeded", Boolean, nullable=False),
    Index(None, "username", "at"),
    Index(None, "client", "at"),
)

# The web queue filters and sorts open exceptions by these on 100,000-row queues.
Index("ix_exceptions_status_assignee", exceptions.c.status, exceptions.c.assignee)
Index("ix_exceptions_status_first_seen_at", exceptions.c.status, exceptions.c.first_seen_at)
Index(
    "ix_exceptions_status_base_amount_at_risk_minor",
    exceptions.c.status,
    exceptions.c.base_amount_at_risk_minor,
)
Index("ix_exceptions_subsidiary_id", exceptions.c.subsidiary_id)
Index("ix_exceptions_currency", exceptions.c.currency)

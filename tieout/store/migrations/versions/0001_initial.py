"""Initial schema: raw and canonical records, crosswalk, cursors, runs, push ledger, exceptions.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tieout.store.schema import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_APPEND_ONLY_MESSAGE = "exception_events is append-only: audit events cannot be changed or deleted"


def upgrade() -> None:
    op.create_table(
        "raw_records",
        sa.Column("system", sa.String(64), nullable=False),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("source_id", sa.String(255), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("pulled_at", UtcDateTime(), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=True),
        sa.Column("mapping_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("system", "stream", "source_id", name="pk_raw_records"),
    )
    op.create_table(
        "canonical_records",
        sa.Column("record_id", sa.String(400), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("system", sa.String(64), nullable=False),
        sa.Column("native_id", sa.String(255), nullable=False),
        sa.Column("source_stream", sa.String(64), nullable=False),
        sa.Column("customer_native_id", sa.String(255), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("total_minor", sa.BigInteger(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=True),
        sa.Column("stored_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("record_id", name="pk_canonical_records"),
    )
    op.create_index("ix_canonical_records_kind_system", "canonical_records", ["kind", "system"])
    op.create_index(
        "ix_canonical_records_system_kind_customer_native_id",
        "canonical_records",
        ["system", "kind", "customer_native_id"],
    )
    op.create_table(
        "crosswalk",
        sa.Column("crosswalk_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("system", sa.String(64), nullable=False),
        sa.Column("native_id", sa.String(255), nullable=False),
        sa.Column("established_by", sa.String(128), nullable=False),
        sa.Column("established_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("crosswalk_id", name="pk_crosswalk"),
        sa.UniqueConstraint("kind", "system", "native_id", name="uq_crosswalk_kind_system_native_id"),
    )
    op.create_index("ix_crosswalk_entity_id", "crosswalk", ["entity_id"])
    op.create_table(
        "cursors",
        sa.Column("system", sa.String(64), nullable=False),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("watermark", UtcDateTime(), nullable=True),
        sa.Column("state", sa.Text(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("system", "stream", name="pk_cursors"),
    )
    op.create_table(
        "sync_runs",
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("job", sa.String(200), nullable=False),
        sa.Column("system", sa.String(64), nullable=True),
        sa.Column("stream", sa.String(64), nullable=True),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("heartbeat_at", UtcDateTime(), nullable=True),
        sa.Column("pulled", sa.Integer(), nullable=False),
        sa.Column("mapped", sa.Integer(), nullable=False),
        sa.Column("pushed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("api_calls", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name="pk_sync_runs"),
    )
    op.create_index("ix_sync_runs_job_started_at", "sync_runs", ["job", "started_at"])
    op.create_index("ix_sync_runs_status", "sync_runs", ["status"])
    op.create_table(
        "push_ledger",
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("target_system", sa.String(64), nullable=False),
        sa.Column("target_stream", sa.String(64), nullable=False),
        sa.Column("source_record_id", sa.String(400), nullable=False),
        sa.Column("operation", sa.String(16), nullable=False),
        sa.Column("payload_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("target_id", sa.String(255), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("idempotency_key", name="pk_push_ledger"),
    )
    op.create_index("ix_push_ledger_status", "push_ledger", ["status"])
    op.create_index("ix_push_ledger_source_record_id", "push_ledger", ["source_record_id"])
    op.create_table(
        "exceptions",
        sa.Column("exception_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("rule_code", sa.String(64), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(200), nullable=True),
        sa.Column("system", sa.String(64), nullable=True),
        sa.Column("customer_ref", sa.String(255), nullable=True),
        sa.Column("customer_name", sa.String(300), nullable=True),
        sa.Column("subsidiary_id", sa.String(64), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("amount_at_risk_minor", sa.BigInteger(), nullable=True),
        sa.Column("base_currency", sa.String(3), nullable=True),
        sa.Column("base_amount_at_risk_minor", sa.BigInteger(), nullable=True),
        sa.Column("record_ids", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("first_seen_at", UtcDateTime(), nullable=False),
        sa.Column("last_seen_at", UtcDateTime(), nullable=False),
        sa.Column("resolved_at", UtcDateTime(), nullable=True),
        sa.Column("run_id", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("exception_id", name="pk_exceptions"),
        sa.UniqueConstraint("fingerprint", name="uq_exceptions_fingerprint"),
    )
    op.create_index("ix_exceptions_status_rule_code", "exceptions", ["status", "rule_code"])
    op.create_index("ix_exceptions_status_severity", "exceptions", ["status", "severity"])
    op.create_index(
        "ix_exceptions_status_amount_at_risk_minor", "exceptions", ["status", "amount_at_risk_minor"]
    )
    op.create_index("ix_exceptions_customer_ref", "exceptions", ["customer_ref"])
    op.create_table(
        "exception_events",
        sa.Column("event_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("exception_id", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["exception_id"],
            ["exceptions.exception_id"],
            name="fk_exception_events_exception_id_exceptions",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("event_id", name="pk_exception_events"),
    )
    op.create_index(
        "ix_exception_events_exception_id_event_id", "exception_events", ["exception_id", "event_id"]
    )
    _make_audit_append_only()


def _make_audit_append_only() -> None:
    """Audit events are evidence: the database itself refuses UPDATE and DELETE on them."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER exception_events_no_{action.lower()} BEFORE {action} ON exception_events "
                f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY_MESSAGE}'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION exception_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{_APPEND_ONLY_MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER exception_events_append_only BEFORE UPDATE OR DELETE ON exception_events "
            "FOR EACH ROW EXECUTE FUNCTION exception_events_append_only()"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS exception_events_append_only ON exception_events")
        op.execute("DROP FUNCTION IF EXISTS exception_events_append_only()")
    for table in (
        "exception_events",
        "exceptions",
        "push_ledger",
        "sync_runs",
        "cursors",
        "crosswalk",
        "canonical_records",
        "raw_records",
    ):
        op.drop_table(table)

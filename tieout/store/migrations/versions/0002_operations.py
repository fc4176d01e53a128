"""Operations: job locks and leader lease, webhook deliveries, alerts sent, AR snapshots, web users.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tieout.store.schema import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_locks",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("acquired_at", UtcDateTime(), nullable=False),
        sa.Column("renewed_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_job_locks"),
    )
    op.create_table(
        "webhook_events",
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("payload_hash", sa.String(64), nullable=False),
        sa.Column("processed_at", UtcDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("source", "event_id", name="pk_webhook_events"),
    )
    op.create_index("ix_webhook_events_received_at", "webhook_events", ["received_at"])
    op.create_table(
        "alert_log",
        sa.Column("alert_key", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("channels", sa.String(100), nullable=False),
        sa.Column("sent_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("alert_key", name="pk_alert_log"),
    )
    op.create_table(
        "ar_snapshots",
        sa.Column("snapshot_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("taken_at", UtcDateTime(), nullable=False),
        sa.Column("subsidiary_id", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("current_minor", sa.BigInteger(), nullable=False),
        sa.Column("days_1_30_minor", sa.BigInteger(), nullable=False),
        sa.Column("days_31_60_minor", sa.BigInteger(), nullable=False),
        sa.Column("days_61_90_minor", sa.BigInteger(), nullable=False),
        sa.Column("days_over_90_minor", sa.BigInteger(), nullable=False),
        sa.Column("open_total_minor", sa.BigInteger(), nullable=False),
        sa.Column("unapplied_cash_minor", sa.BigInteger(), nullable=False),
        sa.Column("dso_days", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("snapshot_id", name="pk_ar_snapshots"),
        sa.UniqueConstraint(
            "as_of", "subsidiary_id", "currency", name="uq_ar_snapshots_as_of_subsidiary_id_currency"
        ),
    )
    op.create_index("ix_ar_snapshots_as_of", "ar_snapshots", ["as_of"])
    op.create_table(
        "users",
        sa.Column("user_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("last_login_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("user_id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )
    op.create_table(
        "web_sessions",
        sa.Column("session_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("last_seen_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.user_id"], name="fk_web_sessions_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("session_hash", name="pk_web_sessions"),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_table(
        "login_attempts",
        sa.Column("attempt_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("attempt_id", name="pk_login_attempts"),
    )
    op.create_index("ix_login_attempts_username_at", "login_attempts", ["username", "at"])
    op.create_index("ix_login_attempts_client_at", "login_attempts", ["client", "at"])
    op.create_index("ix_exceptions_status_assignee", "exceptions", ["status", "assignee"])
    op.create_index("ix_exceptions_status_first_seen_at", "exceptions", ["status", "first_seen_at"])
    op.create_index(
        "ix_exceptions_status_base_amount_at_risk_minor",
        "exceptions",
        ["status", "base_amount_at_risk_minor"],
    )
    op.create_index("ix_exceptions_subsidiary_id", "exceptions", ["subsidiary_id"])
    op.create_index("ix_exceptions_currency", "exceptions", ["currency"])


def downgrade() -> None:
    for index in (
        "ix_exceptions_currency",
        "ix_exceptions_subsidiary_id",
        "ix_exceptions_status_base_amount_at_risk_minor",
        "ix_exceptions_status_first_seen_at",
        "ix_exceptions_status_assignee",
    ):
        op.drop_index(index, table_name="exceptions")
    for table in (
        "login_attempts",
        "web_sessions",
        "users",
        "ar_snapshots",
        "alert_log",
        "webhook_events",
        "job_locks",
    ):
        op.drop_table(table)

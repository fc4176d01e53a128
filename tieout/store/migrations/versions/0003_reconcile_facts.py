"""Reconcile change log: every write to a canonical record or the crosswalk, numbered in order.

The columnar reconcile engine keeps a projection of the canonical records and catches it up
from this log, so a reconcile after a sync reads only what changed. Triggers fill the log, so
no writer (sync runner, flows, bulk loads) can forget to. Exceptions gain the hash of the
finding last filed, so a re-run that finds the same thing leaves the row alone.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Trigger bodies are built from these constants only; nothing from outside reaches the SQL.
_CANONICAL_ID = "NEW.record_id"
_CROSSWALK_ID = "NEW.system || ':' || NEW.kind || ':' || NEW.native_id"
_TRIGGERS = (
    ("canonical_records", "INSERT", _CANONICAL_ID),
    ("canonical_records", "UPDATE", _CANONICAL_ID),
    ("crosswalk", "INSERT", _CROSSWALK_ID),
    ("crosswalk", "UPDATE", _CROSSWALK_ID),
)


def upgrade() -> None:
    op.create_table(
        "record_changes",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True),
        sa.Column("record_id", sa.String(400), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_record_changes"),
    )
    op.add_column("exceptions", sa.Column("finding_hash", sa.String(64), nullable=True))
    dialect = op.get_bind().dialect.name
    for table, action, record_id in _TRIGGERS:
        name = f"{table}_{action.lower()}_logged"
        if dialect == "sqlite":
            op.execute(
                f"CREATE TRIGGER {name} AFTER {action} ON {table} "  # noqa: S608
                f"BEGIN INSERT INTO record_changes (record_id) VALUES ({record_id}); END"
            )
        elif dialect == "postgresql":
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "  # noqa: S608
                f"$$ BEGIN INSERT INTO record_changes (record_id) VALUES ({record_id}); RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {name} AFTER {action} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table, action, _ in _TRIGGERS:
        name = f"{table}_{action.lower()}_logged"
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if dialect == "postgresql" else ""))
        if dialect == "postgresql":
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_column("exceptions", "finding_hash")
    op.drop_table("record_changes")

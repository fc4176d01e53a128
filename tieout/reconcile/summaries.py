"""Derived tables the screens filter, kept current with the projection group by group.

`invoice_groups` has one row per invoice twin group (how many copies each system holds and, for
one copy, its fields); `misapplied_charges` holds the Stripe charges whose NetSuite payment is
applied outside the NetSuite twins of the invoices the charge paid. Both are rebuilt in full after
the projection is rebuilt (or when they were not current with it), and otherwise only for what the
last catch-up touched: the dirty twin groups, and the charges that reach them through their
payment group or their applications. A full reconcile (`refresh(full=True)`) rebuilds them.
"""

# The SQL here is composed from constant fragments only; values are bound or registered as tables.
# ruff: noqa: S608

from __future__ import annotations

import pyarrow as pa

from tieout.reconcile.columnar import Facts

BILLABLE = (
    "kind = 'invoice' AND system = 'metronome' AND status IN ('open', 'paid', 'uncollectible') AND total > 0"
)
COLLECTED = "('succeeded', 'refunded', 'partially_refunded', 'disputed')"

_SIDES = {"m": "metronome", "s": "stripe", "n": "netsuite"}
_SIDE_COLUMNS = (
    "native_id",
    "link_metronome",
    "link_stripe",
    "link_netsuite",
    "currency",
    "subtotal",
    "tax",
    "total",
)
_SIDE_FIELDS = ", ".join(
    f"count(*) FILTER (WHERE system = '{system}') AS {side}_count, "
    + ", ".join(
        f"any_value({column}) FILTER (WHERE system = '{system}') AS {side}_{column}"
        for column in _SIDE_COLUMNS
    )
    for side, system in _SIDES.items()
)
_INVOICE_GROUPS = f"""
    SELECT grp, {_SIDE_FIELDS},
        bool_or({BILLABLE}) AS billable,
        bool_or(system = 'stripe' AND status = 'paid') AS stripe_paid,
        bool_or(system = 'netsuite' AND remaining > 0) AS netsuite_open
    FROM facts WHERE kind = 'invoice' {{only}} GROUP BY grp
"""

_MISAPPLIED = f"""
    WITH charges AS (
        SELECT * FROM facts WHERE kind = 'payment' AND system = 'stripe' AND status IN {COLLECTED} {{only}}),
    recorded AS (
        SELECT c.record_id AS charge, n.record_id AS payment FROM charges c
        JOIN facts n ON n.kind = 'payment' AND n.system = 'netsuite' AND n.grp = c.grp),
    paid AS (
        SELECT c.record_id AS charge, si.grp FROM charges c JOIN applications a ON a.record_id = c.record_id
        JOIN facts si ON si.kind = 'invoice' AND si.system = 'stripe' AND si.native_id = a.invoice_id),
    expected AS (
        SELECT p.charge, ni.native_id FROM paid p
        JOIN facts ni ON ni.kind = 'invoice' AND ni.system = 'netsuite' AND ni.grp = p.grp)
    SELECT r.charge AS record_id FROM recorded r JOIN applications a ON a.record_id = r.payment
    WHERE NOT EXISTS (SELECT 1 FROM expected e WHERE e.charge = r.charge AND e.native_id = a.invoice_id)
    UNION SELECT charge FROM recorded GROUP BY charge HAVING count(*) > 1
    UNION SELECT charge FROM expected GROUP BY charge HAVING count(*) > 1
"""

# Charges whose verdict can move when these groups or records change: those in a dirty group,
# those that paid a Stripe invoice in one, and those whose NetSuite payment is applied to a
# NetSuite invoice in one (or to one that changed, even if it is gone).
_DIRTY_CHARGES = """
    SELECT record_id FROM facts WHERE kind = 'payment' AND system = 'stripe' AND grp IN (SELECT grp FROM dirty)
    UNION SELECT a.record_id FROM applications a JOIN facts si ON si.kind = 'invoice' AND si.system = 'stripe'
        AND si.native_id = a.invoice_id AND si.grp IN (SELECT grp FROM dirty)
    UNION SELECT c.record_id FROM applications a
        JOIN facts n ON n.record_id = a.record_id AND n.kind = 'payment' AND n.system = 'netsuite'
        JOIN facts c ON c.grp = n.grp AND c.kind = 'payment' AND c.system = 'stripe'
        WHERE a.invoice_id IN (
            SELECT native_id FROM facts WHERE kind = 'invoice' AND system = 'netsuite' AND grp IN (SELECT grp FROM dirty)
            UNION SELECT native_id FROM changed WHERE kind = 'invoice' AND system = 'netsuite')
"""


def refresh(facts: Facts, *, full: bool = False) -> None:
    """Bring the derived tables up to the projection's watermark."""
    current = facts.meta("summaries")
    everything = full or facts.caught_up_from is None or current != facts.caught_up_from
    if everything:
        facts.db.execute(f"CREATE OR REPLACE TABLE invoice_groups AS {_INVOICE_GROUPS.format(only='')}")
        facts.db.execute(f"CREATE OR REPLACE TABLE misapplied_charges AS {_MISAPPLIED.format(only='')}")
    elif facts.dirty_groups or facts.changed_ids:
        parts = [record_id.split(":", 2) for record_id in facts.changed_ids]
        changed = pa.table(
            {
                "record_id": pa.array(facts.changed_ids, pa.string()),
                "system": pa.array([part[0] for part in parts], pa.string()),
                "kind": pa.array([part[1] for part in parts], pa.string()),
                "native_id": pa.array([part[-1] for part in parts], pa.string()),
            }
        )
        dirty = pa.table({"grp": pa.array(sorted(facts.dirty_groups), pa.string())})
        with facts.registered("dirty", dirty), facts.registered("changed", changed):
            only = "AND grp IN (SELECT grp FROM dirty)"
            facts.db.execute("DELETE FROM invoice_groups WHERE grp IN (SELECT grp FROM dirty)")
            facts.db.execute(f"INSERT INTO invoice_groups {_INVOICE_GROUPS.format(only=only)}")
            facts.db.execute(f"CREATE OR REPLACE TEMP TABLE dirty_charges AS {_DIRTY_CHARGES}")
            facts.db.execute(
                "DELETE FROM misapplied_charges WHERE record_id IN (SELECT record_id FROM dirty_charges) "
                "OR record_id IN (SELECT record_id FROM changed)"
            )
            only = "AND record_id IN (SELECT record_id FROM dirty_charges)"
            facts.db.execute(f"INSERT INTO misapplied_charges {_MISAPPLIED.format(only=only)}")
    watermark = facts.watermark
    if watermark is not None:
        facts.set_meta("summaries", watermark)

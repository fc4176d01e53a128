"""Derived tables the screens filter, kept current with the projection group by group.

`invoice_groups` has one row per invoice twin group (how many copies each system holds and, for
one copy, its fields); `misapplied_charges` holds the Stripe charges whose NetSuite payment is
applied outside the NetSuite twins of the invoices the charge paid. Both are rebuilt in full after
the projection is rebuilt (or when they were not current with it), and otherwise only for what the
last catch-up reached (`changes.Change`). A full reconcile (`refresh(full=True)`) rebuilds them.
"""

# The SQL here is composed from constant fragments only; values are bound or registered as tables.
# ruff: noqa: S608

from __future__ import annotations

from tieout.reconcile.changes import Change
from tieout.reconcile.closure import applications_of
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
    FROM {{source}} WHERE kind = 'invoice' GROUP BY grp
"""

_MISAPPLIED = f"""
    WITH charges AS (
        SELECT * FROM {{source}} WHERE kind = 'payment' AND system = 'stripe' AND status IN {COLLECTED}),
    recorded AS (
        SELECT c.record_id AS charge, n.record_id AS payment FROM charges c
        JOIN {{source}} n ON n.kind = 'payment' AND n.system = 'netsuite' AND n.grp = c.grp),
    paid AS (
        SELECT c.record_id AS charge, si.grp FROM charges c JOIN {{applications}} a ON a.record_id = c.record_id
        JOIN {{source}} si ON si.kind = 'invoice' AND si.system = 'stripe' AND si.native_id = a.invoice_id),
    expected AS (
        SELECT p.charge, ni.native_id FROM paid p
        JOIN {{source}} ni ON ni.kind = 'invoice' AND ni.system = 'netsuite' AND ni.grp = p.grp)
    SELECT r.charge AS record_id FROM recorded r JOIN {{applications}} a ON a.record_id = r.payment
    WHERE NOT EXISTS (SELECT 1 FROM expected e WHERE e.charge = r.charge AND e.native_id = a.invoice_id)
    UNION SELECT charge FROM recorded GROUP BY charge HAVING count(*) > 1
    UNION SELECT charge FROM expected GROUP BY charge HAVING count(*) > 1
"""


def invoice_groups_of(source: str) -> str:
    """The invoice group summary computed from `source` (a table holding whole groups)."""
    return _INVOICE_GROUPS.format(source=source)


def refresh(facts: Facts, change: Change | None, *, full: bool = False) -> None:
    """Bring the derived tables up to the projection's watermark.

    Incrementally, from what the change reached: the invoice groups the catch-up touched are
    summarized again from `reached`, and every collected charge there is judged again (a charge
    whose verdict can move is always reached: its own group, or the group of an invoice it paid,
    or one its NetSuite payment is applied to, was touched)."""
    current = facts.meta("summaries")
    everything = full or change is None or current != facts.caught_up_from
    if everything:
        facts.db.execute(f"CREATE OR REPLACE TABLE invoice_groups AS {invoice_groups_of('facts')}")
        facts.db.execute(
            f"CREATE OR REPLACE TABLE misapplied_charges AS {_MISAPPLIED.format(source='facts', applications='applications')}"
        )
    elif facts.changed_ids:
        # Every group of a reached component is whole in `reached`; groups merged away are gone.
        regrouped = (
            "SELECT grp FROM reached UNION SELECT grp FROM previous UNION SELECT grp FROM merged_groups"
        )
        facts.db.execute(f"DELETE FROM invoice_groups WHERE grp IN ({regrouped})")
        facts.db.execute(f"INSERT INTO invoice_groups {invoice_groups_of('reached')}")
        judged = "SELECT record_id FROM reached WHERE kind = 'payment' AND system = 'stripe' UNION SELECT record_id FROM previous"
        facts.db.execute(f"DELETE FROM misapplied_charges WHERE record_id IN ({judged})")
        facts.db.execute(
            f"INSERT INTO misapplied_charges {_MISAPPLIED.format(source='reached', applications=applications_of(change))}"
        )
    watermark = facts.watermark
    if watermark is not None:
        facts.set_meta("summaries", watermark)

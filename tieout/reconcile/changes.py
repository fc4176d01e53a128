"""The reach of a change: which findings the records written since the last reconcile can move.

A finding depends on a few records: its component (its twin group, joined with the groups of the
payments applied to its invoices and of the invoices its payments pay: `components.py`), the
customers it names, the contract an invoice bills. After a catch-up the projection knows the
components the change touched (those of the changed records before and after, and those merged).
`Change` widens them, set-based in DuckDB, along the other dependencies:

- records that name a changed customer, and the customers the touched records name;
- contracts a touched invoice bills.

It leaves for the screens `dirty` (the widened components), `reached` (their records now) and
`touched` (those, and every changed record as it was before). A screen restricts its
candidates to what the change reaches and names the region of records whose open exceptions the
run settles; the rest of the queue stands as it was. Rules that compare aggregates (AR control,
payouts) are recomputed whole when a record of a kind they read was touched, and skipped otherwise.
"""

# The SQL here is composed from constant fragments only; values are bound as parameters.
# ruff: noqa: S608

from __future__ import annotations

from tieout.reconcile.columnar import PREVIOUS_COLUMNS, Facts, rows_where

_MEMBER_COLUMNS = "record_id, kind, system, native_id, customer_id, contract_id"
_MEMBERS = f"""
    SELECT {_MEMBER_COLUMNS} FROM reached UNION SELECT {_MEMBER_COLUMNS} FROM previous
"""
"""The records of the components the catch-up touched, now, and the changed records as they were."""

_WIDENINGS = {
    "customer": """
        SELECT f.comp FROM facts f JOIN members m
            ON m.kind = 'customer' AND f.system = m.system AND f.customer_id = m.native_id
    """,
    None: """
        SELECT f.comp FROM facts f JOIN members m
            ON f.kind = 'customer' AND f.system = m.system AND f.native_id = m.customer_id
    """,
    "invoice": """
        SELECT f.comp FROM facts f JOIN members m
            ON m.kind = 'invoice' AND f.kind = 'contract' AND f.system = m.system AND f.native_id = m.contract_id
    """,
}
"""Components the change reaches from the members, by the member kind that must be present to look."""

REACHED_COLUMNS = (
    "record_id, kind, system, native_id, customer_id, currency, status, subsidiary_id, contract_id, total, "
    "subtotal, tax, paid, remaining, period_start, period_end, link_salesforce, link_metronome, link_stripe, "
    "link_netsuite, entity_id, name_key, grp, comp"
)
"""What the screens read of the reached records (fetching scattered rows costs by the column)."""

NOWHERE = "SELECT CAST(NULL AS VARCHAR) AS record_id WHERE false"
"""The region of a rule the change does not reach: none of its open exceptions is settled."""

TOUCHED = "SELECT record_id FROM touched"


class Change:
    """The widened reach of the last catch-up, as temp tables: `dirty` (components), `reached` (their
    records now, the columns the screens read), `reached_applications` (what their payments are applied
    to) and `touched` (those records, and the changed records as they were)."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        db = facts.db
        facts.temp_table("changed_components", {"comp": sorted(facts.dirty_components)}, {"comp": "BIGINT"})
        # The components the catch-up touched are fetched first: most of what the change reaches.
        db.execute(
            f"CREATE OR REPLACE TEMP TABLE reached AS {rows_where('comp IN (SELECT comp FROM changed_components)', REACHED_COLUMNS)}"
        )
        db.execute(f"CREATE OR REPLACE TEMP TABLE members AS {_MEMBERS}")
        present = {row[0] for row in db.execute("SELECT DISTINCT kind FROM members").fetchall()}
        widenings = [sql for kind, sql in _WIDENINGS.items() if kind is None or kind in present]
        db.execute(
            "CREATE OR REPLACE TEMP TABLE dirty AS SELECT comp FROM changed_components UNION "
            + " UNION ".join(f"({sql})" for sql in widenings)
        )
        db.execute(
            "INSERT INTO reached "
            + rows_where(
                "comp IN (SELECT comp FROM dirty EXCEPT SELECT comp FROM changed_components)", REACHED_COLUMNS
            )
        )
        # A payment's applications are in its component; read once here, not from the whole table by each screen.
        db.execute(
            "CREATE OR REPLACE TEMP TABLE reached_applications AS SELECT * FROM applications "
            "WHERE record_id IN (SELECT record_id FROM reached WHERE kind = 'payment')"
        )
        db.execute(
            f"CREATE OR REPLACE TEMP VIEW touched AS SELECT {PREVIOUS_COLUMNS} FROM reached "
            f"UNION ALL SELECT {PREVIOUS_COLUMNS} FROM previous"
        )
        self.kinds = {
            (row[0], row[1]) for row in db.execute("SELECT DISTINCT system, kind FROM touched").fetchall()
        }

    def reaches(self, system: str, *kinds: str) -> bool:
        """Whether a record of these kinds in this system was touched."""
        return any((system, kind) in self.kinds for kind in kinds)

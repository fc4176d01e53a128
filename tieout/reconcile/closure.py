"""What a screen returns, and the SQL that closes a screen's anchors over what a check reads.

A check's findings about an anchor record depend on its twin group and the customers its records
name; `closed` and `closed_groups` select those. Given a change, group-bound screens read only the
components it reached (`reached`), which hold whole groups.
"""

# The SQL here is composed from constant fragments only; values are bound or registered as tables.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tieout.reconcile.changes import TOUCHED, Change
from tieout.reconcile.columnar import Facts, rows_where


@dataclass(frozen=True)
class Scope:
    """The records a check runs over, and the region of records whose open exceptions the run settles.

    `region` is SQL selecting record ids; None settles every open exception of the check's rules
    (a full run). An open exception that names no record of the region is left as it is: nothing
    it depends on changed."""

    record_ids: set[str]
    region: str | None = None


Screen = Callable[[Facts, Change | None], Scope]


def settled_region(change: Change | None, *extra: str) -> str | None:
    return None if change is None else " UNION ".join([TOUCHED, *extra])


def ids(facts: Facts, sql: str) -> set[str]:
    return {row[0] for row in facts.db.execute(sql).fetchall()}


def base_of(change: Change | None) -> str:
    """The records a group-bound screen reads: every record, or those of the components the change
    reached (a whole component is reached or not at all, so a group-bound screen finds the same there)."""
    return "facts" if change is None else "reached"


def applications_of(change: Change | None) -> str:
    """The payment applications a screen reads: every one, or those of the payments the change reached
    (which hold every application to a reached invoice: a payment is in its invoices' component)."""
    return "applications" if change is None else "reached_applications"


def closed(anchor: str, *, groups: bool = True, base: str = "facts") -> str:
    """The anchor records, their whole twin groups, and every customer those records name."""
    if groups:
        return closed_groups(f"SELECT grp FROM {base} WHERE record_id IN ({anchor})", base=base)
    return with_customers(f"SELECT {MEMBER} FROM {base} WHERE record_id IN ({anchor})")


def closed_groups(groups: str, *, base: str = "facts") -> str:
    """Every record of these twin groups, and every customer those records name."""
    if base == "facts":
        return with_customers(rows_where(f"grp IN ({groups})", MEMBER))
    return with_customers(f"SELECT {MEMBER} FROM {base} WHERE grp IN ({groups})")


MEMBER = "record_id, system, customer_id"
"""What a closure reads of its members: themselves, and the customers they name."""


def with_customers(members: str) -> str:
    return f"""
        WITH members AS ({members})
        SELECT record_id FROM members
        UNION SELECT c.record_id FROM facts c JOIN members m
            ON c.kind = 'customer' AND c.system = m.system AND c.native_id = m.customer_id
    """

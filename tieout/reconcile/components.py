"""Components: twin groups joined by what payments are applied to, so that one holds all a cash check reads.

A check of cash application reads a payment's twins, the invoices it pays and their twins, and the
other payments applied to those invoices. Each record's `comp` is the union of its twin group
(`grp`) with the twin groups its applications reach, found by union-find: after a rebuild over
every application, afterwards from the changed records only. Components only ever merge (an
application moved elsewhere leaves the old component whole), so a component holds at least what
the checks read, perhaps more. The reach of a change (`changes.py`) is a set of components.

Components are numbered 1, 2, 3... in the order their first group was seen (the next number is kept
in the projection's meta table): small integers are what make moving rows between components and
fetching a component's rows cheap in a column store.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from tieout.reconcile.grouping import merge

if TYPE_CHECKING:
    from tieout.reconcile.columnar import Facts

_ALL_EDGES = """
    SELECT DISTINCT p.comp, i.comp FROM applications a
    JOIN facts p ON p.record_id = a.record_id
    JOIN facts i ON i.kind = 'invoice' AND i.system = p.system AND i.native_id = a.invoice_id
    WHERE p.comp <> i.comp
"""

_SPLIT_GROUPS = """
    SELECT list(DISTINCT comp) FROM facts WHERE grp IN (SELECT grp FROM regrouped_or_merged)
    GROUP BY grp HAVING count(DISTINCT comp) > 1
"""
"""Twin groups whose records are in more than one component: a record new to the group, or groups merged."""

_CHANGED_EDGES = """
    SELECT [p.comp, i.comp] FROM applications a
    JOIN facts p ON p.record_id = a.record_id AND a.record_id IN (SELECT record_id FROM changed_ids)
    JOIN facts i ON i.kind = 'invoice' AND i.system = p.system AND i.native_id = a.invoice_id
    WHERE p.comp <> i.comp
    UNION ALL
    SELECT [p.comp, i.comp] FROM facts i
    JOIN applications a ON i.kind = 'invoice' AND a.invoice_id = i.native_id
        AND i.record_id IN (SELECT record_id FROM changed_ids)
    JOIN facts p ON p.record_id = a.record_id AND p.system = i.system
    WHERE p.comp <> i.comp
"""
"""Components a changed payment's applications or a changed invoice's payers reach."""


def _number_new_groups(facts: Facts) -> None:
    """Give the groups of the records without a component a component of their own each."""
    first = facts.meta("next_component") or 1
    facts.db.execute(
        "CREATE OR REPLACE TEMP TABLE numbered AS SELECT grp, ? + row_number() OVER () - 1 AS comp "
        "FROM (SELECT DISTINCT grp FROM facts WHERE comp IS NULL)",
        [first],
    )
    facts.db.execute(
        "UPDATE facts SET comp = numbered.comp FROM numbered WHERE facts.comp IS NULL AND facts.grp = numbered.grp"
    )
    added = facts.db.execute("SELECT count(*) FROM numbered").fetchall()[0][0]
    facts.set_meta("next_component", first + added)


def assign_all(facts: Facts) -> None:
    facts.set_meta("next_component", 1)
    _number_new_groups(facts)
    merge(facts, "comp", [list(pair) for pair in facts.db.execute(_ALL_EDGES).fetchall()])


def assign_changed(facts: Facts, merged_groups: Iterable[str]) -> set[int]:
    """Components for the records in `changed_ids` (a temp table); returns every component the change
    touched: those of the changed records before and after, and those merged.

    A changed record that stayed in its twin group kept its component when it was projected; one new
    to a group starts in a component of its own group, joined below with the group's other records."""
    db = facts.db
    facts.temp_table("merged_groups", {"grp": sorted(merged_groups)})
    db.execute(
        "CREATE OR REPLACE TEMP TABLE regrouped_or_merged AS SELECT grp FROM facts WHERE comp IS NULL "
        "UNION SELECT grp FROM merged_groups"
    )
    _number_new_groups(facts)
    joined = [row[0] for row in db.execute(_CHANGED_EDGES).fetchall()]
    if db.execute("SELECT count(*) FROM regrouped_or_merged").fetchall()[0][0]:
        joined += [row[0] for row in db.execute(_SPLIT_GROUPS).fetchall()]
    roots = merge(facts, "comp", joined)
    touched = db.execute(
        "SELECT comp FROM previous UNION SELECT comp FROM facts WHERE record_id IN (SELECT record_id FROM changed_ids)"
    ).fetchall()
    return {row[0] for row in touched} | set(roots)

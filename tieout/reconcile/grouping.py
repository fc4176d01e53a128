"""Twin groups: every record starts in its hub copy's group; links and the crosswalk merge groups.

A record's connectors are its own id and, for each link and its crosswalk entity, the id of what it
points at; two groups sharing a connector are one group (union-find). After a rebuild every
connector is compared; afterwards only those of the records that got a group in the catch-up.
Groups only merge: a link removed leaves the group whole, holding perhaps more than the twins.
"""

# The SQL here is composed from constant fragments only; values are bound as parameters.
# ruff: noqa: S608

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from tieout.reconcile.columnar import Facts

SYSTEMS = ("salesforce", "metronome", "stripe", "netsuite")
Key = TypeVar("Key", str, int)

COLUMN_TYPES = {"comp": "BIGINT"}
"""Columns merged here that are not text."""

HUB = {"invoice": "metronome", "payment": "stripe", "refund": "stripe", "payout": "stripe"}
"""The system whose copy names a group; Salesforce for every other kind."""


def group(facts: Facts, regrouped: list[str] | None) -> set[str]:
    """Give new records their hub key as group, then merge groups a link or the crosswalk joins.

    `regrouped`: the records that got a group here (None after a rebuild: every record), the
    only ones whose links can join groups not joined before. Returns the groups merged (both
    the absorbed and the absorbing ones)."""
    hub = " ".join(f"WHEN kind = '{kind}' THEN '{system}'" for kind, system in HUB.items())
    links = " ".join(f"WHEN '{system}' THEN link_{system}" for system in SYSTEMS)
    facts.db.execute(
        f"""
        UPDATE facts SET grp = CASE
            WHEN system = hub THEN record_id
            WHEN hub_link IS NOT NULL THEN hub || ':' || kind || ':' || hub_link
            ELSE record_id END
        FROM (SELECT record_id AS id, hub, CASE hub {links} END AS hub_link
              FROM (SELECT record_id, CASE {hub} ELSE 'salesforce' END AS hub, * EXCLUDE (record_id)
                    FROM facts WHERE grp IS NULL)) AS keyed
        WHERE facts.record_id = keyed.id
        """
    )
    if regrouped is None:
        pairs = facts.db.execute(
            f"SELECT connector, list(DISTINCT grp) FROM ({_connectors('facts')}) "
            "GROUP BY connector HAVING count(DISTINCT grp) > 1"
        ).fetchall()
    elif regrouped:
        pairs = _pairs_reaching(facts, regrouped)
    else:
        return set()
    return merge(facts, "grp", [groups for _, groups in pairs])


def merge(facts: Facts, column: str, joined: list[list[Key]]) -> set[Key]:
    """Union-find over lists of values of `column` (groups, components) that are one: every row
    holding a value then holds the smallest of its set. Returns the values merged, old and new."""
    parent: dict[Key, Key] = {}

    def root(key: Key) -> Key:
        while parent.get(key, key) != key:
            key = parent[key]
        return key

    for values in joined:
        roots = sorted({root(value) for value in values})
        for other in roots[1:]:
            parent[other] = roots[0]
    if not parent:
        return set()
    kind = COLUMN_TYPES.get(column, "VARCHAR")
    facts.temp_table(
        f"{column}_roots",
        {"old": list(parent), "new": [root(key) for key in parent]},
        {"old": kind, "new": kind},
    )
    facts.update_where(column, f"{column}_roots", "old", "new")
    return set(parent) | {root(key) for key in parent}


def _pairs_reaching(facts: Facts, regrouped: list[str]) -> list[tuple[str, list[str]]]:
    """The connectors of these records shared with records of other groups, with the groups.

    A record's connectors are its own id and, for each link and its crosswalk entity, the id of
    what it points at; another record meets it through its id or one of its own connectors."""
    facts.temp_table("regrouped", {"record_id": regrouped})
    facts.db.execute(
        "CREATE OR REPLACE TEMP TABLE reach AS SELECT DISTINCT connector, "
        "split_part(connector, ':', 1) AS via, split_part(connector, ':', 2) AS kind, "
        "substr(connector, length(split_part(connector, ':', 1)) + length(split_part(connector, ':', 2)) + 3) AS target "
        f"FROM ({_connectors('facts WHERE record_id IN (SELECT record_id FROM regrouped)')})"
    )
    meeting = " UNION ALL ".join(
        [
            "SELECT r.connector, f.grp FROM reach r JOIN facts f ON f.record_id = r.connector",
            *(
                f"SELECT r.connector, f.grp FROM reach r JOIN facts f ON r.via = '{system}' "
                f"AND f.kind = r.kind AND f.link_{system} = r.target"
                for system in SYSTEMS
            ),
            "SELECT r.connector, f.grp FROM reach r JOIN facts f ON r.via = 'entity' "
            "AND f.kind = r.kind AND f.entity_id = r.target",
        ]
    )
    return [
        (connector, list(groups))
        for connector, groups in facts.db.execute(
            f"SELECT connector, list(DISTINCT grp) FROM ({meeting}) GROUP BY connector "
            "HAVING count(DISTINCT grp) > 1"
        ).fetchall()
    ]


def _connectors(source: str) -> str:
    """(connector, grp) of the records of `source`: its id, what each link and its entity point at."""
    return " UNION ALL ".join(
        [
            f"SELECT record_id AS connector, grp FROM {source}",
            *(
                f"SELECT '{system}:' || kind || ':' || link_{system}, grp FROM {source} "
                f"{'AND' if 'WHERE' in source else 'WHERE'} link_{system} IS NOT NULL"
                for system in SYSTEMS
            ),
            f"SELECT 'entity:' || kind || ':' || entity_id, grp FROM {source} "
            f"{'AND' if 'WHERE' in source else 'WHERE'} entity_id IS NOT NULL",
        ]
    )

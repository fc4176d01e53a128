"""The columnar projection reconcile matches on: a narrow typed copy of the canonical records in DuckDB.

The state store stays the system of record. This is a derived cache, caught up from the store's
change log (`record_changes`, filled by triggers on every canonical record and crosswalk
write): the first reconcile projects every record, later ones only those written since the
watermark, so the cost of keeping it current is proportional to the change. It lives in a
DuckDB file beside a SQLite store, in memory otherwise (rebuilt by each process).

Projection is SQL over the canonical JSON (DuckDB parses it), one row per record in `facts`,
plus `applications` (payment -> invoice) and `prices` (contract line unit prices). Every record
belongs to a twin group (`grp`): the record ids of the hub system's copy (billing for
invoices, Stripe for cash, Salesforce for customers and contracts), merged by union-find
wherever links or the crosswalk join two groups; a group holds every twin `Snapshot.twins()`
could find, and perhaps more, never fewer. Twin groups joined by payments' applications form
components (`comp`, `components.py`), the unit a change's reach is counted in.
"""

# The SQL here is composed from constant fragments only; values are bound or registered as tables.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeGuard

import duckdb

from tieout.reconcile import components, grouping
from tieout.reconcile.grouping import SYSTEMS
from tieout.reconcile.rules.customers import normalize_name
from tieout.store import Store
from tieout.store.facts import CanonicalRow

CHUNK = 100_000
LAYOUT = 5
"""The projection's table layout (and grouping); a cache of another layout is rebuilt."""
MEMORY_LIMIT = "1GB"
"""DuckDB's memory for a projection kept in a file; beyond it, it spills to disk. Its default (most of the machine's memory)
let a full reconcile of a million invoices peak near 2 GB; at 1 GB it peaks near 1.1 GB and takes
about a fifth longer."""
CHECKPOINT_AFTER = "64MB"
"""How much write-ahead log a projection kept in a file gathers before DuckDB writes it into the file.
Checkpointing rewrites every row group a change touched, most of them after scattered changes (0.6 s
at a million invoices for a one-percent change); the log of such a change is about 4 MB and is
replayed in milliseconds when the file is opened, so a checkpoint comes every dozen runs or so."""
CHANGE_LOG_KEPT = 2_000_000
"""Change-log entries kept behind the watermark of a complete reconcile (`prune_change_log`): a
projection elsewhere (another host's file) further behind than that is rebuilt."""
POSTGRES_LOOKBACK = 10_000
"""PostgreSQL hands out sequence numbers before commit, so a late commit can land below the
watermark; that many entries below it are read again (unchanged ones are skipped by content digest)."""

_AMOUNT = '{"amount": "VARCHAR", "currency": "VARCHAR"}'
_SHAPE = (
    '{"native_id": "VARCHAR", "customer_id": "VARCHAR", "currency": "VARCHAR", "status": "VARCHAR", '
    '"number": "VARCHAR", "contract_number": "VARCHAR", "subsidiary_id": "VARCHAR", "contract_id": "VARCHAR", '
    '"product_id": "VARCHAR", "exchange_rate": "VARCHAR", "period_start": "VARCHAR", "period_end": "VARCHAR", '
    '"updated_at": "VARCHAR", "legal_name": "VARCHAR", "issued_on": "VARCHAR", "received_at": "VARCHAR", '
    '"refunded_at": "VARCHAR", "arrival_on": "VARCHAR", "as_of": "VARCHAR", "starts_on": "VARCHAR", '
    '"posted_on": "VARCHAR", '
    + ", ".join(f'"{name}": {_AMOUNT}' for name in ("total", "gross", "amount", "balance", "subtotal", "tax"))
    + f', "amount_paid": {_AMOUNT}, "amount_remaining": {_AMOUNT}, "unapplied": {_AMOUNT}, '
    + '"links": {'
    + ", ".join(f'"{system}": "VARCHAR"' for system in SYSTEMS)
    + "}}"
)
"""The fields of the canonical JSON the projection reads, parsed once per record."""


def _decimal(path: str, scale: int = 9) -> str:
    return f"CAST(j.{path} AS DECIMAL(38, {scale}))"


def _date_of(path: str, *, last_day: bool = False) -> str:
    """Usage periods are instants ([start, end) in UTC); other records' periods are plain dates."""
    instant = f"CAST(rtrim(j.{path}, 'Z') AS TIMESTAMP)" + (" - INTERVAL 1 MICROSECOND" if last_day else "")
    return f"CASE WHEN s.kind = 'usage' THEN CAST({instant} AS DATE) ELSE TRY_CAST(j.{path} AS DATE) END"


_PROJECTION = f"""
SELECT
    s.record_id, s.kind, s.system, j.native_id, j.customer_id, j.currency, j.status,
    coalesce(j.number, j.contract_number) AS number, j.subsidiary_id, j.contract_id, j.product_id,
    coalesce({_decimal("total.amount")}, {_decimal("gross.amount")}, {_decimal("amount.amount")},
             {_decimal("balance.amount")}) AS total,
    {_decimal("subtotal.amount")} AS subtotal, {_decimal("tax.amount")} AS tax,
    {_decimal("amount_paid.amount")} AS paid, {_decimal("amount_remaining.amount")} AS remaining,
    {_decimal("unapplied.amount")} AS unapplied, {_decimal("exchange_rate", 12)} AS exchange_rate,
    {_date_of("period_start")} AS period_start, {_date_of("period_end", last_day=True)} AS period_end,
    TRY_CAST(rtrim(j.updated_at, 'Z') AS TIMESTAMP) AS updated_at, j.legal_name,
    TRY_CAST(left(coalesce(j.issued_on, j.received_at, j.refunded_at, j.arrival_on, j.as_of, j.starts_on,
                           j.posted_on), 10) AS DATE) AS dated_on,
    s.stored_at,
    {", ".join(f"j.links.{system} AS link_{system}" for system in SYSTEMS)},
    s.entity_id, s.content_digest, CAST(NULL AS VARCHAR) AS name_key
FROM (SELECT *, json_transform(payload, '{_SHAPE}') AS j FROM staged WHERE NOT deleted) AS s
"""

_FACT_COLUMNS = """
    record_id VARCHAR, kind VARCHAR, system VARCHAR, native_id VARCHAR, customer_id VARCHAR,
    currency VARCHAR, status VARCHAR, number VARCHAR, subsidiary_id VARCHAR, contract_id VARCHAR,
    product_id VARCHAR, total DECIMAL(38, 9), subtotal DECIMAL(38, 9), tax DECIMAL(38, 9),
    paid DECIMAL(38, 9), remaining DECIMAL(38, 9), unapplied DECIMAL(38, 9), exchange_rate DECIMAL(38, 12),
    period_start DATE, period_end DATE, updated_at TIMESTAMP, legal_name VARCHAR, dated_on DATE,
    stored_at TIMESTAMP,
    link_salesforce VARCHAR, link_metronome VARCHAR, link_stripe VARCHAR, link_netsuite VARCHAR,
    entity_id VARCHAR, content_digest UBIGINT, name_key VARCHAR, grp VARCHAR, comp BIGINT
"""


def cache_path_for(store: Store) -> Path | None:
    """Beside a SQLite file store; None (in memory) for PostgreSQL or an in-memory SQLite."""
    url = store.engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).with_name(Path(url.database).name + ".reconcile.duckdb")


PREVIOUS_COLUMNS = (
    "record_id, kind, system, native_id, customer_id, contract_id, currency, subtotal, period_start, "
    "period_end, link_salesforce, link_metronome, link_stripe, link_netsuite, entity_id, grp, comp"
)
"""What the reach of a change is worked out from, kept of each changed record as it was."""


_SAME_REACH = " AND ".join(
    f"n.{column} IS NOT DISTINCT FROM p.{column}"
    for column in (*(f"link_{system}" for system in SYSTEMS), "entity_id", "kind")
)
"""A record re-projected (`n`) meets the same groups as it did (`p`)."""


def content_digest(content_hash: str) -> int:
    """The first 64 bits of a stored content hash: enough to tell a record changed, at a quarter of the
    hash's size in the projection (where the whole hash was over a third of the file)."""
    return int(content_hash[:16], 16)


def rows_where(condition: str, columns: str = "*") -> str:
    """The facts rows meeting a condition that joins a small table, fetched in two steps: DuckDB
    reads every projected column of every row before a semi-join filters them, so the rows are
    found on the narrow columns the condition reads, then fetched by row id."""
    return f"SELECT {columns} FROM facts WHERE rowid IN (SELECT rowid FROM facts WHERE {condition})"


class Facts:
    """The DuckDB projection of one store, and the change-log watermark it is current to."""

    def __init__(self, store: Store, path: Path | None = None) -> None:
        self.store = store
        self.caught_up_from: int | None = None
        """The watermark the last catch-up started from (None: it rebuilt everything)."""
        self.changed_ids: list[str] = []
        self.read_rows: dict[str, CanonicalRow] = {}
        """The store rows the last catch-up read, by record id (the checks decode them from here)."""
        self.dirty_components: set[int] = set()
        """Components the last catch-up touched: those of changed records, before and after, and merged ones."""
        self.db = duckdb.connect(str(path) if path is not None else ":memory:")
        self.db.execute("SET preserve_insertion_order = false")
        self.limited = path is not None
        """An in-memory projection (PostgreSQL stores without a cache path) must hold every row, so it
        keeps DuckDB's default memory; one in a file runs in MEMORY_LIMIT."""
        if self.limited:
            self.db.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
            self.db.execute(f"SET checkpoint_threshold = '{CHECKPOINT_AFTER}'")
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (name VARCHAR PRIMARY KEY, value BIGINT)")
        if self.meta("layout") not in (None, LAYOUT):
            # Projected by another tieout: start again rather than read columns that moved.
            for table in ("meta", "facts", "applications", "prices"):
                self.db.execute(f"DROP TABLE IF EXISTS {table}")
            self.db.execute("CREATE TABLE meta (name VARCHAR PRIMARY KEY, value BIGINT)")
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('layout', ?)", [LAYOUT])
        self.db.execute(f"CREATE TABLE IF NOT EXISTS facts ({_FACT_COLUMNS})")
        self.db.execute("CREATE TABLE IF NOT EXISTS applications (record_id VARCHAR, invoice_id VARCHAR)")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS prices (record_id VARCHAR, product_id VARCHAR, "
            "unit_price DECIMAL(38, 9), currency VARCHAR)"
        )
        self._forget_previous()

    def _forget_previous(self) -> None:
        self.db.execute(
            f"CREATE OR REPLACE TEMP TABLE previous AS SELECT {PREVIOUS_COLUMNS} FROM facts LIMIT 0"
        )
        self.db.execute(
            "CREATE OR REPLACE TEMP TABLE previous_applications AS SELECT * FROM applications LIMIT 0"
        )

    def close(self) -> None:
        self.db.execute("PRAGMA disable_checkpoint_on_shutdown")
        self.db.close()

    def meta(self, name: str) -> int | None:
        rows = self.db.execute("SELECT value FROM meta WHERE name = ?", [name]).fetchall()
        return int(rows[0][0]) if rows else None

    @property
    def watermark(self) -> int | None:
        return self.meta("watermark")

    def catch_up(self) -> tuple[int, int]:
        """Project what changed since the watermark (everything on first use).

        Returns how many records' projection changed (all, after a rebuild) and how many
        records were read from the store.
        """
        with self.store.transaction() as tx:
            head, tail = tx.change_head(), tx.change_tail()
        watermark = self.watermark
        self.caught_up_from = watermark
        self.changed_ids, self.dirty_components, self.read_rows = [], set(), {}
        # A log pruned past the watermark no longer says everything that changed since: start again.
        if watermark is None or head < watermark or tail > watermark + 1:
            self.caught_up_from = None
            return self._rebuild(head)
        if head == watermark:
            return 0, 0
        lookback = POSTGRES_LOOKBACK if self.store.dialect == "postgresql" else 0
        with self.store.transaction() as tx:
            ids = tx.changed_since(watermark - lookback)
        changed = self._refresh(ids)
        self._set_watermark(head)
        return len(changed), len(ids)

    def prune_change_log(self, kept: int = CHANGE_LOG_KEPT) -> int:
        """Forget the change-log entries more than `kept` behind this projection's watermark."""
        watermark = self.watermark
        if watermark is None:
            return 0
        with self.store.transaction() as tx:
            # The newest entry stays: SQLite numbers a new entry one past the highest kept.
            up_to = min(watermark - kept, tx.change_head() - 1)
            return tx.prune_changes(up_to) if up_to > 0 else 0

    def _set_watermark(self, head: int) -> None:
        self.set_meta("watermark", head)

    def set_meta(self, name: str, value: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [name, value])

    def _rebuild(self, head: int) -> tuple[int, int]:
        # Grouping a whole projection updates every row, which DuckDB cannot spill: a rebuild runs in
        # DuckDB's default memory (about 4 GB at a million invoices), the runs after it in the limit.
        self.db.execute("RESET memory_limit")
        try:
            return self._project_everything(head)
        finally:
            if self.limited:
                self.db.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")

    def _project_everything(self, head: int) -> tuple[int, int]:
        for table in ("facts", "applications", "prices"):
            self.db.execute(f"DELETE FROM {table}")
        read = 0
        with self.store.transaction() as tx:
            entities = tx.entities_of(None)
            for rows in tx.stream_canonical_rows(CHUNK):
                read += len(rows)
                self._load(rows, entities)
        grouping.group(self, None)
        components.assign_all(self)
        # Clustered by kind and system, the screens' filters skip most of the table by zone maps.
        self.db.execute("CREATE OR REPLACE TABLE facts AS SELECT * FROM facts ORDER BY kind, system, grp")
        self.db.execute(
            "CREATE OR REPLACE TABLE applications AS SELECT * FROM applications ORDER BY record_id"
        )
        self._set_watermark(head)
        self.db.execute("CHECKPOINT")
        return self.db.execute("SELECT count(*) FROM facts").fetchall()[0][0], read

    def _load(self, rows: Sequence[CanonicalRow], entities: dict[str, str]) -> None:
        self.temp_table(
            "staged",
            {
                "record_id": [row[0] for row in rows],
                "kind": [row[1] for row in rows],
                "system": [row[2] for row in rows],
                "payload": [row[3] for row in rows],
                "deleted": [bool(row[5]) for row in rows],
                "stored_at": [row[6].astimezone(UTC).replace(tzinfo=None) for row in rows],
                "entity_id": [entities.get(row[0]) for row in rows],
                "content_digest": [content_digest(row[4]) for row in rows],
            },
            {"deleted": "BOOLEAN", "stored_at": "TIMESTAMP", "content_digest": "UBIGINT"},
        )
        # A re-projected record whose links and crosswalk entity are what they were keeps its group and
        # component (set here: updating them afterwards costs a rewrite of the rows' segments).
        self.db.execute(
            f"INSERT INTO facts SELECT n.*, p.grp, p.comp FROM ({_PROJECTION}) AS n "
            f"LEFT JOIN previous p ON p.record_id = n.record_id AND {_SAME_REACH}"
        )
        self.db.execute(
            "INSERT INTO applications SELECT record_id, unnest(json_extract_string(payload, "
            "'$.applications[*].invoice_id')) FROM staged WHERE kind = 'payment' AND NOT deleted"
        )
        self.db.execute(
            "INSERT INTO prices SELECT record_id, json_extract_string(line, '$.product_id'), "
            "CAST(json_extract_string(line, '$.unit_price.amount') AS DECIMAL(38, 9)), "
            "json_extract_string(line, '$.unit_price.currency') "
            "FROM (SELECT record_id, unnest(CAST(json_extract(payload, '$.lines') AS JSON[])) AS line "
            "FROM staged WHERE kind = 'contract' AND NOT deleted)"
        )
        names = self.db.execute(
            "SELECT record_id, legal_name FROM facts WHERE kind = 'customer' AND name_key IS NULL"
        ).fetchall()
        if names:
            self.temp_table(
                "keyed",
                {
                    "record_id": [record_id for record_id, _ in names],
                    "name_key": [normalize_name(name or "") for _, name in names],
                },
            )
            self.db.execute(
                "UPDATE facts SET name_key = keyed.name_key FROM keyed WHERE facts.record_id = keyed.record_id"
            )

    def changed_or_dated_since(self, record_ids: Iterable[str], since: date) -> set[str]:
        """Those of these records stored, updated at the source, or dated (issued, received...) since `since`."""
        self.temp_table("asked_window", {"record_id": sorted(set(record_ids))})
        # The projection keeps UTC instants as naive timestamps.
        start = datetime(since.year, since.month, since.day, tzinfo=UTC).replace(tzinfo=None)
        rows = self.db.execute(
            "SELECT record_id FROM facts WHERE record_id IN (SELECT record_id FROM asked_window) "
            "AND (stored_at >= ? OR updated_at >= ? OR dated_on >= ?)",
            [start, start, since],
        ).fetchall()
        return {row[0] for row in rows}

    def _refresh(self, record_ids: list[str]) -> list[str]:
        """Re-project these records where their content or crosswalk entity changed.

        What the changed records looked like before stays in the temp tables `previous` and
        `previous_applications` for the rest of the session (the change's reach is worked out from
        both sides). A record whose links and crosswalk entity are what they were keeps its twin
        group, so only records that gained a way to meet another group are checked for merges.
        """
        self._forget_previous()
        if not record_ids:
            return []
        with self.store.transaction() as tx:
            entities = tx.entities_of(record_ids)
            rows = tx.canonical_rows(record_ids)
        self.read_rows = {row[0]: row for row in rows}
        self.temp_table("asked", {"record_id": record_ids})
        # What the asked records were, found once by row id; kept below for those that changed.
        self.db.execute(
            "CREATE OR REPLACE TEMP TABLE before AS "
            + rows_where(
                "record_id IN (SELECT record_id FROM asked)",
                f"rowid AS row_id, content_digest, {PREVIOUS_COLUMNS}",
            )
        )
        known = {
            record_id: (digest, entity_id)
            for record_id, digest, entity_id in self.db.execute(
                "SELECT record_id, content_digest, entity_id FROM before"
            ).fetchall()
        }
        changed_rows = [
            row
            for row in rows
            if known.get(row[0]) != (content_digest(row[4]), entities.get(row[0])) or bool(row[5])
        ]
        gone = set(record_ids) - {row[0] for row in rows}
        changed = sorted({row[0] for row in changed_rows} | (gone & set(known)))
        if not changed:
            return []
        self.temp_table("changed_ids", {"record_id": changed})
        in_changed = "record_id IN (SELECT record_id FROM changed_ids)"
        self.db.execute(f"INSERT INTO previous SELECT {PREVIOUS_COLUMNS} FROM before WHERE {in_changed}")
        # One pass over the applications: what is deleted is what the changed payments applied before.
        applied = self.db.execute(f"DELETE FROM applications WHERE {in_changed} RETURNING *").fetchall()
        if applied:
            self.temp_table(
                "applied_before",
                {"record_id": [row[0] for row in applied], "invoice_id": [row[1] for row in applied]},
            )
            self.db.execute("INSERT INTO previous_applications SELECT * FROM applied_before")
        self.db.execute(f"DELETE FROM facts WHERE rowid IN (SELECT row_id FROM before WHERE {in_changed})")
        self.db.execute(f"DELETE FROM prices WHERE {in_changed}")
        self._load(changed_rows, entities)
        regrouped = [
            row[0] for row in self.db.execute("SELECT record_id FROM facts WHERE grp IS NULL").fetchall()
        ]
        merged = grouping.group(self, regrouped)
        self.changed_ids = changed
        self.dirty_components = components.assign_changed(self, merged)
        return changed

    def update_where(self, column: str, mapping: str, old: str, new: str) -> None:
        """Set `column` to the mapping's new value where it holds an old one. The rows are found first
        by row id: an UPDATE joined to the mapping costs seconds on a few million rows."""
        self.db.execute(
            f"CREATE OR REPLACE TEMP TABLE remapped AS SELECT f.rowid AS row_id, m.{new} AS value "
            f"FROM facts f JOIN {mapping} m ON f.{column} = m.{old}"
        )
        self.db.execute(
            f"UPDATE facts SET {column} = remapped.value FROM remapped WHERE facts.rowid = remapped.row_id"
        )

    def temp_table(
        self, name: str, columns: Mapping[str, Sequence[object]], types: Mapping[str, str] | None = None
    ) -> None:
        """A temp table of these columns (equal lengths; VARCHAR unless `types` says otherwise), passed
        as list parameters: registering a Python object would make DuckDB import pandas, which
        costs more than the small tables the incremental path stages."""
        names = list(columns)
        kinds = types or {}
        selected: list[str] = []
        parameters: list[object] = []
        for column in names:
            values = columns[column]
            kind = kinds.get(column, "VARCHAR")
            if kind == "VARCHAR" and _joinable(values):
                # One long string split in DuckDB converts much faster than a list of strings.
                selected.append(f"unnest(string_split(?, chr(30))) AS {column}")
                parameters.append(_SEPARATOR.join(values))
            else:
                selected.append(f"CAST(unnest(?) AS {kind}) AS {column}")
                parameters.append(list(values))
        self.db.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT " + ", ".join(selected), parameters)


_SEPARATOR = "\x1e"
"""ASCII record separator: JSON text escapes it, and ids do not hold it (`_joinable` checks)."""


def _joinable(values: Sequence[object]) -> TypeGuard[Sequence[str]]:
    """Text values (no None) that can travel as one separated string: some, and none holding the separator."""
    return bool(values) and all(type(value) is str and _SEPARATOR not in value for value in values)

"""Raw records as pulled, canonical records as mapped, and the cross-system id crosswalk."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, func, or_, select, update

from tieout import jsonutil
from tieout.model import RECORD_TYPES, CanonicalRecord, record_id_for
from tieout.money import Money
from tieout.store.schema import canonical_records, crosswalk, raw_records
from tieout.store.upsert import upsert_rows


@dataclass(frozen=True)
class StoredRaw:
    system: str
    stream: str
    source_id: str
    updated_at: datetime | None
    payload: dict[str, Any]
    deleted: bool
    mapping_error: str | None


def _stored_raw(row: Row[Any]) -> StoredRaw:
    return StoredRaw(
        system=row.system,
        stream=row.stream,
        source_id=row.source_id,
        updated_at=row.updated_at,
        payload=jsonutil.loads(row.payload),
        deleted=row.deleted,
        mapping_error=row.mapping_error,
    )


def _total_minor(record: CanonicalRecord) -> int | None:
    """The headline amount in minor units, kept in its own column for set-based rules."""
    fields = record.__dict__  # not getattr: a missing attribute costs pydantic an exception
    for name in ("total", "gross", "amount"):
        value = fields.get(name)
        if isinstance(value, Money):
            return value.to_minor(rounding="ROUND_HALF_EVEN")
    return None


def canonical_row(record: CanonicalRecord, *, stream: str) -> dict[str, Any]:
    """A canonical record as its row holds it, less `stored_at` (set when the row is written)."""
    # pydantic's own JSON encoder writes fields in the model's order; the one dict a record
    # holds (its links) is sorted first, so the same record always encodes, and hashes, the same.
    fields = record.__dict__
    links = fields["links"]
    if len(links) > 1 and list(links) != sorted(links):
        record = record.model_copy(update={"links": dict(sorted(links.items()))})
    text = record.model_dump_json()
    kind, system, native_id = record.kind, fields["system"], fields["native_id"]
    return {
        "record_id": record_id_for(system, kind, native_id),
        "kind": kind,
        "system": system,
        "native_id": native_id,
        "source_stream": stream,
        "customer_native_id": fields.get("customer_id"),
        "currency": fields.get("currency"),
        "total_minor": _total_minor(record),
        "payload": text,
        "content_hash": jsonutil.text_hash(text),
        "deleted": fields["deleted"],
        "updated_at": fields["updated_at"],
    }


RAW_KEY = ("system", "stream", "source_id")


def decode_canonical(kind: str, payload: str) -> CanonicalRecord:
    return RECORD_TYPES[kind].model_validate(jsonutil.loads(payload))


class RecordOps:
    connection: Connection

    def upsert_raw(self, rows: Sequence[dict[str, Any]]) -> None:
        """Rows with system, stream, source_id, updated_at, payload (dict), deleted, pulled_at, run_id.

        A row may carry `payload_text`, the payload already encoded by `jsonutil.dumps`, to save
        encoding it twice.
        """
        encoded = []
        for row in rows:
            fields = dict(row)
            payload_text = fields.pop("payload_text", None) or jsonutil.dumps(row["payload"])
            fields["payload"] = payload_text
            fields["content_hash"] = jsonutil.text_hash(payload_text)
            fields["mapping_error"] = row.get("mapping_error")
            encoded.append(fields)
        self.upsert_raw_rows(encoded)

    def upsert_raw_rows(
        self, rows: Sequence[dict[str, Any]], *, constants: dict[str, Any] | None = None
    ) -> None:
        """Rows already encoded: the payload as its `jsonutil.dumps` text, with its `content_hash`.

        `constants` are columns with one value for every row (a page's system, stream, pulled_at).
        """
        upsert_rows(self.connection, raw_records, rows, key_columns=RAW_KEY, constants=constants)

    def get_raw(self, system: str, stream: str, source_id: str) -> StoredRaw | None:
        row = self.connection.execute(
            select(raw_records).where(
                and_(
                    raw_records.c.system == system,
                    raw_records.c.stream == stream,
                    raw_records.c.source_id == source_id,
                )
            )
        ).first()
        return None if row is None else _stored_raw(row)

    def iter_raw(self, system: str, stream: str) -> Iterator[StoredRaw]:
        """Every raw record of one stream, as stored, in source id order."""
        query = (
            select(raw_records)
            .where(and_(raw_records.c.system == system, raw_records.c.stream == stream))
            .order_by(raw_records.c.source_id)
        )
        for row in self.connection.execute(query):
            yield _stored_raw(row)

    def count_raw(self, system: str | None = None, stream: str | None = None) -> int:
        query = select(func.count()).select_from(raw_records)
        if system is not None:
            query = query.where(raw_records.c.system == system)
        if stream is not None:
            query = query.where(raw_records.c.stream == stream)
        return int(self.connection.execute(query).scalar_one())

    def iter_raw_ids(self, system: str, stream: str) -> Iterator[str]:
        query = (
            select(raw_records.c.source_id)
            .where(and_(raw_records.c.system == system, raw_records.c.stream == stream))
            .order_by(raw_records.c.source_id)
        )
        for row in self.connection.execute(query):
            yield row.source_id

    def upsert_canonical(self, records: Iterable[tuple[CanonicalRecord, str]], stored_at: datetime) -> None:
        """Store (record, source stream) pairs; unchanged records are left untouched."""
        self.upsert_canonical_rows(
            [canonical_row(record, stream=stream) for record, stream in records], stored_at=stored_at
        )

    def upsert_canonical_rows(self, rows: Sequence[dict[str, Any]], *, stored_at: datetime) -> None:
        """Store rows made by `canonical_row`; a row whose content hash is unchanged is left untouched."""
        upsert_rows(
            self.connection,
            canonical_records,
            rows,
            key_columns=("record_id",),
            changed_when="content_hash",
            constants={"stored_at": stored_at},
        )

    def get_canonical(self, record_id: str) -> CanonicalRecord | None:
        row = self.connection.execute(
            select(canonical_records.c.kind, canonical_records.c.payload).where(
                canonical_records.c.record_id == record_id
            )
        ).first()
        return None if row is None else decode_canonical(row.kind, row.payload)

    def record_streams(self, record_ids: Sequence[str]) -> dict[str, str]:
        """The stream each of these canonical records was pulled from (for links into its system)."""
        rows = self.connection.execute(
            select(canonical_records.c.record_id, canonical_records.c.source_stream).where(
                canonical_records.c.record_id.in_(list(record_ids))
            )
        )
        return {row.record_id: row.source_stream for row in rows}

    def iter_canonical(self, kind: str, system: str | None = None) -> Iterator[CanonicalRecord]:
        query = select(canonical_records.c.kind, canonical_records.c.payload).where(
            canonical_records.c.kind == kind
        )
        if system is not None:
            query = query.where(canonical_records.c.system == system)
        for row in self.connection.execute(query.order_by(canonical_records.c.record_id)):
            yield decode_canonical(row.kind, row.payload)

    def link(
        self, kind: str, members: Sequence[tuple[str, str]], *, established_by: str, at: datetime
    ) -> str:
        """Record that (system, native_id) pairs are one `kind` entity; returns its entity id.

        Members already linked keep their entity; when members belong to different entities,
        they are merged into the oldest-linked one.
        """
        conditions = [
            and_(crosswalk.c.kind == kind, crosswalk.c.system == system, crosswalk.c.native_id == native_id)
            for system, native_id in members
        ]
        existing = self.connection.execute(
            select(crosswalk.c.entity_id, crosswalk.c.system, crosswalk.c.native_id)
            .where(or_(*conditions))
            .order_by(crosswalk.c.crosswalk_id)
        ).all()
        entity_id = existing[0].entity_id if existing else uuid.uuid4().hex
        others = {row.entity_id for row in existing} - {entity_id}
        if others:
            self.connection.execute(
                update(crosswalk).where(crosswalk.c.entity_id.in_(others)).values(entity_id=entity_id)
            )
        known = {(row.system, row.native_id) for row in existing}
        new_rows = [
            {
                "entity_id": entity_id,
                "kind": kind,
                "system": system,
                "native_id": native_id,
                "established_by": established_by,
                "established_at": at,
            }
            for system, native_id in dict.fromkeys(members)
            if (system, native_id) not in known
        ]
        upsert_rows(
            self.connection,
            crosswalk,
            new_rows,
            key_columns=("kind", "system", "native_id"),
            update_columns=(),
        )
        return entity_id

    def crosswalk_entries(self) -> dict[tuple[str, str, str], str]:
        """Every crosswalk row as (kind, system, native id) -> entity id."""
        rows = self.connection.execute(
            select(crosswalk.c.kind, crosswalk.c.system, crosswalk.c.native_id, crosswalk.c.entity_id)
        )
        return {(row.kind, row.system, row.native_id): row.entity_id for row in rows}

    def linked_ids(self, kind: str, system: str, native_id: str) -> dict[str, str]:
        """Every system's native id for the entity this record belongs to (its own included)."""
        entity = (
            select(crosswalk.c.entity_id)
            .where(
                and_(
                    crosswalk.c.kind == kind, crosswalk.c.system == system, crosswalk.c.native_id == native_id
                )
            )
            .scalar_subquery()
        )
        rows = self.connection.execute(
            select(crosswalk.c.system, crosswalk.c.native_id).where(crosswalk.c.entity_id == entity)
        ).all()
        return {row.system: row.native_id for row in rows}

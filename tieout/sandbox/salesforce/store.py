"""The org's records, indexes and write path: create, update, delete and upsert with Salesforce's checks.

Records are plain dicts keyed by API field name, replaced (never mutated) on every write, so a
journal of previous versions can roll an allOrNone batch back. Indexes kept per write, all O(1):
live records by external id value (case-insensitive), children by reference field, price book
entries by (price book, product, currency). Every write stamps LastModifiedDate and SystemModstamp
from the injected clock (or an explicit `at`).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from ..clock import SandboxClock
from . import rules
from .errors import SalesforceApiError, entity_is_deleted, malformed_id, not_found
from .ids import IdFactory, normalize_id
from .schema import OBJECTS, USER_ID, ObjectDef
from .values import coerce

Record = dict[str, Any]

_CASCADE: dict[str, list[tuple[str, str]]] = {
    "Account": [("Contact", "AccountId"), ("Opportunity", "AccountId")],
    "Opportunity": [("OpportunityLineItem", "OpportunityId")],
    "Order": [("OrderItem", "OrderId")],
    "Product2": [("PricebookEntry", "Product2Id")],
    "Pricebook2": [("PricebookEntry", "Pricebook2Id")],
}
_RESTRICT: dict[str, list[tuple[str, str]]] = {
    "Account": [("Contract", "AccountId"), ("Order", "AccountId")],
    "Contract": [("Order", "ContractId")],
    "PricebookEntry": [("OpportunityLineItem", "PricebookEntryId"), ("OrderItem", "PricebookEntryId")],
}
_ROLLUP_PARENT = {"OpportunityLineItem": ("Opportunity", "OpportunityId"), "OrderItem": ("Order", "OrderId")}
_AUTO_NUMBER_START = 100


def object_def(object_name: str) -> ObjectDef:
    obj = OBJECTS.get(object_name.lower())
    if obj is None:
        raise SalesforceApiError("NOT_FOUND", "The requested resource does not exist", status=404)
    return obj


class RecordStore:
    """In-memory org data; every public method takes the lock, so seeding threads and the server can mix."""

    def __init__(self, clock: SandboxClock) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.ids = IdFactory()
        self.tables: dict[str, dict[str, Record]] = {obj.name: {} for obj in OBJECTS.values()}
        self.deleted_log: dict[str, list[tuple[str, datetime]]] = {obj.name: [] for obj in OBJECTS.values()}
        self._external: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self._children: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self._entries: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        self._auto_numbers: dict[str, int] = defaultdict(lambda: _AUTO_NUMBER_START)
        self._journal: list[tuple[str, str, Record | None]] | None = None
        self.standard_pricebook_id = ""

    # ---- reading -------------------------------------------------------------------------------

    def get(self, object_name: str, record_id: str | None) -> Record | None:
        """A record by id, deleted or not."""
        if record_id is None:
            return None
        return self.tables[object_name].get(record_id)

    def live(self, object_name: str, record_id: str | None) -> Record | None:
        record = self.get(object_name, record_id)
        return record if record is not None and not record["IsDeleted"] else None

    def find_external(self, object_name: str, field_name: str, value: str) -> list[Record]:
        with self.lock:
            ids = self._external[(object_name, field_name)].get(value.casefold(), set())
            return [self.tables[object_name][i] for i in sorted(ids)]

    def children(self, object_name: str, field_name: str, parent_id: str) -> list[Record]:
        ids = self._children[(object_name, field_name)].get(parent_id, set())
        return [self.tables[object_name][i] for i in sorted(ids)]

    def _entries_for(self, pricebook_id: str, product_id: str, currency: str) -> list[Record]:
        return [self.tables["PricebookEntry"][i] for i in self._entries[(pricebook_id, product_id, currency)]]

    # ---- indexes and journal -------------------------------------------------------------------

    def _index(self, obj: ObjectDef, record: Record, add: bool) -> None:
        if record["IsDeleted"]:
            return
        record_id = record["Id"]
        for field in obj.fields:
            value = record.get(field.name)
            if value is None:
                continue
            if field.external_id:
                bucket = self._external[(obj.name, field.name)][str(value).casefold()]
            elif field.type == "reference" and field.reference_to != "User":
                bucket = self._children[(obj.name, field.name)][value]
            else:
                continue
            if add:
                bucket.add(record_id)
            else:
                bucket.discard(record_id)
        if obj.name == "PricebookEntry":
            key = (record["Pricebook2Id"], record["Product2Id"], record["CurrencyIsoCode"])
            if add:
                self._entries[key].add(record_id)
            else:
                self._entries[key].discard(record_id)

    def _put(self, object_name: str, record_id: str, record: Record | None) -> None:
        obj = OBJECTS[object_name.lower()]
        table = self.tables[object_name]
        old = table.get(record_id)
        if self._journal is not None:
            self._journal.append((object_name, record_id, old))
        if old is not None:
            self._index(obj, old, add=False)
        if record is None:
            table.pop(record_id, None)
        else:
            table[record_id] = record
            self._index(obj, record, add=True)

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Undo every write made inside the block if it raises (allOrNone batches)."""
        with self.lock:
            outer = self._journal
            self._journal = []
            deleted_marks = {name: len(log) for name, log in self.deleted_log.items()}
            try:
                yield
            except BaseException:
                journal, self._journal = self._journal, None
                for object_name, record_id, old in reversed(journal):
                    self._put(object_name, record_id, old)
                for name, mark in deleted_marks.items():
                    del self.deleted_log[name][mark:]
                self._journal = outer
                raise
            if outer is not None:
                outer.extend(self._journal)
            self._journal = outer

    # ---- writing -------------------------------------------------------------------------------

    def _now(self, at: datetime | None) -> datetime:
        moment = at or self.clock.now()
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def _resolve(self, obj: ObjectDef, values: dict[str, Any], creating: bool) -> dict[str, Any]:
        resolved: dict[str, Any] = {}
        refused = []
        for name, raw in values.items():
            if name == "attributes":
                continue
            field = obj.field(name)
            if field is None:
                raise SalesforceApiError(
                    "INVALID_FIELD", f"No such column '{name}' on sobject of type {obj.name}"
                )
            if not (field.createable if creating else field.updateable):
                refused.append(field.name)
                continue
            resolved[field.name] = coerce(field, raw)
        if refused:
            raise SalesforceApiError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(refused)}. Please check the security settings "
                "of this field and verify that it is read/write for your profile or permission set.",
                fields=refused,
            )
        return resolved

    def _check_references(self, obj: ObjectDef, record: Record, changed: dict[str, Any]) -> None:
        missing = [f.name for f in obj.fields if f.required and record.get(f.name) is None]
        if missing:
            raise SalesforceApiError(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                fields=missing,
            )
        for name, value in changed.items():
            field = obj.by_lower[name.lower()]
            if field.type != "reference" or value is None:
                continue
            target = field.reference_to or ""
            exists = value == USER_ID if target == "User" else self.live(target, value) is not None
            if not exists:
                raise SalesforceApiError(
                    "INVALID_CROSS_REFERENCE_KEY",
                    f"{field.display_label}: id value of incorrect type: {value}"
                    if value[:3] != OBJECTS.get(target.lower(), obj).key_prefix and target != "User"
                    else "invalid cross reference id",
                    fields=[field.name],
                )

    def _check_unique(self, obj: ObjectDef, record: Record) -> None:
        for field in obj.external_id_fields:
            value = record.get(field.name)
            if not field.unique or value is None:
                continue
            holders = self._external[(obj.name, field.name)].get(str(value).casefold(), set()) - {
                record["Id"]
            }
            if holders:
                raise SalesforceApiError(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {field.name} duplicates value on record with id: {min(holders)}",
                    fields=[],
                )

    def _finish(self, obj: ObjectDef, record: Record, changed: dict[str, Any], created: bool) -> Record:
        self._check_references(obj, record, changed)
        rules.derive(obj.name, record, set(changed), self.live, created)
        rules.check(obj.name, record, self.live, self.standard_pricebook_id, self._entries_for)
        self._check_unique(obj, record)
        self._put(obj.name, record["Id"], record)
        if obj.name == "OpportunityLineItem":
            opportunity = self.tables["Opportunity"][record["OpportunityId"]]
            if opportunity.get("Pricebook2Id") is None:
                entry = self.tables["PricebookEntry"][record["PricebookEntryId"]]
                self._put(
                    "Opportunity", opportunity["Id"], {**opportunity, "Pricebook2Id": entry["Pricebook2Id"]}
                )
        self._roll_up(obj.name, record, record["LastModifiedDate"])
        return record

    def _roll_up(self, object_name: str, child: Record, now: datetime) -> None:
        if object_name not in _ROLLUP_PARENT:
            return
        parent_name, parent_field = _ROLLUP_PARENT[object_name]
        parent = self.tables[parent_name][child[parent_field]]
        totals = rules.rollup(parent_name, parent, self.children(object_name, parent_field, parent["Id"]))
        self._put(
            parent_name, parent["Id"], {**parent, **totals, "LastModifiedDate": now, "SystemModstamp": now}
        )

    def create(self, object_name: str, values: dict[str, Any], *, at: datetime | None = None) -> Record:
        obj = object_def(object_name)
        with self.lock:
            changed = self._resolve(obj, values, creating=True)
            now = self._now(at)
            record: Record = {f.name: f.default for f in obj.fields}
            record.update(changed)
            record.update(
                Id=self.ids.new_id(obj.key_prefix),
                IsDeleted=False,
                CreatedDate=now,
                CreatedById=USER_ID,
                LastModifiedDate=now,
                LastModifiedById=USER_ID,
                SystemModstamp=now,
            )
            for field in obj.fields:
                if field.auto_number:
                    record[field.name] = f"{self._auto_numbers[obj.name]:08d}"
                    self._auto_numbers[obj.name] += 1
            return self._finish(obj, record, changed, created=True)

    def update(
        self, object_name: str, record_id: str, values: dict[str, Any], *, at: datetime | None = None
    ) -> Record:
        obj = object_def(object_name)
        with self.lock:
            old = self._existing(obj, record_id)
            changed = self._resolve(obj, values, creating=False)
            if obj.name == "Opportunity" and old.get("HasOpportunityLineItem"):
                changed.pop("Amount", None)  # a roll-up of the line items: Salesforce ignores writes
            if obj.name in ("Opportunity", "Order") and "CurrencyIsoCode" in changed:
                child = "OpportunityLineItem" if obj.name == "Opportunity" else "OrderItem"
                if changed["CurrencyIsoCode"] != old["CurrencyIsoCode"] and self.children(
                    child, f"{obj.name}Id", old["Id"]
                ):
                    raise SalesforceApiError(
                        "FIELD_INTEGRITY_EXCEPTION",
                        "field integrity exception: CurrencyIsoCode (cannot change currency with line items)",
                        fields=["CurrencyIsoCode"],
                    )
            now = self._now(at)
            record = {**old, **changed, "LastModifiedDate": now, "SystemModstamp": now}
            return self._finish(obj, record, changed, created=False)

    def _existing(self, obj: ObjectDef, record_id: str) -> Record:
        normalized = normalize_id(record_id)
        if normalized is None:
            raise malformed_id(record_id, f"{obj.name} ID")
        record = self.tables[obj.name].get(normalized)
        if record is None:
            raise not_found()
        if record["IsDeleted"]:
            raise entity_is_deleted()
        return record

    def delete(self, object_name: str, record_id: str, *, at: datetime | None = None) -> None:
        obj = object_def(object_name)
        with self.lock, self.atomic():
            record = self._existing(obj, record_id)
            if record["Id"] == self.standard_pricebook_id:
                raise SalesforceApiError("DELETE_FAILED", "You can't delete the standard price book.")
            self._delete(obj, record, self._now(at))

    def _delete(self, obj: ObjectDef, record: Record, now: datetime) -> None:
        for child_name, field_name in _RESTRICT.get(obj.name, []):
            if self.children(child_name, field_name, record["Id"]):
                raise SalesforceApiError(
                    "DELETE_FAILED",
                    f"Your attempt to delete {record.get('Name') or record['Id']} could not be completed "
                    f"because it is associated with the following {OBJECTS[child_name.lower()].label_plural}.",
                )
        for child_name, field_name in _CASCADE.get(obj.name, []):
            for child in self.children(child_name, field_name, record["Id"]):
                self._delete(OBJECTS[child_name.lower()], child, now)
        gone = {**record, "IsDeleted": True, "LastModifiedDate": now, "SystemModstamp": now}
        self._put(obj.name, record["Id"], gone)
        self.deleted_log[obj.name].append((record["Id"], now))
        if obj.name in _ROLLUP_PARENT:
            parent_name, parent_field = _ROLLUP_PARENT[obj.name]
            if self.live(parent_name, record[parent_field]) is not None:
                self._roll_up(obj.name, record, now)

    def upsert(
        self,
        object_name: str,
        field_name: str,
        value: str,
        values: dict[str, Any],
        *,
        update_only: bool = False,
        at: datetime | None = None,
    ) -> tuple[Record, bool]:
        """Create or update by external id; raises 300 MULTIPLE_CHOICES (as a list) on several matches."""
        obj = object_def(object_name)
        field = obj.field(field_name)
        if field is None or not field.external_id:
            raise SalesforceApiError("NOT_FOUND", "The requested resource does not exist", status=404)
        with self.lock:
            matches = self.find_external(obj.name, field.name, value)
            if len(matches) > 1:
                raise MultipleMatches([m["Id"] for m in matches])
            if any(k.lower() == "id" for k in values):
                raise SalesforceApiError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update fields: Id.", fields=["Id"]
                )
            if matches:
                body = {k: v for k, v in values.items() if k.lower() != field.name.lower()}
                return self.update(obj.name, matches[0]["Id"], body, at=at), False
            if update_only:
                raise not_found()
            return self.create(obj.name, {**values, field.name: value}, at=at), True


class MultipleMatches(Exception):
    """An external id value held by more than one record: HTTP 300 with the records' URLs."""

    def __init__(self, record_ids: list[str]) -> None:
        super().__init__(f"{len(record_ids)} records match")
        self.record_ids = record_ids

"""A reconcile snapshot: every system's canonical records, indexed for finding twins.

Records are loaded once per reconcile, grouped by kind and system. `twins()` finds a record's
counterparts in another system by the strongest evidence first: the ids the record states
(`links`), then ids the other side states about it (reverse links), then the crosswalk the
pushes and earlier matches recorded. Fuzzy matching is never done here; rules that need a
fallback key (invoice number, customer + amount + period) do it themselves and say so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tieout.model import RECORD_TYPES, CanonicalRecord
from tieout.store import Store

R = TypeVar("R", bound=CanonicalRecord)


class Snapshot:
    def __init__(
        self, records: Iterable[CanonicalRecord], crosswalk: dict[tuple[str, str, str], str] | None = None
    ) -> None:
        self._by_kind: dict[tuple[str, str], dict[str, CanonicalRecord]] = defaultdict(dict)
        for record in records:
            if not record.deleted:
                self._by_kind[(record.kind, record.system)][record.native_id] = record
        self._crosswalk = crosswalk or {}
        self._entities: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for (kind, system, native_id), entity in self._crosswalk.items():
            self._entities[f"{kind}:{entity}"][system].append(native_id)
        self._reverse: dict[tuple[str, str, str], dict[str, list[CanonicalRecord]]] = {}

    @classmethod
    def load(cls, store: Store) -> Snapshot:
        with store.transaction() as tx:
            records = [record for kind in RECORD_TYPES for record in tx.iter_canonical(kind)]
            crosswalk = tx.crosswalk_entries()
        return cls(records, crosswalk)

    def records(self, cls: type[R], system: str) -> dict[str, R]:
        found = self._by_kind.get((cls.kind, system), {})
        return found  # type: ignore[return-value]

    def get(self, cls: type[R], system: str, native_id: str | None) -> R | None:
        if native_id is None:
            return None
        return self.records(cls, system).get(native_id)

    def _reverse_index(
        self, kind: str, target_system: str, source_system: str
    ) -> dict[str, list[CanonicalRecord]]:
        key = (kind, target_system, source_system)
        if key not in self._reverse:
            index: dict[str, list[CanonicalRecord]] = defaultdict(list)
            for record in self._by_kind.get((kind, target_system), {}).values():
                linked = record.links.get(source_system)
                if linked:
                    index[linked].append(record)
            self._reverse[key] = index
        return self._reverse[key]

    def twins(self, record: CanonicalRecord, target_system: str) -> list[CanonicalRecord]:
        """Every record in `target_system` that is the same business object, strongest evidence first:
        stated links, reverse links, links through a third system, then the crosswalk."""
        found: dict[str, CanonicalRecord] = {}
        targets = self._by_kind.get((record.kind, target_system), {})
        stated = record.links.get(target_system)
        if stated and stated in targets:
            found[stated] = targets[stated]
        for twin in self._reverse_index(record.kind, target_system, record.system).get(record.native_id, []):
            found.setdefault(twin.native_id, twin)
        # Twins through a third system both point at: a Stripe invoice and a NetSuite invoice that
        # name the same billing invoice are the same invoice.
        for third, third_id in record.links.items():
            if third == target_system:
                continue
            for twin in self._reverse_index(record.kind, target_system, third).get(third_id, []):
                found.setdefault(twin.native_id, twin)
            hub = self._by_kind.get((record.kind, third), {}).get(third_id)
            hub_stated = hub.links.get(target_system) if hub is not None else None
            if hub_stated and hub_stated in targets:
                found.setdefault(hub_stated, targets[hub_stated])
        entity = self._crosswalk.get((record.kind, record.system, record.native_id))
        if entity is not None:
            for native_id in self._entities[f"{record.kind}:{entity}"].get(target_system, []):
                if native_id in targets:
                    found.setdefault(native_id, targets[native_id])
        return list(found.values())

    def twin(self, record: CanonicalRecord, target_system: str) -> CanonicalRecord | None:
        matches = self.twins(record, target_system)
        return matches[0] if matches else None

    def typed_twin(self, record: CanonicalRecord, cls: type[R], target_system: str) -> R | None:
        found = self.twin(record, target_system)
        return found if isinstance(found, cls) else None

    def all_records(self) -> Iterator[CanonicalRecord]:
        for records in self._by_kind.values():
            yield from records.values()

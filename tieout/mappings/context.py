"""What a mapping function may know besides the payload: the configured field mappings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tieout.errors import MappingError


@dataclass(frozen=True)
class FieldMappings:
    """Configurable parts of a mapping, from `config/mappings/*.yaml`.

    `value_maps` translate codes between systems (billing product -> NetSuite item, subsidiary
    names -> NetSuite subsidiary ids, payment terms, tax codes); `custom_fields` name where a
    canonical attribute lives in a system's custom fields.
    """

    value_maps: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    custom_fields: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def translate(self, map_name: str, value: str, *, field_path: str) -> str:
        table = self.value_maps.get(map_name)
        if table is None:
            raise MappingError(
                f"no value map named {map_name!r} is configured", field_path=field_path, value=value
            )
        try:
            return table[value]
        except KeyError:
            raise MappingError(f"value not in map {map_name!r}", field_path=field_path, value=value) from None

    def custom_field(self, system: str, attribute: str, default: str) -> str:
        return self.custom_fields.get(system, {}).get(attribute, default)


@dataclass(frozen=True)
class MappingContext:
    system: str
    stream: str
    fields: FieldMappings = field(default_factory=FieldMappings)
    extra: Mapping[str, Any] = field(default_factory=dict)

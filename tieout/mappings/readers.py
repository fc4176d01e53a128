"""Reading fields out of a vendor payload, each problem a MappingError naming the field path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tieout.errors import MappingError


def field(payload: Mapping[str, Any], key: str, path: str) -> Any:
    """A required field: present and not null."""
    value = payload.get(key)
    if value is None:
        raise MappingError("required field is missing", field_path=path, value=None)
    return value


def text(payload: Mapping[str, Any], key: str, path: str) -> str:
    value = payload.get(key)
    if type(value) is str and value:
        return value
    value = field(payload, key, path)
    if not isinstance(value, str) or not value:
        raise MappingError("expected a non-empty string", field_path=path, value=value)
    return value


def optional_text(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    return value if isinstance(value, str) and value else None


def mapping(payload: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    """An object; null or absent is an empty one."""
    value = payload.get(key)
    if value is None:
        return {}
    if type(value) is not dict and not isinstance(value, Mapping):
        raise MappingError("expected an object", field_path=path, value=value)
    return value


def all_objects(values: list[Any]) -> bool:
    """Whether every item is an object (decoded JSON gives plain dicts: checked first, it is cheap)."""
    return all(type(item) is dict or isinstance(item, Mapping) for item in values)

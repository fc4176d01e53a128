"""Typed reading of Stripe request parameters, with Stripe's errors for unknown or malformed ones.

Form values arrive as strings (see forms.py); `Params` turns them into ints, bools, enums,
timestamps and metadata updates, and rejects parameters an endpoint does not accept, as
Stripe's `parameter_unknown` error does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tieout.sandbox.stripe.errors import StripeError, invalid, missing_param

METADATA_MAX_KEYS = 50
METADATA_MAX_KEY_LENGTH = 40
METADATA_MAX_VALUE_LENGTH = 500


def merge_metadata(current: dict[str, str] | None, update: Any) -> dict[str, str]:
    """Stripe's metadata semantics: keys merge, an empty value unsets a key, `""` clears all."""
    merged = dict(current or {})
    if update is None:
        return merged
    if update == "":
        return {}
    if not isinstance(update, dict):
        raise invalid("Invalid object", param="metadata")
    for key, value in update.items():
        if len(key) > METADATA_MAX_KEY_LENGTH:
            raise invalid(
                f"Metadata keys can have up to {METADATA_MAX_KEY_LENGTH} characters. "
                f"Your key {key!r} has {len(key)} characters.",
                param=f"metadata[{key}]",
            )
        if value is None or value == "":
            merged.pop(key, None)
            continue
        if isinstance(value, dict | list):
            raise invalid("Invalid string", param=f"metadata[{key}]")
        text = value if isinstance(value, str) else str(value)
        if len(text) > METADATA_MAX_VALUE_LENGTH:
            raise invalid(
                f"Metadata values can have up to {METADATA_MAX_VALUE_LENGTH} characters, "
                f"but you passed in a value that is {len(text)} characters.",
                param=f"metadata[{key}]",
            )
        merged[key] = text
    if len(merged) > METADATA_MAX_KEYS:
        raise invalid(
            f"You can have up to {METADATA_MAX_KEYS} metadata keys; your request would have {len(merged)}.",
            param="metadata",
        )
    return merged


class Params:
    """One request's parameters, checked against what the endpoint accepts."""

    def __init__(self, values: dict[str, Any], allowed: Iterable[str]) -> None:
        allowed_set = set(allowed) | {"expand"}
        for name in values:
            if name not in allowed_set:
                raise StripeError(f"Received unknown parameter: {name}", code="parameter_unknown", param=name)
        self.values = values

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def raw(self, name: str) -> Any:
        return self.values.get(name)

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.values.get(name)
        if value is None:
            if required:
                raise missing_param(name)
            return None
        if not isinstance(value, str):
            raise invalid("Invalid string", param=name)
        if value == "" and required:
            raise invalid(
                f"You passed an empty string for '{name}'. We assume empty values are an attempt to "
                "unset a parameter; however '{name}' cannot be unset. You should remove '{name}' "
                "from your request or supply a non-empty value.".replace("{name}", name),
                param=name,
            )
        return value

    def nullable_str(self, name: str) -> str | None:
        """A field that `""` unsets: returns None for an empty string."""
        value = self.text(name)
        return value or None

    def integer(self, name: str, *, required: bool = False, minimum: int | None = None) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            if required:
                raise missing_param(name)
            return None
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise invalid(f"Invalid integer: {value}", param=name) from None
        if minimum is not None and number < minimum:
            raise invalid(f"This value must be greater than or equal to {minimum}.", param=name)
        return number

    def boolean(self, name: str) -> bool | None:
        value = self.values.get(name)
        if value is None:
            return None
        if value in ("true", True):
            return True
        if value in ("false", False):
            return False
        raise invalid(f"Invalid boolean: {value}", param=name)

    def enum(self, name: str, choices: Iterable[str], *, required: bool = False) -> str | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        options = list(choices)
        if value not in options:
            raise invalid(f"Invalid {name}: must be one of {', '.join(options)}", param=name)
        return value

    def currency(self, name: str = "currency", *, required: bool = False) -> str | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        if len(value) != 3 or not value.isalpha():
            raise invalid(
                f"Invalid currency: {value.lower()}. Currencies are three-letter ISO codes, such as usd.",
                param=name,
            )
        return value.lower()

    def mapping(self, name: str) -> dict[str, Any] | None:
        value = self.values.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise invalid("Invalid object", param=name)
        return value

    def array(self, name: str) -> list[Any] | None:
        value = self.values.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            return [value] if value else []
        if not isinstance(value, list):
            raise invalid("Invalid array", param=name)
        return value

    def expand(self) -> list[str]:
        paths = self.array("expand") or []
        if not all(isinstance(p, str) for p in paths):
            raise invalid("Invalid array", param="expand")
        return paths

    def metadata(self, current: dict[str, str] | None = None) -> dict[str, str] | None:
        """The merged metadata, or None when the request does not touch it."""
        if "metadata" not in self.values:
            return None
        return merge_metadata(current, self.values["metadata"])

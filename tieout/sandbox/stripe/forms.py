"""Stripe's nested form encoding: `metadata[k]=v`, `expand[]=x`, `items[0][price]=p` into nested values.

Bodies (application/x-www-form-urlencoded) and query strings use the same scheme. Numeric or
empty brackets make lists; other brackets make dicts. Values stay strings: each endpoint parses
its own types, as Stripe does, so `"true"`, `"12"` and `""` keep their meaning until then.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from tieout.sandbox.stripe.errors import StripeError

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


def _split(key: str) -> list[str]:
    match = _KEY.match(key)
    if match is None:
        raise StripeError(f"Invalid parameter name: {key}", param=key)
    return [match.group(1), *_PART.findall(match.group(2))]


def _finish(node: Any) -> Any:
    """Turn the dicts that stood for lists (int or append keys) into lists, recursively."""
    if isinstance(node, _ListBuilder):
        return [_finish(node.items[k]) for k in sorted(node.items)]
    if isinstance(node, dict):
        return {k: _finish(v) for k, v in node.items()}
    return node


class _ListBuilder:
    def __init__(self) -> None:
        self.items: dict[int, Any] = {}

    def slot(self, token: str) -> int:
        if token == "":
            return len(self.items) and max(self.items) + 1
        return int(token)


def decode(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Build the nested parameters from (key, value) pairs in the order they arrived."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        tokens = _split(key)
        node: Any = root
        for position, token in enumerate(tokens):
            last = position == len(tokens) - 1
            nxt = None if last else tokens[position + 1]
            wants_list = nxt is not None and (nxt == "" or nxt.isdigit())
            if isinstance(node, _ListBuilder):
                if token != "" and not token.isdigit():
                    raise StripeError(f"Invalid array: {tokens[0]}", param=tokens[0])
                slot: Any = node.slot(token)
                container: Any = node.items
            else:
                slot = token
                container = node
            if last:
                container[slot] = value
                break
            child = container.get(slot)
            if child is None or isinstance(child, str):
                child = _ListBuilder() if wants_list else {}
                container[slot] = child
            elif wants_list and not isinstance(child, _ListBuilder):
                raise StripeError(f"Invalid array: {key}", param=tokens[0])
            node = child
    result = _finish(root)
    assert isinstance(result, dict)
    return result


def decode_body(body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise StripeError("Invalid request body: not UTF-8 encoded.") from None
    return decode(parse_qsl(text, keep_blank_values=True))


def decode_query(query_string: str) -> dict[str, Any]:
    return decode(parse_qsl(query_string, keep_blank_values=True))

"""Canonical JSON: `dumps_decoded` (orjson) writes exactly what `dumps` writes for what `loads` makes."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum, IntEnum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tieout import jsonutil


class Colour(Enum):
    RED = "red"


class Level(IntEnum):
    HIGH = 3


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.datetimes(timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-5, minutes=-30))])),
    st.dates(),
    st.sampled_from([Colour.RED, Level.HIGH]),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=6), children, max_size=4),
    ),
    max_leaves=20,
)


def outcome(encode: Any, value: Any) -> tuple[str, str]:
    try:
        return "ok", encode(value)
    except (TypeError, ValueError) as error:
        return "error", type(error).__name__


@settings(max_examples=1500, deadline=None)
@given(values)
def test_dumps_decoded_writes_what_dumps_writes(value: Any) -> None:
    assert outcome(jsonutil.dumps_decoded, value) == outcome(jsonutil.dumps, value)


@settings(max_examples=300, deadline=None)
@given(values)
def test_what_loads_makes_encodes_back_to_the_same_text(value: Any) -> None:
    try:
        text = jsonutil.dumps(value)
    except (TypeError, ValueError):
        return
    assert jsonutil.dumps_decoded(jsonutil.loads(text)) == text


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [Decimal("1.10"), None]},
        {"text": "caf\u00e9 \u2028 \x7f \x00 /"},
        {1: "int key"},
        {"big": 2**64},
        {"lone": "\ud800"},
        OrderedDict([("z", 1), ("a", 2)]),
        {"when": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), "day": date(2026, 1, 2)},
        {"set": frozenset({1})},
        {"kinds": [Colour.RED, Level.HIGH, True, False]},
        {"note": 'quote " and \\ backslash'},
        {"thing": object()},
    ],
)
def test_dumps_decoded_matches_dumps_on_edge_cases(value: Any) -> None:
    assert outcome(jsonutil.dumps_decoded, value) == outcome(jsonutil.dumps, value)


def test_loads_refuses_nan_and_infinity() -> None:
    for text in ('{"total": NaN}', "[Infinity]", "-Infinity"):
        with pytest.raises(ValueError, match="is not a JSON number"):
            jsonutil.loads(text)
    assert jsonutil.loads('{"total": 1.50, "count": 2}') == {"total": Decimal("1.50"), "count": 2}

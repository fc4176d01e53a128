"""SuiteQL building: quoted literals round-trip through the emulator's parser, ids are validated, key sets are exact."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

from netsuite_connector_fixtures import seed_company

from tieout.connectors.netsuite.paging import fitting_page_size
from tieout.connectors.netsuite.suiteql import (
    OrderKey,
    Query,
    id_list,
    integer,
    local_text,
    parse_local,
    quote,
    timestamp,
)
from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.netsuite import NetSuiteState
from tieout.sandbox.netsuite import suiteql as emulator

text_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=40
).filter(lambda value: value.strip() != "")


@pytest.fixture(scope="module")
def state() -> Iterator[NetSuiteState]:
    account = NetSuiteState(SandboxClock(datetime(2024, 3, 1, tzinfo=UTC)))
    seed_company(account)
    yield account


@settings(max_examples=150, deadline=None)
@given(value=text_values)
def test_quoted_literal_round_trips_through_the_emulators_parser(state: NetSuiteState, value: str) -> None:
    rows, _ = emulator.run(state, f"SELECT {quote(value)} AS v FROM currency c WHERE c.id = 1", 10, 0)
    assert rows[0]["v"] == value


@settings(max_examples=60, deadline=None)
@given(value=text_values)
def test_a_quoted_value_is_compared_not_executed(state: NetSuiteState, value: str) -> None:
    sql = f"SELECT c.id AS id FROM customer c WHERE c.companyname = {quote(value)} OR c.id = 0"
    _, total = emulator.run(state, sql, 10, 0)
    assert total == (1 if value in ("Acme Corp", "Kaisha KK") else 0)


def test_injection_attempts_stay_inside_the_literal(state: NetSuiteState) -> None:
    hostile = "x' OR '1'='1"
    rows, total = emulator.run(
        state, f"SELECT c.id AS id FROM customer c WHERE c.companyname = {quote(hostile)}", 10, 0
    )
    assert (rows, total) == ([], 0)
    assert quote("it's") == "'it''s'"
    with pytest.raises(ValueError):
        quote("nul\x00byte")


@pytest.mark.parametrize("bad", ["1 OR 1=1", "12a", "", " 1", True, 1.5, None, "9" * 19])
def test_ids_must_be_integers(bad: object) -> None:
    with pytest.raises(ValueError):
        integer(bad)


def test_id_lists() -> None:
    assert id_list(["3", 4, "05"]) == "(3, 4, 5)"
    with pytest.raises(ValueError):
        id_list([])
    with pytest.raises(ValueError):
        id_list(range(1001))
    with pytest.raises(ValueError):
        id_list(["1", "2); DROP"])


def test_timestamps_are_validated_and_bounds_round_up() -> None:
    assert timestamp("2024-03-01 09:00:00") == "TO_TIMESTAMP('2024-03-01 09:00:00', 'YYYY-MM-DD HH24:MI:SS')"
    with pytest.raises(ValueError):
        timestamp("2024-03-01' OR '1'='1")
    zone = ZoneInfo("America/Los_Angeles")
    moment = datetime(2024, 3, 1, 17, 0, 0, 250_000, tzinfo=UTC)
    assert local_text(moment, zone, round_up=True) == "2024-03-01 09:00:01"
    assert local_text(moment.replace(microsecond=0), zone, round_up=True) == "2024-03-01 09:00:00"
    assert parse_local("2024-03-01 09:00:00", zone).astimezone(UTC) == datetime(2024, 3, 1, 17, tzinfo=UTC)


def test_key_set_condition_continues_after_the_last_row(state: NetSuiteState) -> None:
    query = Query(
        select=("c.id AS id", "c.subsidiary AS subsidiary"),
        source="customer c",
        order=(OrderKey("c.subsidiary", "subsidiary"), OrderKey("c.id", "id")),
    )
    sql = query.sql(("1", "1"))
    assert "((c.subsidiary > 1) OR (c.subsidiary = 1 AND c.id > 1))" in sql
    rows, _ = emulator.run(state, sql, 10, 0)
    assert [row["id"] for row in rows] == ["2"]
    assert query.position({"id": "2", "subsidiary": "2"}) == ("2", "2")
    with pytest.raises(ValueError):
        query.sql(("1",))


def test_header_pages_are_sized_so_their_details_fill_whole_pages() -> None:
    # 1,000 payments with 1,050 applications need two application pages; 923 need one.
    assert fitting_page_size(1000, {"applications": 1050, "deposits": 950}, 1000) == 923
    # 3.75 lines an invoice: 1,000 a page (four line pages) beats 776 (three): fewer calls a row.
    assert fitting_page_size(1000, {"lines": 3750}, 1000) == 1000
    assert fitting_page_size(1000, {}, 1000) == 1000
    assert fitting_page_size(0, {"lines": 0}, 1000) == 1000
    assert fitting_page_size(10, {"lines": 20}, 50) == 50  # never above the configured size

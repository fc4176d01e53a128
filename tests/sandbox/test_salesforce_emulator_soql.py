"""The SOQL parser and query engine of the Salesforce emulator, in process: grammar, errors and properties."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.salesforce import soql
from tieout.sandbox.salesforce.errors import SalesforceApiError
from tieout.sandbox.salesforce.ids import normalize_id, to_18
from tieout.sandbox.salesforce.query import compile_query
from tieout.sandbox.salesforce.state import SalesforceState

NOW = datetime(2026, 5, 15, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def state() -> SalesforceState:
    org = SalesforceState(SandboxClock(frozen_at=NOW))
    org.create_account("Zeta", AnnualRevenue=10, NumberOfEmployees=5, at=datetime(2026, 5, 15, 1, tzinfo=UTC))
    org.create_account("alpha", AnnualRevenue=300, at=datetime(2026, 5, 14, 23, tzinfo=UTC))
    org.create_account("Beta_1", at=datetime(2026, 4, 30, tzinfo=UTC))
    org.create_account(
        "beta%2", AnnualRevenue=300, NumberOfEmployees=7, at=datetime(2025, 12, 31, tzinfo=UTC)
    )
    return org


def _names(state: SalesforceState, text: str) -> list[str]:
    compiled = compile_query(state, text)
    return [r["Name"] for r in compiled.run(state, include_deleted=False)]


def test_parse_builds_the_tree() -> None:
    query = soql.parse(
        "select Id, account.name from OPPORTUNITY where (Amount > -5.5 and StageName = 'Won') or not "
        "CloseDate in (2024-01-31, TODAY) order by CloseDate desc, Name nulls last limit 10 offset 20"
    )
    assert [f.path for f in query.fields] == [("Id",), ("account", "name")]
    assert query.object_name == "OPPORTUNITY" and query.limit == 10 and query.offset == 20
    assert query.where == soql.Or(
        (
            soql.And(
                (
                    soql.Comparison(soql.FieldRef(("Amount",)), ">", Decimal("-5.5")),
                    soql.Comparison(soql.FieldRef(("StageName",)), "=", soql.StringLit("Won")),
                )
            ),
            soql.Not(
                soql.InList(soql.FieldRef(("CloseDate",)), (date(2024, 1, 31), soql.RelativeDate("TODAY")))
            ),
        )
    )
    assert query.order_by == (
        soql.OrderItem(soql.FieldRef(("CloseDate",)), descending=True, nulls_last=True),
        soql.OrderItem(soql.FieldRef(("Name",)), descending=False, nulls_last=True),
    )


def test_keywords_are_names_where_a_name_is_expected() -> None:
    query = soql.parse(
        "SELECT Order.OrderNumber, Not_Flag__c FROM Order WHERE Order.Status != 'Draft' ORDER BY Id"
    )
    assert query.object_name == "Order" and query.fields[1].path == ("Not_Flag__c",)


@pytest.mark.parametrize(
    "text",
    [
        "SELECT FROM Account",
        "SELECT Id FROM Account WHERE Name = 'a' OR Name = 'b' AND Name = 'c'",
        "SELECT Id FROM Account WHERE Name = 'unterminated",
        "SELECT Id FROM Account WHERE Name = 'bad \\q escape'",
        "SELECT Id FROM Account WHERE CreatedDate > 2024-13-45T00:00:00Z",
        "SELECT Id FROM Account LIMIT -1",
        "SELECT Id, COUNT() FROM Account",
        'SELECT Id FROM Account WHERE Name = "double"',
        "SELECT Id FROM Account WHERE CloseDate = LAST_N_WEEKS:2",
        "SELECT Id FROM Account; DELETE",
    ],
)
def test_malformed_queries_are_rejected(text: str) -> None:
    with pytest.raises(SalesforceApiError) as caught:
        soql.parse(text)
    assert caught.value.error_code == "MALFORMED_QUERY" and caught.value.status == 400
    assert "ERROR at Row:1:Column:" in caught.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SELECT Name FROM Account ORDER BY Name", ["alpha", "beta%2", "Beta_1", "Zeta"]),
        ("SELECT Name FROM Account WHERE Name LIKE 'beta\\_%'", ["Beta_1"]),
        ("SELECT Name FROM Account WHERE Name LIKE 'beta\\%%'", ["beta%2"]),
        ("SELECT Name FROM Account WHERE Name LIKE 'BETA_%' ORDER BY Name", ["beta%2", "Beta_1"]),
        (
            "SELECT Name FROM Account WHERE AnnualRevenue = 300 ORDER BY NumberOfEmployees DESC",
            ["beta%2", "alpha"],
        ),
        (
            "SELECT Name FROM Account ORDER BY NumberOfEmployees NULLS LAST, Name DESC",
            ["Zeta", "beta%2", "Beta_1", "alpha"],
        ),
        ("SELECT Name FROM Account WHERE AnnualRevenue NOT IN (300) ORDER BY Name", ["Beta_1", "Zeta"]),
        ("SELECT Name FROM Account WHERE CreatedDate = TODAY", ["Zeta"]),
        ("SELECT Name FROM Account WHERE CreatedDate = YESTERDAY", ["alpha"]),
        ("SELECT Name FROM Account WHERE CreatedDate = LAST_MONTH", ["Beta_1"]),
        ("SELECT Name FROM Account WHERE CreatedDate < LAST_N_DAYS:30", ["beta%2"]),
        ("SELECT Name FROM Account WHERE CreatedDate = LAST_YEAR", ["beta%2"]),
        ("SELECT Name FROM Account WHERE CreatedDate >= 2026-05-15T00:00:00-01:00", ["Zeta"]),
    ],
)
def test_query_semantics(state: SalesforceState, text: str, expected: list[str]) -> None:
    assert _names(state, text) == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("SELECT Id FROM Account WHERE Id = 'nope'", "INVALID_QUERY_FILTER_OPERATOR"),
        ("SELECT Id FROM Account WHERE IsDeleted > true", "INVALID_QUERY_FILTER_OPERATOR"),
        ("SELECT Id FROM Account WHERE AnnualRevenue LIKE '1%'", "INVALID_QUERY_FILTER_OPERATOR"),
        ("SELECT Id FROM Account WHERE AnnualRevenue = '1'", "INVALID_FIELD"),
        ("SELECT Id FROM Account WHERE Name > null", "MALFORMED_QUERY"),
        ("SELECT Id, id FROM Account", "MALFORMED_QUERY"),
        ("SELECT Parent.Nope FROM Account", "INVALID_FIELD"),
        ("SELECT Nope.Name FROM Account", "INVALID_FIELD"),
    ],
)
def test_type_errors_happen_before_any_row_is_read(state: SalesforceState, text: str, code: str) -> None:
    with pytest.raises(SalesforceApiError) as caught:
        compile_query(state, text)
    assert caught.value.error_code == code


def test_ids_normalise_between_15_and_18_characters() -> None:
    long_id = to_18("001Hs00000AbCdE")
    assert long_id == "001Hs00000AbCdEIAE"[:15] + long_id[15:]
    assert normalize_id(long_id[:15]) == long_id
    assert normalize_id(long_id.lower()) == long_id
    assert normalize_id("001Hs00000AbCdE!") is None and normalize_id("short") is None


_FIELDS = ["Name", "AnnualRevenue", "CreatedDate", "IsDeleted", "Parent.Name", "Bogus", "Type"]
_values = st.one_of(
    st.text(max_size=12).map(lambda t: soql.StringLit(soql.quote(t)[1:-1])),
    st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2999, 12, 31)),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2999, 1, 1), timezones=st.just(UTC)).map(
        lambda d: d.replace(microsecond=0)
    ),
    st.sampled_from([soql.RelativeDate("TODAY"), soql.RelativeDate("LAST_N_DAYS", 30)]),
)
_refs = st.sampled_from(_FIELDS).map(lambda f: soql.FieldRef(tuple(f.split("."))))
_leaves = st.one_of(
    st.builds(soql.Comparison, _refs, st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "LIKE"]), _values),
    st.builds(soql.InList, _refs, st.lists(_values, min_size=1, max_size=3).map(tuple), st.booleans()),
)
_conditions = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.builds(soql.Not, inner),
        st.builds(soql.And, st.lists(inner, min_size=2, max_size=3).map(tuple)),
        st.builds(soql.Or, st.lists(inner, min_size=2, max_size=3).map(tuple)),
    ),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None)
@given(_conditions)
def test_generated_where_clauses_round_trip_and_run_or_are_refused(
    state: SalesforceState, condition: soql.Condition
) -> None:
    text = f"SELECT Id, Name FROM Account WHERE {soql.render_condition(condition)}"
    assert soql.parse(text).where == condition
    try:
        compiled = compile_query(state, text)
    except SalesforceApiError as refused:
        assert refused.status == 400
        assert refused.error_code in {"INVALID_FIELD", "INVALID_QUERY_FILTER_OPERATOR", "MALFORMED_QUERY"}
        return
    rows = compiled.run(state, include_deleted=False)
    assert {r["Id"] for r in rows} <= set(state.tables["Account"])


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="abcNOTANDOR()=<>!'\\%_ ,.0123456789-:TZ", max_size=40))
def test_arbitrary_where_text_parses_or_is_malformed(fragment: str) -> None:
    try:
        soql.parse(f"SELECT Id FROM Account WHERE {fragment}")
    except SalesforceApiError as refused:
        assert refused.error_code == "MALFORMED_QUERY"


@given(st.text(max_size=30))
def test_quote_inverts_string_literals(text: str) -> None:
    parsed = soql.parse(f"SELECT Id FROM Account WHERE Name = {soql.quote(text)}")
    assert isinstance(parsed.where, soql.Comparison)
    assert isinstance(parsed.where.value, soql.StringLit) and parsed.where.value.text == text

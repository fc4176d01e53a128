"""Injection and hostile text, property-based: values never change a query's or a config's meaning.

- SOQL: any text the connector puts in a condition (quotes, backslashes, operators, newlines,
  `%` and `_`) reaches the Salesforce emulator's parser as one string literal equal to it, and a
  query for it finds exactly the accounts with that name; anything but a plain API name is refused
  as a field name.
- SuiteQL: the key-set position a page resumes from (values a hostile API could have sent) is
  either a valid id and timestamp or refused; never query text.
- Money: any input is a Money within range or a ValueError, never another exception.
- Config: a secret whose value is YAML (newlines, `key: value`, `${OTHER}`) is that text exactly
  and changes nothing else; any YAML document loads or gives a ConfigError naming where.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tieout.config import load_config
from tieout.connectors.netsuite.suiteql import OrderKey, Query
from tieout.connectors.salesforce.soql import SObjectQuery, check_field_name, condition
from tieout.errors import ConfigError
from tieout.money import AMOUNT_LIMIT, Money
from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.salesforce import soql
from tieout.sandbox.salesforce.query import compile_query
from tieout.sandbox.salesforce.state import SalesforceState

SUPPORT = Path(__file__).parent / "support"
HOSTILE_NAMES = [
    "O'Brien & Sons",
    "x' OR Name != 'x",
    "back\\slash' OR Id != null OR Name = '",
    "100% _wild_",
    "line\nbreak\tand\rreturn",
    "'; DELETE FROM Account; --",
]
ACCOUNT_NAMES = st.one_of(
    st.sampled_from(HOSTILE_NAMES),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40),
)


@pytest.fixture(scope="module")
def org() -> SalesforceState:
    state = SalesforceState(SandboxClock(frozen_at=datetime(2026, 5, 15, tzinfo=UTC)))
    for name in ["Acme", "Acme2", *HOSTILE_NAMES]:
        state.create_account(name)
    return state


def names_found(org: SalesforceState, text: str) -> list[str]:
    return [row["Name"] for row in compile_query(org, text).run(org, include_deleted=False)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ACCOUNT_NAMES)
def test_a_soql_value_stays_one_literal_and_finds_exactly_its_accounts(
    org: SalesforceState, name: str
) -> None:
    text = SObjectQuery("Account", ("Id", "Name")).select([condition("Name", "=", name)], order_by=("Id",))
    where = soql.parse(text).where
    assert isinstance(where, soql.Comparison) and where.field.path == ("Name",) and where.op == "="
    assert isinstance(where.value, soql.StringLit) and where.value.text == name
    expected = sorted(
        account["Name"] for account in org.tables["Account"].values() if account["Name"] == name
    )
    assert sorted(names_found(org, text)) == expected


@settings(max_examples=100, deadline=None)
@given(st.lists(ACCOUNT_NAMES, min_size=1, max_size=5))
def test_a_soql_in_list_stays_a_list_of_literals(values: list[str]) -> None:
    where = soql.parse(f"SELECT Id FROM Account WHERE {condition('Name', 'IN', values)}").where
    assert isinstance(where, soql.InList) and not where.negated
    assert [value.text for value in where.values if isinstance(value, soql.StringLit)] == values


def test_the_hostile_names_are_found_one_by_one(org: SalesforceState) -> None:
    for name in HOSTILE_NAMES:
        text = SObjectQuery("Account", ("Id", "Name")).select(
            [condition("Name", "=", name)], order_by=("Id",)
        )
        assert names_found(org, text) == [name]


@given(st.text(max_size=30))
def test_only_plain_api_names_pass_as_soql_fields(name: str) -> None:
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*", name):
        assert check_field_name(name) == name
    else:
        with pytest.raises(ValueError):
            check_field_name(name)


PAGED = Query(
    select=("t.id AS id",),
    source="transaction t",
    order=(OrderKey("t.lastmodifieddate", "modified", "timestamp"), OrderKey("t.id", "id")),
    where=("t.type = 'CustInvc'",),
)


@given(st.text(max_size=25), st.text(max_size=25))
def test_a_suiteql_resume_position_is_an_id_and_a_timestamp_or_refused(stamp: str, record_id: str) -> None:
    try:
        sql = PAGED.sql(after=[stamp, record_id])
    except ValueError:
        return
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", stamp)
    assert re.fullmatch(r"-?\d{1,18}", record_id)
    # Only the builder's own text around the two values: the values are a timestamp and digits.
    assert sql.count("'") == 8
    assert str(int(record_id)) in sql


@given(
    st.one_of(
        st.text(max_size=40),
        st.integers(),
        st.floats(),
        st.decimals(),
        st.booleans(),
        st.none(),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    ),
    st.one_of(st.sampled_from(["USD", "jpy", "KWD", " eur "]), st.text(max_size=5), st.integers()),
)
def test_money_from_anything_is_money_in_range_or_a_value_error(amount: Any, currency: Any) -> None:
    try:
        money = Money.of(amount, currency)
    except ValueError:
        return
    assert abs(money.amount) <= AMOUNT_LIMIT and money.amount.is_finite()
    assert isinstance(money.amount, Decimal) and len(money.currency) == 3


CONFIG = """\
version: 1
store:
  url: sqlite:///state.db
systems:
  ledgerly:
    connector: fakeledger:LedgerlyConnector
    settings:
      base_url: http://127.0.0.1:9
      api_token: ${LEDGERLY_TOKEN}
"""


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(
        st.sampled_from(
            [
                "x\nstore:\n  url: sqlite:///evil.db",
                "a: b",
                "${OTHER}",
                "'; DROP TABLE cursors; --",
                "{{ not: a template }}",
                "#comment",
            ]
        ),
        st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40),
    )
)
def test_a_secret_is_its_text_exactly_and_changes_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    monkeypatch.syspath_prepend(str(SUPPORT))
    path = tmp_path / "tieout.yaml"
    path.write_text(CONFIG)
    config = load_config(path, environ={"LEDGERLY_TOKEN": token, "OTHER": "other-value"})
    system = config.system("ledgerly")
    assert system.settings is not None
    assert system.settings.api_token.get_secret_value() == token  # type: ignore[attr-defined]
    assert config.store_url.endswith("/state.db")
    assert list(config.systems) == ["ledgerly"]


yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
sections = st.fixed_dictionaries(
    {},
    optional={
        "version": yaml_values,
        "mode": st.one_of(st.sampled_from(["observe", "sync"]), yaml_values),
        "store": st.one_of(st.fixed_dictionaries({"url": yaml_values}), yaml_values),
        "systems": st.one_of(
            st.dictionaries(
                st.sampled_from(["ledgerly", "stripe", "x"]),
                st.one_of(
                    st.fixed_dictionaries({"connector": yaml_values, "settings": yaml_values}), yaml_values
                ),
                max_size=2,
            ),
            yaml_values,
        ),
        "schedule": yaml_values,
        "logging": yaml_values,
        "secrets_file": yaml_values,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sections)
def test_any_config_structure_loads_or_names_its_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, document: dict[str, Any]
) -> None:
    monkeypatch.syspath_prepend(str(SUPPORT))
    path = tmp_path / "tieout.yaml"
    path.write_text(yaml.safe_dump(document))
    try:
        load_config(path, environ={})
    except ConfigError as exc:
        assert exc.problems and all(problem.message for problem in exc.problems)

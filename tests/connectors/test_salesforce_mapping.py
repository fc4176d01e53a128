"""Golden tests of the Salesforce mappers and push-payload builders, on payloads the emulator really serves."""

from __future__ import annotations

import copy
import json
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
from salesforce_connector_fixtures import (
    GOLDEN_ACCOUNTS,
    GOLDEN_OPPORTUNITIES,
    new_state,
    seed_golden_org,
    serving,
)

from tieout import jsonutil
from tieout.errors import MappingError
from tieout.mappings.context import FieldMappings, MappingContext
from tieout.mappings.salesforce import (
    account_ar_payload,
    account_ids_payload,
    account_payload,
    id18,
    map_account,
    map_opportunity,
)
from tieout.model import Address, BillingFrequency, ContractStatus, Customer, PricingModel
from tieout.money import Money
from tieout.sandbox.salesforce.ids import IdFactory

ACCOUNTS = MappingContext(system="salesforce", stream="accounts")
OPPORTUNITIES = MappingContext(system="salesforce", stream="opportunities")


def stored(payload: dict[str, Any]) -> Any:
    """The payload as the runner stores it and reads it back (Decimals become strings)."""
    return json.loads(jsonutil.dumps(payload))


def test_golden_payloads_are_what_the_emulator_serves(tmp_path: Path) -> None:
    state = new_state()
    seed_golden_org(state)
    with serving(state, tmp_path) as org:
        connector = org.connector(bulk_threshold=None)
        accounts = {r.payload["Name"]: r.payload for p in connector.pull("accounts") for r in p.records}
        opportunities = {
            r.payload["Name"]: r.payload for p in connector.pull("opportunities") for r in p.records
        }
        connector.close()
    assert accounts == GOLDEN_ACCOUNTS
    assert opportunities == GOLDEN_OPPORTUNITIES


# ---- accounts ---------------------------------------------------------------------------------


def test_account_with_every_field() -> None:
    customer = map_account(GOLDEN_ACCOUNTS["Acme Corp"], ACCOUNTS)
    assert customer == Customer(
        system="salesforce",
        native_id="001Hs000000000BIAQ",
        links={
            "netsuite": "1042",
            "metronome": "6f2b7c1e-58a1-4f7e-9d0a-1b2c3d4e5f60",
            "stripe": "cus_Q1w2E3r4",
        },
        updated_at=datetime(2026, 3, 2, 12, 0, 1, tzinfo=UTC),
        legal_name="Acme Corp",
        subsidiary_id="1",
        currency="USD",
        billing_address=Address(
            line1="1 Main St",
            line2="Suite 400",
            city="Springfield",
            region="IL",
            postal_code="62701",
            country="US",
        ),
        parent_customer_id="001Hs000000000AIAQ",
        ar_balance=Money(amount=Decimal("1250.5"), currency="USD"),
        days_past_due=12,
    )


def test_jpy_account_with_no_optional_fields() -> None:
    customer = map_account(GOLDEN_ACCOUNTS["Kabushiki Tokyo"], ACCOUNTS)
    assert (customer.currency, customer.links, customer.billing_address, customer.subsidiary_id) == (
        "JPY",
        {},
        None,
        None,
    )
    assert customer.parent_customer_id is None and customer.deleted is False


def test_deleted_account_maps_as_deleted_and_blank_links_are_absent() -> None:
    payload = {**GOLDEN_ACCOUNTS["Acme Corp"], "IsDeleted": True, "Stripe_Customer_Id__c": "  "}
    customer = map_account(payload, ACCOUNTS)
    assert customer.deleted is True
    assert "stripe" not in customer.links


def test_custom_link_fields_come_from_the_field_mappings() -> None:
    context = MappingContext(
        system="salesforce",
        stream="accounts",
        fields=FieldMappings(custom_fields={"salesforce": {"netsuite_id": "Billing_Customer_Id__c"}}),
    )
    payload = {**GOLDEN_ACCOUNTS["Acme Corp"], "Billing_Customer_Id__c": "77"}
    assert map_account(payload, context).links["netsuite"] == "77"


# ---- opportunities ----------------------------------------------------------------------------


def test_jpy_multi_line_opportunity() -> None:
    contract = map_opportunity(GOLDEN_OPPORTUNITIES["Tokyo platform"], OPPORTUNITIES)
    assert (contract.status, contract.currency, contract.customer_id) == (
        ContractStatus.ACTIVE,
        "JPY",
        "001Hs000000000CIAQ",
    )
    assert contract.links == {"metronome": "c-tokyo-1"}
    assert contract.starts_on == date(2026, 3, 1)  # the earliest ServiceDate, not CloseDate
    assert contract.total_value == Money.of("3190000", "JPY")
    platform, usage = contract.lines
    assert (platform.product_id, platform.pricing_model, platform.billing_frequency) == (
        "PLT",
        PricingModel.SUBSCRIPTION,
        BillingFrequency.MONTHLY,
    )
    assert (platform.unit_price, platform.quantity, platform.starts_on) == (
        Money.of("120000", "JPY"),
        Decimal(12),
        date(2026, 4, 1),
    )
    assert (usage.product_id, usage.pricing_model, usage.billing_frequency) == (
        "API",
        PricingModel.PER_UNIT,
        BillingFrequency.IN_ARREARS,
    )
    assert usage.unit_price == Money.of("35", "JPY")


def test_discount_and_negative_credit_line() -> None:
    contract = map_opportunity(GOLDEN_OPPORTUNITIES["Acme renewal"], OPPORTUNITIES)
    discounted, credit = contract.lines
    assert discounted.unit_price == Money.of("700", "USD")  # 800 less 12.5 %
    assert credit.unit_price == Money.of("-500", "USD")
    assert credit.product_id == "01tHs0000000004IAA"  # no ProductCode: the Product2 id stands in for the SKU
    assert (credit.product_name, credit.pricing_model, credit.billing_frequency) == (
        "Service Credit",
        PricingModel.FLAT,
        BillingFrequency.ONE_TIME,
    )
    assert contract.starts_on == date(2026, 2, 27)  # no ServiceDate on any line: CloseDate


def test_amount_is_pre_tax_and_no_tax_is_invented() -> None:
    # Salesforce opportunities carry no tax: the contract value is Amount, the sum of line totals.
    payload = GOLDEN_OPPORTUNITIES["Acme renewal"]
    contract = map_opportunity(payload, OPPORTUNITIES)
    line_totals = sum(line["TotalPrice"] for line in payload["OpportunityLineItems"]["records"])
    assert contract.total_value == Money.of(line_totals, "USD") == Money.of("7900", "USD")


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("Acme add-on", ContractStatus.CANCELLED),  # Closed Lost
        ("Acme expansion", ContractStatus.DRAFT),  # won, then reopened
    ],
)
def test_lost_and_reopened_deals_keep_coming_as_changed_contracts(name: str, status: ContractStatus) -> None:
    contract = map_opportunity(GOLDEN_OPPORTUNITIES[name], OPPORTUNITIES)
    assert contract.status is status
    assert contract.lines == () and contract.total_value is None


def test_family_pricing_is_configurable() -> None:
    context = MappingContext(
        system="salesforce",
        stream="opportunities",
        fields=FieldMappings(value_maps={"salesforce_product_family_pricing": {"Platform": "commit"}}),
    )
    platform = map_opportunity(GOLDEN_OPPORTUNITIES["Tokyo platform"], context).lines[0]
    assert (platform.pricing_model, platform.commit) == (PricingModel.COMMIT, Money.of("1440000", "JPY"))


@pytest.mark.parametrize("name", [*GOLDEN_ACCOUNTS, *GOLDEN_OPPORTUNITIES])
def test_stored_payloads_map_the_same(name: str) -> None:
    if name in GOLDEN_ACCOUNTS:
        payload = GOLDEN_ACCOUNTS[name]
        assert map_account(stored(payload), ACCOUNTS) == map_account(payload, ACCOUNTS)
    else:
        payload = GOLDEN_OPPORTUNITIES[name]
        assert map_opportunity(stored(payload), OPPORTUNITIES) == map_opportunity(payload, OPPORTUNITIES)


def _broken(name: str, path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    payload = copy.deepcopy(GOLDEN_OPPORTUNITIES.get(name) or GOLDEN_ACCOUNTS[name])
    target: Any = payload
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return payload


@pytest.mark.parametrize(
    ("payload", "field_path"),
    [
        (_broken("Acme Corp", ("Name",), None), "Name"),
        (_broken("Acme Corp", ("CurrencyIsoCode",), "XYZ"), "CurrencyIsoCode"),
        (_broken("Acme Corp", ("SystemModstamp",), "yesterday"), "SystemModstamp"),
        (_broken("Acme Corp", ("ParentId",), "not-an-id"), "ParentId"),
        (
            _broken("Tokyo platform", ("OpportunityLineItems", "records", 1, "UnitPrice"), "12,5 yen"),
            "OpportunityLineItems.records[1].UnitPrice",
        ),
        (
            _broken("Tokyo platform", ("OpportunityLineItems", "records", 0, "ServiceDate"), "01/04/2026"),
            "OpportunityLineItems.records[0].ServiceDate",
        ),
        (_broken("Tokyo platform", ("OpportunityLineItems",), {"records": "none"}), "OpportunityLineItems"),
        (_broken("Tokyo platform", ("AccountId",), KeyError), "AccountId"),
        (_broken("Acme add-on", ("CloseDate",), None), "CloseDate"),
        (_broken("Acme add-on", ("IsWon",), "maybe"), "IsWon"),
    ],
)
def test_malformed_payloads_name_their_field_path(payload: dict[str, Any], field_path: str) -> None:
    mapper = map_opportunity if "StageName" in payload else map_account
    context = OPPORTUNITIES if "StageName" in payload else ACCOUNTS
    with pytest.raises(MappingError) as caught:
        mapper(payload, context)
    assert caught.value.field_path == field_path


def test_an_unknown_pricing_model_in_the_value_map_is_a_mapping_error() -> None:
    context = MappingContext(
        system="salesforce",
        stream="opportunities",
        fields=FieldMappings(value_maps={"salesforce_product_family_pricing": {"Usage": "metered"}}),
    )
    with pytest.raises(MappingError) as caught:
        map_opportunity(GOLDEN_OPPORTUNITIES["Tokyo platform"], context)
    assert caught.value.field_path == "OpportunityLineItems.records[1].Product2.Family"


@given(st.integers(min_value=1, max_value=10**12), st.sampled_from(["001", "006", "00k", "01t"]))
def test_fifteen_character_ids_get_the_suffix_salesforce_gives_them(number: int, prefix: str) -> None:
    long_id = IdFactory(number).new_id(prefix)
    assert id18(long_id[:15], "Id") == long_id == id18(long_id, "Id")


# ---- builders ---------------------------------------------------------------------------------


def test_account_ids_payload_writes_twin_ids_by_id() -> None:
    payload = account_ids_payload("001Hs000000000B", {"netsuite": "1042", "stripe": " cus_1 "})
    assert payload == {"Id": "001Hs000000000BIAQ", "NetSuite_Id__c": "1042", "Stripe_Customer_Id__c": "cus_1"}
    with pytest.raises(MappingError) as caught:
        account_ids_payload("001Hs000000000BIAQ", {"hubspot": "7"})
    assert caught.value.field_path == "links.hubspot"
    with pytest.raises(MappingError):
        account_ids_payload("001Hs000000000BIAQ", {})


@pytest.mark.parametrize(
    ("currency", "balance", "expected"),
    [
        ("USD", Money.of("1250.50", "USD"), 1250.5),
        ("JPY", Money.of("98765", "JPY"), 98765.0),
        ("usd", Money.of("-12.34", "USD"), -12.34),
    ],
)
def test_account_ar_payload(currency: str, balance: Money, expected: float) -> None:
    payload = account_ar_payload(
        "001Hs000000000BIAQ", account_currency=currency, balance=balance, days_past_due=3
    )
    assert payload == {"Id": "001Hs000000000BIAQ", "AR_Balance__c": expected, "Days_Past_Due__c": 3}
    assert Decimal(repr(payload["AR_Balance__c"])) == balance.amount


@pytest.mark.parametrize(
    ("currency", "balance", "days", "field_path"),
    [
        ("EUR", Money.of("10", "USD"), 0, "AR_Balance__c"),
        ("JPY", Money.of("10.5", "JPY"), 0, "AR_Balance__c"),
        ("USD", Money.of("0.001", "USD"), 0, "AR_Balance__c"),
        ("USD", Money.of("10", "USD"), -1, "Days_Past_Due__c"),
    ],
)
def test_account_ar_payload_refuses_what_it_would_misstate(
    currency: str, balance: Money, days: int, field_path: str
) -> None:
    with pytest.raises(MappingError) as caught:
        account_ar_payload(
            "001Hs000000000BIAQ", account_currency=currency, balance=balance, days_past_due=days
        )
    assert caught.value.field_path == field_path


def test_account_payload_from_a_customer_of_another_system() -> None:
    customer = Customer(
        system="netsuite",
        native_id="1042",
        links={"stripe": "cus_9", "salesforce": "001Hs000000000BIAQ"},
        legal_name="Acme Corp",
        currency="EUR",
        subsidiary_id="3",
        billing_address=Address(line1="Hauptstr. 1", line2="3. OG", city="Berlin", country="DE"),
    )
    assert account_payload(customer, external_id="ns-1042") == {
        "External_Id__c": "ns-1042",
        "Name": "Acme Corp",
        "CurrencyIsoCode": "EUR",
        "Subsidiary__c": "3",
        "BillingStreet": "Hauptstr. 1\n3. OG",
        "BillingCity": "Berlin",
        "BillingCountry": "DE",
        "Stripe_Customer_Id__c": "cus_9",
    }

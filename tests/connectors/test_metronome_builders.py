"""Reverse builders and override precedence, as pure functions (no emulator needed)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from tieout.errors import MappingError
from tieout.mappings.metronome import contract_payload, customer_payload, minor_units, usage_events
from tieout.mappings.metronome.pricing import EffectiveRate, effective_rate
from tieout.model import (
    Contract,
    ContractLine,
    ContractStatus,
    Customer,
    PriceTier,
    PricingModel,
    UsageSummary,
)
from tieout.money import Money

BASE = EffectiveRate("FLAT", {"id": "usd", "name": "USD (cents)"}, Decimal(100), (), None)


def override(kind: str, **fields: Any) -> dict[str, Any]:
    return {"id": fields.pop("id", kind), "type": kind, "starting_at": "2025-01-01T00:00:00Z", **fields}


@pytest.mark.parametrize(
    ("overrides", "explicit", "price", "winner"),
    [
        ([], False, Decimal(100), None),
        (
            [override("MULTIPLIER", multiplier=0.9), override("MULTIPLIER", id="m2", multiplier=0.8)],
            False,
            Decimal("80.0"),
            "m2",
        ),
        (
            [
                override("MULTIPLIER", id="low", multiplier=0.5, priority=2),
                override("MULTIPLIER", id="hi", multiplier=0.9, priority=1),
            ],
            True,
            Decimal("90.0"),
            "hi",
        ),
        (
            [
                override("MULTIPLIER", multiplier=0.5),
                override("OVERWRITE", overwrite_rate={"rate_type": "FLAT", "price": 70}),
            ],
            False,
            Decimal(70),
            "OVERWRITE",
        ),
        (
            [
                override("OVERWRITE", id="early", overwrite_rate={"rate_type": "FLAT", "price": 70}),
                override(
                    "OVERWRITE",
                    id="late",
                    starting_at="2025-02-01T00:00:00Z",
                    overwrite_rate={"rate_type": "FLAT", "price": 60},
                ),
            ],
            False,
            Decimal(60),
            "late",
        ),
    ],
)
def test_which_override_wins(
    overrides: list[dict[str, Any]], explicit: bool, price: Decimal, winner: str | None
) -> None:
    rate = effective_rate(BASE, list(enumerate(overrides)), explicit_priority=explicit)
    assert (rate.price, rate.override_id) == (price, winner)


def test_minor_units_follow_the_currency() -> None:
    assert minor_units(Money.of("12.34", "USD")) == 1234
    assert minor_units(Money.of(1500, "JPY")) == 1500
    assert minor_units(Money.of("0.0199", "USD")) == pytest.approx(1.99)
    assert minor_units(Money.of("1.234", "KWD")) == 1234


def test_customer_payload_keys_by_the_salesforce_account() -> None:
    account = Customer(system="salesforce", native_id="001A", legal_name="Acme", links={"netsuite": "42"})
    assert customer_payload(account) == {
        "name": "Acme",
        "ingest_aliases": ["001A"],
        "salesforce_account_id": "001A",
        "customer_revenue_system_configurations": [
            {
                "provider": "netsuite",
                "delivery_method": "direct_to_billing_provider",
                "configuration": {"netsuite_customer_id": "42"},
            }
        ],
    }
    with pytest.raises(MappingError):
        customer_payload(Customer(system="stripe", native_id="cus_1", legal_name="No CRM twin"))


def _contract(*lines: ContractLine) -> Contract:
    return Contract(
        system="salesforce",
        native_id="006A",
        customer_id="001A",
        status=ContractStatus.ACTIVE,
        currency="JPY",
        starts_on=date(2025, 4, 1),
        lines=lines,
    )


def test_contract_payload_turns_crm_prices_into_overrides() -> None:
    tiered = ContractLine(
        line_id="1",
        product_id="STORAGE",
        product_name="Storage",
        pricing_model=PricingModel.TIERED,
        tiers=(
            PriceTier(up_to=Decimal(100), unit_price=Money.of(5, "JPY")),
            PriceTier(up_to=None, unit_price=Money.of(4, "JPY")),
        ),
    )
    flat = ContractLine(
        line_id="2",
        product_id="CALLS",
        product_name="Calls",
        pricing_model=PricingModel.PER_UNIT,
        unit_price=Money.of(3, "JPY"),
    )
    payload = contract_payload(
        _contract(tiered, flat),
        customer_id="c-1",
        rate_card_id="rc-1",
        product_ids_by_sku={"STORAGE": "p-s", "CALLS": "p-c"},
    )
    assert payload["starting_at"] == "2025-04-01T00:00:00Z" and "ending_before" not in payload
    assert payload["salesforce_opportunity_id"] == "006A"
    assert [o["overwrite_rate"] for o in payload["overrides"]] == [
        {"rate_type": "TIERED", "tiers": [{"price": 5, "size": 100}, {"price": 4}]},
        {"rate_type": "FLAT", "price": 3},
    ]
    with pytest.raises(MappingError) as caught:
        contract_payload(_contract(flat), customer_id="c-1", rate_card_id="rc-1", product_ids_by_sku={})
    assert caught.value.field_path == "lines[0].product_id"


def test_usage_events_have_stable_transaction_ids() -> None:
    summary = UsageSummary(
        system="warehouse",
        native_id="x" * 200,
        customer_id="001A",
        metric="calls",
        period_start=datetime(2025, 3, 1, tzinfo=UTC),
        period_end=datetime(2025, 3, 2, tzinfo=UTC),
        quantity=Decimal("12.5"),
    )
    first = usage_events(
        [summary], event_type="api_call", customer_ids={"001A": "m-1"}, properties={"region": "eu"}
    )
    again = usage_events(
        [summary], event_type="api_call", customer_ids={"001A": "m-1"}, properties={"region": "eu"}
    )
    assert first == again
    event = first[0]
    assert len(event["transaction_id"]) <= 128 and event["customer_id"] == "m-1"
    assert event["timestamp"] == "2025-03-01T00:00:00Z"
    assert event["properties"] == {"region": "eu", "quantity": "12.5"}

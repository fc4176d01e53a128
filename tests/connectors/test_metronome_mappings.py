"""Golden tests of the Metronome mappings, on payloads as the emulator serves them to the connector.

A module-scoped emulator holds one record per case; the connector pulls every stream once and
the tables below map chosen payloads and compare the canonical fields that matter. Malformed
cases break a pulled payload and expect a `MappingError` naming the field path.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from metronome_connector_fixtures import JPY, NOW, Account, running, seed_price_book

from tieout.errors import MappingError
from tieout.mappings.context import FieldMappings, MappingContext
from tieout.mappings.metronome import map_contract, map_customer, map_invoice, map_usage
from tieout.model import BillingFrequency, ContractStatus, InvoiceStatus, PriceTier, PricingModel
from tieout.money import Money
from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.metronome import MetronomeState

START = "2025-01-01T00:00:00Z"
JAN, FEB = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC)


@dataclass
class Pulled:
    ids: dict[str, str]
    payloads: dict[str, dict[str, Any]]

    def __getitem__(self, case: str) -> dict[str, Any]:
        return copy.deepcopy(self.payloads[self.ids[case]])


def usd(amount: str) -> Money:
    return Money.of(Decimal(amount), "USD")


def _seed(state: MetronomeState, account: Account) -> dict[str, str]:
    p = account.products
    ids: dict[str, str] = {}
    full = state.create_customer(
        "Acme Corp",
        ingest_aliases=["001ACME"],
        custom_fields={"currency": "eur"},
        billing_provider_configurations=[
            {
                "billing_provider": "stripe",
                "delivery_method": "direct_to_billing_provider",
                "configuration": {
                    "stripe_customer_id": "cus_ACME",
                    "stripe_collection_method": "send_invoice",
                },
            },
            {
                "billing_provider": "netsuite",
                "delivery_method": "direct_to_billing_provider",
                "configuration": {"netsuite_customer_id": "4711"},
            },
        ],
    )
    state.update_customer_config(full["id"], salesforce_account_id="001ACME000000000AA")
    bare = state.create_customer("Bare Ltd")
    gone = state.create_customer("Gone GmbH", custom_fields={"currency": "XYZ"})
    state.archive_customer(gone["id"])
    ids.update(customer_full=full["id"], customer_bare=bare["id"], customer_bad_currency=gone["id"])

    overridden = state.create_contract(
        full["id"],
        START,
        ending_before="2026-01-01T00:00:00Z",
        rate_card_id=account.rate_cards["usd"],
        net_payment_terms_days=45,
        salesforce_opportunity_id="006OPP000000000AAA",
        netsuite_sales_order_id="SO-12",
        total_contract_value=1200000,
        overrides=[
            {
                "product_id": p["calls"],
                "starting_at": START,
                "overwrite_rate": {"rate_type": "FLAT", "price": 1.75},
            },
            {"product_id": p["storage"], "starting_at": START, "multiplier": 0.5},
            {"product_id": p["platform"], "starting_at": "2025-06-01T00:00:00Z", "multiplier": 0.1},
            {
                "product_id": p["support"],
                "starting_at": START,
                "overwrite_rate": {"rate_type": "FLAT", "price": 9900},
            },
        ],
        commits=[
            {
                "type": "PREPAID",
                "product_id": p["commit"],
                "name": "2025 prepaid",
                "access_schedule": {
                    "schedule_items": [
                        {"amount": 600000, "starting_at": START, "ending_before": "2025-07-01T00:00:00Z"},
                        {
                            "amount": 600000,
                            "starting_at": "2025-07-01T00:00:00Z",
                            "ending_before": "2026-01-01T00:00:00Z",
                        },
                    ]
                },
                "invoice_schedule": {"schedule_items": [{"amount": 1200000, "timestamp": START}]},
            }
        ],
    )
    list_priced = state.create_contract(
        bare["id"], START, rate_card_id=account.rate_cards["usd"], uniqueness_key="006OPP000000000BBB"
    )
    yen = state.create_contract(
        bare["id"], START, rate_card_id=account.rate_cards["jpy"], uniqueness_key="not-an-opp"
    )
    archived = state.create_contract(bare["id"], START, rate_card_id=account.rate_cards["usd"])
    state.clock.advance(FEB - JAN)
    state.archive_contract(bare["id"], archived["id"], void_invoices=False)
    ids.update(
        contract_overridden=overridden["id"],
        contract_list=list_priced["id"],
        contract_jpy=yen["id"],
        contract_archived=archived["id"],
    )

    def invoice(case: str, customer_id: str, **fields: Any) -> None:
        fields.setdefault("start_timestamp", JAN)
        fields.setdefault("end_timestamp", FEB)
        fields.setdefault("status", "FINALIZED")
        ids[case] = state.create_invoice(customer_id, **fields)["id"]

    calls_line = {
        "name": "API calls",
        "product_id": p["calls"],
        "quantity": 1000,
        "unit_price": 1.75,
        "total": 1750,
    }
    invoice(
        "invoice_multi_line_tax_paid",
        full["id"],
        contract_id=overridden["id"],
        issued_at="2025-02-02T00:00:00Z",
        line_items=[
            {**calls_line, "starting_at": JAN, "ending_before": FEB},
            {
                "name": "Storage",
                "product_id": p["storage"],
                "quantity": 1200,
                "unit_price": 50,
                "total": 60000,
            },
            {"name": "Support", "product_id": p["support"], "quantity": 1, "unit_price": 9900},
        ],
        external_invoice={
            "billing_provider_type": "stripe",
            "invoice_id": "in_PAID",
            "external_status": "PAID",
            "tax": {"total_tax_amount": 825},
        },
        revenue_system_invoices=[
            {
                "revenue_system_provider": "netsuite",
                "sync_status": "synced",
                "revenue_system_external_entity_type": "invoice",
                "revenue_system_external_entity_id": "88001",
            }
        ],
    )
    invoice(
        "invoice_negative_credit",
        full["id"],
        contract_id=overridden["id"],
        line_items=[
            calls_line,
            {
                "name": "2025 prepaid",
                "type": "applied_commit_or_credit",
                "total": -1750,
                "applied_commit_or_credit": {"id": "c-1", "type": "PREPAID"},
            },
            {
                "name": "Postpaid commit",
                "type": "applied_commit_or_credit",
                "total": -300,
                "applied_commit_or_credit": {"id": "c-2", "type": "POSTPAID"},
            },
        ],
        external_invoice={
            "billing_provider_type": "stripe",
            "invoice_id": "in_OPEN",
            "external_status": "FINALIZED",
        },
    )
    invoice(
        "invoice_jpy",
        bare["id"],
        credit_type_id=JPY,
        net_payment_terms_days=30,
        line_items=[{"name": "API calls", "product_id": p["calls"], "quantity": 500, "unit_price": 3}],
    )
    invoice(
        "invoice_fractional_draft",
        bare["id"],
        status="DRAFT",
        start_timestamp=datetime(2025, 3, 1, tzinfo=UTC),
        end_timestamp=datetime(2025, 4, 1, tzinfo=UTC),
        line_items=[{"name": "Tiny calls", "quantity": 3, "unit_price": 0.5, "total": 1.5}],
    )
    invoice(
        "invoice_void_uncollectible",
        bare["id"],
        status="VOID",
        line_items=[calls_line],
        external_invoice={
            "billing_provider_type": "stripe",
            "invoice_id": "in_VOID",
            "external_status": "UNCOLLECTIBLE",
        },
    )
    invoice(
        "invoice_uncollectible",
        bare["id"],
        line_items=[calls_line],
        external_invoice={"billing_provider_type": "stripe", "external_status": "UNCOLLECTIBLE"},
    )
    state.add_usage_events(
        {
            "transaction_id": f"golden-{day}",
            "customer_id": "001ACME",
            "event_type": "api_call",
            "timestamp": f"2025-01-{day:02d}T08:00:00Z",
            "properties": {"units": "250.5"},
        }
        for day in (3, 4)
    )
    return ids


@pytest.fixture(scope="module")
def pulled() -> Iterator[Pulled]:
    clock = SandboxClock(JAN)
    state = MetronomeState(clock)
    account = Account()
    seed_price_book(state, account)
    ids = _seed(state, account)
    clock.freeze(NOW)
    with running(state, clock) as emulator:
        connector = emulator.connector(page_size=100)
        payloads = {
            record.source_id: record.payload
            for stream in ("customers", "contracts", "invoices", "usage")
            for page in connector.pull(stream)
            for record in page.records
        }
        connector.close()
    usage_ids = [key for key in payloads if key.startswith(f"{ids['customer_full']}/")]
    ids["usage_period"] = usage_ids[0]
    yield Pulled(ids, payloads)


CONTEXT = MappingContext(system="metronome", stream="golden")


def check_customer_full(payload: dict[str, Any]) -> None:
    customer = map_customer(payload, CONTEXT)
    assert customer.legal_name == "Acme Corp" and customer.currency == "EUR" and customer.is_active
    assert customer.links == {"salesforce": "001ACME000000000AA", "stripe": "cus_ACME", "netsuite": "4711"}
    assert customer.updated_at == JAN


def check_customer_bare(payload: dict[str, Any]) -> None:
    customer = map_customer(payload, CONTEXT)
    assert customer.links == {} and customer.currency is None and customer.is_active


def check_contract_overridden(payload: dict[str, Any]) -> None:
    contract = map_contract(payload, CONTEXT)
    lines = {line.product_id: line for line in contract.lines}
    assert (contract.currency, contract.starts_on, contract.ends_on) == (
        "USD",
        date(2025, 1, 1),
        date(2025, 12, 31),
    )
    assert contract.payment_terms_days == 45 and contract.status is ContractStatus.ACTIVE
    assert contract.links == {"salesforce": "006OPP000000000AAA", "netsuite": "SO-12"}
    assert contract.total_value == usd("12000")
    assert lines["API-CALLS"].unit_price == usd("0.0175")  # override beats the card's 2.5 cents
    assert lines["API-CALLS"].pricing_model is PricingModel.PER_UNIT
    assert lines["API-CALLS"].billing_frequency is BillingFrequency.IN_ARREARS
    assert lines["STORAGE-GB"].tiers == (  # a 0.5 multiplier on the card's tiers
        PriceTier(up_to=Decimal(1000), unit_price=usd("0.5")),
        PriceTier(up_to=None, unit_price=usd("0.4")),
    )
    assert lines["PLATFORM"].unit_price == usd("500")  # its override starts after the contract
    assert lines["PLATFORM"].pricing_model is PricingModel.FLAT
    support_id = next(line.line_id for line in contract.lines if line.product_name == "Support")
    assert lines[support_id].unit_price == usd("99")  # not on the card; no SKU, so Metronome's id
    commit = lines["COMMIT"]
    assert (commit.pricing_model, commit.commit, commit.product_name) == (
        PricingModel.COMMIT,
        usd("12000"),
        "2025 prepaid",
    )
    assert (commit.starts_on, commit.ends_on, commit.billing_frequency) == (
        date(2025, 1, 1),
        date(2025, 12, 31),
        BillingFrequency.ONE_TIME,
    )
    assert len(contract.lines) == 5


def check_contract_list(payload: dict[str, Any]) -> None:
    contract = map_contract(payload, CONTEXT)
    lines = {line.product_id: line for line in contract.lines}
    assert lines["API-CALLS"].unit_price == usd("0.025")  # the card's rate, fractional cents kept
    assert lines["STORAGE-GB"].tiers[0] == PriceTier(up_to=Decimal(1000), unit_price=usd("1"))
    assert contract.links == {"salesforce": "006OPP000000000BBB"}  # from the uniqueness key
    assert contract.ends_on is None and contract.payment_terms_days is None and contract.total_value is None


def check_contract_jpy(payload: dict[str, Any]) -> None:
    contract = map_contract(payload, CONTEXT)
    assert contract.currency == "JPY" and contract.links == {}
    assert [line.unit_price for line in contract.lines] == [Money.of(3, "JPY")]


def check_contract_archived(payload: dict[str, Any]) -> None:
    contract = map_contract(payload, CONTEXT)
    assert contract.status is ContractStatus.CANCELLED and contract.updated_at == FEB


def check_invoice_multi_line_tax_paid(payload: dict[str, Any]) -> None:
    invoice = map_invoice(payload, CONTEXT)
    assert invoice.status is InvoiceStatus.PAID
    assert (invoice.subtotal, invoice.tax, invoice.total) == (usd("716.50"), usd("8.25"), usd("724.75"))
    assert (invoice.amount_paid, invoice.amount_remaining) == (usd("724.75"), usd("0"))
    assert invoice.links == {"stripe": "in_PAID", "netsuite": "88001"}
    assert (invoice.issued_on, invoice.due_on) == (
        date(2025, 2, 2),
        date(2025, 3, 19),
    )  # net 45 from the contract
    assert (invoice.period_start, invoice.period_end) == (date(2025, 1, 1), date(2025, 1, 31))
    assert [(line.product_id, line.quantity, line.amount) for line in invoice.lines] == [
        ("API-CALLS", Decimal(1000), usd("17.50")),
        ("STORAGE-GB", Decimal(1200), usd("600")),
        (invoice.lines[2].product_id, Decimal(1), usd("99")),
    ]
    assert invoice.lines[0].unit_price == usd("0.0175")
    assert (invoice.lines[0].period_start, invoice.lines[0].period_end) == (
        date(2025, 1, 1),
        date(2025, 1, 31),
    )
    assert invoice.updated_at == datetime(2025, 2, 2, tzinfo=UTC)


def check_invoice_negative_credit(payload: dict[str, Any]) -> None:
    invoice = map_invoice(payload, CONTEXT)
    assert invoice.status is InvoiceStatus.OPEN
    assert invoice.total == usd("0") and invoice.amount_remaining == usd("0")
    assert [line.amount for line in invoice.lines] == [usd("17.50"), usd("-17.50")]  # postpaid line left out


def check_invoice_jpy(payload: dict[str, Any]) -> None:
    invoice = map_invoice(payload, CONTEXT)
    assert invoice.currency == "JPY" and invoice.total == Money.of(1500, "JPY")
    assert invoice.lines[0].unit_price == Money.of(3, "JPY")
    assert invoice.due_on == date(2025, 3, 3) and invoice.links == {} and invoice.contract_id is None


def check_invoice_fractional_draft(payload: dict[str, Any]) -> None:
    invoice = map_invoice(payload, CONTEXT)
    assert invoice.status is InvoiceStatus.DRAFT and invoice.total == usd("0.015")
    assert invoice.lines[0].product_id is None and invoice.due_on is None


def check_invoice_void_uncollectible(payload: dict[str, Any]) -> None:
    invoice = map_invoice(payload, CONTEXT)
    assert invoice.status is InvoiceStatus.VOID  # Metronome's void wins over the provider's status
    assert invoice.amount_remaining == usd("0") and invoice.amount_paid == usd("0")


def check_invoice_uncollectible(payload: dict[str, Any]) -> None:
    invoice = map_invoice(payload, CONTEXT)
    assert invoice.status is InvoiceStatus.UNCOLLECTIBLE and invoice.amount_remaining == usd("17.50")
    assert invoice.links == {}


def check_usage_period(payload: dict[str, Any]) -> None:
    usage = map_usage(payload, CONTEXT)
    assert (usage.metric, usage.product_id, usage.quantity) == ("API calls", "API-CALLS", Decimal("501.0"))
    assert (usage.period_start, usage.period_end, usage.updated_at) == (JAN, FEB, FEB)


GOLDEN: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("customer_full", check_customer_full),
    ("customer_bare", check_customer_bare),
    ("contract_overridden", check_contract_overridden),
    ("contract_list", check_contract_list),
    ("contract_jpy", check_contract_jpy),
    ("contract_archived", check_contract_archived),
    ("invoice_multi_line_tax_paid", check_invoice_multi_line_tax_paid),
    ("invoice_negative_credit", check_invoice_negative_credit),
    ("invoice_jpy", check_invoice_jpy),
    ("invoice_fractional_draft", check_invoice_fractional_draft),
    ("invoice_void_uncollectible", check_invoice_void_uncollectible),
    ("invoice_uncollectible", check_invoice_uncollectible),
    ("usage_period", check_usage_period),
]


@pytest.mark.parametrize(("case", "check"), GOLDEN, ids=[case for case, _ in GOLDEN])
def test_golden(pulled: Pulled, case: str, check: Callable[[dict[str, Any]], None]) -> None:
    check(pulled[case])


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(payload: dict[str, Any]) -> None:
        target: Any = payload
        for key in path[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value

    return change


_DELETE = object()

MALFORMED: list[tuple[str, str, Callable[[dict[str, Any]], None], Any, str]] = [
    ("customer_bad_currency", "customers", lambda p: None, map_customer, "custom_fields.currency"),
    ("customer_full", "customers", _set(["updated_at"], "yesterday"), map_customer, "updated_at"),
    ("invoice_jpy", "invoices", _set(["credit_type"], _DELETE), map_invoice, "credit_type"),
    ("invoice_jpy", "invoices", _set(["line_items", 0, "total"], "n/a"), map_invoice, "line_items[0].total"),
    ("invoice_jpy", "invoices", _set(["status"], "PENDING"), map_invoice, "status"),
    ("invoice_jpy", "invoices", _set(["credit_type", "name"], "Compute credits"), map_invoice, "credit_type"),
    ("invoice_jpy", "invoices", _set(["net_payment_terms_days"], 2.5), map_invoice, "net_payment_terms_days"),
    ("contract_list", "contracts", _set(["starting_at"], "2025-01-01T00:00:00"), map_contract, "starting_at"),
    (
        "contract_overridden",
        "contracts",
        _set(["overrides", 1, "multiplier"], "half"),
        map_contract,
        "overrides[1].multiplier",
    ),
    (
        "contract_overridden",
        "contracts",
        _set(["commits", 0, "access_schedule", "schedule_items", 1, "amount"], None),
        map_contract,
        "commits[0].access_schedule.schedule_items[1].amount",
    ),
    ("usage_period", "usage", _set(["value"], None), map_usage, "value"),
]


@pytest.mark.parametrize(
    ("case", "stream", "change", "mapper", "field_path"),
    MALFORMED,
    ids=[f"{case}:{path}" for case, _, _, _, path in MALFORMED],
)
def test_malformed_payload_names_its_field(
    pulled: Pulled,
    case: str,
    stream: str,
    change: Callable[[dict[str, Any]], None],
    mapper: Any,
    field_path: str,
) -> None:
    payload = pulled[case]
    change(payload)
    with pytest.raises(MappingError) as caught:
        mapper(payload, MappingContext(system="metronome", stream=stream))
    assert caught.value.field_path == field_path


def test_credit_type_value_map_and_sku_field_are_configurable(pulled: Pulled) -> None:
    payload = pulled["invoice_jpy"]
    payload["credit_type"]["name"] = "Yen"
    for line in payload["line_items"]:
        line["product_custom_fields"] = {"item_code": "CALLS-JP"}
    fields = FieldMappings(
        value_maps={"metronome_credit_types": {JPY: "JPY"}},
        custom_fields={"metronome": {"product_sku": "item_code"}},
    )
    invoice = map_invoice(payload, MappingContext(system="metronome", stream="invoices", fields=fields))
    assert invoice.currency == "JPY" and invoice.lines[0].product_id == "CALLS-JP"

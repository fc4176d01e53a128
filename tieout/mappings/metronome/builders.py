"""Reverse builders: canonical records -> the payloads `MetronomeConnector.push` takes.

Pure functions, no I/O. Each returns a JSON-ready dict (numbers as int, or float only where a
minor-unit amount has a fraction):

- `customer_payload(customer)` -> push("customers", ...): `{"name", "ingest_aliases":
  [salesforce account id], "salesforce_account_id", optional "customer_billing_provider_configurations"
  (Stripe, from `links["stripe"]`) and "customer_revenue_system_configurations" (NetSuite, from
  `links["netsuite"]`)}`. Push it with `idempotency_key` = the Salesforce Account Id.
- `contract_payload(contract, customer_id=, rate_card_id=, product_ids_by_sku=)` ->
  push("contracts", ...): `{"customer_id", "rate_card_id", "starting_at", "ending_before"?,
  "net_payment_terms_days"?, "salesforce_opportunity_id"?, "overrides": [OVERWRITE per priced
  line, from the contract's start], "commits": [PREPAID per commit line]}`. Push it with
  `idempotency_key` = the Salesforce Opportunity Id (it becomes the `uniqueness_key`).
- `usage_events(summaries, event_type=, ...)` -> push("usage", {"events": [...]}): one event per
  summary with a `transaction_id` stable for that summary, so a re-push is deduplicated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from tieout.errors import MappingError
from tieout.model import Contract, ContractLine, Customer, PricingModel, UsageSummary
from tieout.money import Money

MAX_TRANSACTION_ID = 128


def minor_units(money: Money) -> int | float:
    """An amount in the credit type's minor units (cents; yen for JPY), as a JSON number."""
    scaled = money.amount.scaleb(money.exponent)
    return int(scaled) if scaled == scaled.to_integral_value() else float(scaled)


def _json_number(value: Decimal) -> int | str:
    return int(value) if value == value.to_integral_value() else str(value)


def _midnight(day: date) -> str:
    return datetime.combine(day, time(0), tzinfo=UTC).isoformat().replace("+00:00", "Z")


def _salesforce_id(record: Customer | Contract, what: str) -> str:
    native = record.native_id if record.system == "salesforce" else record.links.get("salesforce")
    if not native:
        raise MappingError(
            f"the {what} has no Salesforce id to key it by", field_path="links.salesforce", value=None
        )
    return native


def customer_payload(customer: Customer) -> dict[str, Any]:
    """A Metronome customer for a (Salesforce) customer, keyed by its Salesforce Account Id."""
    account_id = _salesforce_id(customer, "customer")
    payload: dict[str, Any] = {
        "name": customer.legal_name,
        "ingest_aliases": [account_id],
        "salesforce_account_id": account_id,
    }
    if customer.links.get("stripe"):
        payload["customer_billing_provider_configurations"] = [
            {
                "billing_provider": "stripe",
                "delivery_method": "direct_to_billing_provider",
                "configuration": {
                    "stripe_customer_id": customer.links["stripe"],
                    "stripe_collection_method": "charge_automatically",
                },
            }
        ]
    if customer.links.get("netsuite"):
        payload["customer_revenue_system_configurations"] = [
            {
                "provider": "netsuite",
                "delivery_method": "direct_to_billing_provider",
                "configuration": {"netsuite_customer_id": customer.links["netsuite"]},
            }
        ]
    return payload


def _override(line: ContractLine, product_id: str, starting_at: str, path: str) -> dict[str, Any] | None:
    if line.pricing_model is PricingModel.TIERED:
        tiers: list[dict[str, Any]] = []
        floor = Decimal(0)
        for tier in line.tiers:
            entry: dict[str, Any] = {"price": minor_units(tier.unit_price)}
            if tier.up_to is not None:
                entry["size"] = _json_number(tier.up_to - floor)
                floor = tier.up_to
            tiers.append(entry)
        rate: dict[str, Any] = {"rate_type": "TIERED", "tiers": tiers}
    elif line.unit_price is not None:
        rate = {"rate_type": "FLAT", "price": minor_units(line.unit_price)}
    else:
        return None
    return {
        "product_id": product_id,
        "type": "OVERWRITE",
        "starting_at": starting_at,
        "entitled": True,
        "overwrite_rate": rate,
    }


def _commit(line: ContractLine, product_id: str, contract: Contract, path: str) -> dict[str, Any]:
    assert line.commit is not None  # a COMMIT line always has one (model validation)
    starts_on = line.starts_on or contract.starts_on
    ends_on = line.ends_on or contract.ends_on
    if ends_on is None:
        raise MappingError("a commit needs an end date", field_path=f"{path}.ends_on", value=None)
    amount = minor_units(line.commit)
    return {
        "type": "PREPAID",
        "product_id": product_id,
        "name": line.product_name,
        "access_schedule": {
            "schedule_items": [
                {
                    "amount": amount,
                    "starting_at": _midnight(starts_on),
                    "ending_before": _midnight(ends_on + timedelta(days=1)),
                }
            ]
        },
        "invoice_schedule": {"schedule_items": [{"amount": amount, "timestamp": _midnight(starts_on)}]},
    }


def contract_payload(
    contract: Contract,
    *,
    customer_id: str,
    rate_card_id: str,
    product_ids_by_sku: Mapping[str, str],
) -> dict[str, Any]:
    """A Metronome contract for a (Salesforce) contract: the rate card, with CRM prices as overrides."""
    starting_at = _midnight(contract.starts_on)
    payload: dict[str, Any] = {
        "customer_id": customer_id,
        "rate_card_id": rate_card_id,
        "starting_at": starting_at,
    }
    if contract.ends_on is not None:
        payload["ending_before"] = _midnight(contract.ends_on + timedelta(days=1))
    if contract.payment_terms_days is not None:
        payload["net_payment_terms_days"] = contract.payment_terms_days
    opportunity = contract.native_id if contract.system == "salesforce" else contract.links.get("salesforce")
    if opportunity:
        payload["salesforce_opportunity_id"] = opportunity
    overrides: list[dict[str, Any]] = []
    commits: list[dict[str, Any]] = []
    for index, line in enumerate(contract.lines):
        path = f"lines[{index}]"
        sku = line.product_id
        product_id = product_ids_by_sku.get(sku) if sku is not None else None
        if product_id is None:
            raise MappingError(
                "no Metronome product has this SKU", field_path=f"{path}.product_id", value=sku
            )
        if line.pricing_model is PricingModel.COMMIT:
            commits.append(_commit(line, product_id, contract, path))
            continue
        override = _override(line, product_id, starting_at, path)
        if override is not None:
            overrides.append(override)
    if overrides:
        payload["overrides"] = overrides
    if commits:
        payload["commits"] = commits
    return payload


def transaction_id(summary: UsageSummary) -> str:
    """Stable per summary: its record id, or a digest of it when that is too long for Metronome."""
    record_id = summary.record_id
    if len(record_id) <= MAX_TRANSACTION_ID:
        return record_id
    return "tieout-" + hashlib.sha256(record_id.encode()).hexdigest()


def usage_events(
    summaries: Iterable[UsageSummary],
    *,
    event_type: str,
    quantity_property: str = "quantity",
    customer_ids: Mapping[str, str] | None = None,
    properties: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One usage event per summary, stamped at its period start; `customer_ids` maps the
    summaries' customer ids to Metronome ids or ingest aliases (default: used as they are)."""
    events: list[dict[str, Any]] = []
    for summary in summaries:
        customer = (customer_ids or {}).get(summary.customer_id, summary.customer_id)
        events.append(
            {
                "transaction_id": transaction_id(summary),
                "customer_id": customer,
                "event_type": event_type,
                "timestamp": summary.period_start.isoformat().replace("+00:00", "Z"),
                "properties": {**(properties or {}), quantity_property: _json_number(summary.quantity)},
            }
        )
    return events

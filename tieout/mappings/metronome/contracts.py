"""Metronome contract (v2 shape) -> canonical `Contract`, one line per product priced at its start.

The payload is the contract as `POST /v2/contracts/list` returns it, plus what the connector
fetched for it under `tieout_lookups`: `rate_card` (id, name, fiat credit type), `rates` (the
rate card's rates in effect at the contract's `starting_at`, as `getRates` rows) and `products`
(the products it references, by id). Each rate becomes a line whose unit price is the effective
one (`pricing.effective_rate`): FLAT rates of USAGE products are per-unit prices, of other
products flat fees; SUBSCRIPTION rates are subscriptions; TIERED rates carry `PriceTier`s whose
`up_to` is the running total of the tier sizes. An OVERWRITE override of a product the rate
card does not price adds a line too. Each commit becomes a COMMIT line with the sum of its
access schedule. Rates that are no unit price (PERCENTAGE, TIERED_PERCENTAGE, CUSTOM) and rates in
a credit type other than the contract's fiat currency (custom pricing units) are left out.

Currency is the rate card's fiat credit type (a contract without a rate card takes its first
commit's). `ends_on` is the last day before `ending_before`. Status is `cancelled` when archived,
else `active` (whether it has ended depends on the day it is read, which a mapper does not
know). `updated_at` is the later of `created_at` and `archived_at`: Metronome keeps no edit time.
Links: `salesforce` from `salesforce_opportunity_id`, else the custom field named by
`custom_fields.metronome.contract_opportunity` (default `salesforce_opportunity_id`), else a
`uniqueness_key` shaped like an Opportunity id (006...); `netsuite` from `netsuite_sales_order_id`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from tieout.errors import MappingError
from tieout.mappings.context import MappingContext
from tieout.mappings.metronome.common import (
    SYSTEM,
    credit_currency,
    items,
    last_day,
    lookups,
    mapping,
    minor_money,
    optional_text,
    optional_timestamp,
    product_sku,
    text,
    timestamp,
    whole_days,
)
from tieout.mappings.metronome.pricing import EffectiveRate, applicable_overrides, base_rate, effective_rate
from tieout.model import (
    BillingFrequency,
    Contract,
    ContractLine,
    ContractStatus,
    PriceTier,
    PricingModel,
)
from tieout.money import sum_money

_OPPORTUNITY_ID = re.compile(r"^006[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?$")
_FREQUENCIES = {
    "MONTHLY": BillingFrequency.MONTHLY,
    "QUARTERLY": BillingFrequency.QUARTERLY,
    "ANNUAL": BillingFrequency.ANNUAL,
}


def contract_links(payload: Mapping[str, Any], context: MappingContext) -> dict[str, str]:
    links: dict[str, str] = {}
    custom = mapping(payload, "custom_fields", "custom_fields")
    opportunity_field = context.fields.custom_field(
        SYSTEM, "contract_opportunity", "salesforce_opportunity_id"
    )
    key = optional_text(payload, "uniqueness_key")
    opportunity = (
        optional_text(payload, "salesforce_opportunity_id")
        or optional_text(custom, opportunity_field)
        or (key if key is not None and _OPPORTUNITY_ID.match(key) else None)
    )
    if opportunity:
        links["salesforce"] = opportunity
    sales_order = optional_text(payload, "netsuite_sales_order_id")
    if sales_order:
        links["netsuite"] = sales_order
    return links


class _Lines:
    """Builds the lines of one contract; knows its currency, dates and referenced products."""

    def __init__(
        self,
        payload: Mapping[str, Any],
        context: MappingContext,
        currency: str,
        starts_on: date,
        ends_on: date | None,
    ) -> None:
        self.payload = payload
        self.context = context
        self.currency = currency
        self.starts_on = starts_on
        self.ends_on = ends_on
        self.products = mapping(lookups(payload), "products", "tieout_lookups.products")

    def product(self, product_id: Any) -> Mapping[str, Any]:
        found = self.products.get(product_id) if isinstance(product_id, str) else None
        return found if isinstance(found, Mapping) else {}

    def priced(self, row: Mapping[str, Any], rate: EffectiveRate, path: str) -> ContractLine | None:
        try:
            if credit_currency(rate.credit_type, self.context, f"{path}.credit_type") != self.currency:
                return None
        except MappingError:
            return None  # a custom pricing unit: no fiat price to compare
        product_id = text(row, "product_id", f"{path}.product_id")
        product = self.product(product_id)
        usage = product.get("type", "USAGE") == "USAGE"
        frequency = (
            BillingFrequency.IN_ARREARS
            if usage
            else _FREQUENCIES.get(str(row.get("billing_frequency")), BillingFrequency.MONTHLY)
        )
        common: dict[str, Any] = {
            "line_id": _line_id(row, product_id),
            "product_id": product_sku(
                row.get("product_custom_fields", product.get("custom_fields")), product_id, self.context
            ),
            "product_name": str(
                row.get("product_name") or mapping(product, "current", "current").get("name") or product_id
            ),
            "billing_frequency": frequency,
            "starts_on": self.starts_on,
            "ends_on": self.ends_on,
        }
        if rate.rate_type in ("FLAT", "SUBSCRIPTION") and rate.price is not None:
            model = (
                PricingModel.SUBSCRIPTION
                if rate.rate_type == "SUBSCRIPTION"
                else PricingModel.PER_UNIT
                if usage
                else PricingModel.FLAT
            )
            price = minor_money(rate.price, self.currency, f"{path}.price")
            return ContractLine(pricing_model=model, unit_price=price, **common)
        if rate.rate_type == "TIERED" and rate.tiers:
            return ContractLine(pricing_model=PricingModel.TIERED, tiers=self.tiers(rate, path), **common)
        return None

    def tiers(self, rate: EffectiveRate, path: str) -> tuple[PriceTier, ...]:
        running = Decimal(0)
        out: list[PriceTier] = []
        for index, tier in enumerate(rate.tiers):
            last = index == len(rate.tiers) - 1
            if tier.size is not None and not last:
                running += tier.size
            out.append(
                PriceTier(
                    up_to=None if last else running,
                    unit_price=minor_money(tier.price, self.currency, f"{path}.tiers[{index}].price"),
                )
            )
        return tuple(out)

    def commit(self, commit: Mapping[str, Any], path: str) -> ContractLine:
        schedule = mapping(commit, "access_schedule", f"{path}.access_schedule")
        currency = credit_currency(
            schedule.get("credit_type") or {"name": self.currency},
            self.context,
            f"{path}.access_schedule.credit_type",
        )
        if currency != self.currency:
            raise MappingError(
                f"commit is in {currency}, the contract in {self.currency}",
                field_path=f"{path}.access_schedule.credit_type",
                value=schedule.get("credit_type"),
            )
        entries = items(schedule, "schedule_items", f"{path}.access_schedule.schedule_items")
        amounts = [
            minor_money(entry.get("amount"), currency, f"{path}.access_schedule.schedule_items[{i}].amount")
            for i, entry in enumerate(entries)
        ]
        starts = [
            timestamp(e.get("starting_at"), f"{path}.access_schedule.schedule_items[{i}].starting_at")
            for i, e in enumerate(entries)
        ]
        ends = [
            timestamp(e.get("ending_before"), f"{path}.access_schedule.schedule_items[{i}].ending_before")
            for i, e in enumerate(entries)
        ]
        product = mapping(commit, "product", f"{path}.product")
        product_id = text(product, "id", f"{path}.product.id")
        invoices = items(
            mapping(commit, "invoice_schedule", f"{path}.invoice_schedule"),
            "schedule_items",
            f"{path}.invoice_schedule.schedule_items",
        )
        frequency = (
            BillingFrequency.IN_ARREARS
            if commit.get("type") == "POSTPAID"
            else BillingFrequency.ONE_TIME
            if len(invoices) <= 1
            else BillingFrequency.MONTHLY
        )
        return ContractLine(
            line_id=text(commit, "id", f"{path}.id"),
            product_id=product_sku(self.product(product_id).get("custom_fields"), product_id, self.context),
            product_name=str(commit.get("name") or product.get("name") or product_id),
            pricing_model=PricingModel.COMMIT,
            commit=sum_money(amounts, currency),
            billing_frequency=frequency,
            starts_on=min(starts).date() if starts else self.starts_on,
            ends_on=last_day(max(ends)) if ends else self.ends_on,
        )


def _line_id(row: Mapping[str, Any], product_id: str) -> str:
    parts = [product_id]
    groups = row.get("pricing_group_values")
    if isinstance(groups, Mapping) and groups:
        parts.append(",".join(f"{k}={groups[k]}" for k in sorted(groups)))
    if row.get("billing_frequency"):
        parts.append(str(row["billing_frequency"]))
    return "|".join(parts)


def _currency(payload: Mapping[str, Any], context: MappingContext) -> str:
    card = mapping(lookups(payload), "rate_card", "tieout_lookups.rate_card")
    if card:
        return credit_currency(
            card.get("fiat_credit_type"), context, "tieout_lookups.rate_card.fiat_credit_type"
        )
    for index, commit in enumerate(items(payload, "commits", "commits")):
        schedule = mapping(commit, "access_schedule", f"commits[{index}].access_schedule")
        if schedule.get("credit_type"):
            return credit_currency(
                schedule["credit_type"], context, f"commits[{index}].access_schedule.credit_type"
            )
    raise MappingError(
        "contract has no rate card and no commit to take a currency from",
        field_path="rate_card_id",
        value=None,
    )


def _updated_at(payload: Mapping[str, Any]) -> datetime:
    created = timestamp(payload.get("created_at"), "created_at")
    archived = optional_timestamp(payload, "archived_at", "archived_at")
    return max(created, archived) if archived is not None else created


def map_contract(payload: Mapping[str, Any], context: MappingContext) -> Contract:
    starting_at = timestamp(payload.get("starting_at"), "starting_at")
    ending_before = optional_timestamp(payload, "ending_before", "ending_before")
    currency = _currency(payload, context)
    builder = _Lines(
        payload, context, currency, starting_at.date(), last_day(ending_before) if ending_before else None
    )
    overrides = items(payload, "overrides", "overrides")
    explicit = payload.get("multiplier_override_prioritization") == "EXPLICIT"
    card = mapping(lookups(payload), "rate_card", "tieout_lookups.rate_card")
    default_credit = mapping(card, "fiat_credit_type", "tieout_lookups.rate_card.fiat_credit_type")
    lines: list[ContractLine] = []
    priced_products: set[str] = set()
    for index, row in enumerate(items(lookups(payload), "rates", "tieout_lookups.rates")):
        path = f"tieout_lookups.rates[{index}]"
        base = base_rate(row, path, default_credit)
        rate = effective_rate(
            base, applicable_overrides(overrides, row, starting_at), explicit_priority=explicit
        )
        line = builder.priced(row, rate, path)
        priced_products.add(str(row.get("product_id")))
        if line is not None:
            lines.append(line)
    for index, override in enumerate(overrides):
        product = mapping(override, "product", f"overrides[{index}].product")
        product_id = product.get("id")
        if (
            override.get("type") != "OVERWRITE"
            or not isinstance(product_id, str)
            or product_id in priced_products
        ):
            continue
        known = builder.product(product_id)
        row = {
            "product_id": product_id,
            "product_name": product.get("name"),
            "product_custom_fields": known.get("custom_fields"),
            "product_tags": mapping(known, "current", "current").get("tags") or [],
        }
        found = applicable_overrides([override], row, starting_at)
        if not found:
            continue
        empty = EffectiveRate("", default_credit, None, (), None)
        line = builder.priced(
            row,
            effective_rate(empty, [(index, override)], explicit_priority=explicit),
            f"overrides[{index}].overwrite_rate",
        )
        if line is not None:
            lines.append(line)
            priced_products.add(product_id)
    lines.extend(
        builder.commit(commit, f"commits[{i}]")
        for i, commit in enumerate(items(payload, "commits", "commits"))
    )
    terms = payload.get("net_payment_terms_days")
    total = payload.get("total_contract_value")
    return Contract(
        system=context.system,
        native_id=text(payload, "id", "id"),
        links=contract_links(payload, context),
        updated_at=_updated_at(payload),
        customer_id=text(payload, "customer_id", "customer_id"),
        status=ContractStatus.CANCELLED if payload.get("archived_at") else ContractStatus.ACTIVE,
        currency=currency,
        starts_on=starting_at.date(),
        ends_on=builder.ends_on,
        payment_terms_days=None if terms is None else whole_days(terms, "net_payment_terms_days"),
        lines=tuple(lines),
        total_value=None if total is None else minor_money(total, currency, "total_contract_value"),
    )

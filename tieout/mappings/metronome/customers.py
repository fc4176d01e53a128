"""Metronome customer -> canonical `Customer`.

The payload is the customer as `GET /v1/customers` lists it, plus the customer's billing-provider
configurations under `tieout_lookups.billing_provider_configurations` (Metronome keeps them on
their own endpoint). Links: `salesforce` from `customer_config.salesforce_account_id`; `stripe`
and `netsuite` from the active billing-provider configurations' `stripe_customer_id` and
`netsuite_customer_id`. Metronome customers have no currency of their own: one is read from the
custom field named by `custom_fields.metronome.customer_currency` (default `currency`) when set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tieout.errors import MappingError
from tieout.mappings.context import MappingContext
from tieout.mappings.metronome.common import (
    SYSTEM,
    items,
    lookups,
    mapping,
    optional_text,
    optional_timestamp,
    text,
    timestamp,
)
from tieout.model import Customer
from tieout.money import normalize_currency

_PROVIDER_LINKS = {"stripe": "stripe_customer_id", "netsuite": "netsuite_customer_id"}


def customer_links(payload: Mapping[str, Any]) -> dict[str, str]:
    links: dict[str, str] = {}
    salesforce_id = optional_text(
        mapping(payload, "customer_config", "customer_config"), "salesforce_account_id"
    )
    if salesforce_id:
        links["salesforce"] = salesforce_id
    path = "tieout_lookups.billing_provider_configurations"
    for index, config in enumerate(items(lookups(payload), "billing_provider_configurations", path)):
        if config.get("archived_at") is not None:
            continue
        provider = str(config.get("billing_provider"))
        key = _PROVIDER_LINKS.get(provider)
        if key is None:
            continue
        native = optional_text(mapping(config, "configuration", f"{path}[{index}].configuration"), key)
        if native:
            links.setdefault(provider, native)
    return links


def map_customer(payload: Mapping[str, Any], context: MappingContext) -> Customer:
    custom_fields = mapping(payload, "custom_fields", "custom_fields")
    currency_field = context.fields.custom_field(SYSTEM, "customer_currency", "currency")
    currency = optional_text(custom_fields, currency_field)
    if currency is not None:
        try:
            currency = normalize_currency(currency)
        except ValueError as exc:
            raise MappingError(
                str(exc), field_path=f"custom_fields.{currency_field}", value=currency
            ) from None
    return Customer(
        system=context.system,
        native_id=text(payload, "id", "id"),
        links=customer_links(payload),
        updated_at=timestamp(payload.get("updated_at"), "updated_at"),
        legal_name=text(payload, "name", "name"),
        currency=currency,
        is_active=optional_timestamp(payload, "archived_at", "archived_at") is None,
    )

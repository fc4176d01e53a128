"""Stripe customers (`cus_`) to canonical `Customer`.

The legal name is `name`, else `description`, else `email` (Stripe requires none of them). The
crosswalk comes from the metadata keys tieout and the Stripe connector for NetSuite write:
`salesforce_account_id`, `metronome_customer_id`, `netsuite_customer_id`. A deleted customer
(`{"deleted": true}`, or the object a `customer.deleted` event carries) maps to an inactive,
deleted record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tieout.errors import MappingError
from tieout.mappings.context import MappingContext
from tieout.mappings.stripe import common
from tieout.model import Address, Customer

CUSTOMER_LINKS: Mapping[str, str] = {
    "salesforce_account_id": "salesforce",
    "metronome_customer_id": "metronome",
    "netsuite_customer_id": "netsuite",
}


def _address(payload: Mapping[str, Any]) -> Address | None:
    address = common.mapping(payload, "address", "address")
    parts = {
        "line1": common.optional_text(address, "line1"),
        "line2": common.optional_text(address, "line2"),
        "city": common.optional_text(address, "city"),
        "region": common.optional_text(address, "state"),
        "postal_code": common.optional_text(address, "postal_code"),
        "country": common.optional_text(address, "country"),
    }
    return Address(**parts) if any(parts.values()) else None


def map_customer(payload: Mapping[str, Any], context: MappingContext) -> Customer:
    native_id = common.text(payload, "id", "id")
    deleted = payload.get("deleted") is True
    name = (
        common.optional_text(payload, "name")
        or common.optional_text(payload, "description")
        or common.optional_text(payload, "email")
    )
    if name is None and not deleted:
        raise MappingError("the customer has no name, description or email", field_path="name", value=None)
    currency = payload.get("currency")
    return Customer(
        system=context.system,
        native_id=native_id,
        links=common.links(payload, CUSTOMER_LINKS),
        # Stripe answers a deleted customer with its id alone: no time of its own to read.
        updated_at=None
        if deleted and "created" not in payload and common.LOOKUPS not in payload
        else common.updated_at(payload),
        deleted=deleted,
        legal_name=name or native_id,
        currency=None if currency is None else common.currency(payload),
        billing_address=_address(payload),
        email=common.optional_text(payload, "email"),
        is_active=not deleted,
    )

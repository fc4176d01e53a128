"""NetSuite customers (SuiteQL `customer` rows) to canonical `Customer` records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tieout.errors import MappingError
from tieout.mappings.context import MappingContext
from tieout.mappings.netsuite import values
from tieout.model import Customer


def map_customer(payload: Mapping[str, Any], context: MappingContext) -> Customer:
    """externalId is the Salesforce Account Id by convention (a Stripe `cus_` id is linked as Stripe's)."""
    native_id = values.record_id(payload, "id")
    name = values.text(payload, "companyname")
    if name is None and values.flag(payload, "isperson"):
        parts = [values.text(payload, "firstname"), values.text(payload, "lastname")]
        name = " ".join(part for part in parts if part) or None
    if name is None:
        raise MappingError("a customer needs a company name", field_path="companyname", value=None)
    terms_days = values.optional_decimal(payload, "termsdays")
    if terms_days is not None and (terms_days < 0 or terms_days != terms_days.to_integral_value()):
        raise MappingError("terms must be a whole number of days", field_path="termsdays", value=terms_days)
    code = values.text(payload, "currencycode")
    return Customer(
        system=context.system,
        native_id=native_id,
        links=values.external_links(values.text(payload, "externalid"), "salesforce", {"cus_": "stripe"}),
        updated_at=values.moment(payload, "lastmodifieddate"),
        legal_name=name,
        subsidiary_id=values.optional_id(payload, "subsidiary"),
        currency=None if code is None else values.currency(payload),
        payment_terms_days=None if terms_days is None else int(terms_days),
        email=values.text(payload, "email"),
        parent_customer_id=values.optional_id(payload, "parent"),
        is_active=not values.flag(payload, "isinactive"),
    )

"""Salesforce Account -> canonical Customer.

Name, CurrencyIsoCode, Subsidiary__c, ParentId and the Billing address map directly; the ids the
Account states for its twins (NetSuite_Id__c, Metronome_Customer_Id__c, Stripe_Customer_Id__c)
become `links`. The AR figures tieout writes back (AR_Balance__c in the Account's currency,
Days_Past_Due__c) are read as `ar_balance` and `days_past_due`, so a write-back is only sent when
they differ. The custom field names can be changed per org through the field mappings'
`custom_fields.salesforce` (keys `netsuite_id`, `metronome_customer_id`, `stripe_customer_id`,
`subsidiary`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tieout.errors import MappingError
from tieout.mappings.context import MappingContext
from tieout.model import Address, Customer

from . import values

LINK_FIELDS: dict[str, tuple[str, str]] = {
    "netsuite": ("netsuite_id", "NetSuite_Id__c"),
    "metronome": ("metronome_customer_id", "Metronome_Customer_Id__c"),
    "stripe": ("stripe_customer_id", "Stripe_Customer_Id__c"),
}
"""System name -> (custom_fields attribute, default Account field) of the ids an Account holds."""


def link_field(context: MappingContext, system: str) -> str:
    attribute, default = LINK_FIELDS[system]
    return context.fields.custom_field("salesforce", attribute, default)


def _address(payload: Mapping[str, Any]) -> Address | None:
    street = values.text(payload, "BillingStreet", "BillingStreet")
    lines = [line.strip() for line in street.splitlines() if line.strip()] if street else []
    address = Address(
        line1=lines[0] if lines else None,
        line2=", ".join(lines[1:]) or None,
        city=values.text(payload, "BillingCity", "BillingCity"),
        region=values.text(payload, "BillingState", "BillingState"),
        postal_code=values.text(payload, "BillingPostalCode", "BillingPostalCode"),
        country=values.text(payload, "BillingCountry", "BillingCountry"),
    )
    return None if address == Address() else address


def links_of(payload: Mapping[str, Any], context: MappingContext) -> dict[str, str]:
    links: dict[str, str] = {}
    for system in LINK_FIELDS:
        name = link_field(context, system)
        value = values.text(payload, name, name)
        if value is not None and value.strip():
            links[system] = value.strip()
    return links


def _days(payload: Mapping[str, Any]) -> int | None:
    days = values.number(payload, "Days_Past_Due__c", "Days_Past_Due__c")
    if days is None:
        return None
    if days < 0 or days != days.to_integral_value():
        raise MappingError("not a whole number of days", field_path="Days_Past_Due__c", value=str(days))
    return int(days)


def map_account(payload: Mapping[str, Any], context: MappingContext) -> Customer:
    subsidiary_field = context.fields.custom_field("salesforce", "subsidiary", "Subsidiary__c")
    parent = payload.get("ParentId")
    currency = values.optional_currency(payload)
    return Customer(
        system=context.system,
        native_id=values.id18(payload.get("Id"), "Id"),
        links=links_of(payload, context),
        updated_at=values.modstamp(payload),
        deleted=values.flag(payload, "IsDeleted", "IsDeleted"),
        legal_name=values.required_text(payload, "Name", "Name"),
        subsidiary_id=values.text(payload, subsidiary_field, subsidiary_field),
        currency=currency,
        billing_address=_address(payload),
        parent_customer_id=values.id18(parent, "ParentId") if parent else None,
        ar_balance=(values.money(payload, "AR_Balance__c", currency, "AR_Balance__c") if currency else None),
        days_past_due=_days(payload),
    )

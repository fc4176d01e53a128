"""Canonical -> Salesforce: the Account payloads the connector's `accounts` stream pushes.

A push payload is a flat dict of Account fields naming its record in one of two ways:
- `Id`: a write-back onto an existing Account (ids of its twins, AR figures); the connector
  updates it by Id (sObject Collections update when batched);
- the upsert field (`External_Id__c` by default): create-or-update keyed on that external id
  (PATCH `/sobjects/Account/External_Id__c/{value}`, or Collections upsert when batched).

Amounts go out as JSON numbers: a Decimal is converted to the float whose shortest repr has
exactly its digits, and refused (MappingError) when no float does or when it is finer than the
currency's minor unit, so no amount is ever rounded on the way out.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tieout.errors import MappingError
from tieout.model import Customer
from tieout.money import Money

from .accounts import LINK_FIELDS
from .values import id18

UPSERT_FIELD = "External_Id__c"
AR_BALANCE_FIELD = "AR_Balance__c"
DAYS_PAST_DUE_FIELD = "Days_Past_Due__c"


def link_fields(links: Mapping[str, str], *, field_path: str = "links") -> dict[str, str]:
    """Account fields for twin ids keyed by system name ("netsuite", "metronome", "stripe")."""
    out: dict[str, str] = {}
    for system, value in links.items():
        if system not in LINK_FIELDS:
            raise MappingError(
                f"an Account holds no id for system {system!r}",
                field_path=f"{field_path}.{system}",
                value=value,
            )
        if not value or not value.strip():
            raise MappingError("an id must not be blank", field_path=f"{field_path}.{system}", value=value)
        out[LINK_FIELDS[system][1]] = value.strip()
    return out


def wire_amount(money: Money, field_path: str) -> float:
    """The JSON number for `money`, exactly; refused rather than rounded."""
    try:
        money.to_minor()
    except ValueError:
        raise MappingError(
            f"finer than a {money.currency} minor unit", field_path=field_path, value=str(money.amount)
        ) from None
    number = float(money.amount)
    if Decimal(repr(number)) != money.amount:
        raise MappingError(
            "too many digits for a JSON number", field_path=field_path, value=str(money.amount)
        )
    return number


def account_payload(
    customer: Customer, *, external_id: str, external_id_field: str = UPSERT_FIELD
) -> dict[str, Any]:
    """An Account upserted on `external_id_field` from a canonical customer of any system."""
    if not external_id.strip():
        raise MappingError(
            "the external id must not be blank", field_path=external_id_field, value=external_id
        )
    payload: dict[str, Any] = {external_id_field: external_id.strip(), "Name": customer.legal_name}
    if customer.currency is not None:
        payload["CurrencyIsoCode"] = customer.currency
    if customer.subsidiary_id is not None:
        payload["Subsidiary__c"] = customer.subsidiary_id
    address = customer.billing_address
    if address is not None:
        street = "\n".join(line for line in (address.line1, address.line2) if line)
        fields = {
            "BillingStreet": street or None,
            "BillingCity": address.city,
            "BillingState": address.region,
            "BillingPostalCode": address.postal_code,
            "BillingCountry": address.country,
        }
        payload.update({name: value for name, value in fields.items() if value is not None})
    links = {system: value for system, value in customer.links.items() if system in LINK_FIELDS}
    payload.update(link_fields(links))
    return payload


def account_ids_payload(account_id: str, links: Mapping[str, str]) -> dict[str, Any]:
    """Write the ids of an Account's twins onto it: NetSuite_Id__c, Metronome_Customer_Id__c, Stripe_Customer_Id__c."""
    fields = link_fields(links)
    if not fields:
        raise MappingError("no ids to write back", field_path="links", value=dict(links))
    return {"Id": id18(account_id, "Id"), **fields}


def account_ar_payload(
    account_id: str, *, account_currency: str, balance: Money, days_past_due: int | None
) -> dict[str, Any]:
    """Write AR figures onto an Account: AR_Balance__c (in the Account's currency) and Days_Past_Due__c."""
    if balance.currency != account_currency.upper():
        raise MappingError(
            f"the Account is kept in {account_currency.upper()}; an AR balance in another currency would be misread",
            field_path=AR_BALANCE_FIELD,
            value=str(balance),
        )
    if days_past_due is not None and days_past_due < 0:
        raise MappingError(
            "days past due cannot be negative", field_path=DAYS_PAST_DUE_FIELD, value=days_past_due
        )
    return {
        "Id": id18(account_id, "Id"),
        AR_BALANCE_FIELD: wire_amount(balance, AR_BALANCE_FIELD),
        DAYS_PAST_DUE_FIELD: days_past_due,
    }

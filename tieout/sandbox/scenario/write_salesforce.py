"""The company in the CRM: products and list prices, accounts, closed-won deals, and their links.

Accounts carry the subsidiary (`Subsidiary__c`) and currency the customer is booked in; the
master-data defects plant a different one here. Each customer has one Closed Won opportunity
whose lines are the negotiated contract (seats at their sales price, usage at its rate). Once
the other systems hold the customer, `link_accounts` writes their ids back onto the account and
the Metronome contract id onto the opportunity.
"""

from __future__ import annotations

from datetime import timedelta

from tieout.sandbox.scenario.company import PRODUCTS, SUBSIDIARIES, CustomerPlan
from tieout.sandbox.scenario.context import Scenario, moment, onboarded_at, signed_at
from tieout.sandbox.scenario.defects import DefectKind

_FAMILY = {"seat": "Platform", "usage": "Usage", "flat": "Support"}
_CURRENCIES = ("USD", "GBP", "EUR", "JPY")


def other_currency(currency: str) -> str:
    """A currency the customer does not use, of the same precision where one exists."""
    return {"USD": "EUR", "GBP": "USD", "EUR": "USD", "JPY": "USD"}[currency]


def write_catalog(scenario: Scenario) -> None:
    """Products (ProductCode = SKU) with a standard list price in every currency."""
    state, ids = scenario.states.salesforce, scenario.ids
    first = min((c.start_month for c in scenario.company.customers), default=scenario.company.as_of.date())
    at = moment(first - timedelta(days=60), 8)
    for product in PRODUCTS:
        record = state.create_product(
            product.name, product_code=product.sku, family=_FAMILY[product.kind], is_active=True, at=at
        )
        ids.sf_product[product.sku] = record["Id"]
        for currency in _CURRENCIES:
            entry = state.create_pricebook_entry(
                record["Id"], float(product.list_prices[currency]), currency=currency, is_active=True, at=at
            )
            ids.sf_entry[(product.sku, currency)] = entry["Id"]


def write_accounts(scenario: Scenario) -> None:
    """An account and a Closed Won opportunity with its line items for every customer."""
    for customer in scenario.company.customers:
        _write_customer(scenario, customer)


def _write_customer(scenario: Scenario, customer: CustomerPlan) -> None:
    state, ids = scenario.states.salesforce, scenario.ids
    created = signed_at(customer)
    currency = customer.currency
    subsidiary = customer.subsidiary.name
    if defect := scenario.defect(DefectKind.CUSTOMER_CURRENCY_MISMATCH, customer):
        currency = other_currency(currency)
        defect.detail.update(salesforce_currency=currency, netsuite_currency=customer.currency)
    if defect := scenario.defect(DefectKind.CUSTOMER_SUBSIDIARY_MISMATCH, customer):
        index = SUBSIDIARIES.index(customer.subsidiary)
        subsidiary = SUBSIDIARIES[(index + 1) % len(SUBSIDIARIES)].name
        defect.detail.update(salesforce_subsidiary=subsidiary, netsuite_subsidiary=customer.subsidiary.name)
    account = state.create_account(
        customer.name,
        currency=currency,
        at=created,
        Type="Customer - Direct",
        BillingCity=customer.city,
        BillingCountry=customer.subsidiary.country,
        Subsidiary__c=subsidiary,
    )
    ids.sf_account[customer.key] = account["Id"]
    opportunity = state.create_opportunity(
        account["Id"],
        f"{customer.name} - Platform",
        "Prospecting",
        onboarded_at(customer).date(),
        currency=customer.currency,
        pricebook_id=state.standard_pricebook_id,
        at=created,
        Type="New Business",
    )
    ids.sf_opportunity[customer.key] = opportunity["Id"]
    for line in customer.lines:
        state.add_opportunity_line_item(
            opportunity["Id"],
            ids.sf_entry[(line.sku, customer.currency)],
            float(line.quantity or 1),
            unit_price=float(line.unit_price),
            service_date=customer.start_month,
            at=created,
        )
    state.update("Opportunity", opportunity["Id"], {"StageName": "Closed Won"}, at=onboarded_at(customer))
    for kind in (
        DefectKind.CRM_PRICE_MISMATCH,
        DefectKind.CONTRACT_MISSING_IN_BILLING,
    ):
        if defect := scenario.defect(kind, customer):
            defect.record("salesforce", opportunity["Id"])
    for kind in (
        DefectKind.CUSTOMER_NAME_MISMATCH,
        DefectKind.CUSTOMER_SUBSIDIARY_MISMATCH,
        DefectKind.CUSTOMER_CURRENCY_MISMATCH,
    ):
        if defect := scenario.defect(kind, customer):
            defect.record("salesforce", account["Id"])


def link_accounts(scenario: Scenario) -> None:
    """The other systems' ids on each account, and the Metronome contract id on each opportunity."""
    state, ids = scenario.states.salesforce, scenario.ids
    for customer in scenario.company.customers:
        at = onboarded_at(customer) + timedelta(hours=4)
        state.update(
            "Account",
            ids.sf_account[customer.key],
            {
                "NetSuite_Id__c": str(ids.ns_customer[customer.key]),
                "Metronome_Customer_Id__c": ids.mt_customer[customer.key],
                "Stripe_Customer_Id__c": ids.stripe_customer[customer.key],
            },
            at=at,
        )
        contract_id = ids.mt_contract.get(customer.key)
        if contract_id is not None:
            state.update(
                "Opportunity",
                ids.sf_opportunity[customer.key],
                {"Metronome_Contract_Id__c": contract_id},
                at=at,
            )

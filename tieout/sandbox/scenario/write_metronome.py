"""The company in usage billing: metrics, products, rate cards, customers, contracts, invoices, usage.

Every product carries its SKU in `custom_fields["sku"]` and its NetSuite item id; one rate card
per currency holds the list prices; a contract (uniqueness_key = the Salesforce opportunity id)
overrides the rates the deal negotiated. Invoices are written FINALIZED with the plan's lines in
the credit type's minor unit (pre-tax). Usage events are one per customer, metric and day for the
recent periods, summing exactly to the metered quantity. `link_invoices` records the Stripe and
NetSuite copies (external_invoice, revenue_system_invoices) once they exist.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from tieout.sandbox.metronome.wire import CREDIT_TYPE_ID_BY_CURRENCY, iso
from tieout.sandbox.scenario.company import PRODUCT_BY_SKU, PRODUCTS, CustomerPlan, InvoicePlan
from tieout.sandbox.scenario.context import Scenario, minor, moment, onboarded_at
from tieout.sandbox.scenario.defects import DefectKind

RATES_FROM = moment(date(2000, 1, 1))
_LINE_TYPE = {"seat": "subscription", "usage": "usage", "flat": "subscription"}
_INVOICE_KINDS = (
    DefectKind.USAGE_BILLED_NOT_METERED,
    DefectKind.INVOICE_MISSING_IN_NETSUITE,
    DefectKind.INVOICE_MISSING_IN_STRIPE,
    DefectKind.INVOICE_TOTAL_DIFFERS,
    DefectKind.DUPLICATE_INVOICE_IN_NETSUITE,
    DefectKind.INVOICE_CURRENCY_MISMATCH,
)


def write_catalog(scenario: Scenario) -> None:
    """Billable metrics (SUM of `value`), products and one list-price rate card per currency."""
    state, ids, company = scenario.states.metronome, scenario.ids, scenario.company
    first = min((c.start_month for c in company.customers), default=company.as_of.date())
    scenario.at(moment(first - timedelta(days=60), 7, 30))
    for product in PRODUCTS:
        attributes: dict[str, Any] = {
            "custom_fields": {"sku": product.sku},
            "netsuite_internal_item_id": str(ids.ns_item[product.sku]),
        }
        if product.metric is not None:
            metric = state.create_billable_metric(
                product.metric,
                aggregation_type="SUM",
                aggregation_key="value",
                event_type_filter={"in_values": [product.metric]},
                property_filters=[{"name": "value", "exists": True}],
            )
            ids.mt_metric[product.sku] = metric["id"]
            attributes["billable_metric_id"] = metric["id"]
        record = state.create_product(product.name, "USAGE" if product.metric else "FIXED", **attributes)
        ids.mt_product[product.sku] = record["id"]
    for currency in ("USD", "GBP", "EUR", "JPY"):
        card = state.create_rate_card(
            f"List prices {currency}", fiat_credit_type_id=CREDIT_TYPE_ID_BY_CURRENCY[currency]
        )
        ids.mt_rate_card[currency] = card["id"]
        state.add_rates(
            card["id"],
            [
                {
                    "product_id": ids.mt_product[product.sku],
                    "starting_at": RATES_FROM,
                    "entitled": True,
                    "rate_type": "FLAT",
                    "price": minor(product.list_prices[currency], currency),
                }
                for product in PRODUCTS
            ],
        )


def write_customers(scenario: Scenario) -> None:
    """Customers with their billing-provider links, and a contract for every provisioned deal."""
    for customer in scenario.company.customers:
        _write_customer(scenario, customer)


def _write_customer(scenario: Scenario, customer: CustomerPlan) -> None:
    state, ids = scenario.states.metronome, scenario.ids
    scenario.at(onboarded_at(customer) + timedelta(hours=3))
    stripe_id, netsuite_id = ids.stripe_customer[customer.key], str(ids.ns_customer[customer.key])
    record = state.create_customer(
        customer.name,
        ingest_aliases=[customer.key],
        salesforce_account_id=ids.sf_account[customer.key],
        billing_provider_configurations=[
            {
                "billing_provider": "stripe",
                "delivery_method": "direct_to_billing_provider",
                "configuration": {
                    "stripe_customer_id": stripe_id,
                    "stripe_collection_method": "send_invoice",
                },
            },
            {
                "billing_provider": "netsuite",
                "delivery_method": "direct_to_billing_provider",
                "configuration": {"netsuite_customer_id": netsuite_id},
            },
        ],
        revenue_system_configurations=[
            {
                "provider": "netsuite",
                "delivery_method": "direct_to_billing_provider",
                "configuration": {"netsuite_customer_id": netsuite_id},
            }
        ],
    )
    ids.mt_customer[customer.key] = record["id"]
    if scenario.defect(DefectKind.CONTRACT_MISSING_IN_BILLING, customer):
        return
    currency = customer.currency
    mismatch = scenario.defect(DefectKind.CRM_PRICE_MISMATCH, customer)
    overrides = []
    for line in customer.lines:
        price = line.unit_price
        if mismatch is not None and line.sku == mismatch.detail["sku"]:
            price = Decimal(mismatch.detail["billed_unit_price"])
        if price == PRODUCT_BY_SKU[line.sku].list_prices[currency]:
            continue
        overrides.append(
            {
                "product_id": ids.mt_product[line.sku],
                "starting_at": moment(customer.start_month),
                "entitled": True,
                # Without a credit type Metronome prices an override in USD cents, whatever the card's.
                "overwrite_rate": {
                    "rate_type": "FLAT",
                    "price": minor(price, currency),
                    "credit_type_id": CREDIT_TYPE_ID_BY_CURRENCY[currency],
                },
            }
        )
    opportunity_id = ids.sf_opportunity[customer.key]
    contract = state.create_contract(
        record["id"],
        moment(customer.start_month),
        name=f"{customer.name} platform agreement",
        rate_card_id=ids.mt_rate_card[currency],
        overrides=overrides,
        uniqueness_key=opportunity_id,
        salesforce_opportunity_id=opportunity_id,
        net_payment_terms_days=customer.terms_days,
    )
    ids.mt_contract[customer.key] = contract["id"]
    if mismatch is not None:
        mismatch.record("metronome", contract["id"])


def write_invoices(scenario: Scenario) -> None:
    """Every planned invoice, FINALIZED, with its lines in the credit type's minor unit."""
    state, ids = scenario.states.metronome, scenario.ids
    for invoice in scenario.company.invoices:
        scenario.at(invoice.issued_at)
        currency = invoice.currency
        start, end = moment(invoice.period_start), moment(invoice.period_end)
        record = state.create_invoice(
            ids.mt_customer[invoice.customer.key],
            start_timestamp=start,
            end_timestamp=end,
            line_items=[
                {
                    "name": line.description,
                    "type": _LINE_TYPE[PRODUCT_BY_SKU[line.sku].kind],
                    "quantity": int(line.quantity),
                    "unit_price": minor(line.unit_price, currency),
                    "total": minor(line.amount, currency),
                    "product_id": ids.mt_product[line.sku],
                    "starting_at": start,
                    "ending_before": end,
                }
                for line in invoice.lines
            ],
            status="FINALIZED",
            type="USAGE",
            contract_id=ids.mt_contract[invoice.customer.key],
            credit_type_id=CREDIT_TYPE_ID_BY_CURRENCY[currency],
            issued_at=invoice.issued_at,
            net_payment_terms_days=invoice.customer.terms_days,
        )
        ids.mt_invoice[invoice.key] = record["id"]
        for kind in _INVOICE_KINDS:
            if defect := scenario.defect(kind, invoice):
                defect.record("metronome", record["id"])
                defect.detail.setdefault("number", invoice.number)


def daily_quantities(total: int, days: int, rng: random.Random) -> list[int]:
    """`total` spread over `days` with some day-to-day noise, summing to `total` exactly."""
    weights = [rng.uniform(0.7, 1.3) for _ in range(days)]
    scale = sum(weights)
    shares = [int(total * weight / scale) for weight in weights]
    for index in range(total - sum(shares)):
        shares[index % days] += 1
    return shares


def write_usage(scenario: Scenario) -> int:
    """One event per customer, usage metric and day for the recent periods; returns how many."""
    state, company = scenario.states.metronome, scenario.company
    written = 0
    for invoice in company.invoices:
        if invoice.period_start < company.usage_from:
            continue
        events = _events(scenario, invoice)
        scenario.at(moment(invoice.period_end))
        written += state.add_usage_events(events)
    return written


def _events(scenario: Scenario, invoice: InvoicePlan) -> list[dict[str, Any]]:
    unmetered = scenario.defect(DefectKind.USAGE_BILLED_NOT_METERED, invoice)
    days = (invoice.period_end - invoice.period_start).days
    events: list[dict[str, Any]] = []
    for line in invoice.lines:
        metric = PRODUCT_BY_SKU[line.sku].metric
        if metric is None:
            continue
        metered = int(line.quantity)
        if unmetered is not None and unmetered.detail["sku"] == line.sku:
            metered = int(Decimal(unmetered.detail["metered_quantity"]))
        rng = random.Random(f"{scenario.company.seed}/{invoice.key}/{line.sku}")
        for offset, quantity in enumerate(daily_quantities(metered, days, rng)):
            day = invoice.period_start + timedelta(days=offset)
            events.append(
                {
                    "transaction_id": f"{invoice.customer.key}-{metric}-{day:%Y%m%d}",
                    "customer_id": invoice.customer.key,
                    "event_type": metric,
                    "timestamp": iso(moment(day, 12)),
                    "properties": {"value": quantity},
                }
            )
    return events


_EXTERNAL_STATUS = {"paid": "PAID", "open": "FINALIZED", "void": "VOID", "uncollectible": "UNCOLLECTIBLE"}


def link_invoices(scenario: Scenario) -> None:
    """Each invoice's Stripe copy and status (external_invoice) and its NetSuite copy."""
    state, ids, stripe = scenario.states.metronome, scenario.ids, scenario.states.stripe
    for invoice in scenario.company.invoices:
        metronome_id = ids.mt_invoice[invoice.key]
        stripe_id = ids.stripe_invoice.get(invoice.key)
        if stripe_id is not None:
            copy = stripe.find("invoice", stripe_id)
            status = _EXTERNAL_STATUS[copy["status"]]
            if copy["status"] == "open" and copy["amount_paid"] > 0:
                status = "PARTIALLY_PAID"
            external: dict[str, Any] = {
                "billing_provider_type": "stripe",
                "invoice_id": stripe_id,
                "external_status": status,
                "invoiced_total": copy["total"],
                # Metronome reports the provider's tax as an object, not a bare amount.
                "tax": {"total_tax_amount": copy["tax"], "total_taxable_amount": copy["subtotal"]},
            }
            if copy["charge"] is not None:
                external["external_payment_id"] = copy["charge"]
            state.set_external_invoice(metronome_id, external)
        netsuite_id = ids.ns_invoice.get(invoice.key)
        if netsuite_id is not None:
            state.set_revenue_system_invoices(
                metronome_id,
                [
                    {
                        "revenue_system_provider": "netsuite",
                        "revenue_system_external_entity_type": "invoice",
                        "revenue_system_external_entity_id": str(netsuite_id),
                        "sync_status": "synced",
                    }
                ],
            )

"""What the sandbox emulators hold after a sync, and which source records a target holds twice.

`census` counts each emulator's records by the keys and figures a sync can change (a Counter per
kind of record), so two runs can be compared record for record; `duplicates` lists every source
record some target holds more than once, by the key each flow pushes under. Crash and
convergence tests compare a disturbed run against a clean one with these.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable
from typing import Any

from tieout.sandbox.runtime import Sandbox

Census = dict[str, Counter[tuple[Any, ...]]]


def census(sandbox: Sandbox) -> Census:
    """What each emulator holds, record by record, by the keys and figures a sync can change."""
    netsuite = sandbox.netsuite
    with netsuite.lock:
        transactions = netsuite.db.execute(
            'SELECT type, externalid, memo, foreigntotal, foreignamountunpaid, status FROM "transaction"'
        ).fetchall()
        customers = netsuite.db.execute(
            "SELECT externalid, companyname, subsidiary, currency FROM customer"
        ).fetchall()
    with sandbox.stripe.lock:
        stripe_invoices = list(sandbox.stripe.tables["invoice"].records.values())
        stripe_customers = list(sandbox.stripe.tables["customer"].records.values())
    metronome = sandbox.metronome
    accounts = list(sandbox.salesforce.tables["Account"].values())
    return {
        "netsuite transactions": Counter(tuple(row) for row in transactions),
        "netsuite customers": Counter(tuple(row) for row in customers),
        "stripe invoices": Counter(
            (
                invoice["customer"],
                (invoice.get("metadata") or {}).get("metronome_invoice_id"),
                invoice["currency"],
                invoice["total"],
                invoice["amount_paid"],
                invoice["status"],
            )
            for invoice in stripe_invoices
        ),
        "stripe customers": Counter(
            (customer["name"], (customer.get("metadata") or {}).get("salesforce_account_id"))
            for customer in stripe_customers
        ),
        "metronome contracts": Counter(
            (
                contract["customer_id"],
                contract.get("salesforce_opportunity_id"),
                contract.get("uniqueness_key"),
                contract.get("rate_card_id"),
                contract.get("starting_at"),
            )
            for contract in metronome.contracts.values()
        ),
        "metronome customers": Counter(
            (customer["name"], tuple(customer.get("ingest_aliases") or ()))
            for customer in metronome.customers.values()
        ),
        "salesforce accounts": Counter(
            (
                account["Id"],
                account.get("NetSuite_Id__c"),
                account.get("Metronome_Customer_Id__c"),
                account.get("Stripe_Customer_Id__c"),
                account.get("AR_Balance__c"),
                account.get("Days_Past_Due__c"),
            )
            for account in accounts
        ),
    }


def twice(keys: Iterable[Hashable]) -> dict[Any, int]:
    """The keys that occur more than once (None is no key), with how often."""
    return {key: count for key, count in Counter(keys).items() if key is not None and count > 1}


def duplicates(sandbox: Sandbox) -> dict[str, dict[Any, int]]:
    """Every source record some target holds more than once, by the key each flow pushes under."""
    netsuite = sandbox.netsuite
    with netsuite.lock:
        transactions = netsuite.db.execute('SELECT type, externalid FROM "transaction"').fetchall()
        customers = netsuite.db.execute("SELECT externalid FROM customer").fetchall()
    by_type: dict[str, list[str]] = {}
    for row in transactions:
        by_type.setdefault(row["type"], []).append(row["externalid"])
    with sandbox.stripe.lock:
        stripe_invoices = list(sandbox.stripe.tables["invoice"].records.values())
        stripe_customers = list(sandbox.stripe.tables["customer"].records.values())
    metronome = sandbox.metronome
    found = {
        # NetSuite: one invoice per Metronome invoice, payment per Stripe charge, credit memo per
        # credit note, refund per Stripe refund, deposit per payout, customer per Account.
        **{f"netsuite {kind} per externalId": twice(ids) for kind, ids in by_type.items()},
        "netsuite customers per Account": twice([row["externalid"] for row in customers]),
        "stripe invoices per Metronome invoice": twice(
            [(invoice.get("metadata") or {}).get("metronome_invoice_id") for invoice in stripe_invoices]
        ),
        "stripe customers per Account": twice(
            [(customer.get("metadata") or {}).get("salesforce_account_id") for customer in stripe_customers]
        ),
        "metronome contracts per Opportunity": twice(
            [contract.get("salesforce_opportunity_id") for contract in metronome.contracts.values()]
        ),
        "metronome contracts per uniqueness key": twice(
            [contract.get("uniqueness_key") for contract in metronome.contracts.values()]
        ),
        "metronome customers per Account": twice(
            [
                (customer.get("customer_config") or {}).get("salesforce_account_id")
                for customer in metronome.customers.values()
            ]
        ),
        "metronome ingest aliases": twice(
            [
                alias
                for customer in metronome.customers.values()
                for alias in customer.get("ingest_aliases") or ()
            ]
        ),
    }
    return {what: keys for what, keys in found.items() if keys}

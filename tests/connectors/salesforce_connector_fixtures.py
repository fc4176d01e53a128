"""Shared pieces of the Salesforce connector tests: a seeded emulated org served over loopback TLS,
connector settings pointing at it, the contract backend adapter, and golden payloads.

The golden payloads are exactly what the connector pulls from the emulator for `seed_golden_org`
(ids included: the emulator hands ids out deterministically), which
`test_golden_payloads_are_what_the_emulator_serves` checks, so the mapping tables below run on
payloads as Salesforce (emulated) really returns them.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from tieout.connectors.salesforce import SalesforceConnector, SalesforceSettings
from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.faults import FaultInjector
from tieout.sandbox.salesforce import SalesforceState, build_app
from tieout.sandbox.server import EmulatorServer, SandboxCA

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CLIENT_TIMEOUT = 0.5


@dataclass
class Org:
    state: SalesforceState
    injector: FaultInjector
    base_url: str
    ca_bundle: str

    def settings(self, **overrides: Any) -> SalesforceSettings:
        values: dict[str, Any] = {
            "instance_url": self.base_url,
            "session_id": SecretStr(self.state.session_id),
            "ca_bundle": self.ca_bundle,
            "timeout_seconds": CLIENT_TIMEOUT,
            "max_attempts": 3,
            "backoff_base_seconds": 0.01,
            "backoff_max_seconds": 1.0,
            "bulk_poll_seconds": 0.0,
            "api_reserve": 0,
            **overrides,
        }
        return SalesforceSettings(**values)

    def connector(self, **overrides: Any) -> SalesforceConnector:
        return SalesforceConnector(self.settings(**overrides))


@contextmanager
def serving(state: SalesforceState, directory: Path) -> Iterator[Org]:
    """The org behind its emulator over TLS, with a fault injector the tests drive."""
    injector = FaultInjector()
    ca = SandboxCA(directory)
    with EmulatorServer(build_app(state, injector), tls=ca, name="salesforce") as server:
        yield Org(state, injector, server.base_url, str(ca.ca_bundle_path))
        gc.collect()  # a response held by a caught exception keeps its TLS socket (and shutdown) open


def new_state() -> SalesforceState:
    return SalesforceState(SandboxClock(frozen_at=START))


def seed_accounts(
    state: SalesforceState, count: int, *, per_second: int = 7, prefix: str = "Customer"
) -> list[str]:
    """Accounts whose SystemModstamp advances one second every `per_second` records (ties)."""
    return [
        state.create_account(
            f"{prefix} {number:05d}",
            currency="EUR" if number % 5 == 0 else "USD",
            at=START + timedelta(seconds=number // per_second),
            NetSuite_Id__c=f"NS-{prefix}-{number}",
        )["Id"]
        for number in range(count)
    ]


def seed_opportunities(state: SalesforceState, count: int) -> list[str]:
    """Closed-won opportunities of two lines each, on accounts of their own, three a second."""
    platform = state.create_product("Platform", product_code="PLT", family="Platform", at=START)["Id"]
    usage = state.create_product("API Calls", product_code="API", family="Usage", at=START)["Id"]
    platform_entry = state.create_pricebook_entry(platform, 1000, at=START)["Id"]
    usage_entry = state.create_pricebook_entry(usage, 0.25, at=START)["Id"]
    account = state.create_account("Opportunity Holder", at=START)["Id"]
    ids = []
    for number in range(count):
        at = START + timedelta(seconds=number // 3)
        opportunity = state.create_opportunity(
            account, f"Deal {number:04d}", "Closed Won", date(2026, 2, 1), at=at
        )["Id"]
        state.add_opportunity_line_item(opportunity, platform_entry, 12, unit_price=800, at=at)
        state.add_opportunity_line_item(opportunity, usage_entry, 1000, service_date=date(2026, 3, 1), at=at)
        ids.append(opportunity)
    return ids


# ---- golden org -------------------------------------------------------------------------------


def seed_golden_org(state: SalesforceState) -> None:
    """The records behind GOLDEN_PAYLOADS: accounts in USD and JPY, multi-line, credit, lost and reopened deals."""
    at = START
    platform = state.create_product("Platform", product_code="PLT", family="Platform", at=at)["Id"]
    usage = state.create_product("API Calls", product_code="API", family="Usage", at=at)["Id"]
    credit = state.create_product("Service Credit", family="Services", at=at)["Id"]
    usd_platform = state.create_pricebook_entry(platform, 1000, at=at)["Id"]
    usd_credit = state.create_pricebook_entry(credit, 0, at=at)["Id"]
    state.create_pricebook_entry(usage, 0.25, at=at)
    jpy_platform = state.create_pricebook_entry(platform, 150000, currency="JPY", at=at)["Id"]
    jpy_usage = state.create_pricebook_entry(usage, 35, currency="JPY", at=at)["Id"]
    parent = state.create_account("Globex Holdings", at=at)["Id"]
    acme = state.create_account(
        "Acme Corp",
        ParentId=parent,
        BillingStreet="1 Main St\nSuite 400",
        BillingCity="Springfield",
        BillingState="IL",
        BillingPostalCode="62701",
        BillingCountry="US",
        Subsidiary__c="1",
        NetSuite_Id__c="1042",
        Metronome_Customer_Id__c="6f2b7c1e-58a1-4f7e-9d0a-1b2c3d4e5f60",
        Stripe_Customer_Id__c="cus_Q1w2E3r4",
        AR_Balance__c=1250.5,
        Days_Past_Due__c=12,
        at=at + timedelta(seconds=1),
    )["Id"]
    tokyo = state.create_account("Kabushiki Tokyo", currency="JPY", at=at + timedelta(seconds=2))["Id"]
    jpy_deal = state.create_opportunity(
        tokyo,
        "Tokyo platform",
        "Closed Won",
        date(2026, 2, 20),
        Metronome_Contract_Id__c="c-tokyo-1",
        at=at + timedelta(seconds=3),
    )["Id"]
    state.add_opportunity_line_item(
        jpy_deal,
        jpy_platform,
        12,
        unit_price=120000,
        service_date=date(2026, 4, 1),
        at=at + timedelta(seconds=3),
    )
    state.add_opportunity_line_item(
        jpy_deal, jpy_usage, 50000, service_date=date(2026, 3, 1), at=at + timedelta(seconds=3)
    )
    credit_deal = state.create_opportunity(acme, "Acme renewal", "Closed Won", date(2026, 2, 27), at=at)["Id"]
    state.add_opportunity_line_item(
        credit_deal, usd_platform, 12, unit_price=800, Discount=12.5, at=at + timedelta(seconds=4)
    )
    state.add_opportunity_line_item(
        credit_deal,
        usd_credit,
        1,
        unit_price=-500,
        Description="goodwill credit",
        at=at + timedelta(seconds=4),
    )
    lost = state.create_opportunity(acme, "Acme add-on", "Closed Lost", date(2026, 1, 15), at=at)["Id"]
    state.update("Opportunity", lost, {"Description": "lost on price"}, at=at + timedelta(seconds=5))
    reopened = state.create_opportunity(acme, "Acme expansion", "Closed Won", date(2026, 2, 10), at=at)["Id"]
    state.update("Opportunity", reopened, {"StageName": "Negotiation/Review"}, at=at + timedelta(seconds=6))


GOLDEN_ACCOUNTS: dict[str, dict[str, Any]] = {
    "Globex Holdings": {
        "Id": "001Hs000000000AIAQ",
        "IsDeleted": False,
        "Name": "Globex Holdings",
        "AccountNumber": None,
        "Type": None,
        "ParentId": None,
        "BillingStreet": None,
        "BillingCity": None,
        "BillingState": None,
        "BillingPostalCode": None,
        "BillingCountry": None,
        "CurrencyIsoCode": "USD",
        "Subsidiary__c": None,
        "NetSuite_Id__c": None,
        "Metronome_Customer_Id__c": None,
        "Stripe_Customer_Id__c": None,
        "External_Id__c": None,
        "AR_Balance__c": None,
        "Days_Past_Due__c": None,
        "CreatedDate": "2026-03-02T12:00:00.000+0000",
        "LastModifiedDate": "2026-03-02T12:00:00.000+0000",
        "SystemModstamp": "2026-03-02T12:00:00.000+0000",
    },
    "Acme Corp": {
        "Id": "001Hs000000000BIAQ",
        "IsDeleted": False,
        "Name": "Acme Corp",
        "AccountNumber": None,
        "Type": None,
        "ParentId": "001Hs000000000AIAQ",
        "BillingStreet": "1 Main St\nSuite 400",
        "BillingCity": "Springfield",
        "BillingState": "IL",
        "BillingPostalCode": "62701",
        "BillingCountry": "US",
        "CurrencyIsoCode": "USD",
        "Subsidiary__c": "1",
        "NetSuite_Id__c": "1042",
        "Metronome_Customer_Id__c": "6f2b7c1e-58a1-4f7e-9d0a-1b2c3d4e5f60",
        "Stripe_Customer_Id__c": "cus_Q1w2E3r4",
        "External_Id__c": None,
        "AR_Balance__c": Decimal("1250.5"),
        "Days_Past_Due__c": Decimal("12.0"),
        "CreatedDate": "2026-03-02T12:00:01.000+0000",
        "LastModifiedDate": "2026-03-02T12:00:01.000+0000",
        "SystemModstamp": "2026-03-02T12:00:01.000+0000",
    },
    "Kabushiki Tokyo": {
        "Id": "001Hs000000000CIAQ",
        "IsDeleted": False,
        "Name": "Kabushiki Tokyo",
        "AccountNumber": None,
        "Type": None,
        "ParentId": None,
        "BillingStreet": None,
        "BillingCity": None,
        "BillingState": None,
        "BillingPostalCode": None,
        "BillingCountry": None,
        "CurrencyIsoCode": "JPY",
        "Subsidiary__c": None,
        "NetSuite_Id__c": None,
        "Metronome_Customer_Id__c": None,
        "Stripe_Customer_Id__c": None,
        "External_Id__c": None,
        "AR_Balance__c": None,
        "Days_Past_Due__c": None,
        "CreatedDate": "2026-03-02T12:00:02.000+0000",
        "LastModifiedDate": "2026-03-02T12:00:02.000+0000",
        "SystemModstamp": "2026-03-02T12:00:02.000+0000",
    },
}

GOLDEN_OPPORTUNITIES: dict[str, dict[str, Any]] = {
    "Tokyo platform": {
        "Id": "006Hs000000000DIAQ",
        "IsDeleted": False,
        "AccountId": "001Hs000000000CIAQ",
        "Name": "Tokyo platform",
        "StageName": "Closed Won",
        "IsWon": True,
        "IsClosed": True,
        "CloseDate": "2026-02-20",
        "Amount": Decimal("3190000.0"),
        "CurrencyIsoCode": "JPY",
        "Pricebook2Id": "01sHs0000000001IAA",
        "Type": None,
        "Metronome_Contract_Id__c": "c-tokyo-1",
        "External_Id__c": None,
        "CreatedDate": "2026-03-02T12:00:03.000+0000",
        "LastModifiedDate": "2026-03-02T12:00:03.000+0000",
        "SystemModstamp": "2026-03-02T12:00:03.000+0000",
        "OpportunityLineItems": {
            "totalSize": 2,
            "done": True,
            "records": [
                {
                    "Id": "00kHs000000000EIAQ",
                    "OpportunityId": "006Hs000000000DIAQ",
                    "Product2Id": "01tHs0000000002IAA",
                    "PricebookEntryId": "01uHs0000000008IAA",
                    "Name": "Tokyo platform Platform",
                    "Quantity": Decimal("12.0"),
                    "UnitPrice": Decimal("120000.0"),
                    "ListPrice": Decimal("150000.0"),
                    "TotalPrice": Decimal("1440000.0"),
                    "Discount": None,
                    "ServiceDate": "2026-04-01",
                    "Description": None,
                    "CurrencyIsoCode": "JPY",
                    "Product2": {"ProductCode": "PLT", "Name": "Platform", "Family": "Platform"},
                    "PricebookEntry": {
                        "UnitPrice": Decimal("150000.0"),
                        "Pricebook2Id": "01sHs0000000001IAA",
                    },
                    "SystemModstamp": "2026-03-02T12:00:03.000+0000",
                },
                {
                    "Id": "00kHs000000000FIAQ",
                    "OpportunityId": "006Hs000000000DIAQ",
                    "Product2Id": "01tHs0000000003IAA",
                    "PricebookEntryId": "01uHs0000000009IAA",
                    "Name": "Tokyo platform API Calls",
                    "Quantity": Decimal("50000.0"),
                    "UnitPrice": Decimal("35.0"),
                    "ListPrice": Decimal("35.0"),
                    "TotalPrice": Decimal("1750000.0"),
                    "Discount": None,
                    "ServiceDate": "2026-03-01",
                    "Description": None,
                    "CurrencyIsoCode": "JPY",
                    "Product2": {"ProductCode": "API", "Name": "API Calls", "Family": "Usage"},
                    "PricebookEntry": {"UnitPrice": Decimal("35.0"), "Pricebook2Id": "01sHs0000000001IAA"},
                    "SystemModstamp": "2026-03-02T12:00:03.000+0000",
                },
            ],
        },
    },
    "Acme renewal": {
        "Id": "006Hs000000000GIAQ",
        "IsDeleted": False,
        "AccountId": "001Hs000000000BIAQ",
        "Name": "Acme renewal",
        "StageName": "Closed Won",
        "IsWon": True,
        "IsClosed": True,
        "CloseDate": "2026-02-27",
        "Amount": Decimal("7900.0"),
        "CurrencyIsoCode": "USD",
        "Pricebook2Id": "01sHs0000000001IAA",
        "Type": None,
        "Metronome_Contract_Id__c": None,
        "External_Id__c": None,
        "CreatedDate": "2026-03-02T12:00:00.000+0000",
        "LastModifiedDate": "2026-03-02T12:00:04.000+0000",
        "SystemModstamp": "2026-03-02T12:00:04.000+0000",
        "OpportunityLineItems": {
            "totalSize": 2,
            "done": True,
            "records": [
                {
                    "Id": "00kHs000000000HIAQ",
                    "OpportunityId": "006Hs000000000GIAQ",
                    "Product2Id": "01tHs0000000002IAA",
                    "PricebookEntryId": "01uHs0000000005IAA",
                    "Name": "Acme renewal Platform",
                    "Quantity": Decimal("12.0"),
                    "UnitPrice": Decimal("800.0"),
                    "ListPrice": Decimal("1000.0"),
                    "TotalPrice": Decimal("8400.0"),
                    "Discount": Decimal("12.5"),
                    "ServiceDate": None,
                    "Description": None,
                    "CurrencyIsoCode": "USD",
                    "Product2": {"ProductCode": "PLT", "Name": "Platform", "Family": "Platform"},
                    "PricebookEntry": {"UnitPrice": Decimal("1000.0"), "Pricebook2Id": "01sHs0000000001IAA"},
                    "SystemModstamp": "2026-03-02T12:00:04.000+0000",
                },
                {
                    "Id": "00kHs000000000IIAQ",
                    "OpportunityId": "006Hs000000000GIAQ",
                    "Product2Id": "01tHs0000000004IAA",
                    "PricebookEntryId": "01uHs0000000006IAA",
                    "Name": "Acme renewal Service Credit",
                    "Quantity": Decimal("1.0"),
                    "UnitPrice": Decimal("-500.0"),
                    "ListPrice": Decimal("0.0"),
                    "TotalPrice": Decimal("-500.0"),
                    "Discount": None,
                    "ServiceDate": None,
                    "Description": "goodwill credit",
                    "CurrencyIsoCode": "USD",
                    "Product2": {"ProductCode": None, "Name": "Service Credit", "Family": "Services"},
                    "PricebookEntry": {"UnitPrice": Decimal("0.0"), "Pricebook2Id": "01sHs0000000001IAA"},
                    "SystemModstamp": "2026-03-02T12:00:04.000+0000",
                },
            ],
        },
    },
    "Acme add-on": {
        "Id": "006Hs000000000JIAQ",
        "IsDeleted": False,
        "AccountId": "001Hs000000000BIAQ",
        "Name": "Acme add-on",
        "StageName": "Closed Lost",
        "IsWon": False,
        "IsClosed": True,
        "CloseDate": "2026-01-15",
        "Amount": None,
        "CurrencyIsoCode": "USD",
        "Pricebook2Id": None,
        "Type": None,
        "Metronome_Contract_Id__c": None,
        "External_Id__c": None,
        "CreatedDate": "2026-03-02T12:00:00.000+0000",
        "LastModifiedDate": "2026-03-02T12:00:05.000+0000",
        "SystemModstamp": "2026-03-02T12:00:05.000+0000",
        "OpportunityLineItems": {"totalSize": 0, "done": True, "records": []},
    },
    "Acme expansion": {
        "Id": "006Hs000000000KIAQ",
        "IsDeleted": False,
        "AccountId": "001Hs000000000BIAQ",
        "Name": "Acme expansion",
        "StageName": "Negotiation/Review",
        "IsWon": False,
        "IsClosed": False,
        "CloseDate": "2026-02-10",
        "Amount": None,
        "CurrencyIsoCode": "USD",
        "Pricebook2Id": None,
        "Type": None,
        "Metronome_Contract_Id__c": None,
        "External_Id__c": None,
        "CreatedDate": "2026-03-02T12:00:00.000+0000",
        "LastModifiedDate": "2026-03-02T12:00:06.000+0000",
        "SystemModstamp": "2026-03-02T12:00:06.000+0000",
        "OpportunityLineItems": {"totalSize": 0, "done": True, "records": []},
    },
}

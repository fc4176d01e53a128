"""The emulated org: its records (see `store`), API allocation and the Python seeding API.

A scenario generator builds a company by calling the `create_*` methods directly, no HTTP needed;
each insert is O(1) plus the roll-up of its own parent. Times come from the injected SandboxClock,
or from `at=` to write history without moving the clock.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any

from ..clock import SandboxClock
from .errors import limit_exceeded
from .store import RecordStore

Record = dict[str, Any]
API_VERSION = "59.0"
DEFAULT_DAILY_API_REQUESTS = 100_000
DAILY_BULK_QUERY_JOBS = 10_000


class SalesforceState(RecordStore):
    """One Salesforce org: records, the session token that may call it, and its daily API allocation."""

    def __init__(
        self,
        clock: SandboxClock | None = None,
        *,
        daily_api_requests: int = DEFAULT_DAILY_API_REQUESTS,
        session_id: str | None = None,
    ) -> None:
        super().__init__(clock or SandboxClock())
        self.org_id = "00DHs0000001SBXMA2"
        self.session_id = session_id or f"{self.org_id[:15]}!{secrets.token_urlsafe(48)}"
        self.daily_api_requests = daily_api_requests
        self._api_used = 0
        self._bulk_query_jobs_used = 0
        self._usage_day: date | None = None
        self.standard_pricebook_id = self.create_pricebook("Standard Price Book", is_active=True)["Id"]
        standard = self.tables["Pricebook2"][self.standard_pricebook_id]
        self.tables["Pricebook2"][self.standard_pricebook_id] = {**standard, "IsStandard": True}

    # ---- API allocation ------------------------------------------------------------------------

    def _roll_usage_day(self) -> None:
        today = self.clock.now().date()
        if self._usage_day != today:
            self._usage_day, self._api_used, self._bulk_query_jobs_used = today, 0, 0

    def count_api_request(self) -> tuple[int, int]:
        """Count one API request; raises REQUEST_LIMIT_EXCEEDED once the day's allocation is spent."""
        with self.lock:
            self._roll_usage_day()
            if self._api_used >= self.daily_api_requests:
                raise limit_exceeded()
            self._api_used += 1
            return self._api_used, self.daily_api_requests

    def count_bulk_query_job(self) -> None:
        with self.lock:
            self._roll_usage_day()
            if self._bulk_query_jobs_used >= DAILY_BULK_QUERY_JOBS:
                raise limit_exceeded("DailyBulkV2QueryJobs Limit exceeded.")
            self._bulk_query_jobs_used += 1

    def limits(self) -> dict[str, dict[str, int]]:
        """The `/limits` resource for the allocations the emulator enforces."""
        with self.lock:
            self._roll_usage_day()
            return {
                "DailyApiRequests": {
                    "Max": self.daily_api_requests,
                    "Remaining": max(self.daily_api_requests - self._api_used, 0),
                },
                "DailyBulkV2QueryJobs": {
                    "Max": DAILY_BULK_QUERY_JOBS,
                    "Remaining": DAILY_BULK_QUERY_JOBS - self._bulk_query_jobs_used,
                },
            }

    def api_usage(self) -> tuple[int, int]:
        with self.lock:
            self._roll_usage_day()
            return self._api_used, self.daily_api_requests

    def set_daily_api_requests(self, maximum: int, *, used: int | None = None) -> None:
        with self.lock:
            self._roll_usage_day()
            self.daily_api_requests = maximum
            if used is not None:
                self._api_used = used

    # ---- seeding API ---------------------------------------------------------------------------

    def create_account(
        self, name: str, *, currency: str = "USD", at: datetime | None = None, **fields: Any
    ) -> Record:
        return self.create("Account", {"Name": name, "CurrencyIsoCode": currency, **fields}, at=at)

    def create_contact(
        self, account_id: str, last_name: str, *, at: datetime | None = None, **fields: Any
    ) -> Record:
        currency = self.tables["Account"][account_id]["CurrencyIsoCode"]
        values = {"AccountId": account_id, "LastName": last_name, "CurrencyIsoCode": currency, **fields}
        return self.create("Contact", values, at=at)

    def create_product(
        self,
        name: str,
        *,
        product_code: str | None = None,
        family: str | None = None,
        is_active: bool = True,
        at: datetime | None = None,
        **fields: Any,
    ) -> Record:
        values = {
            "Name": name,
            "ProductCode": product_code,
            "Family": family,
            "IsActive": is_active,
            **fields,
        }
        return self.create("Product2", values, at=at)

    def create_pricebook(
        self, name: str, *, is_active: bool = True, at: datetime | None = None, **fields: Any
    ) -> Record:
        return self.create("Pricebook2", {"Name": name, "IsActive": is_active, **fields}, at=at)

    def create_pricebook_entry(
        self,
        product_id: str,
        unit_price: float,
        *,
        pricebook_id: str | None = None,
        currency: str = "USD",
        is_active: bool = True,
        at: datetime | None = None,
        **fields: Any,
    ) -> Record:
        """A list price; the standard price book's entry must exist before a custom one (as in Salesforce)."""
        values = {
            "Product2Id": product_id,
            "Pricebook2Id": pricebook_id or self.standard_pricebook_id,
            "UnitPrice": unit_price,
            "CurrencyIsoCode": currency,
            "IsActive": is_active,
            **fields,
        }
        return self.create("PricebookEntry", values, at=at)

    def create_opportunity(
        self,
        account_id: str,
        name: str,
        stage_name: str,
        close_date: date,
        *,
        amount: float | None = None,
        currency: str | None = None,
        pricebook_id: str | None = None,
        at: datetime | None = None,
        **fields: Any,
    ) -> Record:
        values = {
            "AccountId": account_id,
            "Name": name,
            "StageName": stage_name,
            "CloseDate": close_date,
            "Amount": amount,
            "Pricebook2Id": pricebook_id,
            "CurrencyIsoCode": currency or self.tables["Account"][account_id]["CurrencyIsoCode"],
            **fields,
        }
        return self.create("Opportunity", values, at=at)

    def add_opportunity_line_item(
        self,
        opportunity_id: str,
        pricebook_entry_id: str,
        quantity: float,
        *,
        unit_price: float | None = None,
        service_date: date | None = None,
        at: datetime | None = None,
        **fields: Any,
    ) -> Record:
        """A line item; UnitPrice defaults to the entry's list price. Rolls up into Opportunity.Amount."""
        if unit_price is None and "TotalPrice" not in fields:
            unit_price = self.tables["PricebookEntry"][pricebook_entry_id]["UnitPrice"]
        values = {
            "OpportunityId": opportunity_id,
            "PricebookEntryId": pricebook_entry_id,
            "Quantity": quantity,
            "ServiceDate": service_date,
            **fields,
        }
        if unit_price is not None:
            values["UnitPrice"] = unit_price
        return self.create("OpportunityLineItem", values, at=at)

    def create_contract(
        self,
        account_id: str,
        start_date: date,
        term_months: int,
        *,
        status: str = "Draft",
        currency: str | None = None,
        at: datetime | None = None,
        **fields: Any,
    ) -> Record:
        values = {
            "AccountId": account_id,
            "StartDate": start_date,
            "ContractTerm": term_months,
            "Status": status,
            "CurrencyIsoCode": currency or self.tables["Account"][account_id]["CurrencyIsoCode"],
            **fields,
        }
        return self.create("Contract", values, at=at)

    def create_order(
        self,
        account_id: str,
        effective_date: date,
        *,
        status: str = "Draft",
        contract_id: str | None = None,
        pricebook_id: str | None = None,
        currency: str | None = None,
        at: datetime | None = None,
        **fields: Any,
    ) -> Record:
        values = {
            "AccountId": account_id,
            "EffectiveDate": effective_date,
            "Status": status,
            "ContractId": contract_id,
            "Pricebook2Id": pricebook_id or self.standard_pricebook_id,
            "CurrencyIsoCode": currency or self.tables["Account"][account_id]["CurrencyIsoCode"],
            **fields,
        }
        return self.create("Order", values, at=at)

    def add_order_item(
        self,
        order_id: str,
        pricebook_entry_id: str,
        quantity: float,
        *,
        unit_price: float | None = None,
        at: datetime | None = None,
        **fields: Any,
    ) -> Record:
        if unit_price is None:
            unit_price = self.tables["PricebookEntry"][pricebook_entry_id]["UnitPrice"]
        values = {
            "OrderId": order_id,
            "PricebookEntryId": pricebook_entry_id,
            "Quantity": quantity,
            "UnitPrice": unit_price,
            **fields,
        }
        return self.create("OrderItem", values, at=at)

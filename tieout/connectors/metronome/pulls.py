"""Pulls of the Metronome streams, page by page, each request through `MetronomeApi.call`.

Metronome has no "changed since" filter on any of these lists, so a full pull lists, and
`since`/`until` are applied to each record's `updated_at` here. An incremental pull of customers,
contracts or invoices first reads the account's audit log (`GET /v1/auditLogs` from `since`),
Metronome's feed of what changed: a stream with no change there costs that one call, and its
cursor moves to the moment the feed was read up to (`Page.watermark`). A full pull reads the log
once too, to learn it can, and then leaves its cursor at the pull's start, where the log takes over. With changes, customers
are read one by one by id, and contracts and invoices by listing each customer's as below,
keeping those the log names as well as those in the window (an invoice voided long after it was
issued is found by a second listing, oldest first, that stops once every named one is found). A
record the log names is stamped with its last change there when that is later than its own time.
Where the token may not read the audit log (403/404), pulls list as a full pull would:

- customers: the customer list (active, then archived), 100 a page; the billing-provider
  configurations of each customer in the window (one call each). `updated_at` = `updated_at`.
- contracts: per customer, its contracts (v2 list, archived included); each contract in the
  window with its rate card, its rates at `starting_at` and its products (`lookups.PriceBook`).
- invoices: per customer, its invoices. A full pull reads them oldest first; an incremental one
  reads newest first (`sort=date_desc`) and stops at the first page that reaches back before
  `since`, so an unchanged customer costs one call.
- usage: a full pull reads each customer's FINALIZED invoices and asks `/v1/usage` once per
  invoice period for up to a hundred of the customers billed in it (window NONE) and the metrics
  of the usage products billed on them; an incremental pull asks once, for every customer, for whole days (window DAY) whose end falls in
  [since, until), leaving out empty days.

Customers for the per-customer streams come from the customer list, active and archived.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

from tieout.connectors.base import Page, RawRecord
from tieout.connectors.metronome.api import SYSTEM, MetronomeApi
from tieout.connectors.metronome.lookups import PriceBook, Record, iso
from tieout.errors import ConnectorError, MappingError, NotFoundError, PermissionDenied
from tieout.mappings.metronome import LOOKUPS, usage_native_id
from tieout.mappings.metronome.common import timestamp

DAY = timedelta(days=1)
USAGE_CUSTOMERS_PER_QUERY = 100


def stamp(value: Any) -> datetime | None:
    """A record's timestamp, or None when it cannot be read (its mapper will say why)."""
    try:
        return timestamp(value, "updated_at")
    except MappingError:
        return None


def in_window(moment: datetime | None, since: datetime | None, until: datetime | None) -> bool:
    if moment is None:
        return True  # unreadable: pass it on so the mapping failure is filed, not hidden
    return (since is None or moment >= since) and (until is None or moment < until)


def latest(moment: datetime | None, changed_at: datetime | None) -> datetime | None:
    """A record's own time, or its last change in the audit log when that is later."""
    if moment is None or changed_at is None:
        return moment if changed_at is None else changed_at
    return max(moment, changed_at)


def contract_updated_at(contract: Record) -> datetime | None:
    created, archived = stamp(contract.get("created_at")), stamp(contract.get("archived_at"))
    if created is None:
        return None
    return max(created, archived) if archived is not None else created


def _midnight_after(moment: datetime) -> datetime:
    """The first midnight (UTC) at or after `moment`."""
    floor = datetime.combine(moment.astimezone(UTC).date(), time(0), tzinfo=UTC)
    return floor if floor == moment else floor + DAY


class Puller:
    """One pull of one stream: the API, the page size and the pull's price-book cache."""

    def __init__(self, api: MetronomeApi, page_size: int, stream: str, clock: Callable[[], datetime]) -> None:
        self.api = api
        self.sdk = api.sdk
        self.page_size = page_size
        self.stream = stream
        self.clock = clock
        self.book = PriceBook(api, page_size)

    def record(self, source_id: str, updated_at: datetime | None, payload: Record) -> RawRecord:
        return RawRecord(SYSTEM, self.stream, source_id, updated_at, payload)

    def customer_pages(self) -> Iterator[list[Record]]:
        """Every customer, active then archived, one list page at a time."""
        for archived in (False, True):
            cursor: str | None = None
            while True:
                params: dict[str, Any] = {"limit": self.page_size, "only_archived": archived}
                if cursor:
                    params["next_page"] = cursor
                body = self.api.call(
                    "GET /v1/customers", self.sdk.v1.customers.with_raw_response.list, **params
                )
                yield list(body.get("data") or [])
                cursor = body.get("next_page")
                if not cursor:
                    break

    def customer_ids(self) -> Iterator[str]:
        for page in self.customer_pages():
            for customer in page:
                yield str(customer["id"])

    def changes(
        self, since: datetime | None, until: datetime | None
    ) -> dict[str, dict[str, datetime]] | None:
        """Ids the audit log says changed since `since`, with their last change, by resource type
        (None: the log cannot be read, list instead). For a full pull, from `until`: whether it can."""
        changed: dict[str, dict[str, datetime]] = {}
        start = since if since is not None else (until or self.clock())
        params: dict[str, Any] = {"starting_on": iso(start), "limit": 100}
        try:
            while True:
                body = self.api.call(
                    "GET /v1/auditLogs", self.sdk.v1.audit_logs.with_raw_response.list, **params
                )
                entries = body.get("data") or []
                for entry in entries:
                    kind, resource_id = entry.get("resource_type"), entry.get("resource_id")
                    moment = stamp(entry.get("timestamp"))
                    if isinstance(kind, str) and isinstance(resource_id, str) and moment is not None:
                        seen = changed.setdefault(kind, {})
                        seen[resource_id] = max(moment, seen.get(resource_id, moment))
                # The log is a stream: an empty page with a cursor means nothing newer yet.
                if not body.get("next_page") or not entries:
                    return changed
                params = {"next_page": body["next_page"], "limit": 100}
        except (NotFoundError, PermissionDenied):
            return None

    def read_up_to(self, until: datetime | None) -> Page:
        """The empty page that moves the cursor to where the audit log was read from."""
        return Page([], watermark=until or self.clock())

    def customers(self, since: datetime | None, until: datetime | None) -> Iterator[Page]:
        changed = self.changes(since, until)
        if changed is not None and since is not None:
            found = (self.one(customer_id, None) for customer_id in sorted(changed.get("customer", ())))
            yield Page([record for record in found if record is not None], watermark=until or self.clock())
            return
        yield from self.listed_customers(since, until)
        if changed is not None:
            yield self.read_up_to(until)

    def listed_customers(self, since: datetime | None, until: datetime | None) -> Iterator[Page]:
        for page in self.customer_pages():
            records = [
                self.customer_record(customer)
                for customer in page
                if in_window(stamp(customer.get("updated_at")), since, until)
            ]
            if records:
                yield Page(records)

    def customer_record(self, customer: Record) -> RawRecord:
        """A customer with its billing-provider configurations (one call)."""
        customer_id = str(customer["id"])
        configs = self.api.call(
            "POST /v1/getCustomerBillingProviderConfigurations",
            self.sdk.v1.customers.with_raw_response.retrieve_billing_configurations,
            customer_id=customer_id,
        )
        payload = {**customer, LOOKUPS: {"billing_provider_configurations": configs.get("data") or []}}
        return self.record(customer_id, stamp(customer.get("updated_at")), payload)

    def fetch(self, record_ids: Sequence[str], known: Mapping[str, Mapping[str, Any]]) -> Page:
        """These records by id. Invoices and contracts are addressed through their customer, read
        from the payload stored before; one never stored is looked for in every customer's list."""
        if self.stream == "usage":
            raise ConnectorError(
                "Metronome usage rows are aggregates with no id to fetch by; resync a window instead",
                system=SYSTEM,
            )
        records: list[RawRecord] = []
        wanted = list(dict.fromkeys(record_ids))
        for record_id in list(wanted):
            parent = (known.get(record_id) or {}).get("customer_id")
            if self.stream != "customers" and not isinstance(parent, str):
                continue
            record = self.one(record_id, parent)
            wanted.remove(record_id)
            if record is not None:
                records.append(record)
        if wanted:
            unknown = set(wanted)
            listing = self.contracts if self.stream == "contracts" else self.invoices
            for page in listing(None, None):
                records += [record for record in page.records if record.source_id in unknown]
                unknown -= {record.source_id for record in page.records}
                if not unknown:
                    break
        return Page(records)

    def one(self, record_id: str, customer_id: str | None) -> RawRecord | None:
        try:
            if self.stream == "customers":
                body = self.api.call(
                    "GET /v1/customers/{id}",
                    self.sdk.v1.customers.with_raw_response.retrieve,
                    customer_id=record_id,
                )
                return self.customer_record(body["data"])
            if self.stream == "contracts":
                body = self.api.call(
                    "POST /v2/contracts/get",
                    self.sdk.v2.contracts.with_raw_response.retrieve,
                    customer_id=customer_id,
                    contract_id=record_id,
                )
                contract = body["data"]
                return self.record(record_id, contract_updated_at(contract), self.with_price_book(contract))
            body = self.api.call(
                "GET /v1/customers/{id}/invoices/{id}",
                self.sdk.v1.customers.invoices.with_raw_response.retrieve,
                customer_id=customer_id,
                invoice_id=record_id,
            )
        except NotFoundError:
            return None
        invoice = body["data"]
        return self.record(record_id, stamp(invoice.get("issued_at")), invoice)

    def contracts(self, since: datetime | None, until: datetime | None) -> Iterator[Page]:
        changed = self.changes(since, until)
        named = (changed or {}).get("contract", {}) if since is not None else {}
        if changed is not None and since is not None and not named:
            yield self.read_up_to(until)
            return
        for customer_id in self.customer_ids():
            records = []
            cursor: str | None = None
            while True:
                params: dict[str, Any] = {"customer_id": customer_id, "include_archived": True}
                if cursor:
                    params["cursor"] = cursor
                body = self.api.call(
                    "POST /v2/contracts/list", self.sdk.v2.contracts.with_raw_response.list, **params
                )
                for contract in body.get("data") or []:
                    contract_id = str(contract["id"])
                    updated_at = latest(contract_updated_at(contract), named.get(contract_id))
                    if in_window(updated_at, since, until) or contract_id in named:
                        records.append(self.record(contract_id, updated_at, self.with_price_book(contract)))
                cursor = body.get("cursor")
                if not cursor:
                    break
            if records:
                yield Page(records)
        if changed is not None:
            yield self.read_up_to(until)

    def with_price_book(self, contract: Record) -> Record:
        rate_card_id = contract.get("rate_card_id")
        starting_at = stamp(contract.get("starting_at"))
        card = self.book.rate_card(rate_card_id) if isinstance(rate_card_id, str) else None
        rates = (
            self.book.rates_at(rate_card_id, starting_at)
            if card and starting_at and isinstance(rate_card_id, str)
            else []
        )
        referenced = {row.get("product_id") for row in rates}
        for group in ("overrides", "commits"):
            referenced |= {(item.get("product") or {}).get("id") for item in contract.get(group) or []}
        catalog = self.book.products()
        products = {pid: catalog[pid] for pid in referenced if isinstance(pid, str) and pid in catalog}
        return {**contract, LOOKUPS: {"rate_card": card, "rates": rates, "products": products}}

    def invoice_pages(
        self, customer_id: str, *, newest_first: bool, status: str | None = None
    ) -> Iterator[list[Record]]:
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {
                "customer_id": customer_id,
                "limit": self.page_size,
                "sort": "date_desc" if newest_first else "date_asc",
            }
            if status:
                params["status"] = status
            if cursor:
                params["next_page"] = cursor
            body = self.api.call(
                "GET /v1/customers/{id}/invoices",
                self.sdk.v1.customers.invoices.with_raw_response.list,
                **params,
            )
            yield list(body.get("data") or [])
            cursor = body.get("next_page")
            if not cursor:
                return

    def invoices(self, since: datetime | None, until: datetime | None) -> Iterator[Page]:
        changed = self.changes(since, until)
        named = dict((changed or {}).get("invoice", {})) if since is not None else {}
        if changed is not None and since is not None and not named:
            yield self.read_up_to(until)
            return
        customers = list(self.customer_ids())
        unfound = set(named)
        for customer_id in customers:
            for page in self.invoice_pages(customer_id, newest_first=since is not None):
                records = [
                    self.invoice_record(invoice, named)
                    for invoice in page
                    if in_window(stamp(invoice.get("issued_at")), since, until) or str(invoice["id"]) in named
                ]
                unfound -= {record.source_id for record in records}
                if records:
                    yield Page(records)
                oldest = stamp(page[-1].get("issued_at")) if page else None
                if since is not None and oldest is not None and oldest < since:
                    break
        if unfound:
            yield from self.named_invoices(customers, {key: named[key] for key in unfound})
        if changed is not None:
            yield self.read_up_to(until)

    def invoice_record(self, invoice: Record, named: Mapping[str, datetime]) -> RawRecord:
        invoice_id = str(invoice["id"])
        return self.record(
            invoice_id, latest(stamp(invoice.get("issued_at")), named.get(invoice_id)), invoice
        )

    def named_invoices(self, customers: list[str], named: dict[str, datetime]) -> Iterator[Page]:
        """Invoices the audit log names that were issued before the window (voided since, say)."""
        for customer_id in customers:
            for page in self.invoice_pages(customer_id, newest_first=False):
                records = [
                    self.invoice_record(invoice, named) for invoice in page if str(invoice["id"]) in named
                ]
                for record in records:
                    del named[record.source_id]
                if records:
                    yield Page(records)
                if not named:
                    return

    def usage(self, since: datetime | None, until: datetime | None) -> Iterator[Page]:
        if since is None:
            yield from self.usage_by_invoice_period(until)
        else:
            yield from self.usage_by_day(since, until)

    def usage_rows(self, **params: Any) -> Iterator[list[Record]]:
        cursor: str | None = None
        while True:
            extra: dict[str, Any] = {"next_page": cursor} if cursor else {}
            body = self.api.call(
                "POST /v1/usage", self.sdk.v1.usage.with_raw_response.list, **params, **extra
            )
            yield list(body.get("data") or [])
            cursor = body.get("next_page")
            if not cursor:
                return

    def usage_record(self, row: Record) -> RawRecord:
        products = self.book.products_of_metric(str(row.get("billable_metric_id")))
        return self.record(
            usage_native_id(row), stamp(row.get("end_timestamp")), {**row, LOOKUPS: {"products": products}}
        )

    def usage_by_invoice_period(self, until: datetime | None) -> Iterator[Page]:
        # Invoice periods are shared by many customers (monthly billing): one usage query per
        # period covers a hundred customers at once, instead of one query per customer and period.
        periods: dict[tuple[str, str], tuple[set[str], set[str]]] = {}
        for customer_id in self.customer_ids():
            for page in self.invoice_pages(customer_id, newest_first=False, status="FINALIZED"):
                for invoice in page:
                    start, end = stamp(invoice.get("start_timestamp")), stamp(invoice.get("end_timestamp"))
                    if start is None or end is None or end <= start or not in_window(end, None, until):
                        continue
                    metrics = {
                        metric
                        for line in invoice.get("line_items") or []
                        if isinstance(line.get("product_id"), str)
                        and (metric := self.book.metric_of_product(line["product_id"])) is not None
                    }
                    if metrics:
                        customers, period_metrics = periods.setdefault((iso(start), iso(end)), (set(), set()))
                        customers.add(customer_id)
                        period_metrics.update(metrics)
        for (start_at, end_at), (customers, metrics) in sorted(periods.items()):
            ordered = sorted(customers)
            for offset in range(0, len(ordered), USAGE_CUSTOMERS_PER_QUERY):
                records = []
                for rows in self.usage_rows(
                    starting_on=start_at,
                    ending_before=end_at,
                    window_size="NONE",
                    customer_ids=ordered[offset : offset + USAGE_CUSTOMERS_PER_QUERY],
                    billable_metrics=[{"id": metric} for metric in sorted(metrics)],
                ):
                    records += [self.usage_record(row) for row in rows if row.get("value") is not None]
                if records:
                    yield Page(records)

    def usage_by_day(self, since: datetime, until: datetime | None) -> Iterator[Page]:
        first = _midnight_after(since - DAY)
        end = until or self.clock()
        last = _midnight_after(end) - DAY
        if last <= first:
            return
        for rows in self.usage_rows(starting_on=iso(first), ending_before=iso(last), window_size="DAY"):
            records = [
                self.usage_record(row)
                for row in rows
                if row.get("value") not in (None, 0)
                and in_window(stamp(row.get("end_timestamp")), since, until)
            ]
            if records:
                yield Page(records)

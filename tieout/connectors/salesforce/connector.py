"""The Salesforce connector: Accounts and closed-won Opportunities in, Account writes out.

Pulls are incremental on SystemModstamp through `queryAll` (so deleted records come back, with
`IsDeleted`), ordered `SystemModstamp, Id` and paged by nextRecordsUrl; `since` is inclusive and
records sharing the cursor's timestamp are read again, so none is ever skipped across pages or
runs. A backfill (no `since`) larger than `bulk_threshold` rows runs as a Bulk API 2.0 job and is
still yielded oldest-first. Opportunities come 2,000 a page and get their line items from
`WHERE OpportunityId IN (...)` queries naming as many ids as a request URI carries (`lines`),
embedded as `OpportunityLineItems`. Every opportunity changed in
the window comes through, won or not, so a deal that is reopened, lost or deleted after it was won
reaches the store as a changed or deleted contract.

Pushes go to `accounts`: upsert on the external-id field or update by Id, one at a time or 200 a
call through sObject Collections. Salesforce keeps no idempotency keys, so the connector keeps the
keys it has pushed in this process: the same key and payload again answers "unchanged" without a
call, the same key with another payload is a ConflictError. Across processes the push ledger holds
the keys, and the external-id upsert makes a repeated write land on the same record.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from tieout import jsonutil
from tieout.connectors.base import (
    CallBudget,
    Connector,
    ConnectorSettings,
    Page,
    PushResult,
    RawRecord,
    StreamSpec,
)
from tieout.errors import ConflictError, ConnectorError, MalformedResponse, MappingError, TieoutError
from tieout.mappings.salesforce import map_account, map_opportunity
from tieout.mappings.salesforce.values import timestamp

from .bulk import BulkQuery
from .client import SalesforceClient, without_attributes
from .lines import LineItems, id_chunks, short_ids
from .settings import SalesforceSettings
from .soql import CURSOR_FIELD, SObjectQuery, condition, window
from .writes import AccountWriter, Write, parse_write

Record = dict[str, Any]
REMEMBERED_PUSHES = 10_000

ACCOUNT_FIELDS = (
    "Id", "IsDeleted", "Name", "AccountNumber", "Type", "ParentId",
    "BillingStreet", "BillingCity", "BillingState", "BillingPostalCode", "BillingCountry",
    "CurrencyIsoCode", "Subsidiary__c", "NetSuite_Id__c", "Metronome_Customer_Id__c", "Stripe_Customer_Id__c",
    "External_Id__c", "AR_Balance__c", "Days_Past_Due__c", "CreatedDate", "LastModifiedDate", "SystemModstamp",
)  # fmt: skip
OPPORTUNITY_FIELDS = (
    "Id", "IsDeleted", "AccountId", "Name", "StageName", "IsWon", "IsClosed", "CloseDate", "Amount",
    "CurrencyIsoCode", "Pricebook2Id", "Type", "Metronome_Contract_Id__c", "External_Id__c",
    "CreatedDate", "LastModifiedDate", "SystemModstamp",
)  # fmt: skip
LINE_ITEM_FIELDS = (
    "Id", "OpportunityId", "Product2Id", "PricebookEntryId", "Name", "Quantity", "UnitPrice", "ListPrice",
    "TotalPrice", "Discount", "ServiceDate", "Description", "CurrencyIsoCode", "Product2.ProductCode",
    "Product2.Name", "Product2.Family", "PricebookEntry.UnitPrice", "PricebookEntry.Pricebook2Id", "SystemModstamp",
)  # fmt: skip


class SalesforceConnector(Connector):
    name = "salesforce"
    title = "Salesforce"
    settings_model = SalesforceSettings
    streams = (
        StreamSpec(
            name="accounts",
            kind="customer",
            mapper=map_account,
            endpoint="Account",
            primary_key="Id",
            cursor_field=CURSOR_FIELD,
            page_size=2000,
            ordered=True,
            pushable=True,
        ),
        StreamSpec(
            name="opportunities",
            kind="contract",
            mapper=map_opportunity,
            endpoint="Opportunity",
            primary_key="Id",
            cursor_field=CURSOR_FIELD,
            page_size=2000,
            ordered=True,
        ),
    )
    queries: ClassVar[dict[str, SObjectQuery]] = {
        "accounts": SObjectQuery("Account", ACCOUNT_FIELDS),
        "opportunities": SObjectQuery("Opportunity", OPPORTUNITY_FIELDS),
    }
    line_items: ClassVar[SObjectQuery] = SObjectQuery("OpportunityLineItem", LINE_ITEM_FIELDS)

    def __init__(self, settings: ConnectorSettings, *, budget: CallBudget | None = None) -> None:
        super().__init__(settings, budget=budget)
        if not isinstance(settings, SalesforceSettings):
            raise ConnectorError("the Salesforce connector needs SalesforceSettings", system=self.name)
        self.config = settings
        self.client = SalesforceClient(settings, self.budget)
        self._pushed: OrderedDict[str, tuple[str, PushResult]] = OrderedDict()

    def check(self) -> None:
        """GET /limits: refused credentials raise AuthenticationError; the answer primes the budget."""
        self.client.rest("GET", "limits")

    # ---- pull -----------------------------------------------------------------------------------

    def _query(self, stream: str) -> SObjectQuery:
        return self.queries[stream].with_fields(self.config.extra_fields.get(stream, ()))

    def pull(
        self, stream: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Page]:
        spec = self.stream(stream)
        query = self._query(stream)
        filters = [condition(name, "=", value) for name, value in self.config.filters.get(stream, {}).items()]
        conditions = [*window(since, until), *filters]
        page_size = self.config.page_size or spec.page_size
        threshold = self.config.bulk_threshold
        batches: Iterator[list[Record]]
        if (
            since is None
            and threshold is not None
            and self.client.count(query.count(conditions), include_deleted=True) > threshold
        ):
            batches = BulkQuery(self.client, query.object_name, query.select(conditions, order_by=())).pages(
                page_size
            )
        else:
            batches = self._rest_pages(query.select(conditions), include_deleted=True, batch_size=page_size)
        pages: Iterator[list[RawRecord]] = (
            records for batch in batches if (records := self._in_window(stream, batch, since, until))
        )
        if stream == "opportunities":
            pages = LineItems(self.client, self.line_items).attach(pages)
        for records in pages:
            yield Page(records)

    def _in_window(
        self, stream: str, batch: list[Record], since: datetime | None, until: datetime | None
    ) -> list[RawRecord]:
        records = [self._raw(stream, without_attributes(item)) for item in batch]
        return [
            record
            for record in records
            if record.updated_at is not None
            and (since is None or record.updated_at >= since)
            and (until is None or record.updated_at < until)
        ]

    def fetch(
        self,
        stream: str,
        record_ids: Sequence[str],
        *,
        known: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Page:
        self.stream(stream)
        query = self._query(stream)
        records: list[RawRecord] = []

        def soql(ids: Sequence[str]) -> str:
            return query.select([condition("Id", "IN", short_ids(ids))])

        def length(text: str) -> int:
            return self.client.query_uri_length(text, include_deleted=True)

        for chunk in id_chunks(record_ids, soql, length):
            for batch in self._rest_pages(soql(chunk), include_deleted=True):
                records += [self._raw(stream, without_attributes(item)) for item in batch]
        if stream == "opportunities":
            records = [
                record
                for page in LineItems(self.client, self.line_items).attach([records])
                for record in page
            ]
        return Page(records)

    def _rest_pages(
        self, soql: str, *, include_deleted: bool, batch_size: int | None = None
    ) -> Iterator[list[Record]]:
        body = self.client.query(soql, include_deleted=include_deleted, batch_size=batch_size)
        while True:
            yield body["records"]
            if body["done"]:
                return
            body = self.client.query_more(body["nextRecordsUrl"])

    def _raw(self, stream: str, item: Any) -> RawRecord:
        if not isinstance(item, dict) or not isinstance(item.get("Id"), str):
            raise MalformedResponse(f"a {stream} record without an Id: {str(item)[:200]}", system=self.name)
        try:
            updated_at = timestamp(item.get(CURSOR_FIELD), CURSOR_FIELD)
        except MappingError as exc:
            raise MalformedResponse(f"{stream} record {item['Id']}: {exc}", system=self.name) from None
        return RawRecord(
            self.name, stream, item["Id"], updated_at, item, deleted=item.get("IsDeleted") is True
        )

    # ---- push -----------------------------------------------------------------------------------

    def _writer(self, stream: str) -> AccountWriter:
        spec = self.stream(stream)
        if not spec.pushable:
            raise ConnectorError(f"{self.name} does not accept pushes to {stream!r}", system=self.name)
        return AccountWriter(self.client, stream, spec.endpoint)

    def _replayed(self, idempotency_key: str, payload: Mapping[str, Any]) -> PushResult | None:
        seen = self._pushed.get(idempotency_key)
        if seen is None:
            return None
        digest, result = seen
        if digest != jsonutil.content_hash(payload):
            raise ConflictError(
                f"idempotency key {idempotency_key!r} was already used for a different payload",
                system=self.name,
            )
        return PushResult(result.target_id, "unchanged")

    def _remember(self, idempotency_key: str, payload: Mapping[str, Any], result: PushResult) -> None:
        self._pushed[idempotency_key] = (jsonutil.content_hash(payload), result)
        while len(self._pushed) > REMEMBERED_PUSHES:
            self._pushed.popitem(last=False)

    def push(self, stream: str, payload: dict[str, Any], *, idempotency_key: str) -> PushResult:
        writer = self._writer(stream)
        write = parse_write(payload, upsert_field=self.config.upsert_field, stream=stream)
        replayed = self._replayed(idempotency_key, payload)
        if replayed is not None:
            return replayed
        result = writer.one(write)
        self._remember(idempotency_key, payload, result)
        return result

    def push_batch(
        self, stream: str, items: list[tuple[dict[str, Any], str]]
    ) -> list[PushResult | Exception]:
        """Many pushes through sObject Collections (200 a call); each failure is returned in its place."""
        writer = self._writer(stream)
        results: dict[int, PushResult | Exception] = {}
        pending: list[tuple[int, Write]] = []
        digests: dict[str, str] = {}
        for index, (payload, key) in enumerate(items):
            try:
                write = parse_write(payload, upsert_field=self.config.upsert_field, stream=stream)
                replayed = self._replayed(key, payload)
                if digests.setdefault(key, jsonutil.content_hash(payload)) != jsonutil.content_hash(payload):
                    raise ConflictError(
                        f"idempotency key {key!r} appears twice with different payloads", system=self.name
                    )
            except TieoutError as exc:
                results[index] = exc
                continue
            if replayed is not None:
                results[index] = replayed
            else:
                pending.append((index, write))
        answers = writer.many([write for _, write in pending])
        for (index, _), answer in zip(pending, answers, strict=True):
            results[index] = answer
            if isinstance(answer, PushResult):
                payload, key = items[index]
                self._remember(key, payload, answer)
        return [results[index] for index in range(len(items))]

    def close(self) -> None:
        self.client.close()

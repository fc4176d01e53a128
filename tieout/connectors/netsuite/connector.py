"""The NetSuite connector: SuiteQL pulls of customers, AR documents, cash, journals and AR balances; upserts by eid.

Transport is httpx through `HttpSession` (classification, retries honouring Retry-After, call
budget, redaction), under the account's shared concurrency limiter (`limiter.py`), with an OAuth
2.0 bearer token (`auth.py`) refreshed before it expires and once after a 401. Every stream pulls
with SuiteQL (`POST /services/rest/query/v1/suiteql`, `Prefer: transient`): a header query per page
ordered by `(lastmodifieddate, id)` and paged by key set, and per page one query for each kind of
detail the records need (lines, document links). Pushes upsert with `PUT
/record/v1/{type}/eid:{externalId}` (`push.py`).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx

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
from tieout.connectors.http import HttpSession, tls_verify
from tieout.connectors.netsuite import push as upsert
from tieout.connectors.netsuite import queries
from tieout.connectors.netsuite.auth import TokenSource
from tieout.connectors.netsuite.limiter import LimitedTransport, limiter_for
from tieout.connectors.netsuite.paging import fitting_page_size
from tieout.connectors.netsuite.settings import NetSuiteSettings
from tieout.connectors.netsuite.suiteql import Query, id_list, local_text, parse_local, timestamp
from tieout.errors import (
    AuthenticationError,
    ConflictError,
    ConnectorError,
    MalformedResponse,
    NotFoundError,
    PushRejected,
)
from tieout.mappings import netsuite as mappings

SYSTEM = "netsuite"
SUITEQL_PATH = "/services/rest/query/v1/suiteql"
RECORD_PATH = "/services/rest/record/v1"
IDS_PER_FETCH = 1000
"""SuiteQL takes at most 1,000 values in one IN list."""


def error_message(body: Any) -> str | None:
    """NetSuite's `o:errorDetails` (code, detail, path) or an OAuth error, as one line."""
    if not isinstance(body, dict):
        return None
    details = body.get("o:errorDetails")
    if isinstance(details, list) and details and isinstance(details[0], dict):
        first = details[0]
        where = first.get("o:errorPath") or first.get("o:errorQueryParam")
        text = f"{first.get('o:errorCode', 'ERROR')}: {first.get('detail', '')}"
        return f"{text} (at {where})" if where else text
    if isinstance(body.get("error"), str):
        return f"{body['error']}: {body.get('error_description', '')}"
    restlet_error = body.get("error")
    if isinstance(restlet_error, dict):  # a RESTlet's own error shape
        return f"{restlet_error.get('code', 'ERROR')}: {restlet_error.get('message', '')}"
    return None


def _spec(name: str, kind: str, mapper: Any, *, pushable: bool = True) -> StreamSpec:
    return StreamSpec(
        name=name,
        kind=kind,
        mapper=mapper,
        endpoint=SUITEQL_PATH,
        primary_key="id",
        cursor_field="lastmodifieddate",
        page_size=1000,
        ordered=True,
        pushable=pushable,
    )


class NetSuiteConnector(Connector):
    name: ClassVar[str] = SYSTEM
    title: ClassVar[str] = "NetSuite (SuiteTalk REST record service and SuiteQL)"
    settings_model: ClassVar[type[ConnectorSettings]] = NetSuiteSettings
    streams: ClassVar[tuple[StreamSpec, ...]] = (
        _spec("customers", "customer", mappings.map_customer),
        _spec("invoices", "invoice", mappings.map_invoice),
        _spec("payments", "payment", mappings.map_payment),
        _spec("credit_memos", "credit_note", mappings.map_credit_memo),
        _spec("refunds", "refund", mappings.map_refund),
        _spec("deposits", "payout", mappings.map_deposit),
        _spec("journal_entries", "journal_entry", mappings.map_journal_entry),
        StreamSpec(
            name="ar_balances",
            kind="ledger_balance",
            mapper=mappings.map_ar_balance,
            endpoint=SUITEQL_PATH,
            primary_key="id",
            cursor_field=None,
            page_size=1000,
            ordered=False,
        ),
    )

    def __init__(
        self,
        settings: ConnectorSettings,
        *,
        budget: CallBudget | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(settings, budget=budget)
        if not isinstance(settings, NetSuiteSettings):
            raise ConnectorError("NetSuiteConnector needs NetSuiteSettings", system=SYSTEM)
        self.config = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        try:
            self.limiter = limiter_for(settings.account_id, settings.concurrency_limit)
        except ValueError as exc:
            raise ConnectorError(str(exc), system=SYSTEM) from None
        try:
            verify = tls_verify(settings.ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise ConnectorError(
                f"cannot read ca_bundle {settings.ca_bundle}: {exc}", system=SYSTEM
            ) from None
        inner = transport or httpx.HTTPTransport(verify=verify)
        secrets = [
            secret.get_secret_value()
            for secret in (settings.client_secret, settings.private_key_pem)
            if secret is not None
        ]
        self.session = HttpSession(
            SYSTEM,
            settings.base_url,
            secrets=secrets,
            budget=self.budget,
            timeout_seconds=settings.timeout_seconds,
            max_attempts=settings.max_attempts,
            backoff_base_seconds=settings.backoff_base_seconds,
            backoff_max_seconds=settings.backoff_max_seconds,
            transport=LimitedTransport(inner, self.limiter, wait_seconds=settings.timeout_seconds * 4),
            message_from_body=error_message,
        )
        self.tokens = TokenSource(settings, self.session, self.clock)

    # -- transport ------------------------------------------------------------------------------

    def _send(
        self, method: str, url: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """One request with a bearer token; a 401 gets one new token and one more try."""
        token = self.tokens.token()
        try:
            return self.session.request(
                method, url, headers={**(headers or {}), "Authorization": f"Bearer {token}"}, **kwargs
            )
        except AuthenticationError:
            fresh = self.tokens.refresh(token)
            return self.session.request(
                method, url, headers={**(headers or {}), "Authorization": f"Bearer {fresh}"}, **kwargs
            )

    def _json(self, method: str, url: str, **kwargs: Any) -> Any:
        response = self._send(method, url, **kwargs)
        try:
            return jsonutil.loads(response.content)
        except ValueError:
            raise MalformedResponse(
                f"{method} {url} answered {response.status_code} with a body that is not JSON", system=SYSTEM
            ) from None

    def suiteql(self, sql: str, *, limit: int) -> dict[str, Any]:
        body = self._json(
            "POST",
            SUITEQL_PATH,
            params={"limit": limit, "offset": 0},
            json={"q": sql},
            headers={"Prefer": "transient"},
            idempotent=True,
        )
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise MalformedResponse("SuiteQL answered without an items list", system=SYSTEM)
        if not all(isinstance(item, dict) for item in body["items"]):
            raise MalformedResponse("SuiteQL answered items that are not objects", system=SYSTEM)
        return body

    def _pages(self, query: Query, page_size: int | Callable[[], int]) -> Iterator[list[dict[str, Any]]]:
        """Rows of `query`, one list per SuiteQL page, by key set (`page_size` may change between pages)."""
        after: tuple[str, ...] | None = None
        while True:
            body = self.suiteql(query.sql(after), limit=page_size() if callable(page_size) else page_size)
            rows = [{k: v for k, v in item.items() if k != "links"} for item in body["items"]]
            if not rows:
                return
            try:
                after = query.position(rows[-1])
            except ValueError as exc:
                raise MalformedResponse(f"SuiteQL page cannot be continued: {exc}", system=SYSTEM) from None
            yield rows
            if not body.get("hasMore"):
                return

    def _all(self, query: Query) -> list[dict[str, Any]]:
        return [row for rows in self._pages(query, 1000) for row in rows]

    # -- connector protocol ---------------------------------------------------------------------

    def check(self) -> None:
        self.suiteql("SELECT c.id AS id FROM currency c ORDER BY c.id", limit=1)

    def pull(
        self, stream: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Page]:
        self.stream(stream)
        if stream == "ar_balances":
            yield from self._pull_balances(until)
            return
        query = self._header_query(stream)
        zone = self.config.zone
        if since is not None:
            query = query.where_also(
                f"t.lastmodifieddate >= {timestamp(local_text(since, zone, round_up=True))}"
            )
        if until is not None:
            query = query.where_also(
                f"t.lastmodifieddate < {timestamp(local_text(until, zone, round_up=True))}"
            )
        yield from self._header_pages(stream, query)

    @staticmethod
    def _header_query(stream: str) -> Query:
        if stream == "customers":
            return queries.CUSTOMERS
        return queries.transactions(queries.TRANSACTION_TYPES[stream])

    def _header_pages(self, stream: str, query: Query) -> Iterator[Page]:
        # Read by `_pages` before each request: the size the last page's details call for.
        size = [self.config.page_size]
        for rows in self._pages(query, lambda: size[0]):
            records = []
            for row in rows:
                updated_at = self._modified(row)
                records.append(RawRecord(SYSTEM, stream, str(row["id"]), updated_at, row))
            size[0] = fitting_page_size(len(rows), self._attach(stream, rows), self.config.page_size)
            yield Page(records)

    def fetch(
        self,
        stream: str,
        record_ids: Sequence[str],
        *,
        known: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Page:
        self.stream(stream)
        if stream == "ar_balances":
            raise ConnectorError(
                "AR balances are computed as of a day, not fetched by id; resync the stream", system=SYSTEM
            )
        records: list[RawRecord] = []
        for start in range(0, len(record_ids), IDS_PER_FETCH):
            try:
                ids = id_list(record_ids[start : start + IDS_PER_FETCH])
            except ValueError as exc:
                raise ConnectorError(f"NetSuite {stream} ids: {exc}", system=SYSTEM) from None
            query = self._header_query(stream).where_also(f"t.id IN {ids}")
            records += [record for page in self._header_pages(stream, query) for record in page.records]
        return Page(records)

    def _modified(self, row: dict[str, Any]) -> datetime:
        text = row.pop(queries.MODIFIED, None)
        try:
            moment = parse_local(str(text), self.config.zone).astimezone(UTC)
        except ValueError:
            raise MalformedResponse(
                f"row {row.get('id')} has no readable lastmodifieddate", system=SYSTEM
            ) from None
        row["lastmodifieddate"] = moment.isoformat()
        return moment

    def _attach(self, stream: str, rows: list[dict[str, Any]]) -> dict[str, int]:
        """Add each page's details with one query per kind of detail (paged when it passes 1,000 rows);
        how many rows of each kind there were."""
        ids = [str(row["id"]) for row in rows]
        details: dict[str, Query] = {}
        if stream in ("invoices", "credit_memos"):
            details["lines"] = queries.item_lines(ids)
        if stream == "deposits":
            details["lines"] = queries.deposit_lines(ids)
        if stream == "journal_entries":
            details["lines"] = queries.journal_lines(ids)
        if stream in ("credit_memos", "payments", "refunds", "deposits"):
            details["applications"] = queries.applied_to(ids)
        if stream == "payments":
            details["deposits"] = queries.deposited_in(ids)
        counts: dict[str, int] = {}
        for name, query in details.items():
            owner = (
                "previousdoc"
                if name == "deposits"
                else ("nextdoc" if name == "applications" else "transaction")
            )
            grouped: dict[str, list[dict[str, Any]]] = {}
            found = self._all(query)
            for detail in found:
                grouped.setdefault(str(detail.get(owner)), []).append(detail)
            for row in rows:
                row[name] = grouped.get(str(row["id"]), [])
            counts[name] = len(found)
        return counts

    def _pull_balances(self, until: datetime | None) -> Iterator[Page]:
        as_of_moment = (until or self.clock()).astimezone(UTC)
        local = as_of_moment.astimezone(self.config.zone)
        as_of = (local - timedelta(microseconds=1)).date() if until is not None else local.date()
        query = queries.ar_balances((as_of + timedelta(days=1)).isoformat())
        for rows in self._pages(query, self.config.page_size):
            records = []
            for row in rows:
                row["asof"] = as_of.isoformat()
                row["lastmodifieddate"] = as_of_moment.isoformat()
                row["id"] = mappings.ar_balance_id(
                    str(row.get("acctnumber") or row.get("account")),
                    str(row.get("subsidiary")),
                    str(row.get("currencycode")),
                    as_of.isoformat(),
                )
                records.append(RawRecord(SYSTEM, "ar_balances", row["id"], as_of_moment, row))
            yield Page(records)

    def push(self, stream: str, payload: dict[str, Any], *, idempotency_key: str) -> PushResult:
        spec = self.stream(stream)
        if not spec.pushable or stream not in upsert.RECORD_TYPES:
            raise ConnectorError(f"netsuite does not accept pushes to {stream!r}", system=SYSTEM)
        record_type = upsert.RECORD_TYPES[stream]
        if payload.get("voided") is True:
            return self._void(stream, record_type, payload)
        body = dict(payload)
        allow_overwrite = bool(body.pop("allow_overwrite", False))
        external_id = upsert.external_id_of(stream, body, idempotency_key)
        url = f"{RECORD_PATH}/{record_type}/eid:{external_id}"
        existing = self._existing(url)
        if existing is not None and stream == "invoices" and not allow_overwrite:
            wanted = upsert.invoice_total(body)
            posted = upsert.as_decimal(existing.get("total"))
            if wanted is not None and posted is not None and wanted != posted:
                raise ConflictError(
                    f"invoice eid:{external_id} is posted with total {posted}; this push would make it {wanted} "
                    "(push with allow_overwrite to replace it)",
                    system=SYSTEM,
                    status_code=409,
                )
        if existing is not None and upsert.holds(existing, body):
            return PushResult(str(existing.get("id")), "unchanged")
        try:
            response = self._send(
                "PUT",
                url,
                params=upsert.replace_param(body),
                json=upsert.wire(body, stream=stream, record_id=external_id),
            )
        except ConnectorError as exc:
            if exc.status_code == 400:
                raise PushRejected(str(exc), system=SYSTEM, stream=stream, record_id=external_id) from None
            raise
        target_id = upsert.created_id(response.headers.get("location"))
        if target_id is None:
            found = self._existing(url)
            if found is None:
                raise MalformedResponse(f"PUT {url} answered without the record's location", system=SYSTEM)
            target_id = str(found.get("id"))
        return PushResult(target_id, "created" if existing is None else "updated")

    def _void(self, stream: str, record_type: str, payload: dict[str, Any]) -> PushResult:
        """Void the transaction `payload["id"]` through the account's void RESTlet.

        Voiding is idempotent on NetSuite's side (a voided transaction stays voided), so the
        request is retried like a read.
        """
        record_id = str(payload.get("id") or "")
        if stream not in upsert.VOIDABLE or not record_id.isdigit():
            raise PushRejected(
                f"only {', '.join(upsert.VOIDABLE)} can be voided, by internal id",
                system=SYSTEM,
                stream=stream,
                record_id=record_id,
            )
        try:
            self._json(
                "POST",
                self.config.resolved_restlet_url,
                params={"script": self.config.void_script_id, "deploy": self.config.void_deployment_id},
                json={"recordtype": record_type, "id": record_id},
                idempotent=True,
            )
        except ConnectorError as exc:
            if exc.status_code == 400:
                raise PushRejected(str(exc), system=SYSTEM, stream=stream, record_id=record_id) from None
            raise
        return PushResult(record_id, "updated")

    def _existing(self, url: str) -> dict[str, Any] | None:
        try:
            body = self._json("GET", url, params={"expandSubResources": "true"})
        except NotFoundError:
            return None
        if not isinstance(body, dict):
            raise MalformedResponse(f"GET {url} answered something that is not a record", system=SYSTEM)
        return body

    def close(self) -> None:
        self.session.close()

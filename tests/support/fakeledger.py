"""A fake third-party system ("Ledgerly") and its tieout connector, for testing the machinery.

The fake API is a real HTTP server on loopback that paginates (cursor pages ordered by
updated_at, or id-ordered pages for customers), filters by update time, needs a bearer token,
replays writes by Idempotency-Key, and fails on command: the next N requests answer a given
status (with Retry-After), hang past the client timeout, or return a body that is not JSON. A
test can also make a page request block until released, to kill a sync between pages.

The connector is written the way a third-party author would write one: a settings model, stream
facts as data, pure mappers, and `HttpSession` for transport, retries and error translation.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tieout.config import Mode, SystemSettings, TieoutConfig
from tieout.connectors.base import (
    CallBudget,
    Connector,
    ConnectorSettings,
    Page,
    PushResult,
    RawRecord,
    StreamSpec,
)
from tieout.connectors.http import HttpSession
from tieout.errors import MappingError
from tieout.mappings.context import FieldMappings, MappingContext
from tieout.model import Customer, Invoice, InvoiceStatus
from tieout.money import Money
from tieout.sandbox.server import EmulatorServer

TOKEN = "ledgerly-test-token-5f2a"


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


class LedgerlyState:
    """The fake system's records and its failure controls. Thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records: dict[str, dict[str, dict[str, Any]]] = {"invoices": {}, "customers": {}}
        self.failures: list[tuple[str, int, float | None]] = []
        self.requests = 0
        self.idempotency: dict[str, tuple[str, dict[str, Any]]] = {}
        self.block_page: int | None = None
        self.page_requests = 0
        self.blocked = threading.Event()
        self.release = threading.Event()

    def add(self, stream: str, record: dict[str, Any]) -> None:
        with self.lock:
            self.records[stream][record["id"]] = record

    def fail_next(self, status: int, *, times: int = 1, retry_after: float | None = None) -> None:
        with self.lock:
            self.failures += [("status", status, retry_after)] * times

    def fail_next_timeout(self, *, times: int = 1) -> None:
        with self.lock:
            self.failures += [("timeout", 0, None)] * times

    def fail_next_malformed(self, *, times: int = 1) -> None:
        with self.lock:
            self.failures += [("malformed", 200, None)] * times

    def record_count(self, stream: str) -> int:
        with self.lock:
            return len(self.records[stream])

    def request_count(self) -> int:
        with self.lock:
            return self.requests

    def take_failure(self) -> tuple[str, int, float | None] | None:
        with self.lock:
            self.requests += 1
            return self.failures.pop(0) if self.failures else None


def seed_invoices(state: LedgerlyState, count: int, *, start: datetime, same_time_every: int = 1) -> None:
    """Invoices whose updated_at advances one second every `same_time_every` records (ties)."""
    for number in range(count):
        updated = start.timestamp() + number // same_time_every
        state.add(
            "invoices",
            {
                "id": f"inv-{number:05d}",
                "customer": f"cust-{number % 7}",
                "currency": "EUR" if number % 3 else "JPY",
                "total": str(Decimal(100 + number) if number % 3 else Decimal(1000 + number)),
                "status": "open",
                "updated_at": datetime.fromtimestamp(updated, UTC).isoformat(),
            },
        )


@contextmanager
def running_ledgerly(state: LedgerlyState) -> Iterator[str]:
    """Serve the fake on a free loopback port; yields its base URL."""
    with EmulatorServer(build_app(state), name="ledgerly") as server:
        yield server.base_url


def ledgerly_config(
    store_url: str, *, lookback_seconds: int = 0, max_calls: int | None = None
) -> TieoutConfig:
    """A configuration with the fake as its one system, in observe mode."""
    settings = SystemSettings(
        name="ledgerly",
        connector="fakeledger:LedgerlyConnector",
        enabled=True,
        mode=Mode.OBSERVE,
        streams=None,
        lookback_seconds=lookback_seconds,
        max_calls_per_run=max_calls,
        settings=None,
    )
    return TieoutConfig(
        path=Path("tieout.yaml"),
        mode=Mode.OBSERVE,
        store_url=store_url,
        systems={"ledgerly": settings},
        field_mappings=FieldMappings(),
        secret_values=(TOKEN,),
    )


def connector_for(base_url: str, **overrides: Any) -> LedgerlyConnector:
    return LedgerlyConnector(LedgerlySettings(base_url=base_url, api_token=SecretStr(TOKEN), **overrides))


def build_app(state: LedgerlyState) -> Starlette:
    async def failure_response(failure: tuple[str, int, float | None]) -> Response:
        kind, status, retry_after = failure
        if kind == "timeout":
            await asyncio.sleep(0.8)
            return JSONResponse({"error": "too late"}, status_code=504)
        if kind == "malformed":
            return Response(
                "<html>upstream proxy error</html>", status_code=200, media_type="application/json"
            )
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return JSONResponse(
            {"error": {"status": status, "message": f"injected {status}"}},
            status_code=status,
            headers=headers,
        )

    def guarded(handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            failure = state.take_failure()
            if failure is not None:
                return await failure_response(failure)
            if request.headers.get("authorization") != f"Bearer {TOKEN}":
                return JSONResponse({"error": {"status": 401, "message": "invalid token"}}, status_code=401)
            result: Response = await handler(request)
            return result

        return endpoint

    async def me(request: Request) -> Response:
        return JSONResponse({"account": "ledgerly-test"})

    async def list_records(request: Request) -> Response:
        stream = request.path_params["stream"]
        if stream not in state.records:
            return JSONResponse(
                {"error": {"status": 404, "message": f"no resource {stream}"}}, status_code=404
            )
        query = request.query_params
        limit = int(query.get("limit", "50"))
        since = parse_time(query["updated_since"]) if "updated_since" in query else None
        before = parse_time(query["updated_before"]) if "updated_before" in query else None
        with state.lock:
            state.page_requests += 1
            page_number = state.page_requests
            rows = list(state.records[stream].values())
        if state.block_page is not None and page_number == state.block_page:
            state.blocked.set()
            await asyncio.to_thread(state.release.wait, 30)
        rows = [
            row
            for row in rows
            if (since is None or parse_time(row["updated_at"]) >= since)
            and (before is None or parse_time(row["updated_at"]) < before)
        ]
        if stream == "invoices":
            rows.sort(key=lambda row: (parse_time(row["updated_at"]), row["id"]))
        else:
            rows.sort(key=lambda row: row["id"])
        offset = int(query.get("cursor", "0"))
        page = rows[offset : offset + limit]
        next_cursor = str(offset + limit) if offset + limit < len(rows) else None
        return JSONResponse({"data": page, "next_cursor": next_cursor})

    async def create_invoice(request: Request) -> Response:
        body = await request.json()
        key = request.headers.get("idempotency-key")
        with state.lock:
            if key and key in state.idempotency:
                record_id, first_body = state.idempotency[key]
                if first_body != body:
                    return JSONResponse(
                        {"error": {"status": 409, "message": "idempotency key reused with other parameters"}},
                        status_code=409,
                    )
                return JSONResponse(state.records["invoices"][record_id], status_code=200)
            record_id = f"inv-p{len(state.records['invoices']):05d}"
            record = {**body, "id": record_id, "updated_at": datetime.now(UTC).isoformat()}
            state.records["invoices"][record_id] = record
            if key:
                state.idempotency[key] = (record_id, body)
        return JSONResponse(record, status_code=201)

    return Starlette(
        routes=[
            Route("/v1/me", guarded(me)),
            Route("/v1/invoices", guarded(create_invoice), methods=["POST"]),
            Route("/v1/{stream}", guarded(list_records)),
        ]
    )


def map_invoice(payload: Mapping[str, Any], context: MappingContext) -> Invoice:
    try:
        currency = str(payload["currency"])
        total = Money.of(payload["total"], currency)
    except KeyError as exc:
        raise MappingError("required field is missing", field_path=str(exc.args[0]), value=None) from None
    except ValueError as exc:
        raise MappingError(str(exc), field_path="total", value=payload.get("total")) from None
    return Invoice(
        system=context.system,
        native_id=str(payload["id"]),
        customer_id=str(payload["customer"]),
        currency=currency,
        status=InvoiceStatus(payload["status"]),
        subtotal=total,
        tax=Money.zero(currency),
        total=total,
        amount_due=total,
        amount_paid=Money.zero(currency),
        amount_remaining=total,
        updated_at=parse_time(str(payload["updated_at"])),
    )


def map_customer(payload: Mapping[str, Any], context: MappingContext) -> Customer:
    return Customer(
        system=context.system,
        native_id=str(payload["id"]),
        legal_name=str(payload["name"]),
        currency=payload.get("currency"),
        updated_at=parse_time(str(payload["updated_at"])),
    )


class LedgerlySettings(ConnectorSettings):
    base_url: str
    api_token: SecretStr
    page_size: int = 50
    timeout_seconds: float = 0.3
    backoff_base_seconds: float = 0.01


class LedgerlyConnector(Connector):
    name = "ledgerly"
    title = "Ledgerly (test double)"
    settings_model = LedgerlySettings
    streams = (
        StreamSpec(
            name="invoices",
            kind="invoice",
            mapper=map_invoice,
            endpoint="/v1/invoices",
            cursor_field="updated_at",
            ordered=True,
            page_size=50,
            pushable=True,
        ),
        StreamSpec(
            name="customers",
            kind="customer",
            mapper=map_customer,
            endpoint="/v1/customers",
            cursor_field="updated_at",
            ordered=False,
            page_size=50,
        ),
    )

    def __init__(self, settings: ConnectorSettings, *, budget: CallBudget | None = None) -> None:
        super().__init__(settings, budget=budget)
        assert isinstance(settings, LedgerlySettings)
        token = settings.api_token.get_secret_value()
        self.session = HttpSession(
            self.name,
            settings.base_url,
            headers={"Authorization": f"Bearer {token}"},
            secrets=[token],
            budget=self.budget,
            timeout_seconds=settings.timeout_seconds,
            backoff_base_seconds=settings.backoff_base_seconds,
            backoff_max_seconds=1.0,
            max_attempts=4,
        )
        self.page_size = settings.page_size

    def check(self) -> None:
        self.session.json("GET", "/v1/me")

    def pull(
        self, stream: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Page]:
        spec = self.stream(stream)
        params: dict[str, str] = {"limit": str(self.page_size)}
        if since is not None:
            params["updated_since"] = since.isoformat()
        if until is not None:
            params["updated_before"] = until.isoformat()
        while True:
            body = self.session.json("GET", spec.endpoint, params=params)
            records = [
                RawRecord(self.name, stream, str(item["id"]), parse_time(item["updated_at"]), item)
                for item in body["data"]
            ]
            yield Page(records)
            if not body.get("next_cursor"):
                return
            params["cursor"] = body["next_cursor"]

    def push(self, stream: str, payload: dict[str, Any], *, idempotency_key: str) -> PushResult:
        spec = self.stream(stream)
        response = self.session.request(
            "POST", spec.endpoint, json=payload, headers={"Idempotency-Key": idempotency_key}, idempotent=True
        )
        body = response.json()
        return PushResult(
            target_id=str(body["id"]), operation="created" if response.status_code == 201 else "unchanged"
        )

    def close(self) -> None:
        self.session.close()

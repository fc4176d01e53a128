"""Bad input: every hostile record becomes its own entry in the exception queue; the run goes on.

The Ledgerly fake (tests/support/fakeledger.py) serves invoices over real HTTP; the test plants
records no API should send (wrong types, unknown currencies, NaN and absurd amounts, missing
fields, NUL bytes and lone surrogates, SQL in ids, a 3 MB record) among good ones. Each bad
record must be stored as pulled and filed as a `SYNC_MAPPING_FAILED` exception whose reason
names what is wrong, on SQLite and PostgreSQL; the good ones map; nothing is dropped; the run
succeeds. A page the API cannot even encode (invalid UTF-8) fails the run cleanly instead, with
nothing of that page stored. The real connectors do the same with corrupt records the Stripe,
Salesforce and Metronome emulators serve.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fakeledger import LedgerlyState, connector_for, ledgerly_config, running_ledgerly
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tieout.config import load_config
from tieout.findings import SYNC_MAPPING_FAILED
from tieout.runner import SyncService
from tieout.sandbox.server import EmulatorServer
from tieout.store import ExceptionQuery, Store
from tieout.testing.kill_harness import Company, running_company

START = datetime(2026, 3, 1, tzinfo=UTC)

# source id -> (changes to a good invoice, words the reason must contain)
HOSTILE: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "inv-total-object": ({"total": {"value": 5}}, ("total", "number")),
    "inv-total-list": ({"total": [1, 2]}, ("total",)),
    "inv-total-bool": ({"total": True}, ("total", "boolean")),
    "inv-currency-unknown": ({"currency": "XYZ"}, ("currency", "XYZ")),
    "inv-currency-number": ({"currency": 840}, ("currency",)),
    "inv-total-nan": ({"total": "NaN"}, ("total",)),
    "inv-total-infinite": ({"total": "-Infinity"}, ("total",)),
    "inv-total-absurd": ({"total": "1e30"}, ("total",)),
    "inv-total-words": ({"total": "one hundred"}, ("total", "number")),
    "inv-status-unknown": ({"status": "exploded"}, ("status", "exploded")),
    "inv-no-currency": ({"currency": None}, ("currency",)),
    "inv-customer-nul": ({"customer": "cust-\x00-1"}, ("customer",)),
    "inv-customer-surrogate": ({"customer": "cust-\ud800-1"}, ("customer",)),
}
GOOD = [f"inv-good-{number}" for number in range(6)]


def invoice(source_id: str, minutes: int, **changes: Any) -> dict[str, Any]:
    record = {
        "id": source_id,
        "customer": "cust-1",
        "currency": "EUR",
        "total": "120.50",
        "status": "open",
        "updated_at": (START + timedelta(minutes=minutes)).isoformat(),
    }
    record.update(changes)
    return {key: value for key, value in record.items() if value is not None}


@contextmanager
def serving(records: list[dict[str, Any]], *, page_size: int = 7) -> Iterator[str]:
    """Ledgerly's invoice listing over `records`, paged by offset, as ASCII JSON (escapes and all)."""

    async def listing(request: Request) -> Response:
        offset = int(request.query_params.get("cursor", "0"))
        more = offset + page_size < len(records)
        body = {
            "data": records[offset : offset + page_size],
            "next_cursor": str(offset + page_size) if more else None,
        }
        return Response(json.dumps(body), media_type="application/json")

    with EmulatorServer(
        Starlette(routes=[Route("/v1/invoices", listing)]), name="hostile-ledgerly"
    ) as server:
        yield server.base_url


@pytest.fixture
def hostile_url() -> Iterator[str]:
    records = [invoice(source_id, minutes) for minutes, source_id in enumerate(GOOD)]
    records += [
        invoice(source_id, minutes, **changes)
        for minutes, (source_id, (changes, _)) in enumerate(HOSTILE.items(), start=len(GOOD))
    ]
    # SQL and quotes in an id are data, not a query; a 3 MB record is kept whole as pulled, but
    # filed instead of mapped (over the 1 MB default of max_record_bytes).
    records.append(invoice("inv-'; DROP TABLE raw_records; --", 100))
    records.append(invoice("inv-oversized", 101, memo="x" * 3_000_000))
    with serving(records) as url:
        yield url


def sync(store: Store, url: str, **settings: Any) -> Any:
    config = ledgerly_config("unused")
    service = SyncService(config, store, connectors={"ledgerly": connector_for(url, page_size=7, **settings)})
    try:
        return service.sync("ledgerly", "invoices")
    finally:
        service.close()


def test_each_hostile_record_is_filed_with_its_reason_and_the_run_goes_on(
    store: Store, hostile_url: str
) -> None:
    [result] = sync(store, hostile_url)
    assert result.status == "succeeded", result.error

    with store.transaction() as tx:
        raw_ids = set(tx.iter_raw_ids("ledgerly", "invoices"))
        mapped = {record.native_id for record in tx.iter_canonical("invoice", "ledgerly")}
        filed, _ = tx.query_exceptions(ExceptionQuery(rule_codes=[SYNC_MAPPING_FAILED], limit=1000))
        oversized = tx.get_raw("ledgerly", "invoices", "inv-oversized")
    total = len(GOOD) + len(HOSTILE) + 2
    assert len(raw_ids) == total, "every record pulled is stored, bad or not"
    assert result.pulled == total
    reasons = {item.details["source_id"]: item.details["reason"] for item in filed}
    assert set(reasons) == set(HOSTILE) | {"inv-oversized"}, (
        f"filed {sorted(reasons)}; mapped {sorted(mapped)}"
    )
    assert mapped == set(GOOD) | {"inv-'; DROP TABLE raw_records; --"}
    assert oversized is not None and len(oversized.payload["memo"]) == 3_000_000
    assert "3,000,1" in reasons["inv-oversized"] and "max_record_bytes" in reasons["inv-oversized"]
    for source_id, (_, words) in HOSTILE.items():
        for word in words:
            assert word.lower() in reasons[source_id].lower(), (source_id, reasons[source_id])
    assert result.failed == len(HOSTILE) + 1


def test_the_same_record_twice_in_a_pull_is_stored_once_with_its_last_version(store: Store) -> None:
    state = LedgerlyState()
    for minutes in range(5):
        state.add("invoices", invoice(f"inv-{minutes}", minutes))
    with running_ledgerly(state) as url:
        connector = connector_for(url, page_size=2)
        original = connector.pull

        def pull_with_repeats(stream: str, **bounds: Any) -> Iterator[Any]:
            # The API lists inv-1 again on a later page (it changed while we paged), and inv-3
            # twice on one page: both happen with offset paging.
            for number, page in enumerate(original(stream, **bounds)):
                if number == 1:
                    repeat = page.records[0].__class__(
                        "ledgerly",
                        stream,
                        "inv-1",
                        START + timedelta(minutes=9),
                        invoice("inv-1", 9, total="7.00"),
                    )
                    page = page.__class__([*page.records, repeat, page.records[-1]])
                yield page

        connector.pull = pull_with_repeats  # type: ignore[method-assign]
        config = ledgerly_config("unused")
        service = SyncService(config, store, connectors={"ledgerly": connector})
        [result] = service.sync("ledgerly", "invoices")
        service.close()
    assert result.status == "succeeded", result.error
    with store.transaction() as tx:
        assert sorted(tx.iter_raw_ids("ledgerly", "invoices")) == [f"inv-{n}" for n in range(5)]
        again = tx.get_canonical("ledgerly:invoice:inv-1")
    assert again is not None and str(again.total.amount) == "7.00"


def test_a_page_that_is_not_utf8_fails_the_run_cleanly_and_stores_nothing_of_it(store: Store) -> None:
    pages = {"0": [invoice("inv-a", 0), invoice("inv-b", 1)]}

    async def listing(request: Request) -> Response:
        cursor = request.query_params.get("cursor", "0")
        if cursor in pages:
            return JSONResponse({"data": pages[cursor], "next_cursor": "2"})
        body = b'{"data": [{"id": "inv-c", "customer": "\xff\xfe broken", "currency": "EUR"}], "next_cursor": null}'
        return Response(body, media_type="application/json")

    app = Starlette(routes=[Route("/v1/invoices", listing)])
    with EmulatorServer(app, name="broken-utf8") as server:
        [result] = sync(store, server.base_url)
    assert result.status == "failed"
    assert "/v1/invoices" in (result.error or "")
    with store.transaction() as tx:
        assert sorted(tx.iter_raw_ids("ledgerly", "invoices")) == ["inv-a", "inv-b"]
        cursor = tx.get_cursor("ledgerly", "invoices")
    assert cursor is not None and cursor.watermark == START + timedelta(minutes=1)


def test_corrupt_records_in_the_real_connectors_are_filed_one_by_one(store_url: str, tmp_path: Path) -> None:
    """Stripe, Salesforce and Metronome emulators serving records whose fields have the wrong type or value."""
    with running_company(Company(customers=3, new_accounts=0), tmp_path, store_url) as (sandbox, config_path):
        invoices = list(sandbox.stripe.tables["invoice"].records.values())
        invoices[0]["total"] = "not-a-number"
        invoices[1]["currency"] = "zzz"
        charges = list(sandbox.stripe.tables["charge"].records.values())
        charges[0]["amount"] = {"nested": 1}
        charges[1]["created"] = "yesterday"
        accounts = list(sandbox.salesforce.tables["Account"].values())
        accounts[0]["CurrencyIsoCode"] = "QQQ"
        # The Metronome SDK refuses the whole listing over one such record; the connector passes
        # the records on and the mapping files just that one.
        customers = list(sandbox.metronome.customers.values())
        customers[0]["name"] = {"first": "not", "last": "text"}
        corrupt = {
            ("stripe", "invoices"): {invoices[0]["id"], invoices[1]["id"]},
            ("stripe", "charges"): {charges[0]["id"], charges[1]["id"]},
            ("salesforce", "accounts"): {accounts[0]["Id"]},
            ("metronome", "customers"): {customers[0]["id"]},
        }
        config = load_config(config_path)
        store = Store.open(config.store_url)
        service = SyncService(config, store)
        try:
            results = {(system, stream): service.sync(system, stream)[0] for system, stream in corrupt}
            with store.transaction() as tx:
                filed, _ = tx.query_exceptions(ExceptionQuery(rule_codes=[SYNC_MAPPING_FAILED], limit=1000))
                stored = {key: set(tx.iter_raw_ids(*key)) for key in corrupt}
        finally:
            service.close()
            store.close()
    for key, result in results.items():
        assert result.status == "succeeded", (key, result.error)
        assert result.failed == len(corrupt[key]), key
        assert corrupt[key] <= stored[key], "a corrupt record is stored as pulled"
    by_record = {
        (item.details["system"], item.details["source_id"]): item.details["reason"] for item in filed
    }
    assert set(by_record) == {
        (system, record_id) for (system, _), ids in corrupt.items() for record_id in ids
    }
    assert all(reason for reason in by_record.values())

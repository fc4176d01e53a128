"""Resync against the sandbox emulators: by id, by window, dry runs, and from the exception queue.

One sandbox company (seed 42) is synced in sync mode on each store backend; then records are
changed or created in the emulators and pulled again with `tieout resync` and the queue's
resolution actions, checking what the store holds, what the emulators hold and the audit trail.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sandbox_company import netsuite_customers, postgres_database, sandbox_company, stripe_customers
from sqlalchemy import func, select
from typer.testing import CliRunner

from tieout import jsonutil
from tieout.cli import app
from tieout.config import load_config
from tieout.connectors.base import Page
from tieout.findings import SYNC_PUSH_REJECTED
from tieout.resync import ResyncService
from tieout.runner import SyncService
from tieout.sandbox.runtime import Sandbox
from tieout.store import ExceptionQuery, Store
from tieout.store.schema import push_ledger

BOGUS_SUBSIDIARY = "Atlantis Holdings"
"""Mapped to a NetSuite subsidiary that does not exist, so NetSuite refuses the customer."""

runner = CliRunner()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def synced(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Sandbox, Path, dict[str, Any]]]:
    """The sandbox company, fully synced (flows included) in sync mode, on each store backend."""
    workdir = tmp_path_factory.mktemp(f"resync-{request.param}")
    with ExitStack() as stack:
        if request.param == "postgresql":
            store_url = stack.enter_context(postgres_database(request.getfixturevalue("postgres_admin_url")))
        else:
            store_url = f"sqlite:///{workdir}/tieout.db"
        sandbox, config_path, value_maps = stack.enter_context(
            sandbox_company(
                workdir, store_url, extra_value_maps={"netsuite_subsidiary": {BOGUS_SUBSIDIARY: "999"}}
            )
        )
        config = load_config(config_path)
        store = Store.open(config.store_url)
        service = SyncService(config, store)
        try:
            assert all(result.status == "succeeded" for result in service.sync())
            assert not [flow.error for flow in service.run_flows() if flow.error]
        finally:
            service.close()
            store.close()
        yield sandbox, config_path, value_maps


def invoke(config_path: Path, *args: str) -> Any:
    result = runner.invoke(app, ["--config", str(config_path), *args, "--json"])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout), result.exit_code


def new_account(sandbox: Sandbox, name: str, subsidiary: str) -> str:
    template = next(iter(sandbox.salesforce.tables["Account"].values()))
    record = sandbox.salesforce.create_account(
        name, currency=template["CurrencyIsoCode"], Subsidiary__c=subsidiary, BillingCountry="US"
    )
    return str(record["Id"])


def ledger_size(store: Store) -> int:
    with store.transaction() as tx:
        return int(tx.connection.execute(select(func.count()).select_from(push_ledger)).scalar_one())


def open_store(config_path: Path) -> Store:
    return Store.open(load_config(config_path).store_url)


def test_fetch_by_id_returns_what_a_full_pull_stored(
    synced: tuple[Sandbox, Path, dict[str, Any]],
) -> None:
    _, config_path, _ = synced
    config = load_config(config_path)
    store = Store.open(config.store_url)
    service = SyncService(config, store)
    try:
        for system in config.systems:
            for stream in service.streams_for(system):
                if (system, stream) in (("metronome", "usage"), ("netsuite", "ar_balances")):
                    continue
                with store.transaction() as tx:
                    ids = sorted(tx.iter_raw_ids(system, stream))[:3]
                    stored = {record_id: tx.get_raw(system, stream, record_id) for record_id in ids}
                assert ids, f"{system} {stream} pulled nothing"
                page = service.connector(system).fetch(stream, ids)
                assert isinstance(page, Page)
                assert sorted(record.source_id for record in page.records) == ids, (system, stream)
                for record in page.records:
                    raw = stored[record.source_id]
                    assert (
                        raw is not None and jsonutil.loads(jsonutil.dumps(record.payload)) == raw.payload
                    ), (
                        system,
                        stream,
                        record.source_id,
                    )
    finally:
        service.close()
        store.close()


def test_resync_one_record_dry_run_then_for_real(synced: tuple[Sandbox, Path, dict[str, Any]]) -> None:
    sandbox, config_path, value_maps = synced
    real_subsidiary = next(name for name in value_maps["netsuite_subsidiary"] if name != BOGUS_SUBSIDIARY)
    account_id = new_account(sandbox, "Resynced Rocket Ltd", real_subsidiary)
    store = open_store(config_path)
    try:
        with store.transaction() as tx:
            cursor_before = tx.get_cursor("salesforce", "accounts")
        pushes_before = ledger_size(store)

        report, code = invoke(
            config_path, "resync", "salesforce", "accounts", "--id", account_id, "--dry-run"
        )
        assert code == 0 and report["pulled"] == 1 and report["pushed"] == 0
        planned = {flow["flow"]: flow for flow in report["flows"]}
        assert {"customers_to_netsuite", "customers_to_stripe", "customers_to_metronome"} <= planned.keys()
        netsuite_change = planned["customers_to_netsuite"]["changes"][0]
        assert netsuite_change["status"] == "planned"
        assert {"field": "companyName", "before": None, "after": "Resynced Rocket Ltd"} in netsuite_change[
            "fields"
        ]
        shown = runner.invoke(
            app,
            [
                "--config",
                str(config_path),
                "resync",
                "salesforce",
                "accounts",
                "--id",
                account_id,
                "--dry-run",
            ],
            terminal_width=200,
        )
        assert shown.exit_code == 0 and "would create in netsuite" in shown.stdout
        assert "companyName: Resynced Rocket Ltd" in shown.stdout
        assert netsuite_customers(sandbox, account_id) == 0 and stripe_customers(sandbox, account_id) == 0
        assert ledger_size(store) == pushes_before
        with store.transaction() as tx:
            assert tx.get_raw("salesforce", "accounts", account_id) is not None
            # The resync stored the account without moving the stream's cursor (the real pushes
            # below write back to Salesforce, and re-reading it after them moves it, as a sync does).
            assert tx.get_cursor("salesforce", "accounts") == cursor_before

        report, code = invoke(config_path, "resync", "salesforce", "accounts", "--id", account_id)
        assert code == 0 and report["pushed"] >= 3
        assert netsuite_customers(sandbox, account_id) == 1 and stripe_customers(sandbox, account_id) == 1

        report, code = invoke(config_path, "resync", "salesforce", "accounts", "--id", account_id)
        assert code == 0 and report["pushed"] == 0
        assert netsuite_customers(sandbox, account_id) == 1 and stripe_customers(sandbox, account_id) == 1
        with store.transaction() as tx:
            runs = tx.list_runs(job="resync:salesforce:accounts", limit=10)
        assert len(runs) == 4 and {run.trigger for run in runs} == {"manual"}

        # A change at the source is stored by the next resync of the record.
        sandbox.salesforce.update("Account", account_id, {"Name": "Resynced Rocket Group Ltd"})
        report, code = invoke(
            config_path, "resync", "salesforce", "accounts", "--id", account_id, "--dry-run"
        )
        assert code == 0 and report["pulled"] == 1
        with store.transaction() as tx:
            stored = tx.get_canonical(f"salesforce:customer:{account_id}")
        assert stored is not None and getattr(stored, "legal_name", None) == "Resynced Rocket Group Ltd"

        report, code = invoke(config_path, "resync", "salesforce", "accounts", "--id", "001Hs0000009999")
        assert code == 0 and report["missing"] == ["001Hs0000009999"], report
    finally:
        store.close()


def test_resync_a_window_leaves_the_cursor_alone(synced: tuple[Sandbox, Path, dict[str, Any]]) -> None:
    sandbox, config_path, value_maps = synced
    subsidiary = next(iter(value_maps["netsuite_subsidiary"]))
    time.sleep(1.5)  # keep the accounts other tests made out of this window
    since = sandbox.clock.now() - timedelta(milliseconds=500)
    account_id = new_account(sandbox, "Windowed Widgets Inc", subsidiary)
    until = sandbox.clock.now() + timedelta(seconds=2)
    store = open_store(config_path)
    try:
        with store.transaction() as tx:
            cursor_before = tx.get_cursor("salesforce", "accounts")
        report, code = invoke(
            config_path,
            "resync",
            "salesforce",
            "accounts",
            "--since",
            since.isoformat(),
            "--until",
            until.isoformat(),
            "--dry-run",
        )
        assert code == 0 and report["pulled"] == 1 and report["pushed"] == 0
        assert all(change["source"] == f"salesforce:customer:{account_id}" for change in _changes(report))
        assert netsuite_customers(sandbox, account_id) == 0
        with store.transaction() as tx:
            assert tx.get_cursor("salesforce", "accounts") == cursor_before
    finally:
        store.close()
    out = runner.invoke(
        app, ["--config", str(config_path), "resync", "salesforce", "accounts", "--full", "--id", "x"]
    )
    assert out.exit_code == 2


def _changes(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [change for flow in report["flows"] for change in flow["changes"]]


def test_exception_resync_and_repush_are_audited_and_never_duplicate(
    synced: tuple[Sandbox, Path, dict[str, Any]],
) -> None:
    sandbox, config_path, value_maps = synced
    real_subsidiary = next(name for name in value_maps["netsuite_subsidiary"] if name != BOGUS_SUBSIDIARY)
    refused_id = new_account(sandbox, "Refused Rivets GmbH", BOGUS_SUBSIDIARY)
    report, code = invoke(config_path, "resync", "salesforce", "accounts", "--id", refused_id)
    assert code == 0 and netsuite_customers(sandbox, refused_id) == 0
    store = open_store(config_path)
    try:
        with store.transaction() as tx:
            refused = [
                item
                for item in tx.query_exceptions(ExceptionQuery(rule_codes=(SYNC_PUSH_REJECTED,)))[0]
                if f"salesforce:customer:{refused_id}" in item.record_ids
            ]
        assert len(refused) == 1 and refused[0].details["flow"] == "customers_to_netsuite"
        exception_id = refused[0].exception_id

        # Re-pushing the same refused payload is refused again, under the same ledger key.
        report, code = invoke(config_path, "exceptions", "repush", str(exception_id), "--as", "ana")
        assert code == 0 and [flow["rejected"] for flow in report["flows"]] == [1]
        assert report["status"] == "open"

        # Fixed at the source: the queue's resync pulls the account and the retried push goes through.
        sandbox.salesforce.update("Account", refused_id, {"Subsidiary__c": real_subsidiary})
        report, code = invoke(config_path, "exceptions", "resync", str(exception_id), "--as", "ana")
        assert code == 0, report
        assert report["resyncs"][0]["pulled"] == 1 and report["status"] == "resolved"
        assert netsuite_customers(sandbox, refused_id) == 1

        # A confirmed push is not sent again.
        report, code = invoke(config_path, "exceptions", "repush", str(exception_id), "--as", "ana")
        assert code == 0 and report["flows"] == [] and report["notes"]
        assert netsuite_customers(sandbox, refused_id) == 1

        with store.transaction() as tx:
            events = tx.events_for(exception_id)
        mine = [(event.actor, event.action) for event in events if event.actor == "ana"]
        assert mine == [("ana", "repushed"), ("ana", "resynced"), ("ana", "repushed")]
        resynced = next(event for event in events if event.action == "resynced")
        assert resynced.before == {"status": "open"} and resynced.after == {"status": "resolved"}

        nobody = runner.invoke(
            app, ["--config", str(config_path), "exceptions", "resync", str(exception_id), "--as", " "]
        )
        assert nobody.exit_code == 2
        missing = runner.invoke(
            app, ["--config", str(config_path), "exceptions", "repush", "999999", "--as", "ana"]
        )
        assert missing.exit_code == 2 and "no exception #999999" in missing.stderr
    finally:
        store.close()


def test_resync_service_refuses_an_empty_window(synced: tuple[Sandbox, Path, dict[str, Any]]) -> None:
    _, config_path, _ = synced
    config = load_config(config_path)
    service = ResyncService(config, Store.open(config.store_url))
    try:
        moment = datetime(2026, 1, 1, tzinfo=UTC)
        with pytest.raises(ValueError, match="the window is empty"):
            service.resync_window("salesforce", "accounts", moment, moment)
        with pytest.raises(ValueError, match="aware"):
            service.resync_window("salesforce", "accounts", datetime(2026, 1, 1), None)
    finally:
        service.close()

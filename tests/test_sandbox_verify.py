"""End to end on the sandbox: generated company, sync through the four connectors, reconcile, score.

Observe mode must find every planted defect and nothing else, for the default seed and five
others; a re-run changes nothing in the queue; `tieout sandbox up --json` works from a shell
and the official clients reach what it prints.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
import stripe
from simple_salesforce import Salesforce

from tieout.config import load_config
from tieout.mappings.netsuite import builders as netsuite_builders
from tieout.model import Customer
from tieout.reconcile.engine import Reconciler
from tieout.reconcile.queue import ExceptionQueue
from tieout.runner import SyncService
from tieout.sandbox.config_writer import write_sandbox_config
from tieout.sandbox.faults import FaultProfile, profile_named
from tieout.sandbox.runtime import Sandbox, SandboxOptions
from tieout.sandbox.scenario.generate import generate
from tieout.sandbox.verify import verify_running
from tieout.store import ExceptionQuery, Store


@contextmanager
def running(workdir: Path, seed: int, faults: FaultProfile | None = None) -> Iterator[dict[str, Any]]:
    options = SandboxOptions(workdir=workdir, seed=seed, faults=faults or FaultProfile())
    sandbox = Sandbox(options).start()
    try:
        answer_key = generate(sandbox, seed=seed)
        description = sandbox.describe()
        description["answer_key_path"] = str(answer_key.write_answer_key(workdir / "answer_key.json"))
        config = write_sandbox_config(description, workdir, value_maps=answer_key["value_maps"])
        description["config_path"] = str(config)
        yield description
    finally:
        sandbox.stop()


@pytest.mark.parametrize("seed", [42, 1, 2, 3, 4, 5])
def test_observe_mode_finds_every_planted_defect_and_nothing_else(tmp_path: Path, seed: int) -> None:
    with running(tmp_path, seed) as description:
        result, failures = verify_running(description, "observe")
    assert failures == []
    assert result.unmatched_defects == [] and result.unmatched_exceptions == []
    assert result.perfect
    planted_kinds = {score.kind for score in result.kinds.values() if score.planted}
    assert len(planted_kinds) == 18  # every defect kind is planted at the default scale


def test_a_flaky_network_during_the_sync_changes_nothing_in_the_result(tmp_path: Path) -> None:
    # Generation writes to the emulators in-process; the faults hit every HTTP call tieout makes.
    with running(tmp_path, 42, faults=profile_named("flaky")) as description:
        result, failures = verify_running(description, "observe")
        injected = sum(
            sum(requests.get(url, verify=description["ca_bundle"], timeout=10).json()["injected"].values())
            for url in description["fault_admin"].values()
        )
    assert injected > 10  # the network really was flaky
    assert failures == []
    assert result.perfect, (result.unmatched_defects, result.unmatched_exceptions)


@pytest.mark.parametrize("seed", [42, 4])
def test_sync_mode_fixes_what_the_flows_can_and_flags_the_rest(tmp_path: Path, seed: int) -> None:
    with running(tmp_path, seed) as description:
        result, failures = verify_running(description, "sync")
    assert failures == []
    assert result.unmatched_defects == [] and result.unmatched_exceptions == []
    fixed = {score.kind for score in result.kinds.values() if score.expected_fixed}
    assert fixed == {
        "CUSTOMER_NAME_MISMATCH",
        "CONTRACT_MISSING_IN_BILLING",
        "INVOICE_MISSING_IN_NETSUITE",
        "INVOICE_MISSING_IN_STRIPE",
        "PAYMENT_MISSING_IN_NETSUITE",
        "REFUND_MISSING_IN_NETSUITE",
    }
    assert all(score.fixed == score.expected_fixed for score in result.kinds.values())
    assert result.perfect


def test_reconciling_again_changes_nothing(tmp_path: Path) -> None:
    with running(tmp_path, 7) as description:
        verify_running(description, "observe")
        config = load_config(tmp_path / "verify-observe.yaml")
        store = Store.open(config.store_url)
        reconciler = Reconciler(store, value_maps=config.field_mappings.value_maps)
        with store.transaction() as tx:
            open_before = tx.count_open(reconciler.select(None))
        again = reconciler.run()
        full = reconciler.run(full=True)
    assert (again.opened, again.reopened, again.resolved, again.records_read) == (0, 0, 0, 0)
    assert again.incremental and again.open_total == open_before > 0
    assert (full.opened, full.reopened, full.resolved) == (0, 0, 0)
    assert full.refreshed == sum(full.found.values()) == open_before


def test_sandbox_up_json_from_a_shell_and_the_official_clients(tmp_path: Path) -> None:
    workdir = tmp_path / "sbx"
    up = subprocess.run(
        [
            sys.executable,
            "-m",
            "tieout",
            "sandbox",
            "up",
            "--background",
            "--json",
            "--workdir",
            str(workdir),
            "--seed",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        assert up.returncode == 0, up.stderr
        described = json.loads(up.stdout)
        assert set(described) >= {"salesforce", "metronome", "stripe", "netsuite", "config_path", "ca_bundle"}
        client = stripe.StripeClient(
            described["stripe"]["api_key"], base_addresses={"api": described["stripe"]["base_url"]}
        )
        assert len(client.v1.customers.list(params={"limit": 5}).data) == 5
        session = requests.Session()
        session.verify = described["salesforce"]["ca_bundle"]
        session.trust_env = False
        salesforce = Salesforce(
            instance_url=described["salesforce"]["instance_url"],
            session_id=described["salesforce"]["session_id"],
            session=session,
        )
        assert salesforce.query("SELECT COUNT() FROM Account")["totalSize"] == 40
        check = subprocess.run(
            [
                sys.executable,
                "-m",
                "tieout",
                "--config",
                described["config_path"],
                "config",
                "check",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert check.returncode == 0, check.stderr
        assert all(system["enabled"] for system in json.loads(check.stdout)["systems"].values())
    finally:
        down = subprocess.run(
            [sys.executable, "-m", "tieout", "sandbox", "down", "--workdir", str(workdir)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert down.returncode == 0, down.stderr


def test_fixing_a_record_at_its_source_closes_exactly_its_exception(tmp_path: Path) -> None:
    with running(tmp_path, 42) as description:
        verify_running(description, "observe")
        config = load_config(tmp_path / "verify-observe.yaml")
        store = Store.open(config.store_url)
        [named] = ExceptionQueue(store).list(ExceptionQuery(rule_codes=["CUSTOMER_NAME_MISMATCH"]))[0]
        open_before = ExceptionQueue(store).list(ExceptionQuery())[1]
        with store.transaction() as tx:
            account = tx.get_canonical(f"salesforce:customer:{named.customer_ref}")
            customer = next(
                record
                for record in tx.iter_canonical("customer", "netsuite")
                if record.links.get("salesforce") == named.customer_ref
            )
        assert isinstance(account, Customer) and isinstance(customer, Customer)
        # The AR team corrects the name in NetSuite, through its API.
        service = SyncService(config, store)
        fixed = customer.model_copy(update={"legal_name": account.legal_name})
        payload = netsuite_builders.customer_payload(fixed, subsidiary_id=customer.subsidiary_id or "")
        assert (
            service.connector("netsuite").push("customers", payload, idempotency_key="fix-name").operation
            == "updated"
        )
        assert all(result.status == "succeeded" for result in service.sync("netsuite", "customers"))
        result = Reconciler(store, value_maps=config.field_mappings.value_maps).run()
        service.close()
    assert result.resolved == 1
    assert ExceptionQueue(store).show(named.exception_id).exception.status == "resolved"
    assert ExceptionQueue(store).list(ExceptionQuery())[1] == open_before - 1

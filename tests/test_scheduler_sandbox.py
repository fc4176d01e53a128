"""`tieout scheduler run` against the sandbox keeps the exception queue current while the emulators change.

The scheduler syncs every second and reconciles after each sync. The test then changes NetSuite
through its API, as the AR team would: one customer's name is corrected (its mismatch must
close) and another's is mistyped (a new mismatch must open), and waits, against a deadline,
for the scheduled runs to bring the queue in line. SIGTERM then stops the scheduler with exit 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tieout.config import TieoutConfig, load_config
from tieout.mappings.netsuite import builders as netsuite_builders
from tieout.model import Customer
from tieout.runner import SyncService
from tieout.sandbox.config_writer import write_sandbox_config
from tieout.sandbox.runtime import Sandbox, SandboxOptions
from tieout.sandbox.scenario.generate import generate
from tieout.store import ExceptionQuery, Store, StoredException

RULE = "CUSTOMER_NAME_MISMATCH"


def wait_for(condition: Callable[[], object], *, what: str, deadline_seconds: float = 180.0) -> None:
    deadline = time.monotonic() + deadline_seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def scheduled_sandbox(tmp_path: Path, store_url: str) -> Iterator[Path]:
    """A running sandbox company and a config for it that syncs every second, reconciling after each."""
    sandbox = Sandbox(SandboxOptions(workdir=tmp_path, seed=42)).start()
    try:
        answer_key = generate(sandbox, seed=42)
        written = write_sandbox_config(sandbox.describe(), tmp_path, value_maps=answer_key["value_maps"])
        config: dict[str, Any] = yaml.safe_load(written.read_text())
        config["store"] = {"url": store_url}
        config["schedule"] = {
            "leader_lease_seconds": 6,
            "lock_lease_seconds": 30,
            "jobs": {
                "sync": {"run": "sync", "every": "1s", "then": ["reconcile"]},
                "reconcile": {"run": "reconcile", "every": "1h"},
            },
        }
        config["metrics"] = {"enabled": False}
        path = tmp_path / "scheduled.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        yield path
    finally:
        sandbox.stop()


def open_mismatches(store: Store) -> dict[str, StoredException]:
    with store.transaction() as tx:
        found, _ = tx.query_exceptions(ExceptionQuery(rule_codes=[RULE], limit=1000))
    return {item.customer_ref or "": item for item in found}


def reconciles_after_sync(store: Store) -> int:
    with store.transaction() as tx:
        runs = tx.list_runs(job="reconcile", limit=10_000)
    return sum(run.status == "succeeded" and run.trigger == "after:sync" for run in runs)


def rename_in_netsuite(config: TieoutConfig, store: Store, salesforce_id: str, name: str) -> None:
    with store.transaction() as tx:
        customer = next(
            record
            for record in tx.iter_canonical("customer", "netsuite")
            if isinstance(record, Customer) and record.links.get("salesforce") == salesforce_id
        )
    service = SyncService(config, store)
    try:
        payload = netsuite_builders.customer_payload(
            customer.model_copy(update={"legal_name": name}), subsidiary_id=customer.subsidiary_id or ""
        )
        assert (
            service.connector("netsuite")
            .push("customers", payload, idempotency_key=f"rename-{name}")
            .operation
            == "updated"
        )
    finally:
        service.close()


def test_the_scheduler_keeps_the_queue_current_while_the_systems_change(scheduled_sandbox: Path) -> None:
    config = load_config(scheduled_sandbox)
    store = Store.open(config.store_url)
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "tieout", "--config", str(scheduled_sandbox), "scheduler", "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        wait_for(lambda: reconciles_after_sync(store) >= 1, what="the first scheduled sync and reconcile")
        before = open_mismatches(store)
        assert before, "the sandbox company plants customer name mismatches"
        fixed_ref, fixed = next(iter(sorted(before.items())))
        with store.transaction() as tx:
            account = tx.get_canonical(f"salesforce:customer:{fixed_ref}")
            clean_refs = [
                record.native_id
                for record in tx.iter_canonical("customer", "salesforce")
                if record.native_id not in before
            ]
        assert isinstance(account, Customer) and clean_refs
        broken_ref = sorted(clean_refs)[0]
        rename_in_netsuite(config, store, fixed_ref, account.legal_name)
        rename_in_netsuite(config, store, broken_ref, "Mistyped Customer Name Ltd")

        def caught_up() -> bool:
            now = open_mismatches(store)
            return fixed_ref not in now and broken_ref in now

        wait_for(caught_up, what="the scheduled runs to close the fixed mismatch and open the new one")
        after = open_mismatches(store)
        assert set(after) == (set(before) - {fixed_ref}) | {broken_ref}
        with store.transaction() as tx:
            resolved = tx.get_exception(fixed.exception_id)
        assert resolved is not None and resolved.status == "resolved"
    finally:
        scheduler.send_signal(signal.SIGTERM)
        _, stderr = scheduler.communicate(timeout=180)
        store.close()
    assert scheduler.returncode == 0, stderr

"""Sync mode converges under a hostile network and a SIGKILL in the middle of pushing.

The sandbox (seed 42) runs in this process so the test can read the emulators' own state. Its
four injectors use the `hostile` profile (5xx, 429, dropped connections, slow responses, a
concurrency limit) at its rates, with `slow_seconds` cut from 15 s to 0.2 s and the Retry-After
of its 429s from 0.3 s to 0.05 s, and the connectors are configured
with a short backoff base (0.05 s) and eight attempts instead of five: the same faults, hit as
often, without minutes of sleeping, and with the odds of a call failing eight times running
(about 1 in 100,000) low enough that the first run reaches its flows. That variant takes about
two minutes (Metronome's Retry-After is whole seconds), so it is marked `soak`; the `make test`
variant answers 5xx where hostile answers 429, at the same combined rate, and takes about one.

`tieout sync` runs in a subprocess in sync mode and is SIGKILLed as soon as the push ledger
holds a confirmed push and a pending one (a write reserved and on its way). It is then run again
until it exits 0. The end state must be the fault-free run's: the same open exceptions (exactly
the answer key's unfixable defects), the same records created (by ledger key and by what the
emulators hold), and no target holding any record twice.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from tieout.config import load_config
from tieout.reconcile.engine import Reconciler
from tieout.sandbox.config_writer import write_sandbox_config
from tieout.sandbox.faults import FaultProfile, profile_named
from tieout.sandbox.runtime import Sandbox, SandboxOptions
from tieout.sandbox.scenario.generate import generate
from tieout.sandbox.verify import score, verify_running
from tieout.store import ExceptionQuery, Store
from tieout.testing.emulator_census import census, duplicates

SEED = 42
HOSTILE_FAST = FaultProfile.from_dict(
    {"slow_seconds": 0.2, "retry_after_seconds": 0.05}, base=profile_named("hostile")
)
# Metronome rounds Retry-After up to whole seconds, so hostile's 429s alone cost about a minute:
# the `make test` variant turns them into 5xx (the same share of calls fails, retried at once).
HOSTILE_FAST_NO_429 = FaultProfile.from_dict(
    {
        "server_error_rate": HOSTILE_FAST.server_error_rate + HOSTILE_FAST.rate_limit_rate,
        "rate_limit_rate": 0.0,
    },
    base=HOSTILE_FAST,
)
CONNECTOR_RETRIES = {"backoff_base_seconds": 0.05, "max_attempts": 8}
RESTARTS = 5


@contextmanager
def running(workdir: Path) -> Iterator[tuple[Sandbox, dict[str, Any], dict[str, Any]]]:
    """A started sandbox for SEED, its description (with config and answer key paths) and answer key."""
    sandbox = Sandbox(SandboxOptions(workdir=workdir, seed=SEED)).start()
    try:
        answer_key = generate(sandbox, seed=SEED)
        description = sandbox.describe()
        description["answer_key_path"] = str(answer_key.write_answer_key(workdir / "answer_key.json"))
        config = write_sandbox_config(description, workdir, value_maps=answer_key["value_maps"])
        description["config_path"] = str(config)
        yield sandbox, description, json.loads(Path(description["answer_key_path"]).read_text())
    finally:
        sandbox.stop()


def sync_mode_config(config_path: Path, store_path: Path) -> Path:
    """The sandbox config in sync mode, on its own SQLite store, with the fast retry settings."""
    config = yaml.safe_load(config_path.read_text())
    config["mode"] = "sync"
    config["store"] = {"url": f"sqlite:///{store_path}"}
    for system in config["systems"].values():
        system["settings"].update(CONNECTOR_RETRIES)
    path = config_path.parent / "convergence.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def tieout_sync(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tieout", "--config", str(config), "sync", "--json"],
        cwd=config.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def ledger(store_path: Path) -> list[tuple[str, str, str, str]]:
    """(idempotency key, target system, operation, status) of every push, read-only."""
    if not store_path.exists():
        return []
    connection = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True, timeout=5)
    try:
        return connection.execute(
            "SELECT idempotency_key, target_system, operation, status FROM push_ledger"
        ).fetchall()
    except sqlite3.OperationalError:
        return []  # the store's tables are not created yet
    finally:
        connection.close()


def statuses(entries: list[tuple[str, str, str, str]]) -> Counter[str]:
    return Counter(status for *_, status in entries)


def kill_mid_push(config: Path, store_path: Path) -> list[tuple[str, str, str, str]]:
    """Start `tieout sync`, SIGKILL it once a push is confirmed and another pending; the ledger then."""
    victim = tieout_sync(config)
    deadline = time.monotonic() + 300
    try:
        while True:
            counts = statuses(ledger(store_path))
            if counts["confirmed"] >= 1 and counts["pending"] >= 1:
                break
            if victim.poll() is not None or time.monotonic() > deadline:
                _, stderr = victim.communicate(timeout=30)
                pytest.fail(f"the sync ended (rc {victim.returncode}) before pushing: {stderr[-3000:]}")
            time.sleep(0.02)
    finally:
        if victim.poll() is None:
            victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    return ledger(store_path)


def restart_until_done(config: Path) -> list[dict[str, Any]]:
    """Run `tieout sync` until it exits 0; the JSON reports of every run."""
    reports = []
    for _ in range(RESTARTS):
        survivor = tieout_sync(config)
        stdout, stderr = survivor.communicate(timeout=300)
        if stdout.strip():
            reports.append(json.loads(stdout))
        if survivor.returncode == 0:
            return reports
        assert survivor.returncode == 1, stderr[-3000:]
    pytest.fail(f"`tieout sync` did not finish cleanly in {RESTARTS} runs: {reports[-1:]}")


def open_exceptions(config_path: Path) -> tuple[list[Any], dict[str, dict[str, str]]]:
    config = load_config(config_path)
    store = Store.open(config.store_url)
    try:
        Reconciler(store, value_maps=config.field_mappings.value_maps).run()
        with store.transaction() as tx:
            exceptions, _ = tx.query_exceptions(ExceptionQuery(limit=1_000_000))
    finally:
        store.close()
    return exceptions, dict(config.field_mappings.value_maps)


# ---- the test ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "profile",
    [
        pytest.param(HOSTILE_FAST_NO_429, id="hostile-5xx-for-429"),
        pytest.param(HOSTILE_FAST, id="hostile", marks=pytest.mark.soak),
    ],
)
def test_hostile_network_and_a_kill_mid_push_converge_to_the_fault_free_end_state(
    tmp_path: Path, profile: FaultProfile
) -> None:
    with running(tmp_path / "calm") as (calm, calm_description, _):
        calm_result, calm_failures = verify_running(calm_description, "sync")
        assert calm_failures == [] and calm_result.perfect
        calm_census = census(calm)
        calm_config = load_config(Path(calm_description["config_path"]).parent / "verify-sync.yaml")
        calm_ledger = ledger(Path(make_url(calm_config.store_url).database or ""))

    with running(tmp_path / "hostile") as (sandbox, description, answer_key):
        baseline = duplicates(sandbox)
        for injector in sandbox.injectors.values():
            injector.set_profile(profile)
        store_path = tmp_path / "hostile" / "state.db"
        config = sync_mode_config(Path(description["config_path"]), store_path)

        at_kill = kill_mid_push(config, store_path)
        reports = restart_until_done(config)
        final = ledger(store_path)

        exceptions, _ = open_exceptions(config)
        result = score(answer_key, exceptions, mode="sync")
        injected = {name: dict(injector.injected) for name, injector in sandbox.injectors.items()}
        hostile_census = census(sandbox)
        found = duplicates(sandbox)

    # The kill landed in the middle of the flows: some pushes confirmed, at least one in flight or
    # still to come, and the restart finished them.
    killed = statuses(at_kill)
    assert killed["confirmed"] >= 1
    assert killed["pending"] >= 1 or killed["confirmed"] < statuses(final)["confirmed"]
    assert statuses(final) == Counter({"confirmed": len(final)}), statuses(final)
    assert sum(injected[name].get(kind, 0) for name in injected for kind in ("server_error", "drop")) > 0

    # The same records were created as in the fault-free run (updates may differ in number: the
    # killed run wrote AR figures from a moment the fault-free run never saw).
    creates = {key for key, _, operation, _ in final if operation == "create"}
    assert creates == {key for key, _, operation, _ in calm_ledger if operation == "create"}

    # The queue holds exactly the answer key's unfixable defects; the fixable ones are fixed.
    assert result.unmatched_defects == [] and result.unmatched_exceptions == []
    assert result.perfect

    # The emulators hold what the fault-free run left, and nothing twice that was not planted twice.
    assert found == baseline == {}
    for what, counted in calm_census.items():
        assert hostile_census[what] == counted, what

    print(
        f"\npushes confirmed at the kill: {killed['confirmed']}, pending: {killed['pending']}; "
        f"after {len(reports)} restart(s): {statuses(final)['confirmed']} confirmed; duplicates: 0; "
        f"faults injected: {injected}"
    )

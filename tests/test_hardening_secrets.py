"""No secret in any output: sentinel credentials planted in every secret setting, every output scanned.

A small sandbox company runs in sync mode with DEBUG logging. The four connectors' credentials
(Salesforce session id, Metronome bearer token, Stripe API key, NetSuite client secret) come
from the secrets file, and Stripe and Metronome are given sentinel values of ours. Then every
command an operator runs (config check, sync with its flows, reconcile, the exception queue
and an exception's detail, status) and a sync whose Stripe key the emulator refuses
(the 401 path, with a sentinel wrong key) are run, and their stdout and stderr, which carry the
JSON logs, are scanned; so is every text column of every table of the state store (raw
payloads, exception details and explanations, run records and their errors, the push ledger).
No sentinel may appear anywhere.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from tieout.config import load_config
from tieout.sandbox.config_writer import write_sandbox_config
from tieout.sandbox.runtime import Sandbox, SandboxOptions
from tieout.sandbox.scenario.generate import generate
from tieout.store import Store
from tieout.store.schema import metadata

STRIPE_SENTINEL = "sk_test_SENTINELstripe7f3a9c1e5b2d4f6a8c0e"
STRIPE_WRONG_SENTINEL = "sk_test_SENTINELwrong0b1c2d3e4f5a6b7c8d9e"
METRONOME_SENTINEL = "SENTINEL-metronome-4e9d1c7b2a6f3e8d0c5b"


@pytest.fixture
def company(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    """A running sandbox in sync mode with sentinel credentials; its config and every secret."""
    sandbox = Sandbox(SandboxOptions(workdir=tmp_path, seed=7)).start()
    try:
        answer_key = generate(sandbox, seed=7, scale=3)
        sandbox.stripe.api_keys.add(STRIPE_SENTINEL)
        sandbox.metronome.api_tokens.add(METRONOME_SENTINEL)
        written = write_sandbox_config(sandbox.describe(), tmp_path, value_maps=answer_key["value_maps"])
        secrets_file = tmp_path / "sandbox-secrets.env"
        secrets = dict(line.split("=", 1) for line in secrets_file.read_text().splitlines() if line)
        secrets["SANDBOX_STRIPE_API_KEY"] = STRIPE_SENTINEL
        secrets["SANDBOX_METRONOME_TOKEN"] = METRONOME_SENTINEL
        secrets_file.write_text("".join(f"{key}={value}\n" for key, value in secrets.items()))
        config = yaml.safe_load(written.read_text())
        config.update(
            mode="sync", store={"url": f"sqlite:///{tmp_path}/state.db"}, logging={"level": "DEBUG"}
        )
        written.write_text(yaml.safe_dump(config, sort_keys=False))
        yield written, [*sorted(secrets.values()), STRIPE_WRONG_SENTINEL]
    finally:
        sandbox.stop()


def tieout(config: Path, *args: str) -> tuple[int, str]:
    finished = subprocess.run(
        [sys.executable, "-m", "tieout", "--config", str(config), *args],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return finished.returncode, finished.stdout + finished.stderr


def store_text(config: Path) -> Iterator[tuple[str, str]]:
    """(table.column, value) for every text value in the store."""
    store = Store.open(load_config(config).store_url)
    try:
        with store.engine.connect() as connection:
            for table in metadata.sorted_tables:
                for row in connection.execute(select(table)):
                    for column, value in row._mapping.items():
                        if isinstance(value, str | bytes):
                            yield f"{table.name}.{column}", str(value)
    finally:
        store.close()


def leaks(outputs: dict[str, str], secrets: list[str]) -> list[tuple[str, str]]:
    return [
        (where, secret[:12] + "...")
        for where, text in outputs.items()
        for secret in secrets
        if secret in text
    ]


def test_no_secret_reaches_logs_cli_output_exceptions_runs_or_errors(company: tuple[Path, list[str]]) -> None:
    config, secrets = company
    outputs: dict[str, str] = {}
    for args in (
        ("config", "check"),
        ("sync", "--json"),
        ("reconcile",),
        ("exceptions", "list"),
    ):
        code, outputs[" ".join(args)] = tieout(config, *args)
        assert code == 0, outputs[" ".join(args)][-3000:]
    exception_ids = [value for where, value in store_text(config) if where == "exceptions.fingerprint"]
    assert exception_ids, "the sandbox company plants defects: the queue is not empty"
    code, outputs["exceptions show 1"] = tieout(config, "exceptions", "show", "1")
    assert code == 0, outputs["exceptions show 1"][-2000:]

    # The 401 path: the emulator refuses a (sentinel) wrong Stripe key.
    secrets_file = config.parent / "sandbox-secrets.env"
    secrets_file.write_text(secrets_file.read_text().replace(STRIPE_SENTINEL, STRIPE_WRONG_SENTINEL))
    code, outputs["sync stripe (refused key)"] = tieout(config, "sync", "stripe")
    assert code != 0
    assert (
        "401" in outputs["sync stripe (refused key)"] or "uthenticat" in outputs["sync stripe (refused key)"]
    )
    code, outputs["status after the refusal"] = tieout(config, "status")

    for where, value in store_text(config):
        outputs[f"store {where}"] = outputs.get(f"store {where}", "") + "\n" + value
    assert any(where.startswith("store raw_records") for where in outputs)
    assert leaks(outputs, secrets) == []

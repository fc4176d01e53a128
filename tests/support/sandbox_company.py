"""A running sandbox company wired to a tieout config on a chosen store, and what its emulators hold.

For tests that sync a whole sandbox company (resync, Celery workers): `sandbox_company` starts
the emulators, generates the company and writes its config; `postgres_database` makes a
throwaway database for a module-scoped fixture; the census helpers count what the targets hold
by the keys the flows push under, so a duplicate push shows as a count above one.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import yaml

from tieout.sandbox.config_writer import write_sandbox_config
from tieout.sandbox.runtime import Sandbox, SandboxOptions
from tieout.sandbox.scenario.generate import generate

SEED = 42


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    name = f"tieout_company_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def sandbox_company(
    workdir: Path,
    store_url: str,
    *,
    mode: str = "sync",
    extra_value_maps: dict[str, dict[str, str]] | None = None,
    extra_config: dict[str, Any] | None = None,
    extra_secrets: dict[str, str] | None = None,
) -> Iterator[tuple[Sandbox, Path, dict[str, dict[str, str]]]]:
    """(the started sandbox, its config path, the value maps) for the seed-42 company."""
    sandbox = Sandbox(SandboxOptions(workdir=workdir, seed=SEED)).start()
    try:
        answer_key = generate(sandbox, seed=SEED)
        value_maps = {name: dict(values) for name, values in answer_key["value_maps"].items()}
        for name, values in (extra_value_maps or {}).items():
            value_maps.setdefault(name, {}).update(values)
        config_path = write_sandbox_config(sandbox.describe(), workdir, value_maps=value_maps, mode=mode)
        config = yaml.safe_load(config_path.read_text())
        config["store"] = {"url": store_url}
        config.update(extra_config or {})
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        if extra_secrets:
            secrets = workdir / config["secrets_file"]
            secrets.write_text(
                secrets.read_text() + "".join(f"{key}={value}\n" for key, value in extra_secrets.items())
            )
        yield sandbox, config_path, value_maps
    finally:
        sandbox.stop()


def netsuite_customers(sandbox: Sandbox, external_id: str) -> int:
    with sandbox.netsuite.lock:
        rows = sandbox.netsuite.db.execute(
            "SELECT COUNT(*) AS n FROM customer WHERE externalid = ?", (external_id,)
        ).fetchall()
    return int(rows[0]["n"])


def stripe_customers(sandbox: Sandbox, account_id: str) -> int:
    with sandbox.stripe.lock:
        records = list(sandbox.stripe.tables["customer"].records.values())
    return sum(
        1 for record in records if (record.get("metadata") or {}).get("salesforce_account_id") == account_id
    )


def pushed_twice(sandbox: Sandbox) -> dict[str, list[str]]:
    """Keys some target holds more than once: NetSuite externalIds, Stripe twins by their source."""
    with sandbox.netsuite.lock:
        customers = [
            row["externalid"] for row in sandbox.netsuite.db.execute("SELECT externalid FROM customer")
        ]
        documents = [
            f"{row['type']}:{row['externalid']}"
            for row in sandbox.netsuite.db.execute('SELECT type, externalid FROM "transaction"')
        ]
    with sandbox.stripe.lock:
        stripe_customers = [
            (record.get("metadata") or {}).get("salesforce_account_id")
            for record in sandbox.stripe.tables["customer"].records.values()
        ]
        stripe_invoices = [
            (record.get("metadata") or {}).get("metronome_invoice_id")
            for record in sandbox.stripe.tables["invoice"].records.values()
        ]
    found: dict[str, list[str]] = {}
    for label, keys in (
        ("netsuite customer", customers),
        ("netsuite transaction", documents),
        ("stripe customer", stripe_customers),
        ("stripe invoice", stripe_invoices),
    ):
        counts = Counter(key for key in keys if key and not str(key).endswith(":None"))
        repeated = sorted(str(key) for key, count in counts.items() if count > 1)
        if repeated:
            found[label] = repeated
    return found

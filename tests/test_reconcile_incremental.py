"""Incremental reconcile against a full one: after any mix of changes, the queue is what a full run makes it.

A reconcile looks only at what the change log says changed and at what that reaches
(`tieout/reconcile/changes.py`). Here rounds of random changes of every kind the rules read
(amounts, currencies, statuses, links, customers' names, currencies and accounts, where a payment
is applied, money left unapplied, failed charges, deletions, new duplicates) are written between
runs. After each incremental run a full run of the row engine, the reference, must find the queue
exactly as it is: nothing to open, reopen, refresh or resolve, not one row rewritten.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tieout import jsonutil
from tieout.reconcile.columnar import Facts
from tieout.reconcile.engine import Reconciler
from tieout.reconcile.synthetic import generate
from tieout.store import Store
from tieout.store.records import decode_canonical
from tieout.store.schema import exceptions

Payload = dict[str, Any]


def _money(payload: Payload, field: str, delta: Decimal) -> None:
    if payload.get(field):
        payload[field]["amount"] = str(Decimal(payload[field]["amount"]) + delta)


def _amount(payload: Payload, rng: random.Random) -> None:
    delta = Decimal(rng.choice([1, -1, 5]))
    for field in ("subtotal", "total", "amount_due", "amount_remaining"):
        _money(payload, field, delta)


def _currency(payload: Payload, rng: random.Random) -> None:
    """The record, and every amount in it, in another currency (a record is in one currency)."""
    other = "EUR" if payload.get("currency") != "EUR" else "USD"

    def switch(value: Any) -> None:
        if isinstance(value, dict):
            if "currency" in value:
                value["currency"] = other
            for item in value.values():
                switch(item)
        elif isinstance(value, list):
            for item in value:
                switch(item)

    switch(payload)


def _invoice_status(payload: Payload, rng: random.Random) -> None:
    if payload["system"] == "stripe":
        payload["status"] = "paid" if payload["status"] == "open" else "open"
    else:
        remaining = payload["amount_remaining"]
        remaining["amount"] = "0.00" if Decimal(remaining["amount"]) else payload["amount_due"]["amount"]


def _unlink(payload: Payload, rng: random.Random) -> None:
    payload["links"] = {}


def _reapply(payload: Payload, rng: random.Random) -> None:
    if payload.get("applications"):
        prefix, number = payload["applications"][0]["invoice_id"].rsplit("_", 1)
        other = max(0, int(number) + rng.choice([-1, 1]))
        payload["applications"][0]["invoice_id"] = f"{prefix}_{other:0{len(number)}d}"


def _unapplied(payload: Payload, rng: random.Random) -> None:
    if payload["system"] == "netsuite":
        payload["unapplied"] = {"amount": payload["gross"]["amount"], "currency": payload["currency"]}
        payload["applications"] = []


def _charge_status(payload: Payload, rng: random.Random) -> None:
    payload["status"] = "failed" if payload["status"] == "succeeded" else "succeeded"


def _customer(payload: Payload, rng: random.Random) -> None:
    choice = rng.choice(["name", "currency", "account"])
    if choice == "name":
        payload["legal_name"] = payload["legal_name"] + " Holdings"
    elif choice == "currency":
        _currency(payload, rng)
    elif payload.get("links", {}).get("salesforce"):
        account = payload["links"]["salesforce"]
        payload["links"]["salesforce"] = f"{int(account) + rng.choice([1, -1]):018d}"


_EDITS: dict[str, list[Callable[[Payload, random.Random], None]]] = {
    "invoice": [_amount, _currency, _invoice_status, _unlink],
    "payment": [_reapply, _unapplied, _charge_status, _amount, _unlink],
    "customer": [_customer],
    "refund": [_unlink, _charge_status],
}


def _mutate(store: Store, rng: random.Random, count: int, round_number: int) -> int:
    """Write `count` random changes; returns how many records were written."""
    at = datetime(2026, 11, 2, tzinfo=UTC) + timedelta(days=round_number)
    with store.transaction() as tx:
        rows = {row[0]: row for chunk in tx.stream_canonical_rows(5000) for row in chunk}
    chosen = rng.sample(sorted(record_id for record_id, row in rows.items() if not row[5]), count)
    written: set[str] = set()
    rewrites: list[dict[str, Any]] = []
    with store.transaction() as tx:
        streams = tx.record_streams(chosen)
        for record_id in chosen:
            _, kind, _, text, _, _, _ = rows[record_id]
            action = rng.random()
            if action < 0.1 or kind not in _EDITS:
                record = decode_canonical(kind, text)
                tx.upsert_canonical([(record.model_copy(update={"deleted": True}), streams[record_id])], at)
            elif action < 0.2 and kind == "invoice":
                record = decode_canonical(kind, text)
                twin = record.model_copy(update={"native_id": f"{record.native_id}_dup{round_number}"})
                tx.upsert_canonical([(twin, streams[record_id])], at)
            else:
                payload = jsonutil.loads(text)
                rng.choice(_EDITS[kind])(payload, rng)
                encoded = jsonutil.dumps(payload)
                rewrites.append(
                    {
                        "record_id": record_id,
                        "payload": encoded,
                        "content_hash": jsonutil.text_hash(encoded),
                        "stored_at": at,
                    }
                )
            written.add(record_id)
        tx.rewrite_canonical_payloads(rewrites)
    return len(written)


def _exception_rows(store: Store) -> list[Any]:
    with store.transaction() as tx:
        return list(tx.connection.execute(exceptions.select().order_by(exceptions.c.exception_id)).all())


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_after_random_changes_the_incremental_queue_is_the_full_runs_queue(
    store: Store, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    ledger = generate(store, 300, seed=seed, defect_rate=0.01)
    records = sum(ledger.counts.values())
    facts_path = tmp_path / "facts.duckdb"
    Reconciler(store, facts_path=facts_path).run()
    for round_number in range(3):
        written = _mutate(store, rng, rng.randint(1, 25), round_number)
        incremental = Reconciler(store, facts_path=facts_path).run()
        assert 0 < incremental.projected <= written + 25  # only what changed (and new duplicates)
        assert incremental.records_read < records
        queue = _exception_rows(store)
        reference = Reconciler(store, engine="rows").run()
        assert (reference.opened, reference.reopened, reference.resolved) == (0, 0, 0), (
            f"round {round_number}: a full run still had work: {reference.as_dict()}"
        )
        assert _exception_rows(store) == queue


def test_a_run_of_some_rules_makes_the_next_run_look_at_everything(store: Store, tmp_path: Path) -> None:
    """A run of some rules moves the projection on without settling the others, so the next run of
    every rule cannot know what changed for them and looks at every record."""
    rng = random.Random(9)
    ledger = generate(store, 200, seed=9, defect_rate=0.01)
    facts_path = tmp_path / "facts.duckdb"
    Reconciler(store, facts_path=facts_path).run()
    _mutate(store, rng, 20, 0)
    Reconciler(store, facts_path=facts_path).run(["PAYMENT_MISSING_IN_NETSUITE"])
    everything = Reconciler(store, facts_path=facts_path).run()
    quiet = Reconciler(store, facts_path=facts_path).run()
    assert everything.records_read > quiet.records_read == 0
    queue = _exception_rows(store)
    reference = Reconciler(store, engine="rows").run()
    assert (reference.opened, reference.reopened, reference.resolved) == (0, 0, 0)
    assert _exception_rows(store) == queue
    assert sum(ledger.counts.values()) > 0


def test_changed_value_maps_make_the_next_run_look_at_everything(store: Store, tmp_path: Path) -> None:
    generate(store, 100, seed=4, defect_rate=0.02)
    facts_path = tmp_path / "facts.duckdb"
    Reconciler(store, facts_path=facts_path).run()
    assert Reconciler(store, facts_path=facts_path).run().records_read == 0
    remapped = {"netsuite_subsidiary": {"US": "1", "EU": "2"}}
    assert Reconciler(store, facts_path=facts_path, value_maps=remapped).run().records_read > 0


def test_a_projection_behind_a_pruned_change_log_is_rebuilt(store: Store, tmp_path: Path) -> None:
    """A complete run forgets change-log entries far behind its watermark; another projection that
    had not read them (another host's file) can no longer catch up from the log, and is rebuilt."""
    rng = random.Random(3)
    ledger = generate(store, 150, seed=3, defect_rate=0.02)
    here, elsewhere = tmp_path / "here.duckdb", tmp_path / "elsewhere.duckdb"
    Reconciler(store, facts_path=here).run()
    Reconciler(store, facts_path=elsewhere).run()
    _mutate(store, rng, 10, 0)
    assert Reconciler(store, facts_path=here).run().incremental
    facts = Facts(store, here)
    try:
        assert facts.prune_change_log(kept=0) > 0
    finally:
        facts.close()
    with store.transaction() as tx:
        assert tx.change_tail() == tx.change_head()  # the newest entry stays
    behind = Reconciler(store, facts_path=elsewhere).run()
    assert not behind.incremental and behind.projected > sum(ledger.counts.values()) // 2  # rebuilt whole
    _mutate(store, rng, 5, 1)
    assert Reconciler(store, facts_path=here).run().incremental
    queue = _exception_rows(store)
    reference = Reconciler(store, engine="rows").run()
    assert (reference.opened, reference.reopened, reference.resolved) == (0, 0, 0)
    assert _exception_rows(store) == queue

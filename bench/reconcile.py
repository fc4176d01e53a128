"""Reconcile benchmark: a million invoices mirrored across three systems, a million payments.

Generates the ledger straight into a fresh SQLite state store (`tieout.reconcile.synthetic`:
customers in four currencies, every billing invoice in Stripe and NetSuite, each paid by a
Stripe charge recorded as a NetSuite payment, and a share of twelve defect kinds planted), then
prints:

- a full reconcile's wall time and peak memory (targets: <= 10 s, <= 1.5 GB);
- a re-reconcile after `--change` of the invoices changed (target <= 2 s, work proportional to
  the change), with how many records it re-read;
- recall and precision of the queue against the planted defects, after each.

Each reconcile runs in a child process so its peak memory (max RSS) is its own. The machine is
shared: run it alone for figures to quote. `--invoices 20000` finishes in about a minute.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tieout.reconcile.engine import Reconciler
from tieout.reconcile.synthetic import DEFECT_KINDS, Ledger, change, generate
from tieout.store import Store


def _step(url: str) -> None:
    """In the child: one reconcile, its figures as JSON on stdout."""
    store = Store.open(url)
    started = time.perf_counter()
    result = Reconciler(store).run()
    seconds = time.perf_counter() - started
    with store.transaction() as tx:
        queue = {
            item.fingerprint: item.rule_code for item in tx.list_exceptions(status=("open",), limit=10**8)
        }
    store.close()
    print(json.dumps({"seconds": seconds, "result": result.as_dict(), "queue": queue}))


def _measure(url: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--step", url]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise SystemExit(f"reconcile step failed (status {status})")
    figures: dict[str, Any] = json.loads(output)
    figures["max_rss_mb"] = usage.ru_maxrss / 1024
    return figures


def _score(label: str, ledger: Ledger, queue: dict[str, str]) -> None:
    found = Counter(code for fingerprint, code in queue.items() if fingerprint in ledger.expected)
    planted = Counter(ledger.expected.values())
    extra = Counter(code for fingerprint, code in queue.items() if fingerprint not in ledger.expected)
    hits, total_planted, total_found = sum(found.values()), sum(planted.values()), len(queue)
    recall = hits / total_planted if total_planted else 1.0
    precision = hits / total_found if total_found else 1.0
    print(
        f"{label}: recall {recall:.2%} ({hits}/{total_planted}), precision {precision:.2%} ({hits}/{total_found})"
    )
    for code in DEFECT_KINDS:
        if found[code] != planted[code] or extra[code]:
            print(f"  {code}: planted {planted[code]}, found {found[code]}, not planted {extra[code]}")


def _report(label: str, figures: dict[str, Any]) -> None:
    result = figures["result"]
    print(
        f"{label}: {figures['seconds']:.2f} s, peak {figures['max_rss_mb']:,.0f} MB; "
        f"{sum(result['found'].values()):,} mismatches, {result['opened']:,} opened, "
        f"{result['resolved']:,} resolved"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--defect-rate", type=float, default=0.0002, help="share of invoices per defect kind")
    parser.add_argument(
        "--change", type=float, default=0.01, help="share of invoices changed before the re-run"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--step", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        _step(args.step)
        return
    workdir = Path(tempfile.mkdtemp(prefix="tieout-bench-reconcile-"))
    url = f"sqlite:///{workdir / 'state.db'}"
    store = Store.open(url)
    started = time.perf_counter()
    ledger = generate(store, args.invoices, seed=args.seed, defect_rate=args.defect_rate)
    store.close()
    records = sum(ledger.counts.values())
    print(
        f"generated {records:,} records in {time.perf_counter() - started:.1f} s: "
        + ", ".join(f"{count:,} {name}s" for name, count in sorted(ledger.counts.items()))
    )
    print(f"planted {len(ledger.expected):,} defects ({args.defect_rate:.2%} of invoices per kind)")
    full = _measure(url)
    _report("full reconcile", full)
    _score("full reconcile", ledger, full["queue"])
    store = Store.open(url)
    written = change(store, ledger, args.change)
    store.close()
    print(
        f"changed {written:,} records ({args.change:.0%} of invoices, plus the planted total differences fixed)"
    )
    again = _measure(url)
    _report("re-reconcile after the change", again)
    _score("re-reconcile", ledger, again["queue"])


if __name__ == "__main__":
    main()

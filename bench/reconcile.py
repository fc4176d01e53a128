"""Reconcile benchmark: a million invoices mirrored across three systems, a million payments.

Generates the ledger straight into a fresh SQLite state store (`tieout.reconcile.synthetic`:
customers in four currencies, every billing invoice in Stripe and NetSuite, each paid by a
Stripe charge recorded as a NetSuite payment, and a share of twelve defect kinds planted), then
prints:

- a full reconcile's wall time and peak memory (targets: <= 10 s, <= 1.5 GB);
- a re-reconcile after `--change` of the invoices changed (target <= 2 s, work proportional to
  the change: the changed records re-projected, and only what they reach screened, decoded and
  checked), with how many records it projected and decoded; then another after a smaller change
  (`--then-change`), to show what part of the time follows the change and what part is fixed;
- recall and precision of the queue against the planted defects, after each;
- on the same data exported to Parquet (from the columnar projection), the invoice comparison
  done by a plain DuckDB full outer join (three systems, plus payments) and by datacompy's
  pandas and polars backends (billing against NetSuite), and the ratios of tieout's figures to
  theirs. The baselines only compare; tieout also files, resolves and explains.

Each reconcile runs in a child process so its peak memory (max RSS) is its own. The machine is
shared: run it alone for figures to quote. `--invoices 20000` finishes in about a minute. With
`--data DIR` the generated store (and the ledger of what was planted) is kept in DIR and copied
from there on later runs, which saves the generation (five minutes at a million invoices).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import datacompy
import duckdb
import pandas  # type: ignore[import-untyped]
import polars

from tieout.reconcile.engine import ENGINES, Reconciler
from tieout.reconcile.synthetic import DEFECT_KINDS, Ledger, change, generate
from tieout.store import Store

# Figures show as they come, also when the output is piped.
print = functools.partial(print, flush=True)


def _step(url: str, engine: str, full: bool) -> None:
    """In the child: one reconcile, its figures as JSON on stdout."""
    store = Store.open(url)
    started = time.perf_counter()
    result = Reconciler(store, engine=engine).run(full=full)
    seconds = time.perf_counter() - started
    with store.transaction() as tx:
        queue = {
            item.fingerprint: item.rule_code for item in tx.list_exceptions(status=("open",), limit=10**8)
        }
    store.close()
    print(json.dumps({"seconds": seconds, "result": result.as_dict(), "queue": queue}))


def _measure(url: str, engine: str, *, full: bool = False) -> dict[str, Any]:
    command = [sys.executable, __file__, "--step", url, "--engine", engine, *(["--full"] if full else [])]
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
        f"{result['resolved']:,} resolved; {result['projected']:,} records projected, "
        f"{result['records_read']:,} decoded; {'only what changed' if result['incremental'] else 'everything'} "
        f"looked at, {result['open_total']:,} open in the queue"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--defect-rate", type=float, default=0.0002, help="share of invoices per defect kind")
    parser.add_argument(
        "--change", type=float, default=0.01, help="share of invoices changed before the re-run"
    )
    parser.add_argument(
        "--then-change", type=float, default=0.001, help="share of invoices changed before a second re-run"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", type=Path, help="keep the generated store here and reuse it")
    parser.add_argument("--engine", choices=ENGINES, default="columnar", help="rows: the reference engine")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--full", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        _step(args.step, args.engine, args.full)
        return
    workdir = Path(tempfile.mkdtemp(prefix="tieout-bench-reconcile-"))
    try:
        _bench(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _bench(args: argparse.Namespace, workdir: Path) -> None:
    url = f"sqlite:///{workdir / 'state.db'}"
    started = time.perf_counter()
    ledger = _ledger(args, workdir)
    records = sum(ledger.counts.values())
    print(
        f"generated {records:,} records in {time.perf_counter() - started:.1f} s: "
        + ", ".join(f"{count:,} {name}s" for name, count in sorted(ledger.counts.items()))
    )
    print(f"planted {len(ledger.expected):,} defects ({args.defect_rate:.2%} of invoices per kind)")
    if args.engine == "columnar":
        _report("first reconcile (projects every record into the columnar cache)", _measure(url, args.engine))
    full = _measure(url, args.engine, full=True)
    _report("full reconcile (every screen and derived table recomputed over every record)", full)
    _score("full reconcile", ledger, full["queue"])
    store = Store.open(url)
    written = change(store, ledger, args.change)
    store.close()
    print(
        f"changed {written:,} records ({args.change:.0%} of invoices, plus the planted total differences fixed)"
    )
    again = _measure(url, args.engine)
    _report("re-reconcile after the change", again)
    _score("re-reconcile", ledger, again["queue"])
    if args.then_change:
        store = Store.open(url)
        written = change(store, ledger, args.then_change, seed=12)
        store.close()
        print(f"changed {written:,} more records ({args.then_change:.1%} of invoices)")
        smaller = _measure(url, args.engine)
        _report("re-reconcile after the smaller change", smaller)
        _score("re-reconcile", ledger, smaller["queue"])
    if args.engine == "columnar":
        _baselines(workdir, full["seconds"], again["seconds"])


def _ledger(args: argparse.Namespace, workdir: Path) -> Ledger:
    """Generate the store in the work directory, or copy it from `--data` (generating it there first)."""
    if args.data is None:
        store = Store.open(f"sqlite:///{workdir / 'state.db'}")
        ledger = generate(store, args.invoices, seed=args.seed, defect_rate=args.defect_rate)
        store.close()
        return ledger
    kept = args.data / f"{args.invoices}-{args.seed}-{args.defect_rate}"
    if not (kept / "ledger.pickle").exists():
        kept.mkdir(parents=True, exist_ok=True)
        store = Store.open(f"sqlite:///{kept / 'state.db'}")
        ledger = generate(store, args.invoices, seed=args.seed, defect_rate=args.defect_rate)
        store.close()
        (kept / "ledger.pickle").write_bytes(pickle.dumps(ledger))
    print(f"copying the generated store from {kept}")
    shutil.copy(kept / "state.db", workdir / "state.db")
    loaded: Ledger = pickle.loads((kept / "ledger.pickle").read_bytes())
    return loaded


def _export(workdir: Path) -> dict[str, Path]:
    """Invoices per system and payments per system from the projection, amounts in thousandths."""
    facts = duckdb.connect(str(workdir / "state.db.reconcile.duckdb"), read_only=True)
    files = {}
    key = {"metronome": "native_id", "stripe": "link_metronome", "netsuite": "link_metronome"}
    for system, column in key.items():
        files[f"invoices_{system}"] = workdir / f"invoices_{system}.parquet"
        facts.execute(
            f"COPY (SELECT coalesce({column}, native_id) AS key, currency, CAST(subtotal * 1000 AS BIGINT) AS subtotal,"
            f" CAST(tax * 1000 AS BIGINT) AS tax, CAST(total * 1000 AS BIGINT) AS total FROM facts"
            f" WHERE kind = 'invoice' AND system = '{system}') TO '{files[f'invoices_{system}']}' (FORMAT parquet)"
        )
    for system, column in (("stripe", "native_id"), ("netsuite", "link_stripe")):
        files[f"payments_{system}"] = workdir / f"payments_{system}.parquet"
        facts.execute(
            f"COPY (SELECT coalesce({column}, native_id) AS key, currency, CAST(total * 1000 AS BIGINT) AS amount"
            f" FROM facts WHERE kind = 'payment' AND system = '{system}')"
            f" TO '{files[f'payments_{system}']}' (FORMAT parquet)"
        )
    facts.close()
    return files


def _duckdb_baseline(files: dict[str, Path]) -> tuple[float, int]:
    started = time.perf_counter()
    db = duckdb.connect()
    m, s, n = (
        f"read_parquet('{files[f'invoices_{system}']}')" for system in ("metronome", "stripe", "netsuite")
    )
    invoices = db.execute(
        f"SELECT count(*) FROM {m} m FULL OUTER JOIN {s} s ON s.key = m.key FULL OUTER JOIN {n} n ON n.key = m.key"
        " WHERE m.key IS NULL OR s.key IS NULL OR n.key IS NULL OR s.currency <> m.currency"
        " OR n.currency <> m.currency OR s.subtotal <> m.subtotal OR n.subtotal <> m.subtotal"
        " OR s.tax <> n.tax OR s.total <> n.total"
    ).fetchall()[0][0]
    stripe, netsuite = (f"read_parquet('{files[f'payments_{system}']}')" for system in ("stripe", "netsuite"))
    payments = db.execute(
        f"SELECT count(*) FROM {stripe} c FULL OUTER JOIN {netsuite} p ON p.key = c.key"
        " WHERE c.key IS NULL OR p.key IS NULL OR c.amount <> p.amount"
    ).fetchall()[0][0]
    db.close()
    return time.perf_counter() - started, int(invoices + payments)


def _datacompy_pandas(files: dict[str, Path]) -> tuple[float, int]:
    started = time.perf_counter()
    billing = pandas.read_parquet(files["invoices_metronome"])
    ledger = pandas.read_parquet(files["invoices_netsuite"])
    compare = datacompy.PandasCompare(billing, ledger, join_columns="key")
    differing = len(compare.all_mismatch()) + len(compare.df1_unq_rows) + len(compare.df2_unq_rows)
    return time.perf_counter() - started, differing


def _datacompy_polars(files: dict[str, Path]) -> tuple[float, int]:
    started = time.perf_counter()
    billing = polars.read_parquet(files["invoices_metronome"])
    ledger = polars.read_parquet(files["invoices_netsuite"])
    compare = datacompy.PolarsCompare(billing, ledger, join_columns="key")
    differing = len(compare.all_mismatch()) + len(compare.df1_unq_rows) + len(compare.df2_unq_rows)
    return time.perf_counter() - started, differing


def _baselines(workdir: Path, full_seconds: float, again_seconds: float) -> None:
    files = _export(workdir)
    print("baselines on the same data in Parquet (after the change):")
    for label, run in (
        ("DuckDB full outer join, 3 systems + payments", _duckdb_baseline),
        ("datacompy pandas, billing vs NetSuite", _datacompy_pandas),
        ("datacompy polars, billing vs NetSuite", _datacompy_polars),
    ):
        seconds, differing = run(files)
        print(
            f"  {label}: {seconds:.2f} s ({differing:,} rows differ); tieout full reconcile "
            f"{full_seconds / seconds:.2f}x, re-reconcile {again_seconds / seconds:.2f}x its time"
        )


if __name__ == "__main__":
    main()

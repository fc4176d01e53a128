"""Web queue benchmark: page latencies of the exception queue with 100,000 exceptions in the store.

Fills a fresh store (SQLite by default, or `--store-url postgresql://...`) with `--count`
exceptions (default 100,000) spread over every rule, four currencies, four subsidiaries, a few
assignees and a year of first-seen dates, through the store's own filing path (each with its
audit event). Then it serves the web app in-process and times each page `--repeat` times: the
default queue, filtered views, a deep page, an exception's detail page, the export of a filtered
view and the dashboard. It prints the median and the slowest time per page, server-side (routing,
queries, rendering), with the process's CPU time beside the wall time, since the machine may be
shared. Target: every queue page under 300 ms at 100,000 exceptions.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from tieout.config import load_config
from tieout.findings import Finding, Severity
from tieout.money import Money
from tieout.reconcile.rules import all_checks, all_rules
from tieout.store import Store
from tieout.web.accounts import Accounts
from tieout.web.app import create_app

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
from starlette.testclient import TestClient  # noqa: E402

CURRENCIES = ("USD", "EUR", "GBP", "JPY")
ASSIGNEES = (None, None, "ana", "ben", "chloe")
PASSWORD = "bench password 1"
PAGES = [
    ("queue, default view", "/queue"),
    ("queue, one rule", "/queue?rule=INVOICE_TOTAL_DIFFERS"),
    ("queue, customer name search", "/queue?customer=labs%200042"),
    ("queue, currency + severity", "/queue?currency=EUR&severity=critical&severity=high"),
    ("queue, assigned to one person", "/queue?assignee=ana"),
    ("queue, unassigned, oldest first", "/queue?assignee=!none&sort=age"),
    ("queue, over 90 days, 200 rows", "/queue?age=older&per_page=200"),
    ("queue, page 500", "/queue?page=500"),
    ("queue, every status", "/queue?status=open&status=in_progress&status=resolved&status=ignored"),
    ("exception detail", "/exceptions/{middle}"),
    ("export CSV, one rule", "/queue/export?format=csv&rule=UNAPPLIED_CASH"),
    ("dashboard", "/dashboard"),
]


def fill(store: Store, count: int, now: datetime) -> float:
    codes = [rule.code for rule in all_rules(all_checks({}))]
    severities = list(Severity)
    started = time.perf_counter()
    batch: list[Finding] = []
    for number in range(count):
        currency = CURRENCIES[number % len(CURRENCIES)]
        batch.append(
            Finding(
                rule_code=codes[number % len(codes)],
                title=f"Bench exception {number}",
                explanation="A generated exception for the web queue benchmark.",
                severity=severities[number % len(severities)],
                record_ids=(f"netsuite:invoice:{number}", f"stripe:invoice:in_{number}"),
                details={
                    "systems": ["stripe", "netsuite"],
                    "fields": [{"field": "total", "values": [str(number), str(number + 1)], "differs": True}],
                },
                customer_ref=f"cust_{number % 5000}",
                customer_name=f"Customer Labs {number % 5000:04d} Inc.",
                subsidiary_id=str(1 + number % 4),
                amount_at_risk=Money(amount=Decimal(number % 100_000) / 10, currency=currency),
            )
        )
        if len(batch) == 5000 or number == count - 1:
            first_seen = now - timedelta(days=(number * 7) % 365)
            with store.transaction() as tx:
                tx.file_findings(batch, at=first_seen, run_id=None)
            batch = []
    with store.transaction() as tx:
        for exception_id in range(1, count + 1, 4):
            assignee = ASSIGNEES[exception_id % len(ASSIGNEES)]
            if assignee:
                tx.update_exception(exception_id, assignee=assignee, status="in_progress")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--store-url", help="an empty database (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tieout-web-bench-") as workdir:
        store_url = args.store_url or f"sqlite:///{workdir}/bench.db"
        config_path = Path(workdir) / "tieout.yaml"
        config_path.write_text(f'version: 1\nstore: {{url: "{store_url}"}}\nsystems: {{}}\n')
        config = load_config(config_path)
        store = Store.open(store_url)
        now = datetime.now(UTC)
        seconds = fill(store, args.count, now)
        print(f"filled {args.count:,} exceptions in {seconds:.1f} s ({store.dialect})")
        Accounts(store).add_user("bench", PASSWORD, "resolver")
        with TestClient(create_app(config, store)) as client:
            login = client.get("/login").text
            token = login.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            client.post("/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token})
            print(f"{'page':<34} {'median ms':>10} {'slowest ms':>11} {'cpu ms':>8} {'bytes':>9}")
            for label, path in PAGES:
                url = path.format(middle=args.count // 2)
                walls, cpus, size = [], [], 0
                for _ in range(args.repeat):
                    wall, cpu = time.perf_counter(), time.process_time()
                    response = client.get(url)
                    walls.append((time.perf_counter() - wall) * 1000)
                    cpus.append((time.process_time() - cpu) * 1000)
                    if response.status_code != 200:
                        raise SystemExit(f"{url}: HTTP {response.status_code}")
                    size = len(response.content)
                print(
                    f"{label:<34} {statistics.median(walls):>10.1f} {max(walls):>11.1f} "
                    f"{statistics.median(cpus):>8.1f} {size:>9,}"
                )
        store.close()


if __name__ == "__main__":
    main()

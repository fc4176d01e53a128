"""The dashboard: AR aging by subsidiary and currency, DSO, unapplied cash, open exceptions by
rule and severity, and the health of every sync and flow (last run, failures, lag).

The AR figures come from NetSuite's open items as last synced (`tieout.reconcile.ar`), computed
at most once a minute; the DSO trend from the nightly AR snapshots; runs from the store's run
records.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from tieout.model import Customer, Invoice, Payment
from tieout.reconcile.ar import BUCKETS, ERP_SYSTEM, ArReport, GroupBy, build_report
from tieout.store import RunRecord
from tieout.web.charts import AgingBar, aging_chart, count_bar, line_chart
from tieout.web.context import WebContext, render, web_context
from tieout.web.formatting import system_name
from tieout.web.queue_view import rule_titles, subsidiary_names
from tieout.web.security import Viewer

router = APIRouter()
REPORT_SECONDS = 60
TREND_DAYS = 180
JOB_KINDS = {"resync": "pulled again", "backfill": "backfill", "webhook": "webhook"}
RUN_HISTORY = 5000


@dataclass(frozen=True)
class JobHealth:
    job: str
    label: str
    last: RunRecord
    last_success_at: datetime | None
    failures_24h: int
    lag_seconds: float | None
    """Seconds since the job last finished successfully (None if it never has)."""


def ar_report(context: WebContext) -> ArReport:
    now = context.clock()
    cached = context.cache.get("ar_report")
    if cached is not None and now - cached[0] < timedelta(seconds=REPORT_SECONDS):
        report: ArReport = cached[1]
        return report
    with context.store.transaction() as tx:
        invoices = [r for r in tx.iter_canonical(Invoice.kind, ERP_SYSTEM) if isinstance(r, Invoice)]
        payments = [r for r in tx.iter_canonical(Payment.kind, ERP_SYSTEM) if isinstance(r, Payment)]
        customers = [r for r in tx.iter_canonical(Customer.kind, ERP_SYSTEM) if isinstance(r, Customer)]
    report = build_report(invoices, payments, customers, as_of=now.date())
    context.cache["ar_report"] = (now, report)
    return report


def sync_health(context: WebContext) -> list[JobHealth]:
    now = context.clock()
    with context.store.transaction() as tx:
        runs = tx.list_runs(limit=RUN_HISTORY)
    by_job: dict[str, list[RunRecord]] = defaultdict(list)
    for run in runs:
        by_job[run.job].append(run)
    health = []
    for job, history in by_job.items():
        last = history[0]
        success = next((run.finished_at for run in history if run.status == "succeeded"), None)
        failures = sum(
            1 for run in history if run.status == "failed" and now - run.started_at < timedelta(days=1)
        )
        health.append(
            JobHealth(
                job=job,
                label=_job_label(last),
                last=last,
                last_success_at=success,
                failures_24h=failures,
                lag_seconds=(now - success).total_seconds() if success else None,
            )
        )
    return sorted(health, key=lambda item: (not item.job.startswith("flow:"), item.label))


def _job_label(run: RunRecord) -> str:
    kind = run.job.split(":", 1)[0]
    if kind == "flow":
        return "Flow: " + run.job.removeprefix("flow:").replace("_", " ")
    if run.system and run.stream:
        label = f"{system_name(run.system)} {run.stream.replace('_', ' ')}"
        return label if kind == "sync" else f"{label} ({JOB_KINDS.get(kind, kind)})"
    return run.job.replace("_", " ").replace(":", " ")


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, user: Viewer) -> Response:
    context = web_context(request)
    report = ar_report(context)
    names = subsidiary_names(context)
    panels: dict[str, list[AgingBar]] = defaultdict(list)
    for row in report.aging[GroupBy.SUBSIDIARY]:
        label = names.get(row.key, f"Subsidiary {row.key}" if row.key else "No subsidiary")
        panels[row.currency].append(AgingBar(label, row.currency, row.buckets))
    charts = [
        (currency, aging_chart(bars, BUCKETS, chart_id=f"aging-{currency.lower()}"), bars)
        for currency, bars in sorted(panels.items())
    ]
    with context.store.transaction() as tx:
        by_rule = sorted(tx.count_by_rule().items(), key=lambda item: (-item[1], item[0]))
        by_severity = tx.count_open_by_severity()
        trend = tx.dso_trend(since=report.as_of - timedelta(days=TREND_DAYS))
    series = {
        f"{names.get(subsidiary_id, subsidiary_id)} ({currency})": [
            (day, days) for day, days in points if days is not None
        ]
        for (subsidiary_id, currency), points in sorted(trend.items())
    }
    series = {name: points for name, points in series.items() if points}
    largest = max((count for _, count in by_rule), default=0)
    return render(
        request,
        "dashboard.html",
        report=report,
        charts=charts,
        buckets=BUCKETS,
        subsidiaries=names,
        by_rule=[(code, count, count_bar(count, largest)) for code, count in by_rule],
        by_severity=by_severity,
        titles=rule_titles(context),
        health=sync_health(context),
        dso_chart=line_chart(series, chart_id="dso", unit="DSO in days")
        if any(len(points) > 1 for points in series.values())
        else None,
        unapplied=sorted(report.unapplied, key=lambda item: (item.currency, -item.amount.amount))[:10],
        now=context.clock(),
    )

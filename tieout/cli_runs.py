"""`tieout runs list|show` and `tieout status`: what ran, and how each job is doing.

Each run record says what ran (the job: `sync:<system>:<stream>`, `flow:<name>`, `reconcile`,
`ar_snapshot`), what started it (manual, schedule, flow, after:<job>), when, what it counted
(pulled, mapped, pushed, failed, API calls) and how it ended, with the error if it failed.
`tieout status` sums them up per job: last success, lag since, failures in a row; with the open
exceptions by severity and each system's API calls against its per-run budget.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from tieout.cli_common import EXIT_CONFIG, JsonOption, err, errors_to_exit_codes, out, print_json, state
from tieout.config import TieoutConfig, load_config
from tieout.observability.logging import configure_logging
from tieout.store import RunRecord, Store
from tieout.store.state import RUN_STATUSES, JobHealth

runs_app = typer.Typer(help="See what ran: syncs, flows, reconciles, snapshots.", no_args_is_help=True)

_COLOURS = {"succeeded": "green", "failed": "red", "interrupted": "yellow", "running": "cyan"}


def _duration(run: RunRecord) -> str:
    if run.finished_at is None:
        return ""
    seconds = (run.finished_at - run.started_at).total_seconds()
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _stamp(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def _open_store() -> Store:
    config = load_config(state.config_path)
    configure_logging(config, interactive=True)
    return Store.open(config.store_url)


@runs_app.command("list")
def list_runs(
    job: Annotated[
        str | None,
        typer.Option(
            "--job", help="Only this job; a trailing ':' or '*' matches a family (sync:stripe:, flow:*)."
        ),
    ] = None,
    status: Annotated[str | None, typer.Option("--status", help=f"One of {', '.join(RUN_STATUSES)}.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """The newest runs first, with their counts and how they ended."""
    if status is not None and status not in RUN_STATUSES:
        err.print(f"--status: expected one of {', '.join(RUN_STATUSES)} (got {status!r})", highlight=False)
        raise typer.Exit(EXIT_CONFIG)
    exact, prefix = job, None
    if job is not None and (job.endswith(":") or job.endswith("*")):
        exact, prefix = None, job.rstrip("*")
    with errors_to_exit_codes():
        store = _open_store()
        try:
            with store.transaction() as tx:
                runs = tx.list_runs(limit=limit, job=exact, status=status, job_prefix=prefix)
        finally:
            store.close()
    if as_json:
        print_json([run.as_dict() for run in runs])
        return
    if not runs:
        out.print("no runs match")
        return
    table = Table(
        "run", "job", "trigger", "started", "took", "status", "pulled", "mapped", "pushed", "failed", "calls"
    )
    for column in table.columns[6:]:
        column.justify = "right"
    for run in runs:
        colour = _COLOURS.get(run.status, "white")
        table.add_row(
            run.run_id[:8],
            run.job,
            run.trigger,
            _stamp(run.started_at),
            _duration(run),
            f"[{colour}]{run.status}[/]",
            str(run.pulled),
            str(run.mapped),
            str(run.pushed),
            str(run.failed),
            str(run.api_calls),
        )
    out.print(table)
    failed = [run for run in runs if run.error]
    for run in failed[:10]:
        out.print(f"{run.run_id[:8]} {run.job}: {run.error}", highlight=False, soft_wrap=True)


@runs_app.command("show")
def show_run(
    run_id: Annotated[str, typer.Argument(help="The run's id, or enough of its first characters.")],
    as_json: JsonOption = False,
) -> None:
    """Everything recorded about one run."""
    with errors_to_exit_codes():
        store = _open_store()
        try:
            with store.transaction() as tx:
                exact = tx.get_run(run_id)
                matches = [exact] if exact is not None else tx.runs_with_id_prefix(run_id)
        finally:
            store.close()
    if len(matches) != 1:
        problem = "no run has" if not matches else "more than one run has"
        err.print(f"{problem} an id starting with {run_id!r}", highlight=False)
        raise typer.Exit(EXIT_CONFIG)
    run = matches[0]
    if as_json:
        print_json(run.as_dict())
        return
    fields: list[tuple[str, Any]] = [
        ("run", run.run_id),
        ("job", run.job),
        ("system", run.system or ""),
        ("stream", run.stream or ""),
        ("trigger", run.trigger),
        ("mode", run.mode),
        ("status", f"[{_COLOURS.get(run.status, 'white')}]{run.status}[/]"),
        ("started", _stamp(run.started_at)),
        ("finished", _stamp(run.finished_at)),
        ("took", _duration(run)),
        ("pulled", run.pulled),
        ("mapped", run.mapped),
        ("pushed", run.pushed),
        ("failed", run.failed),
        ("API calls", run.api_calls),
        ("host", f"{run.host or ''} (pid {run.pid})" if run.pid else run.host or ""),
        ("error", run.error or ""),
    ]
    table = Table(show_header=False, box=None)
    for name, value in fields:
        table.add_row(f"[bold]{name}[/]", str(value))
    out.print(table)


SEVERITY_ORDER = ("critical", "high", "medium", "low")


def _api_budgets(config: TieoutConfig, health: list[JobHealth]) -> list[dict[str, Any]]:
    """Per enabled system: the calls of its last run of each stream and flow, against max_calls_per_run.

    One sync job shares one budget per system across its streams and the flows pushing to it, so
    the last runs together are what the next sync can expect to spend.
    """
    budgets = []
    for name, system in config.systems.items():
        if not system.enabled:
            continue
        used = sum(
            item.last_run.api_calls
            for item in health
            if item.job.startswith(f"sync:{name}:")
            or (item.job.startswith("flow:") and item.last_run.system == name)
        )
        cap = system.max_calls_per_run
        budgets.append(
            {
                "system": name,
                "calls_last_run": used,
                "max_calls_per_run": cap,
                "left": None if cap is None else max(0, cap - used),
            }
        )
    return budgets


def status(as_json: JsonOption = False) -> None:
    """Per stream and job: last run, last success, lag, failures in a row; open exceptions; API budget."""
    with errors_to_exit_codes():
        config = load_config(state.config_path)
        configure_logging(config, interactive=True)
        store = Store.open(config.store_url)
        try:
            with store.transaction() as tx:
                cursors = {(item.system, item.stream): item for item in tx.list_cursors()}
                health = tx.job_health()
                open_by_severity = tx.count_open_by_severity()
            revision = store.revision()[0]
        finally:
            store.close()
    now = datetime.now(UTC)
    by_job = {item.job: item for item in health}
    stream_keys = {
        (item.last_run.system, item.last_run.stream) for item in health if item.job.startswith("sync:")
    }
    streams: list[dict[str, Any]] = []
    for key in sorted(set(cursors) | {(str(system), str(stream)) for system, stream in stream_keys}):
        run = by_job.get(f"sync:{key[0]}:{key[1]}")
        cursor = cursors.get(key)
        streams.append(
            {
                "system": key[0],
                "stream": key[1],
                "watermark": cursor.watermark if cursor else None,
                "last_run": run.last_run.as_dict() if run else None,
            }
        )
    jobs = [
        {
            **item.as_dict(),
            "lag_seconds": None
            if item.last_success_at is None
            else round((now - item.last_success_at).total_seconds()),
        }
        for item in health
    ]
    report = {
        "config": str(config.path),
        "store_revision": revision,
        "streams": streams,
        "flows": {
            item.job.removeprefix("flow:"): item.last_run.as_dict()
            for item in health
            if item.job.startswith("flow:")
        },
        "jobs": jobs,
        "open_exceptions": open_by_severity,
        "api_budget": _api_budgets(config, health),
        "as_of": now,
    }
    if as_json:
        print_json(report)
        return
    _print_status(report)


def _lag(seconds: int | None) -> str:
    if seconds is None:
        return "never succeeded"
    if seconds < 120:
        return f"{seconds} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _print_status(report: dict[str, Any]) -> None:
    if report["jobs"]:
        table = Table("job", "last run", "status", "last success", "lag", "failing")
        for item in report["jobs"]:
            run = item["last_run"]
            colour = _COLOURS.get(run["status"], "white")
            failures = item["failures_in_a_row"]
            table.add_row(
                item["job"],
                _stamp(run["started_at"]),
                f"[{colour}]{run['status']}[/]",
                _stamp(item["last_success_at"]),
                _lag(item["lag_seconds"]),
                f"[red]{failures}[/]" if failures else "0",
            )
        out.print(table)
        for item in report["jobs"]:
            if item["failures_in_a_row"]:
                out.print(
                    f"{item['job']}: failed {item['failures_in_a_row']} times in a row; last error: "
                    f"{item['last_run']['error'] or 'none recorded'}",
                    highlight=False,
                    soft_wrap=True,
                )
    else:
        out.print("no syncs have run yet")
    watermarks = [item for item in report["streams"] if item["watermark"] is not None]
    if watermarks:
        table = Table("system", "stream", "watermark")
        for item in watermarks:
            table.add_row(item["system"], item["stream"], _stamp(item["watermark"]))
        out.print(table)
    budgets = Table("system", "API calls in its last runs", "budget per run", "left")
    for item in report["api_budget"]:
        cap = item["max_calls_per_run"]
        budgets.add_row(
            item["system"],
            str(item["calls_last_run"]),
            "unlimited" if cap is None else str(cap),
            "" if item["left"] is None else str(item["left"]),
        )
    if report["api_budget"]:
        out.print(budgets)
    counts = report["open_exceptions"]
    rank = {severity: index for index, severity in enumerate(SEVERITY_ORDER)}
    ordered = sorted(counts.items(), key=lambda pair: (rank.get(pair[0], len(rank)), pair[0]))
    detail = ", ".join(f"{count} {severity}" for severity, count in ordered)
    out.print(f"open exceptions: {sum(counts.values())}" + (f" ({detail})" if detail else ""))

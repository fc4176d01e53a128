"""The operators' entry point: `tieout ...` (typer + rich).

Every command takes the global `--config PATH` (or TIEOUT_CONFIG; default ./tieout.yaml), and
every read command takes `--json` for scripting. Exit codes are listed in `tieout.cli_common`
and in `tieout --help`.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from tieout.cli_alerts import alerts_app
from tieout.cli_common import (
    EXIT_CONFIG,
    EXIT_RUN_FAILED,
    JsonOption,
    err,
    errors_to_exit_codes,
    out,
    print_json,
    state,
)
from tieout.cli_common import print_flows as _print_flows
from tieout.cli_exceptions import exceptions_app
from tieout.cli_report import report_app
from tieout.cli_resync import resync as resync_command
from tieout.cli_runs import runs_app
from tieout.cli_runs import status as status_command
from tieout.cli_scheduler import scheduler_app
from tieout.cli_web import users_app, web
from tieout.cli_webhooks import webhooks_app
from tieout.cli_worker import worker as worker_command
from tieout.config import TieoutConfig, load_config, resolve_config_path
from tieout.config_sections import LoggingConfig
from tieout.connectors.registry import installed_connectors
from tieout.errors import ConfigError, JobLocked, TieoutError
from tieout.observability.logging import configure_logging
from tieout.reconcile.engine import Reconciler, parse_since
from tieout.runner import PageProgress, SyncService
from tieout.sandbox.commands import sandbox_app
from tieout.scheduler.jobs import lock_name
from tieout.scheduler.locks import job_lock
from tieout.store import Store

app = typer.Typer(
    name="tieout",
    help="tieout: order-to-cash sync hub. Syncs CRM, usage billing, payments and ERP, and reconciles them.",
    epilog="Exit codes: 0 done, 1 a run failed, 2 configuration or usage error, 3 state store error, "
    "4 connector error.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Check the configuration.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the state store.", no_args_is_help=True)
connectors_app = typer.Typer(help="See which connectors are installed.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
app.add_typer(connectors_app, name="connectors")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(exceptions_app, name="exceptions")
app.add_typer(report_app, name="report")
app.add_typer(users_app, name="users")
app.command("web")(web)
app.command("resync")(resync_command)
app.command("worker")(worker_command)
app.add_typer(alerts_app, name="alerts")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(scheduler_app, name="scheduler")
app.add_typer(runs_app, name="runs")
app.command("status")(status_command)


@app.callback()
def _global_options(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            envvar="TIEOUT_CONFIG",
            help="Configuration file (default ./tieout.yaml).",
            show_default=False,
        ),
    ] = None,
) -> None:
    state.config_path = resolve_config_path(config)


def _open(create_schema: bool = True) -> tuple[TieoutConfig, Store]:
    config = load_config(state.config_path)
    configure_logging(config, interactive=True)
    return config, Store.open(config.store_url, check_schema=create_schema)


def _template_text(name: str) -> str:
    return files("tieout").joinpath("templates", name).read_text()


@app.command()
def init(
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write an example configuration to the --config path (./tieout.yaml by default)."""
    path = state.config_path
    if path.exists() and not force:
        err.print(f"{path} exists; pass --force to overwrite it", highlight=False)
        raise typer.Exit(EXIT_CONFIG)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_template_text("tieout.example.yaml"))
    mappings = path.parent / "mappings" / "example.yaml"
    if not mappings.exists():
        mappings.parent.mkdir(exist_ok=True)
        mappings.write_text(_template_text("mappings/example.yaml"))
    out.print(f"wrote {path} and {mappings.parent}/; next: `tieout config check`", highlight=False)


@config_app.command("check")
def config_check(as_json: JsonOption = False) -> None:
    """Validate the configuration; print every problem with its file, line and field; exit 2 if any."""
    try:
        config = load_config(state.config_path)
    except ConfigError as exc:
        if as_json:
            print_json(
                {
                    "ok": False,
                    "problems": [
                        {"file": p.file, "line": p.line, "field": p.field_path, "message": p.message}
                        for p in exc.problems
                    ],
                }
            )
            raise typer.Exit(EXIT_CONFIG) from None
        with errors_to_exit_codes():
            raise
    summary = {
        "ok": True,
        "file": str(config.path),
        "mode": config.mode.value,
        "store": "postgresql" if config.store_url.startswith("postgres") else "sqlite",
        "systems": {
            name: {"connector": item.connector, "enabled": item.enabled, "mode": item.mode.value}
            for name, item in config.systems.items()
        },
    }
    if as_json:
        print_json(summary)
        return
    out.print(f"[green]ok[/]: {config.path} ({summary['store']} store, {config.mode.value} mode)")
    for name, item in config.systems.items():
        status = "enabled" if item.enabled else "disabled"
        out.print(f"  {name}: connector {item.connector}, {status}, {item.mode.value} mode", highlight=False)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the state store's migrations up to this version of tieout."""
    with errors_to_exit_codes():
        config = load_config(state.config_path)
        store = Store.open(config.store_url, check_schema=False)
        before, after = store.upgrade()
        if before == after:
            out.print(f"state store already at revision {after}")
        else:
            out.print(f"state store upgraded from revision {before or 'empty'} to {after}")


@connectors_app.command("list")
def connectors_list(as_json: JsonOption = False) -> None:
    """List the installed connectors (tieout's own and third-party ones) and their streams."""
    rows: list[dict[str, Any]] = []
    for item in installed_connectors():
        streams = [spec.name for spec in item.connector.streams] if item.connector else []
        rows.append(
            {
                "name": item.name,
                "title": item.connector.title if item.connector else "",
                "package": item.distribution,
                "streams": streams,
                "error": item.load_error,
            }
        )
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("no connectors installed")
        return
    table = Table("connector", "package", "streams", "status")
    for row in rows:
        table.add_row(row["name"], row["package"] or "", ", ".join(row["streams"]), row["error"] or "ok")
    out.print(table)


@contextmanager
def _sync_lock(config: TieoutConfig, store: Store) -> Iterator[None]:
    """Hold the scheduled sync job's lock, so a sync by hand never runs beside the scheduler's."""
    try:
        with job_lock(store, lock_name("sync"), lease_seconds=config.schedule.lock_lease_seconds):
            yield
    except JobLocked as exc:
        err.print(
            f"[bold red]{exc}[/]: nothing was pulled or pushed; run it again once that sync has finished",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_RUN_FAILED) from None


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT ask the run to stop after the page in hand is committed."""

    def request_stop(signum: int, _frame: object) -> None:
        err.print(f"{signal.Signals(signum).name}: finishing the current page, then stopping")
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@app.command()
def sync(
    system: Annotated[str | None, typer.Argument(help="Only this system.")] = None,
    stream: Annotated[str | None, typer.Argument(help="Only this stream of the system.")] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Show what the flows would create, field by field; write nothing."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Pull new and changed records, then run the flows of the systems in sync mode."""
    if stream is not None and system is None:
        err.print("name a SYSTEM before a STREAM")
        raise typer.Exit(EXIT_CONFIG)
    stop = threading.Event()
    with errors_to_exit_codes(), _stop_on_signals(stop):
        config, store = _open()
        show_progress = not as_json and out.is_terminal
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.fields[records]} records, {task.fields[failed]} failed"),
            TimeElapsedColumn(),
            console=err,
            disable=not show_progress,
        ) as progress:
            tasks: dict[tuple[str, str], Any] = {}

            def on_page(update: PageProgress) -> None:
                key = (update.system, update.stream)
                if key not in tasks:
                    tasks[key] = progress.add_task(f"{update.system} {update.stream}", records=0, failed=0)
                progress.update(tasks[key], records=update.pulled, failed=update.failed)

            service = SyncService(config, store, stop_event=stop, on_page=on_page)
            try:
                with _sync_lock(config, store):
                    results = service.sync(system, stream)
                    pulled_cleanly = all(result.status == "succeeded" for result in results)
                    flows = service.run_flows(dry_run=dry_run) if pulled_cleanly and not stop.is_set() else []
            finally:
                service.close()
    if as_json:
        print_json(
            {"streams": [result.as_dict() for result in results], "flows": [flow.as_dict() for flow in flows]}
        )
    else:
        if not results:
            out.print("nothing to sync: no system is enabled in the configuration")
        table = Table("system", "stream", "status", "pulled", "mapped", "failed", "api calls")
        for result in results:
            colour = "green" if result.status == "succeeded" else "red"
            table.add_row(
                result.system,
                result.stream,
                f"[{colour}]{result.status}[/]",
                str(result.pulled),
                str(result.mapped),
                str(result.failed),
                str(result.api_calls),
            )
        if results:
            out.print(table)
        for result in results:
            if result.error:
                out.print(f"{result.system} {result.stream}: {result.error}", highlight=False, soft_wrap=True)
        _print_flows(flows, dry_run=dry_run)
    if any(result.status != "succeeded" for result in results) or any(flow.error for flow in flows):
        raise typer.Exit(EXIT_RUN_FAILED)


@app.command()
def reconcile(
    rule: Annotated[list[str] | None, typer.Option("--rule", help="Only this rule (repeatable).")] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only records changed or dated on or after this day (YYYY-MM-DD); "
            "exceptions about other records are left as they are.",
        ),
    ] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Look at every record again, not only at what changed since the last run and what that reaches.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Compare the systems' records and update the exception queue."""
    with errors_to_exit_codes():
        day = parse_since(since) if since is not None else None
        config, store = _open()
        result = Reconciler.from_config(config, store).run(rule, since=day, full=full)
    if as_json:
        print_json(result.as_dict())
        return
    table = Table("rule", "found")
    for code in result.rules:
        table.add_row(code, str(result.found.get(code, 0)))
    out.print(table)
    looked = "checked what changed since the last run" if result.incremental else "checked every record"
    out.print(
        f"{sum(result.found.values())} mismatches found: {result.opened} new, {result.refreshed} still open, "
        f"{result.reopened} reopened, {result.resolved} resolved, {result.still_ignored} ignored as expected; "
        f"{result.open_total} open in the queue ({looked}, {result.seconds:.1f} s)"
    )


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point; errors tieout did not expect still exit non-zero with a message."""
    # Until a command loads the configuration (and with it the secrets to remove), logs are JSON
    # lines on stderr with credential-shaped values removed.
    configure_logging(LoggingConfig(), interactive=True)
    try:
        app(args=argv)
    except TieoutError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise SystemExit(EXIT_RUN_FAILED) from None

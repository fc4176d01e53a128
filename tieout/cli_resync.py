"""`tieout resync SYSTEM STREAM`: pull one record, a window or a whole stream again and push it on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from tieout.cli_common import (
    EXIT_CONFIG,
    EXIT_RUN_FAILED,
    JsonOption,
    err,
    errors_to_exit_codes,
    out,
    print_flows,
    print_json,
    state,
)
from tieout.config import load_config
from tieout.observability.logging import configure_logging
from tieout.resync import ResyncResult, ResyncService
from tieout.store import Store

DryRunOption = Annotated[
    bool,
    typer.Option(
        "--dry-run", help="Store what is pulled, but only show what the flows would push, field by field."
    ),
]


def parse_moment(text: str, option: str) -> datetime:
    """An ISO date or date-time; naive values are UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not an ISO date or date-time: {text!r}", param_hint=option) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def resync(
    system: Annotated[str, typer.Argument(help="The system to pull from.")],
    stream: Annotated[str, typer.Argument(help="The stream of that system.")],
    record_ids: Annotated[
        list[str] | None, typer.Option("--id", help="A record's id in the system (repeatable).")
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="Window start (ISO, inclusive).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Window end (ISO, exclusive).")] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Pull every record of the stream (a backfill).")
    ] = False,
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
) -> None:
    """Pull records again outside the incremental order (the cursor stays put) and run their flows."""
    chosen = [bool(record_ids), since is not None or until is not None, full]
    if sum(chosen) != 1:
        err.print("choose one of --id, --since/--until or --full")
        raise typer.Exit(EXIT_CONFIG)
    with errors_to_exit_codes():
        config = load_config(state.config_path)
        configure_logging(config, interactive=True)
        service = ResyncService(config, Store.open(config.store_url))
        try:
            if record_ids:
                result = service.resync_records(system, stream, record_ids, dry_run=dry_run)
            elif full:
                result = service.backfill(system, stream, dry_run=dry_run)
            else:
                start = parse_moment(since, "--since") if since else None
                end = parse_moment(until, "--until") if until else None
                try:
                    result = service.resync_window(system, stream, start, end, dry_run=dry_run)
                except ValueError as exc:
                    raise typer.BadParameter(str(exc), param_hint="--since/--until") from None
        finally:
            service.close()
    if as_json:
        print_json(result.as_dict())
    else:
        print_result(result)
    if not result.ok:
        raise typer.Exit(EXIT_RUN_FAILED)


def print_result(result: ResyncResult) -> None:
    table = Table("system", "stream", "scope", "pulled", "mapped", "failed", "pushed")
    table.add_row(
        result.system,
        result.stream,
        result.scope,
        str(result.pulled),
        str(result.mapped),
        str(result.failed),
        "dry run" if result.dry_run else str(result.pushed),
    )
    out.print(table)
    if result.missing:
        out.print(f"not found in {result.system}: {', '.join(result.missing)}", highlight=False)
    for error in result.errors:
        out.print(f"[red]{error}[/]", highlight=False, soft_wrap=True)
    print_flows([flow for flow in result.flows if flow.outcomes or flow.error], dry_run=result.dry_run)

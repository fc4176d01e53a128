"""`tieout exceptions ...`: list, show, work and export the exception queue from the terminal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tieout.cli_common import (
    EXIT_RUN_FAILED,
    JsonOption,
    errors_to_exit_codes,
    out,
    print_flows,
    print_json,
    state,
)
from tieout.cli_resync import print_result
from tieout.config import load_config
from tieout.observability.logging import configure_logging
from tieout.reconcile.export import amount_at_risk, to_csv, to_xlsx
from tieout.reconcile.queue import ExceptionQueue
from tieout.resync import ResyncService
from tieout.store import ExceptionQuery, Store, StoredException

exceptions_app = typer.Typer(
    help="Work the exception queue: list, show, assign, resolve, ignore, export.", no_args_is_help=True
)
ActorOption = Annotated[str, typer.Option("--as", help="Who is acting (recorded in the audit trail).")]


def _queue() -> ExceptionQueue:
    config = load_config(state.config_path)
    configure_logging(config, interactive=True)
    return ExceptionQueue(Store.open(config.store_url))


def _as_dict(item: StoredException) -> dict[str, Any]:
    values = item.as_dict()
    amount = amount_at_risk(item)
    values["amount_at_risk"] = str(amount) if amount is not None else None
    return values


def _query(
    status: list[str] | None,
    rule: list[str] | None,
    severity: list[str] | None,
    assignee: str | None,
    customer: str | None,
    subsidiary: str | None,
    currency: str | None,
    older_than_days: int | None,
    sort: str,
    limit: int,
    offset: int,
) -> ExceptionQuery:
    before = datetime.now(UTC) - timedelta(days=older_than_days) if older_than_days is not None else None
    return ExceptionQuery(
        statuses=tuple(status) if status else ("open", "in_progress"),
        rule_codes=tuple(code.upper() for code in rule or ()),
        severities=tuple(severity or ()),
        assignee=assignee,
        customer=customer,
        subsidiary_id=subsidiary,
        currency=currency,
        first_seen_before=before,
        sort=sort,
        limit=limit,
        offset=offset,
    )


StatusOption = Annotated[
    list[str] | None, typer.Option("--status", help="open, in_progress, resolved, ignored (repeatable).")
]
RuleOption = Annotated[list[str] | None, typer.Option("--rule", help="Rule code (repeatable).")]
SeverityOption = Annotated[list[str] | None, typer.Option("--severity", help="low, medium, high, critical.")]
AssigneeOption = Annotated[str | None, typer.Option("--assignee")]
CustomerOption = Annotated[
    str | None, typer.Option("--customer", help="Part of the customer's name, or its id.")
]
SubsidiaryOption = Annotated[str | None, typer.Option("--subsidiary")]
CurrencyOption = Annotated[str | None, typer.Option("--currency")]
AgeOption = Annotated[int | None, typer.Option("--older-than-days", help="First seen more than N days ago.")]
SortOption = Annotated[str, typer.Option("--sort", help="amount, age or id.")]


@exceptions_app.command("list")
def list_exceptions(
    status: StatusOption = None,
    rule: RuleOption = None,
    severity: SeverityOption = None,
    assignee: AssigneeOption = None,
    customer: CustomerOption = None,
    subsidiary: SubsidiaryOption = None,
    currency: CurrencyOption = None,
    older_than_days: AgeOption = None,
    sort: SortOption = "amount",
    limit: Annotated[int, typer.Option("--limit")] = 50,
    offset: Annotated[int, typer.Option("--offset")] = 0,
    as_json: JsonOption = False,
) -> None:
    """List exceptions (open ones by default), largest amount at risk first."""
    query = _query(
        status, rule, severity, assignee, customer, subsidiary, currency, older_than_days, sort, limit, offset
    )
    with errors_to_exit_codes():
        rows, total = _queue().list(query)
    if as_json:
        print_json({"total": total, "exceptions": [_as_dict(row) for row in rows]})
        return
    table = Table("#", "rule", "severity", "status", "customer", "amount at risk", "first seen", "assignee")
    for row in rows:
        amount = amount_at_risk(row)
        table.add_row(
            str(row.exception_id),
            row.rule_code,
            row.severity,
            row.status,
            row.customer_name or row.customer_ref or "",
            f"{amount:,} {row.currency}" if amount is not None else "",
            row.first_seen_at.strftime("%Y-%m-%d"),
            row.assignee or "",
        )
    out.print(table)
    out.print(f"{len(rows)} of {total} shown")


@exceptions_app.command("show")
def show(exception_id: int, as_json: JsonOption = False) -> None:
    """One exception: its explanation, the values side by side, and its history."""
    with errors_to_exit_codes():
        detail = _queue().show(exception_id)
    item = detail.exception
    if as_json:
        events = [event.__dict__ for event in detail.events]
        print_json({"exception": _as_dict(item), "events": events})
        return
    amount = amount_at_risk(item)
    out.print(
        f"[bold]#{item.exception_id} {item.title}[/]  ({item.rule_code}, {item.severity}, {item.status})"
    )
    out.print(item.explanation, highlight=False)
    if amount is not None:
        out.print(f"amount at risk: {amount:,} {item.currency}")
    out.print("records: " + ", ".join(item.record_ids), highlight=False)
    comparison = item.details.get("fields")
    if isinstance(comparison, list) and comparison:
        table = Table("field", *[str(name) for name in item.details.get("systems", [])], "differs")
        for entry in comparison:
            values = [str(value) if value is not None else "" for value in entry.get("values", [])]
            table.add_row(str(entry.get("field")), *values, "yes" if entry.get("differs") else "")
        out.print(table)
    for event in detail.events:
        note = f": {event.note}" if event.note else ""
        out.print(f"  {event.at:%Y-%m-%d %H:%M} {event.actor} {event.action}{note}", highlight=False)


@exceptions_app.command("assign")
def assign(exception_id: int, assignee: str, actor: ActorOption, note: str | None = None) -> None:
    """Assign an exception to someone; it moves to in_progress."""
    with errors_to_exit_codes():
        _queue().assign(exception_id, assignee, actor=actor, note=note)
    out.print(f"#{exception_id} assigned to {assignee}")


@exceptions_app.command("resolve")
def resolve(exception_id: int, actor: ActorOption, note: Annotated[str, typer.Option("--note")]) -> None:
    """Resolve an exception, saying what was done."""
    with errors_to_exit_codes():
        _queue().resolve(exception_id, actor=actor, note=note)
    out.print(f"#{exception_id} resolved")


@exceptions_app.command("ignore")
def ignore(exception_id: int, actor: ActorOption, reason: Annotated[str, typer.Option("--reason")]) -> None:
    """Mark an exception as expected, with the reason."""
    with errors_to_exit_codes():
        _queue().ignore(exception_id, actor=actor, reason=reason)
    out.print(f"#{exception_id} ignored")


@exceptions_app.command("reopen")
def reopen(exception_id: int, actor: ActorOption, note: str | None = None) -> None:
    """Reopen a resolved or ignored exception."""
    with errors_to_exit_codes():
        _queue().reopen(exception_id, actor=actor, note=note)
    out.print(f"#{exception_id} reopened")


@exceptions_app.command("comment")
def comment(exception_id: int, actor: ActorOption, note: Annotated[str, typer.Option("--note")]) -> None:
    """Add a comment to an exception's history."""
    with errors_to_exit_codes():
        _queue().comment(exception_id, actor=actor, note=note)
    out.print(f"#{exception_id}: comment added")


@exceptions_app.command("export")
def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
    export_format: Annotated[str, typer.Option("--format", help="csv or xlsx.")] = "csv",
    status: StatusOption = None,
    rule: RuleOption = None,
    severity: SeverityOption = None,
    assignee: AssigneeOption = None,
    customer: CustomerOption = None,
    subsidiary: SubsidiaryOption = None,
    currency: CurrencyOption = None,
    older_than_days: AgeOption = None,
    sort: SortOption = "amount",
) -> None:
    """Export the filtered queue to CSV or Excel."""
    if export_format not in ("csv", "xlsx"):
        raise typer.BadParameter("csv or xlsx", param_hint="--format")
    with errors_to_exit_codes():
        queue = _queue()
    rows: list[StoredException] = []
    offset = 0
    while True:
        query = _query(
            status,
            rule,
            severity,
            assignee,
            customer,
            subsidiary,
            currency,
            older_than_days,
            sort,
            1000,
            offset,
        )
        page, total = queue.list(query)
        rows += page
        offset += len(page)
        if not page or offset >= total:
            break
    output.write_bytes(to_csv(rows) if export_format == "csv" else to_xlsx(rows))
    out.print(f"wrote {len(rows)} exceptions to {output}")


def _resolution_action(exception_id: int, actor: str, action: str, as_json: bool) -> None:
    config = load_config(state.config_path)
    configure_logging(config, interactive=True)
    service = ResyncService(config, Store.open(config.store_url))
    try:
        result = (
            service.resync_exception(exception_id, actor)
            if action == "resync"
            else service.repush_exception(exception_id, actor)
        )
    finally:
        service.close()
    if as_json:
        print_json(result.as_dict())
    else:
        for item in result.resyncs:
            print_result(item)
        print_flows([flow for flow in result.flows if flow.outcomes or flow.error], dry_run=False)
        for error in result.errors:
            out.print(f"[red]{error}[/]", highlight=False, soft_wrap=True)
        for note in result.notes:
            out.print(note, highlight=False, soft_wrap=True)
        out.print(f"#{exception_id} is {result.status}")
    if not result.ok:
        raise typer.Exit(EXIT_RUN_FAILED)


@exceptions_app.command("resync")
def resync(exception_id: int, actor: ActorOption, as_json: JsonOption = False) -> None:
    """Pull the records this exception names again, and re-check its rule (closes it if fixed)."""
    with errors_to_exit_codes():
        _resolution_action(exception_id, actor, "resync", as_json)


@exceptions_app.command("repush")
def repush(exception_id: int, actor: ActorOption, as_json: JsonOption = False) -> None:
    """Send this exception's records to their targets again, through the push ledger."""
    with errors_to_exit_codes():
        _resolution_action(exception_id, actor, "repush", as_json)

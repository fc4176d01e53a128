"""`tieout report ...`: reports for the AR team, read from the state store.

`tieout report ar` ages NetSuite's open invoices (by customer, subsidiary or currency), and gives
the share of AR over 90 days, unapplied cash and DSO (standard and countback), each in the
transaction currency; `--json` for scripts, `--format csv|xlsx --output FILE` for a spreadsheet.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tieout.cli_common import JsonOption, errors_to_exit_codes, out, print_json, state
from tieout.config import load_config
from tieout.model import Customer, Invoice, Payment
from tieout.observability.logging import configure_logging
from tieout.reconcile.ar import BUCKETS, ERP_SYSTEM, AgingBasis, ArReport, GroupBy, build_report
from tieout.reconcile.ar_export import report_as_dict, to_csv, to_xlsx
from tieout.store import Store

report_app = typer.Typer(help="Reports for the AR team: aging, DSO, unapplied cash.", no_args_is_help=True)


class ExportFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


def _parse_day(value: str | None) -> date:
    if value is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint="--as-of") from None


def _load(store: Store) -> tuple[list[Invoice], list[Payment], list[Customer]]:
    with store.transaction() as tx:
        invoices = [r for r in tx.iter_canonical(Invoice.kind, ERP_SYSTEM) if isinstance(r, Invoice)]
        payments = [r for r in tx.iter_canonical(Payment.kind, ERP_SYSTEM) if isinstance(r, Payment)]
        customers = [r for r in tx.iter_canonical(Customer.kind, ERP_SYSTEM) if isinstance(r, Customer)]
    return invoices, payments, customers


def _print_aging(report: ArReport, group_by: GroupBy) -> None:
    basis = "due date" if report.basis is AgingBasis.DUE else "invoice date"
    out.print(f"[bold]AR aging by {group_by.value}[/] as of {report.as_of} (by {basis})", highlight=False)
    columns = ["customer", "name"] if group_by is GroupBy.CUSTOMER else [group_by.value]
    if group_by is not GroupBy.CURRENCY:
        columns.append("currency")
    table = Table(*columns, *BUCKETS, "total", "invoices")
    for column in table.columns[len(columns) :]:
        column.justify = "right"
    for row in report.aging[group_by]:
        head = [row.key, row.name or ""] if group_by is GroupBy.CUSTOMER else [row.key or "-"]
        if group_by is not GroupBy.CURRENCY:
            head.append(row.currency)
        amounts = [f"{bucket.quantized().amount:,}" for bucket in (*row.buckets, row.total)]
        table.add_row(*head, *amounts, str(row.invoice_count))
    out.print(table)


def _print_summaries(report: ArReport) -> None:
    summary = Table(
        "currency", "open AR", "over 90 days", "share over 90", "unapplied cash", title="By currency"
    )
    for item in report.currencies:
        share = f"{item.over_90_percent} %" if item.over_90_percent is not None else "-"
        summary.add_row(item.currency, str(item.open_ar), str(item.over_90), share, str(item.unapplied))
    out.print(summary)


def _print_dso(report: ArReport) -> None:
    if not report.dso:
        return
    first = report.dso[0]
    title = f"DSO (standard period {first.period_start} to {first.period_end}, {first.period_days} days)"
    table = Table(
        "subsidiary", "currency", "ending AR", "period revenue", "standard", "countback", title=title
    )
    for row in report.dso:
        countback = f"{row.countback_days}" + ("" if row.countback_complete else " (at least)")
        table.add_row(
            row.subsidiary_id or "-",
            row.currency,
            str(row.ending_ar),
            str(row.period_revenue),
            str(row.standard_days) if row.standard_days is not None else "-",
            countback,
        )
    out.print(table)


def _print_notes(report: ArReport) -> None:
    method = report.method()
    out.print(f"DSO: AR is {method['dso_ar']}; revenue is {method['dso_revenue']}.", highlight=False)
    if report.unapplied:
        cash = Table("customer", "name", "unapplied cash", "payments", "oldest", title="Unapplied cash")
        for entry in report.unapplied:
            cash.add_row(
                entry.customer_id or "-",
                entry.customer_name or "",
                str(entry.amount),
                str(entry.payment_count),
                entry.oldest_received_on.isoformat(),
            )
        out.print(cash)
    if report.undated_invoice_ids:
        out.print(f"counted as current, having no date: invoices {', '.join(report.undated_invoice_ids)}")


@report_app.command("ar")
def ar(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Age at this date (YYYY-MM-DD; default today, UTC).")
    ] = None,
    basis: Annotated[
        AgingBasis, typer.Option("--basis", help="Age from the due date or the invoice date.")
    ] = (AgingBasis.DUE),
    group_by: Annotated[
        GroupBy, typer.Option("--by", help="Aging rows per customer, subsidiary or currency.")
    ] = (GroupBy.CUSTOMER),
    net_of_unapplied: Annotated[
        bool, typer.Option("--net-of-unapplied", help="DSO on AR less unapplied cash (default: gross).")
    ] = False,
    dso_months: Annotated[
        int, typer.Option("--dso-months", min=1, help="Months in the standard DSO period, ending at --as-of.")
    ] = 1,
    as_json: JsonOption = False,
    export_format: Annotated[ExportFormat | None, typer.Option("--format", help="csv or xlsx.")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write the export to.")
    ] = None,
) -> None:
    """AR aging (current, 1-30, 31-60, 61-90, 90+), AR over 90 days, unapplied cash and DSO."""
    day = _parse_day(as_of)
    if (export_format is None) != (output is None):
        raise typer.BadParameter("--format and --output go together", param_hint="--format/--output")
    with errors_to_exit_codes():
        config = load_config(state.config_path)
        configure_logging(config, interactive=True)
        store = Store.open(config.store_url)
        try:
            invoices, payments, customers = _load(store)
        finally:
            store.close()
    report = build_report(
        invoices,
        payments,
        customers,
        as_of=day,
        basis=basis,
        ar_net_of_unapplied=net_of_unapplied,
        standard_months=dso_months,
    )
    if export_format is not None and output is not None:
        data = to_csv(report, group_by) if export_format is ExportFormat.CSV else to_xlsx(report, group_by)
        output.write_bytes(data)
        if not as_json:
            out.print(f"wrote AR aging by {group_by.value} ({len(report.aging[group_by])} rows) to {output}")
    if as_json:
        print_json(report_as_dict(report, group_by))
    elif export_format is None:
        _print_aging(report, group_by)
        _print_summaries(report)
        _print_dso(report)
        _print_notes(report)

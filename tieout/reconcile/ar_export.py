"""The AR report as JSON-ready data, CSV and Excel: stable column names, amounts in their own currency.

CSV holds one table, the aging by the chosen grouping. The workbook holds every table on its own
sheet (aging, currencies, unapplied cash, DSO) and a sheet stating the method. Like the queue's
export, these build bytes and leave the writing to the caller.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

from tieout.money import currency_exponent
from tieout.reconcile.ar import ArReport, GroupBy

BUCKET_COLUMNS = ("current", "days_1_30", "days_31_60", "days_61_90", "days_over_90")
AGING_COLUMNS = ("group_by", "key", "name", "currency", *BUCKET_COLUMNS, "total", "invoice_count")
CURRENCY_COLUMNS = ("currency", "open_ar", "over_90", "over_90_percent", "unapplied_cash")
UNAPPLIED_COLUMNS = (
    "customer_id",
    "customer_name",
    "currency",
    "unapplied_cash",
    "payments",
    "oldest_received_on",
)
DSO_COLUMNS = (
    "subsidiary_id",
    "currency",
    "ending_ar",
    "period_start",
    "period_end",
    "period_days",
    "period_revenue",
    "dso_standard_days",
    "dso_countback_days",
    "countback_complete",
)
_MONEY_COLUMNS = {
    *BUCKET_COLUMNS,
    "total",
    "open_ar",
    "over_90",
    "unapplied_cash",
    "ending_ar",
    "period_revenue",
}


def aging_rows(report: ArReport, group_by: GroupBy) -> list[list[Any]]:
    return [
        [
            group_by.value,
            row.key,
            row.name or "",
            row.currency,
            *(bucket.amount for bucket in row.buckets),
            row.total.amount,
            row.invoice_count,
        ]
        for row in report.aging[group_by]
    ]


def currency_rows(report: ArReport) -> list[list[Any]]:
    return [
        [item.currency, item.open_ar.amount, item.over_90.amount, item.over_90_percent, item.unapplied.amount]
        for item in report.currencies
    ]


def unapplied_rows(report: ArReport) -> list[list[Any]]:
    return [
        [
            item.customer_id or "",
            item.customer_name or "",
            item.currency,
            item.amount.amount,
            item.payment_count,
            item.oldest_received_on.isoformat(),
        ]
        for item in report.unapplied
    ]


def dso_rows(report: ArReport) -> list[list[Any]]:
    return [
        [
            item.subsidiary_id or "",
            item.currency,
            item.ending_ar.amount,
            item.period_start.isoformat(),
            item.period_end.isoformat(),
            item.period_days,
            item.period_revenue.amount,
            item.standard_days,
            item.countback_days,
            item.countback_complete,
        ]
        for item in report.dso
    ]


def _records(columns: Sequence[str], rows: list[list[Any]]) -> list[dict[str, Any]]:
    """Rows as objects; Decimals as strings so no amount passes through a float."""
    return [
        {
            name: str(value) if isinstance(value, Decimal) else value
            for name, value in zip(columns, row, strict=True)
        }
        for row in rows
    ]


def report_as_dict(report: ArReport, group_by: GroupBy) -> dict[str, Any]:
    return {
        "as_of": report.as_of.isoformat(),
        "basis": report.basis.value,
        "group_by": group_by.value,
        "ar_net_of_unapplied": report.ar_net_of_unapplied,
        "method": report.method(),
        "buckets": list(BUCKET_COLUMNS),
        "aging": _records(AGING_COLUMNS, aging_rows(report, group_by)),
        "currencies": _records(CURRENCY_COLUMNS, currency_rows(report)),
        "unapplied_cash": _records(UNAPPLIED_COLUMNS, unapplied_rows(report)),
        "dso": _records(DSO_COLUMNS, dso_rows(report)),
        "undated_invoice_ids": list(report.undated_invoice_ids),
        "later_documents_left_out": report.later_document_count,
    }


def to_csv(report: ArReport, group_by: GroupBy) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(AGING_COLUMNS)
    for row in aging_rows(report, group_by):
        writer.writerow(["" if value is None else value for value in row])
    return buffer.getvalue().encode("utf-8-sig")  # the BOM makes Excel read UTF-8 names right


def _sheet(sheet: Worksheet, columns: Sequence[str], rows: list[list[Any]]) -> None:
    sheet.append(list(columns))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    currency_index = columns.index("currency")
    for row in rows:
        # Excel has no decimal type: a cell holds a double, exact to the cent below about 10^13,
        # shown with the currency's own decimals.
        sheet.append([float(value) if isinstance(value, Decimal) else value for value in row])
        places = currency_exponent(row[currency_index])
        money_format = "#,##0" + ("." + "0" * places if places else "")
        for index, name in enumerate(columns, start=1):
            if name in _MONEY_COLUMNS:
                sheet.cell(row=sheet.max_row, column=index).number_format = money_format
    sheet.freeze_panes = "A2"


def to_xlsx(report: ArReport, group_by: GroupBy) -> bytes:
    workbook = Workbook()
    aging_sheet = workbook.active
    assert aging_sheet is not None
    aging_sheet.title = f"Aging by {group_by.value}"
    _sheet(aging_sheet, AGING_COLUMNS, aging_rows(report, group_by))
    _sheet(workbook.create_sheet("Currencies"), CURRENCY_COLUMNS, currency_rows(report))
    _sheet(workbook.create_sheet("Unapplied cash"), UNAPPLIED_COLUMNS, unapplied_rows(report))
    _sheet(workbook.create_sheet("DSO"), DSO_COLUMNS, dso_rows(report))
    about = workbook.create_sheet("Method")
    about.append(["as_of", report.as_of.isoformat()])
    about.append(["basis", report.basis.value])
    for name, text in report.method().items():
        about.append([name, text])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()

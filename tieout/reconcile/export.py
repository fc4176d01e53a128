"""Exporting the exception queue to CSV and Excel, with stable column names and both currencies."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.styles import Font

from tieout.money import Money, currency_exponent
from tieout.store import StoredException

COLUMNS = (
    "exception_id",
    "rule_code",
    "title",
    "severity",
    "status",
    "assignee",
    "customer",
    "customer_ref",
    "subsidiary",
    "currency",
    "amount_at_risk",
    "first_seen_at",
    "last_seen_at",
    "resolved_at",
    "records",
)


def amount_at_risk(exception: StoredException) -> Decimal | None:
    if exception.amount_at_risk_minor is None or exception.currency is None:
        return None
    return Money.from_minor(exception.amount_at_risk_minor, exception.currency).amount


def export_rows(exceptions: Sequence[StoredException]) -> list[list[object]]:
    rows: list[list[object]] = []
    for item in exceptions:
        rows.append(
            [
                item.exception_id,
                item.rule_code,
                item.title,
                item.severity,
                item.status,
                item.assignee or "",
                item.customer_name or "",
                item.customer_ref or "",
                item.subsidiary_id or "",
                item.currency or "",
                amount_at_risk(item),
                item.first_seen_at.isoformat(),
                item.last_seen_at.isoformat(),
                item.resolved_at.isoformat() if item.resolved_at else "",
                " ".join(item.record_ids),
            ]
        )
    return rows


def to_csv(exceptions: Sequence[StoredException]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for row in export_rows(exceptions):
        writer.writerow(["" if value is None else value for value in row])
    return buffer.getvalue().encode("utf-8-sig")  # the BOM makes Excel read UTF-8 names right


def to_xlsx(exceptions: Sequence[StoredException]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Exceptions"
    sheet.append(list(COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    amount_column = COLUMNS.index("amount_at_risk") + 1
    for item, row in zip(exceptions, export_rows(exceptions), strict=True):
        # Excel has no decimal type: a cell holds a double, which is exact to the cent for any
        # amount below about 10^13, and it is shown with the currency's own decimals.
        sheet.append([float(value) if isinstance(value, Decimal) else value for value in row])
        places = currency_exponent(item.currency) if item.currency else 2
        sheet.cell(row=sheet.max_row, column=amount_column).number_format = "#,##0" + (
            "." + "0" * places if places else ""
        )
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()

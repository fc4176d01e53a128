"""`tieout exceptions ...` end to end on a store with filed findings: list, show, work, export."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from tieout.cli import app
from tieout.findings import Finding, Severity
from tieout.money import Money
from tieout.store import Store


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "tieout.yaml"
    path.write_text(f"version: 1\nstore: {{url: 'sqlite:///{tmp_path}/t.db'}}\n")
    store = Store.open(f"sqlite:///{tmp_path}/t.db")
    with store.transaction() as tx:
        tx.file_findings(
            [
                Finding(
                    rule_code="INVOICE_TOTAL_DIFFERS",
                    title="Invoice total differs between Metronome and NetSuite",
                    explanation="NetSuite shows 1,012.50 EUR where Metronome billed 1,000.00 EUR.",
                    severity=Severity.HIGH,
                    record_ids=("metronome:invoice:m1", "netsuite:invoice:77"),
                    customer_ref="001A",
                    customer_name="Müller Analytik GmbH",
                    subsidiary_id="DE",
                    amount_at_risk=Money(amount=Decimal("12.50"), currency="EUR"),
                    details={
                        "systems": ["metronome", "netsuite"],
                        "fields": [{"field": "total", "values": ["1000.00", "1012.50"], "differs": True}],
                    },
                ),
                Finding(
                    rule_code="INVOICE_MISSING_IN_STRIPE",
                    title="Invoice missing in Stripe",
                    explanation="e",
                    severity=Severity.MEDIUM,
                    record_ids=("metronome:invoice:m2",),
                    amount_at_risk=Money(amount=Decimal("70000"), currency="JPY"),
                ),
            ],
            at=datetime(2026, 5, 1, tzinfo=UTC),
            run_id=None,
        )
    store.close()
    return str(path)


def run(config: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--config", config, "exceptions", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def test_list_and_show(config: str) -> None:
    code, stdout, _ = run(config, "list", "--json")
    assert code == 0
    listed = json.loads(stdout)
    assert listed["total"] == 2
    assert {item["amount_at_risk"] for item in listed["exceptions"]} == {"12.50", "70000"}
    code, stdout, _ = run(config, "list", "--currency", "EUR")
    assert code == 0 and "Müller Analytik GmbH" in stdout and "12.50 EUR" in stdout
    code, stdout, _ = run(config, "show", "1")
    assert code == 0 and "1,012.50 EUR" in stdout and "total" in stdout and "opened" in stdout


def test_work_an_exception_through_its_lifecycle(config: str) -> None:
    assert run(config, "assign", "1", "dana", "--as", "lee")[0] == 0
    assert (
        run(config, "resolve", "1", "--as", "dana", "--note", "NetSuite invoice corrected by credit memo")[0]
        == 0
    )
    code, _, stderr = run(config, "resolve", "1", "--as", "dana", "--note", "again")
    assert code == 2 and "is resolved" in stderr
    assert run(config, "reopen", "1", "--as", "lee")[0] == 0
    assert run(config, "ignore", "1", "--as", "lee", "--reason", "expected: agreed write-off")[0] == 0
    assert run(config, "comment", "1", "--as", "lee", "--note", "approved by controller")[0] == 0
    code, stdout, _ = run(config, "show", "1", "--json")
    actions = [event["action"] for event in json.loads(stdout)["events"]]
    assert actions == ["opened", "assigned", "resolved", "reopened", "ignored", "commented"]
    code, _, stderr = run(config, "show", "42")
    assert code == 2 and "no exception #42" in stderr


def test_export_csv_and_xlsx(config: str, tmp_path: Path) -> None:
    csv_path, xlsx_path = tmp_path / "queue.csv", tmp_path / "queue.xlsx"
    assert run(config, "export", "--format", "csv", "-o", str(csv_path))[0] == 0
    rows = list(csv.DictReader(io.StringIO(csv_path.read_bytes().decode("utf-8-sig"))))
    assert [row["amount_at_risk"] for row in rows] == ["70000", "12.50"]
    assert rows[1]["customer"] == "Müller Analytik GmbH" and rows[1]["currency"] == "EUR"
    assert (
        run(config, "export", "--format", "xlsx", "-o", str(xlsx_path), "--rule", "invoice_total_differs")[0]
        == 0
    )
    sheet = load_workbook(xlsx_path).active
    assert sheet is not None
    header = [cell.value for cell in sheet[1]]
    amount = sheet.cell(row=2, column=header.index("amount_at_risk") + 1)
    assert (sheet.max_row, amount.value, amount.number_format) == (2, 12.5, "#,##0.00")
    assert run(config, "export", "--format", "pdf", "-o", str(tmp_path / "x"))[0] == 2

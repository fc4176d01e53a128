"""AR metrics: golden aging and DSO tables, the `tieout report ar` command, and one sandbox run.

The DSO figures are DOMAIN 2.4's worked examples; the bucket boundaries are checked on both
sides of every edge; JPY keeps no decimals; two currencies are never added; the invoice-date
basis ages from the invoice date. The CLI is run on a store of canonical records with `--json`
and both exports read back. The sandbox run checks the buckets add up to NetSuite's own open AR
per currency, read from the emulator's tables rather than through tieout.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from tieout.cli import app
from tieout.config import load_config
from tieout.model import Customer, Invoice, InvoiceStatus, Payment
from tieout.money import Money
from tieout.reconcile.ar import (
    BUCKETS,
    AgingBasis,
    GroupBy,
    MonthRevenue,
    bucket_for,
    build_report,
    countback_dso,
    standard_dso,
)
from tieout.runner import SyncService
from tieout.sandbox.config_writer import write_sandbox_config
from tieout.sandbox.runtime import Sandbox, SandboxOptions
from tieout.sandbox.scenario.generate import generate
from tieout.store import Store

AS_OF = date(2026, 3, 31)


def invoice(
    native_id: str,
    remaining: str,
    currency: str = "USD",
    *,
    due_on: date | None = None,
    issued_on: date | None = None,
    total: str | None = None,
    customer_id: str = "C1",
    subsidiary_id: str = "1",
    status: InvoiceStatus = InvoiceStatus.OPEN,
) -> Invoice:
    issued = issued_on or (due_on - timedelta(days=30) if due_on else AS_OF)
    amount = Money.of(total or remaining, currency)
    left = Money.of(remaining, currency)
    return Invoice(
        system="netsuite",
        native_id=native_id,
        customer_id=customer_id,
        currency=currency,
        status=status,
        issued_on=issued,
        due_on=due_on,
        subtotal=amount,
        tax=Money.zero(currency),
        total=amount,
        amount_due=amount,
        amount_paid=amount - left,
        amount_remaining=left,
        subsidiary_id=subsidiary_id,
    )


def payment(native_id: str, unapplied: str, currency: str = "USD", customer_id: str = "C1") -> Payment:
    return Payment(
        system="netsuite",
        native_id=native_id,
        customer_id=customer_id,
        currency=currency,
        gross=Money.of(unapplied, currency),
        received_at=datetime(2026, 3, 20, tzinfo=UTC),
        unapplied=Money.of(unapplied, currency),
        subsidiary_id="1",
    )


CUSTOMERS = [
    Customer(system="netsuite", native_id="C1", legal_name="Müller Analytik GmbH"),
    Customer(system="netsuite", native_id="C2", legal_name="Acme KK"),
]


def amounts(row: Any) -> list[Decimal]:
    return [bucket.amount for bucket in row.buckets]


# -- DSO: DOMAIN 2.4's examples ------------------------------------------------------------------


def test_standard_dso_is_the_domain_example() -> None:
    assert standard_dso(Money.of(1500, "USD"), Money.of(1000, "USD"), 31) == Decimal("46.5")
    assert standard_dso(Money.of(1500, "USD"), Money.zero("USD"), 31) is None


def test_countback_dso_is_the_domain_example() -> None:
    months = [
        MonthRevenue(date(2026, 3, 1), 31, Money.of(1000, "USD")),
        MonthRevenue(date(2026, 2, 1), 28, Money.of(800, "USD")),
    ]
    assert countback_dso(Money.of(1500, "USD"), months) == (Decimal("48.5"), True)
    # AR the two months' revenue cannot cover: every day counted, and said to be a lower bound.
    assert countback_dso(Money.of(2000, "USD"), months) == (Decimal("59.0"), False)
    assert countback_dso(Money.zero("USD"), months) == (Decimal("0.0"), True)


def test_report_dso_from_invoices_matches_the_domain_example() -> None:
    # Ending AR 1,500 at 31 March: March's invoice of 1,000 wholly open, February's 800 with 500 left.
    invoices = [
        invoice("march", "1000", issued_on=date(2026, 3, 10), due_on=date(2026, 4, 9)),
        invoice("february", "500", total="800", issued_on=date(2026, 2, 10), due_on=date(2026, 3, 12)),
        invoice("paid-jan", "0", total="900", issued_on=date(2026, 1, 10), status=InvoiceStatus.PAID),
        invoice("void", "0", total="5000", issued_on=date(2026, 3, 5), status=InvoiceStatus.VOID),
    ]
    report = build_report(invoices, [], CUSTOMERS, as_of=AS_OF)
    (row,) = report.dso
    assert (row.subsidiary_id, row.currency) == ("1", "USD")
    assert row.ending_ar == Money.of(1500, "USD")
    assert row.period_revenue == Money.of(1000, "USD") and row.period_days == 31
    assert (row.period_start, row.period_end) == (date(2026, 3, 1), AS_OF)
    assert row.standard_days == Decimal("46.5")
    assert (row.countback_days, row.countback_complete) == (Decimal("48.5"), True)
    quarter = build_report(invoices, [], CUSTOMERS, as_of=AS_OF, standard_months=3).dso[0]
    assert quarter.period_days == 31 + 28 + 31 and quarter.period_revenue == Money.of(2700, "USD")
    assert quarter.standard_days == Decimal("50.0")  # 1,500 / 2,700 x 90
    assert "gross of unapplied cash" in report.method()["dso_ar"]


def test_dso_net_of_unapplied_cash_says_so() -> None:
    invoices = [invoice("march", "1000", issued_on=date(2026, 3, 10), due_on=date(2026, 4, 9))]
    report = build_report(invoices, [payment("p1", "250")], CUSTOMERS, as_of=AS_OF, ar_net_of_unapplied=True)
    assert report.dso[0].ending_ar == Money.of(750, "USD")
    assert report.dso[0].standard_days == Decimal("23.3")  # 750 / 1,000 x 31 = 23.25
    assert "net of unapplied cash" in report.method()["dso_ar"]


# -- aging ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (-5, "current"),
        (0, "current"),
        (1, "1-30"),
        (30, "1-30"),
        (31, "31-60"),
        (60, "31-60"),
        (61, "61-90"),
        (90, "61-90"),
        (91, "90+"),
        (400, "90+"),
    ],
)
def test_bucket_boundaries(days: int, bucket: str) -> None:
    assert BUCKETS[bucket_for(days)] == bucket


def test_aging_by_due_date_at_every_boundary() -> None:
    days_past_due = [0, 1, 30, 31, 60, 61, 90, 91]
    invoices = [
        invoice(f"i{d}", str(10**i), due_on=AS_OF - timedelta(days=d)) for i, d in enumerate(days_past_due)
    ]
    report = build_report(invoices, [], CUSTOMERS, as_of=AS_OF)
    (row,) = report.aging[GroupBy.CUSTOMER]
    assert (row.key, row.name, row.currency, row.invoice_count) == ("C1", "Müller Analytik GmbH", "USD", 8)
    assert amounts(row) == [Decimal(1), Decimal(110), Decimal(11000), Decimal(1100000), Decimal(10000000)]
    (usd,) = report.currencies
    assert usd.open_ar == Money.of(11111111, "USD") and usd.over_90 == Money.of(10**7, "USD")
    assert usd.over_90_percent == Decimal("90.00")


def test_jpy_keeps_whole_yen_and_two_currencies_are_never_added() -> None:
    invoices = [
        invoice(
            "y1", "1234567", "JPY", due_on=AS_OF - timedelta(days=45), customer_id="C2", subsidiary_id="4"
        ),
        invoice("y2", "1", "JPY", due_on=AS_OF, customer_id="C2", subsidiary_id="4"),
        invoice(
            "u1", "100.25", "USD", due_on=AS_OF - timedelta(days=100), customer_id="C2", subsidiary_id="4"
        ),
        invoice("e1", "99.99", "EUR", due_on=AS_OF + timedelta(days=3), customer_id="C1"),
    ]
    report = build_report(invoices, [payment("p1", "5000", "JPY", "C2")], CUSTOMERS, as_of=AS_OF)
    by_customer = {(row.key, row.currency): row for row in report.aging[GroupBy.CUSTOMER]}
    assert set(by_customer) == {("C2", "JPY"), ("C2", "USD"), ("C1", "EUR")}
    assert amounts(by_customer[("C2", "JPY")]) == [Decimal(1), 0, Decimal(1234567), 0, 0]
    assert by_customer[("C2", "JPY")].total == Money.of(1234568, "JPY")
    assert by_customer[("C2", "USD")].over_90 == Money.of("100.25", "USD")
    by_subsidiary = {(row.key, row.currency) for row in report.aging[GroupBy.SUBSIDIARY]}
    assert by_subsidiary == {("4", "JPY"), ("4", "USD"), ("1", "EUR")}
    summaries = {item.currency: item for item in report.currencies}
    assert summaries["JPY"].open_ar == Money.of(1234568, "JPY") and summaries["JPY"].over_90_percent == 0
    assert summaries["JPY"].unapplied == Money.of(5000, "JPY")
    assert summaries["USD"].over_90_percent == Decimal("100.00")
    assert summaries["EUR"].open_ar == Money.of("99.99", "EUR")
    (cash,) = report.unapplied
    assert (cash.customer_name, cash.amount, cash.payment_count) == ("Acme KK", Money.of(5000, "JPY"), 1)
    assert {(row.subsidiary_id, row.currency) for row in report.dso} == {
        ("4", "JPY"),
        ("4", "USD"),
        ("1", "EUR"),
    }


def test_invoice_date_basis_ages_from_the_invoice_date() -> None:
    # Issued 1 January, due 2 March: 29 days past due but 89 days since the invoice.
    late = invoice("i1", "100", issued_on=date(2026, 1, 1), due_on=date(2026, 3, 2))
    fresh = invoice("i2", "7", issued_on=AS_OF, due_on=AS_OF + timedelta(days=30))
    by_due = build_report([late, fresh], [], CUSTOMERS, as_of=AS_OF).aging[GroupBy.CURRENCY][0]
    by_invoice = build_report([late, fresh], [], CUSTOMERS, as_of=AS_OF, basis=AgingBasis.INVOICE)
    assert amounts(by_due) == [Decimal(7), Decimal(100), 0, 0, 0]
    assert amounts(by_invoice.aging[GroupBy.CURRENCY][0]) == [Decimal(7), 0, 0, Decimal(100), 0]
    assert by_invoice.method()["aging_basis"] == "days since the invoice date"


def test_documents_after_as_of_and_closed_invoices_are_left_out() -> None:
    invoices = [
        invoice("open", "10", due_on=AS_OF),
        invoice("later", "20", issued_on=AS_OF + timedelta(days=1)),
        invoice("paid", "0", total="30", due_on=AS_OF, status=InvoiceStatus.PAID),
        invoice("undated", "40", issued_on=None).model_copy(update={"issued_on": None}),
    ]
    report = build_report(invoices, [], CUSTOMERS, as_of=AS_OF)
    (row,) = report.aging[GroupBy.CURRENCY]
    assert row.total == Money.of(50, "USD") and row.invoice_count == 2
    assert report.undated_invoice_ids == ("undated",)
    assert report.later_document_count == 1


# -- the CLI -------------------------------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "tieout.yaml"
    path.write_text(f"version: 1\nstore: {{url: 'sqlite:///{tmp_path}/t.db'}}\n")
    store = Store.open(f"sqlite:///{tmp_path}/t.db")
    records = [
        invoice(
            "1", "1000", due_on=AS_OF - timedelta(days=10), issued_on=date(2026, 3, 1), subsidiary_id="US"
        ),
        invoice("2", "500", total="800", due_on=AS_OF - timedelta(days=95), issued_on=date(2026, 2, 1)),
        invoice("3", "250000", "JPY", due_on=AS_OF + timedelta(days=5), customer_id="C2", subsidiary_id="JP"),
        payment("9", "75.50"),
        *CUSTOMERS,
    ]
    with store.transaction() as tx:
        tx.upsert_canonical([(record, record.kind) for record in records], datetime(2026, 4, 1, tzinfo=UTC))
    store.close()
    return str(path)


def test_cli_json(config: str) -> None:
    result = CliRunner().invoke(app, ["--config", config, "report", "ar", "--as-of", "2026-03-31", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["as_of"], data["basis"], data["group_by"]) == ("2026-03-31", "due", "customer")
    rows = {(row["key"], row["currency"]): row for row in data["aging"]}
    assert rows[("C1", "USD")]["name"] == "Müller Analytik GmbH"
    assert (rows[("C1", "USD")]["days_1_30"], rows[("C1", "USD")]["days_over_90"]) == ("1000", "500")
    assert rows[("C1", "USD")]["total"] == "1500"
    assert rows[("C2", "JPY")]["current"] == "250000"
    currencies = {row["currency"]: row for row in data["currencies"]}
    assert currencies["USD"]["over_90_percent"] == "33.33"
    assert currencies["USD"]["unapplied_cash"] == "75.50"
    assert data["unapplied_cash"][0]["customer_name"] == "Müller Analytik GmbH"
    assert "gross of unapplied cash" in data["method"]["dso_ar"]
    assert data["method"]["dso_revenue"].startswith("totals (tax included) of invoices issued in the period")
    by_sub = CliRunner().invoke(
        app, ["--config", config, "report", "ar", "--as-of", "2026-03-31", "--by", "subsidiary", "--json"]
    )
    assert {(row["key"], row["currency"]) for row in json.loads(by_sub.stdout)["aging"]} == {
        ("1", "USD"),
        ("US", "USD"),
        ("JP", "JPY"),
    }


def test_cli_table_and_bad_options(config: str) -> None:
    runner = CliRunner()
    shown = runner.invoke(
        app, ["--config", config, "report", "ar", "--as-of", "2026-03-31", "--by", "currency"]
    )
    assert shown.exit_code == 0, shown.output
    assert "AR aging by currency as of 2026-03-31" in shown.stdout and "250,000" in shown.stdout
    assert runner.invoke(app, ["--config", config, "report", "ar", "--as-of", "31/03/2026"]).exit_code == 2
    assert runner.invoke(app, ["--config", config, "report", "ar", "--format", "csv"]).exit_code == 2
    assert runner.invoke(app, ["--config", config, "report", "ar", "--basis", "posting"]).exit_code == 2


def test_cli_csv_export(config: str, tmp_path: Path) -> None:
    target = tmp_path / "aging.csv"
    result = CliRunner().invoke(
        app,
        [
            "--config",
            config,
            "report",
            "ar",
            "--as-of",
            "2026-03-31",
            "--format",
            "csv",
            "--output",
            str(target),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(target.read_bytes().decode("utf-8-sig"))))
    assert list(rows[0]) == [
        "group_by",
        "key",
        "name",
        "currency",
        "current",
        "days_1_30",
        "days_31_60",
        "days_61_90",
        "days_over_90",
        "total",
        "invoice_count",
    ]
    by_key = {(row["key"], row["currency"]): row for row in rows}
    assert by_key[("C2", "JPY")]["name"] == "Acme KK" and by_key[("C2", "JPY")]["current"] == "250000"
    assert by_key[("C1", "USD")]["total"] == "1500"


def test_cli_xlsx_export(config: str, tmp_path: Path) -> None:
    target = tmp_path / "ar.xlsx"
    command = ["--config", config, "report", "ar", "--as-of", "2026-03-31", "--by", "currency"]
    result = CliRunner().invoke(app, [*command, "--format", "xlsx", "--output", str(target)])
    assert result.exit_code == 0, result.output
    workbook = load_workbook(target)
    assert workbook.sheetnames == ["Aging by currency", "Currencies", "Unapplied cash", "DSO", "Method"]
    aging = [list(row) for row in workbook["Aging by currency"].iter_rows(values_only=True)]
    assert aging[0][:4] == ["group_by", "key", "name", "currency"]
    jpy = next(row for row in aging if row[3] == "JPY")
    assert (
        jpy[4] == 250000
        and workbook["Aging by currency"].cell(row=aging.index(jpy) + 1, column=5).number_format == "#,##0"
    )
    usd = next(row for row in aging if row[3] == "USD")
    assert usd[5:10] == [1000, 0, 0, 500, 1500]
    dso = [list(row) for row in workbook["DSO"].iter_rows(values_only=True)]
    header = dso[0]
    us = next(dict(zip(header, row, strict=True)) for row in dso[1:] if row[0] == "US")
    assert us["dso_standard_days"] == pytest.approx(31.0)  # 1,000 open of 1,000 billed in March
    method = {str(row[0]): str(row[1]) for row in workbook["Method"].iter_rows(values_only=True)}
    assert method["as_of"] == "2026-03-31" and "gross of unapplied cash" in method["dso_ar"]


# -- the sandbox ---------------------------------------------------------------------------------


@contextmanager
def synced_sandbox(workdir: Path, seed: int) -> Iterator[tuple[Sandbox, Path]]:
    sandbox = Sandbox(SandboxOptions(workdir=workdir, seed=seed)).start()
    try:
        answer_key = generate(sandbox, seed=seed)
        config_path = write_sandbox_config(sandbox.describe(), workdir, value_maps=answer_key["value_maps"])
        config = load_config(config_path)
        service = SyncService(config, Store.open(config.store_url))
        try:
            results = service.sync()
        finally:
            service.close()
        assert all(result.status == "succeeded" for result in results)
        yield sandbox, config_path
    finally:
        sandbox.stop()


def test_sandbox_buckets_add_up_to_netsuite_open_ar_per_currency(tmp_path: Path) -> None:
    with synced_sandbox(tmp_path, 42) as (sandbox, config_path):
        rows = sandbox.netsuite.db.execute(
            'SELECT c.symbol, t.foreignamountunpaid FROM "transaction" t JOIN currency c ON c.id = t.currency '
            "WHERE t.type = 'CustInvc' AND t.status = 'A'"
        ).fetchall()
        result = CliRunner().invoke(
            app, ["--config", str(config_path), "report", "ar", "--by", "currency", "--json"]
        )
    assert result.exit_code == 0, result.output
    expected: dict[str, Decimal] = {}
    for symbol, unpaid in rows:
        expected[symbol] = expected.get(symbol, Decimal(0)) + Decimal(repr(unpaid))
    data = json.loads(result.stdout)
    assert len(expected) == 4  # USD, GBP, EUR and JPY subsidiaries
    for row in data["aging"]:
        buckets = sum(Decimal(row[name]) for name in data["buckets"])
        assert buckets == Decimal(row["total"]) == expected[row["currency"]], row["currency"]
    assert {row["currency"] for row in data["aging"]} == set(expected)
    assert {row["currency"] for row in data["currencies"]} == set(expected)

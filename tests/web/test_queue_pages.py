"""The queue, detail and dashboard pages over HTTP: filters, sort, paging, counts, bulk actions, export."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from starlette.testclient import TestClient
from web_support import T0

from tieout.model import Invoice, InvoiceStatus
from tieout.money import Money
from tieout.reconcile.queue import ExceptionQueue
from tieout.store import Store
from tieout.store.snapshots import ArSnapshot

AsUser = Callable[[str], tuple[TestClient, str]]


def listed(html: str) -> list[int]:
    """Exception ids in the queue table, in page order."""
    return [int(found) for found in re.findall(r'<td class="id">(\d+)</td>', html)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [4, 1, 5, 3, 2]),  # open, largest amount at risk (in minor units) first
        ("?rule=PAYMENT_MISSING_IN_NETSUITE", [5, 2]),
        ("?severity=critical&severity=low", [5, 3]),
        ("?currency=eur", [2]),
        ("?customer=ACME", [4, 1, 5, 3]),  # part of the name, any case
        ("?customer=100%25", [2]),  # a literal percent sign, not a wildcard
        ("?customer=%25' OR 1=1 --", []),
        ("?customer=cus_acme", [4, 1]),
        ("?subsidiary=4", [3]),
        ("?age=older", [1]),
        ("?age=week", [4, 5, 3, 2]),
        ("?sort=age", [1, 2, 3, 4, 5]),
        ("?sort=newest", [5, 4, 3, 2, 1]),
        ("?rule=NOT_A_RULE&severity=bogus&sort=bogus", [4, 1, 5, 3, 2]),  # unknown values are dropped
        ("?status=resolved", []),
    ],
)
def test_queue_filters_and_sorts(as_user: AsUser, query: str, expected: list[int]) -> None:
    client, _ = as_user("vic")
    response = client.get("/queue" + query)
    assert response.status_code == 200
    assert listed(response.text) == expected


def test_paging_and_counts_per_rule(as_user: AsUser) -> None:
    client, _ = as_user("vic")
    first = client.get("/queue?per_page=25").text
    assert "Page 1 of 1" in first
    counts = dict(re.findall(r"<span>([^<]+)</span><span class=\"num\">(\d+)</span>", first))
    assert counts == {
        "Invoice amounts differ between systems": "3",
        "Payment collected in Stripe is not in NetSuite": "2",
    }
    # Counts follow the other filters, not the rule filter itself.
    euro = client.get("/queue?currency=EUR&rule=INVOICE_TOTAL_DIFFERS").text
    assert dict(re.findall(r"<span>([^<]+)</span><span class=\"num\">(\d+)</span>", euro)) == {
        "Payment collected in Stripe is not in NetSuite": "1"
    }


def test_assigned_and_unassigned_filters_after_a_bulk_assign(as_user: AsUser, web_store: Store) -> None:
    client, csrf = as_user("ana")
    response = client.post(
        "/queue/bulk",
        data={
            "action": "assign",
            "ids": ["1", "3"],
            "assignee": "ana",
            "csrf_token": csrf,
            "back": "/queue?sort=age",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/queue?sort=age"
    assert "2 exceptions assigned to ana." in client.get(response.headers["location"]).text
    assert listed(client.get("/queue?assignee=ana").text) == [1, 3]
    assert listed(client.get("/queue?assignee=!none").text) == [4, 5, 2]
    assert [event.actor for event in ExceptionQueue(web_store).show(3).events] == ["tieout", "ana"]


def test_bulk_resolve_needs_a_note_and_reports_what_it_could_not_do(
    as_user: AsUser, web_store: Store
) -> None:
    client, csrf = as_user("ana")
    refused = client.post("/queue/bulk", data={"action": "resolve", "ids": ["4"], "csrf_token": csrf})
    assert "Write a note saying what was done." in refused.text
    assert ExceptionQueue(web_store).show(4).exception.status == "open"
    client.post("/exceptions/5/ignore", data={"reason": "expected: test card", "csrf_token": csrf})
    mixed = client.post(
        "/queue/bulk",
        data={"action": "resolve", "ids": ["4", "5"], "note": "fixed in NetSuite", "csrf_token": csrf},
    )
    assert "1 exception resolved." in mixed.text and "#5: exception #5 is ignored" in mixed.text
    assert ExceptionQueue(web_store).show(4).exception.status == "resolved"


def test_the_detail_page_marks_differing_fields_and_links_each_record(as_user: AsUser) -> None:
    client, _ = as_user("vic")
    page = client.get("/exceptions/1").text
    assert "Explanation of finding 1." in page
    rows = re.findall(r'<tr class="(differs)?">\s*<th scope="row">([^<]+)</th>', page)
    assert rows == [("differs", "Total"), ("", "Currency")]
    assert "500.00 USD" in page
    # The stripe template names {stream}; the record is not in the store, so its stream is empty.
    assert 'href="https://dashboard.stripe.com//in_1"' in page
    assert "NetSuite</strong> invoice <code>1</code>" in page
    related = re.findall(r'<a href="/exceptions/(\d+)">#', page)
    assert related == ["4"]  # the other exception for customer cus_acme


def test_detail_actions_and_history(as_user: AsUser, web_store: Store) -> None:
    client, csrf = as_user("ana")
    client.post("/exceptions/2/assign", data={"assignee": "ana", "csrf_token": csrf})
    client.post(
        "/exceptions/2/comment", data={"note": "asked the bank for the remittance", "csrf_token": csrf}
    )
    client.post("/exceptions/2/ignore", data={"reason": "expected: bank fee", "csrf_token": csrf})
    page = client.post("/exceptions/2/reopen", data={"note": "", "csrf_token": csrf}).text
    assert "Reopened." in page
    assert [event.action for event in ExceptionQueue(web_store).show(2).events] == [
        "opened",
        "assigned",
        "commented",
        "ignored",
        "reopened",
    ]
    assert "asked the bank for the remittance" in page and "expected: bank fee" in page
    refused = client.post("/exceptions/2/resolve", data={"note": " ", "csrf_token": csrf}).text
    assert "Resolving needs a note" in refused
    assert client.get("/exceptions/999").status_code == 404


def test_export_follows_the_view(as_user: AsUser) -> None:
    client, _ = as_user("vic")
    response = client.get("/queue/export?format=csv&rule=PAYMENT_MISSING_IN_NETSUITE&sort=age")
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith('attachment; filename="tieout-exceptions-')
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [row["exception_id"] for row in rows] == ["2", "5"]
    assert rows[0]["amount_at_risk"] == "20.00" and rows[0]["currency"] == "EUR"
    xlsx = client.get("/queue/export?format=xlsx")
    assert xlsx.content[:2] == b"PK"


def test_the_dashboard_renders_without_synced_data(as_user: AsUser) -> None:
    client, _ = as_user("vic")
    page = client.get("/dashboard").text
    assert "No NetSuite invoices have been synced yet." in page
    assert "No syncs have run yet." in page
    assert re.search(
        r'href="/queue\?rule=INVOICE_TOTAL_DIFFERS">Invoice amounts differ between systems</a></th><td class="num">3',
        page,
    )


def test_the_dashboard_draws_the_dso_trend_from_the_daily_snapshots(
    as_user: AsUser, web_store: Store
) -> None:
    days = [T0.date() - timedelta(days=offset) for offset in (60, 30, 0)]
    with web_store.transaction() as tx:
        for day, dso in zip(days, ("41.0", "38.5", "44.2"), strict=True):
            usd = Money.zero("USD")
            tx.save_ar_snapshot(
                day,
                [
                    ArSnapshot(
                        as_of=day,
                        subsidiary_id="1",
                        currency="USD",
                        buckets=(usd,) * 5,
                        open_total=usd,
                        unapplied_cash=usd,
                        dso_days=Decimal(dso),
                        taken_at=T0,
                    )
                ],
            )
    client, _ = as_user("vic")
    page = client.get("/dashboard").text
    chart = re.search(r'<svg class="chart"[^>]*aria-labelledby="dso-title dso-desc".*?</svg>', page, re.S)
    assert chart is not None
    assert chart.group(0).count("<polyline") == 1 and "Subsidiary 1 (USD)" not in chart.group(0)
    assert ">1 (USD)</text>" in chart.group(0)


def invoice(
    system: str, native_id: str, total: str, *, customer_id: str, email_like: str | None = None
) -> Invoice:
    amount = Money(amount=Decimal(total), currency="USD")
    zero = Money.zero("USD")
    return Invoice(
        system=system,
        native_id=native_id,
        customer_id=customer_id,
        number=email_like,
        currency="USD",
        status=InvoiceStatus.OPEN,
        subtotal=amount,
        tax=zero,
        total=amount,
        amount_due=amount,
        amount_paid=zero,
        amount_remaining=amount,
    )


def test_the_records_side_by_side_mark_only_real_differences(as_user: AsUser, web_store: Store) -> None:
    with web_store.transaction() as tx:
        tx.upsert_canonical(
            [
                (invoice("stripe", "in_1", "500.00", customer_id="cus_9", email_like="INV-1"), "invoices"),
                (invoice("netsuite", "1", "501.00", customer_id="77"), "invoices"),
            ],
            stored_at=T0,
        )
    client, _ = as_user("vic")
    page = client.get("/exceptions/1").text
    assert 'href="https://dashboard.stripe.com/invoices/in_1"' in page
    full = page.split("Every field, side by side", 1)[1]
    marked = re.findall(r'<tr class="differs"><th scope="row">([^<]+)</th>', full)
    # Totals differ; the customer's id differs only because each system has its own; the number is
    # only in Stripe's record, so nothing contradicts it.
    assert marked == ["Total", "Amount remaining", "Subtotal", "Amount due"]
    assert "Customer id there" in full and "Number" in full

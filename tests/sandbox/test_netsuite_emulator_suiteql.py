"""SuiteQL on the NetSuite emulator: paging, the 100,000-row cap, refusals, and agreement with the record API."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tieout.sandbox.netsuite.keyset import split
from tieout.sandbox.netsuite.suiteql_check import check

sys.path.insert(0, str(Path(__file__).resolve().parent))

from netsuite_emulator_fixtures import Account, basic_token, created_id, start_account, suiteql

INVOICES = 1_500


@pytest.fixture(scope="module")
def busy() -> Iterator[Account]:
    """An account with 1,500 invoices spread over 40 customers, some of them paid."""
    acct = start_account()
    state, ids = acct.state, acct.ids
    with state.batch():
        customers = [
            int(state.create_customer(f"Customer {n:02d}", subsidiary_id=ids["us"])["id"]) for n in range(40)
        ]
        for n in range(INVOICES):
            invoice = state.create_invoice(
                customers[n % 40],
                [{"item": ids["item"], "quantity": 1 + n % 3, "rate": 10 + n % 7}],
                tran_date=date(2024, 1, 1) + timedelta(days=n % 60),
                external_id=f"INV-{n:05d}",
            )
            if n % 5 == 0:
                state.create_customer_payment(customers[n % 40], applies=[(int(invoice["id"]), None)])
    try:
        yield acct
    finally:
        acct.server.stop()


@pytest.fixture(scope="module")
def client(busy: Account) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {basic_token(busy)}", "Prefer": "transient"}
    with httpx.Client(base_url=busy.settings["rest_url"], headers=headers, timeout=60) as http:
        yield http


def _code(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    detail = response.json()["o:errorDetails"][0]
    return str(detail["o:errorCode"])


def test_paging_across_more_than_a_thousand_rows(client: httpx.Client) -> None:
    query = "SELECT id, tranid, externalid FROM transaction WHERE type = 'CustInvc' ORDER BY id"
    first = suiteql(client, query).json()
    assert (first["count"], first["offset"], first["totalResults"], first["hasMore"]) == (
        1000,
        0,
        INVOICES,
        True,
    )
    assert first["items"][0]["links"] == []
    rels = {link["rel"]: link["href"] for link in first["links"]}
    assert rels["next"].endswith("limit=1000&offset=1000")
    second = client.post(rels["next"].split("/services/rest", 1)[1], json={"q": query}).json()
    assert (second["count"], second["offset"], second["hasMore"]) == (INVOICES - 1000, 1000, False)
    seen = [item["externalid"] for item in first["items"] + second["items"]]
    assert seen == [f"INV-{n:05d}" for n in range(INVOICES)]
    small = suiteql(client, query, limit=200, offset=400).json()
    assert [item["id"] for item in small["items"]] == [item["id"] for item in first["items"][400:600]]


def test_order_by_is_honoured(client: httpx.Client) -> None:
    rows = suiteql(
        client,
        "SELECT id, trandate, foreigntotal FROM transaction WHERE type = 'CustInvc' "
        "ORDER BY foreigntotal DESC, id ASC",
        limit=50,
    ).json()["items"]
    keys = [(-float(row["foreigntotal"]), int(row["id"])) for row in rows]
    assert keys == sorted(keys)
    assert rows[0]["foreigntotal"] == "48"


def test_the_hundred_thousand_row_cap(client: httpx.Client) -> None:
    # 3,600 transaction lines x 43 customers gives more than 100,000 rows.
    query = "SELECT l.uniquekey, c.id AS cid FROM transactionline l, customer c ORDER BY l.uniquekey, c.id"
    near_end = suiteql(client, query, limit=1000, offset=99_500).json()
    assert near_end["totalResults"] > 100_000
    assert near_end["count"] == 500
    assert near_end["hasMore"] is False
    refused = suiteql(client, query, limit=1000, offset=100_000)
    assert _code(refused) == "INVALID_PARAMETER"
    assert refused.json()["o:errorDetails"][0]["o:errorQueryParam"] == "offset"
    assert _code(suiteql(client, query, limit=1001)) == "INVALID_PARAMETER"


@pytest.mark.parametrize(
    "query",
    [
        "SELECT id FROM nosuchtable",
        "SELECT nosuchcolumn FROM customer",
        "SELECT c.id FROM customer c WHERE c.balance > 0",
        "DELETE FROM customer",
        "SELECT id FROM customer; SELECT id FROM transaction",
        "SELECT ns_account FROM transaction",
        "SELECT id FROM customer WHERE ROWNUM <= 3",
        "SELECT SOUNDEX(companyname) FROM customer",
        "SELECT id FROM customer WHERE datecreated > 'yesterday'",
        "SELECT id FROM sqlite_master",
        "SELEC id FROM customer",
        "SELECT id FROM customer WITH x AS (SELECT 1)",
    ],
)
def test_unsupported_or_invalid_suiteql_is_refused(client: httpx.Client, query: str) -> None:
    response = suiteql(client, query)
    assert _code(response) == "INVALID_PARAMETER"
    detail = response.json()["o:errorDetails"][0]
    assert detail["detail"].startswith("Invalid search query")
    assert detail["o:errorQueryParam"] == "q"


def test_prefer_transient_header_is_required(busy: Account, client: httpx.Client) -> None:
    response = client.post("/query/v1/suiteql", json={"q": "SELECT id FROM customer"}, headers={"Prefer": ""})
    assert response.status_code == 400


def test_record_api_and_suiteql_agree(busy: Account, client: httpx.Client) -> None:
    ids = busy.ids
    invoice_id = created_id(
        client.post(
            "/record/v1/invoice",
            json={
                "entity": {"id": ids["globex"]},
                "externalId": "AGREE-1",
                "item": {"items": [{"item": {"id": ids["item"]}, "quantity": 2, "rate": 40.5}]},
            },
        )
    )
    client.post(
        "/record/v1/customerPayment",
        json={
            "customer": {"id": ids["globex"]},
            "payment": 30,
            "apply": {"items": [{"doc": {"id": invoice_id}}]},
        },
    )
    record = client.get("/record/v1/invoice/eid:AGREE-1").json()
    row = suiteql(
        client,
        "SELECT t.id, t.tranid, t.foreigntotal, t.foreignamountpaid, t.foreignamountunpaid, t.status, "
        "BUILTIN.DF(t.currency) AS currencyname, BUILTIN.DF(t.status) AS statusname, l.subsidiary "
        "FROM transaction t JOIN transactionline l ON l.transaction = t.id AND l.mainline = 'T' "
        "WHERE t.externalid = 'AGREE-1'",
    ).json()["items"][0]
    assert row["id"] == record["id"]
    assert row["tranid"] == record["tranId"]
    assert float(row["foreigntotal"]) == record["total"] == 81
    assert float(row["foreignamountpaid"]) == record["amountPaid"] == 30
    assert float(row["foreignamountunpaid"]) == record["amountRemaining"] == 51
    assert row["status"] == record["status"]["id"] == "A"
    assert row["currencyname"] == record["currency"]["refName"] == "British Pound"
    assert row["statusname"] == "Invoice : Open"
    assert row["subsidiary"] == record["subsidiary"]["id"]
    links = suiteql(
        client,
        f"SELECT nextdoc, foreignamount, linktype FROM NextTransactionLineLink WHERE previousdoc = {invoice_id}",
    ).json()["items"]
    assert [(link["foreignamount"], link["linktype"]) for link in links] == [("30", "Payment")]
    gl = suiteql(
        client,
        f"SELECT amountunpaid FROM transactionaccountingline WHERE transaction = {invoice_id} "
        "AND transactionline = 0",
    ).json()["items"][0]
    assert float(gl["amountunpaid"]) == round(51 * 1.0, 2)


def test_incremental_filter_with_dates_and_to_char(busy: Account, client: httpx.Client) -> None:
    busy.clock.advance(timedelta(minutes=20))
    changed = created_id(
        client.post(
            "/record/v1/customer", json={"companyName": "Late Co", "subsidiary": {"id": busy.ids["us"]}}
        )
    )
    moment = busy.clock.now() - timedelta(minutes=5)
    response = suiteql(
        client,
        "SELECT id, TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS modified, datecreated FROM customer "
        f"WHERE lastmodifieddate >= TO_TIMESTAMP('{moment:%Y-%m-%d %H:%M:%S}', 'YYYY-MM-DD HH24:MI:SS') "
        "ORDER BY lastmodifieddate, id",
    ).json()
    assert [item["id"] for item in response["items"]] == [str(changed)]
    now = busy.clock.now()
    assert response["items"][0]["modified"] == now.strftime("%Y-%m-%d %H:%M:%S")
    assert response["items"][0]["datecreated"] == f"{now.month}/{now.day}/{now.year}"
    by_literal = suiteql(
        client,
        "SELECT COUNT(*) AS n FROM transaction WHERE type = 'CustInvc' AND externalid LIKE 'INV-%' "
        f"AND trandate >= '{date(2024, 2, 28):%m/%d/%Y}'",
    ).json()
    assert int(by_literal["items"][0]["n"]) == sum(1 for n in range(INVOICES) if n % 60 >= 58)


def test_aggregates_group_by_and_joins(client: httpx.Client) -> None:
    rows = suiteql(
        client,
        "SELECT c.companyname, COUNT(*) AS invoices, SUM(t.foreigntotal) AS total "
        "FROM transaction t INNER JOIN customer c ON c.id = t.entity "
        "WHERE t.type = 'CustInvc' AND c.companyname LIKE 'Customer 0%' "
        "GROUP BY c.companyname HAVING COUNT(*) > 10 ORDER BY c.companyname",
    ).json()["items"]
    assert [row["companyname"] for row in rows] == [f"Customer {n:02d}" for n in range(10)]
    assert [row["invoices"] for row in rows] == [str(len(range(n, INVOICES, 40))) for n in range(10)]
    ratio = suiteql(client, "SELECT 7 / 2 AS half FROM currency WHERE id = 1").json()["items"][0]
    assert ratio["half"] == "3.5"


_COLUMNS = [
    "id",
    "tranid",
    "trandate",
    "entity",
    "status",
    "foreigntotal",
    "memo",
    "externalid",
    "bogus",
    "type",
]
_LITERALS = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
    st.text(max_size=12).map(lambda text: "'" + text.replace("'", "''") + "'"),
    st.sampled_from(["NULL", "'1/15/2024'", "'2024-01-15'", "'T'", "'CustInvc'", "SYSDATE"]),
)
_OPERATORS = st.sampled_from(["=", "<>", "!=", "<", ">", "<=", ">=", "LIKE", "NOT LIKE"])


@st.composite
def _conditions(draw: st.DrawFn, depth: int = 0) -> str:
    column = draw(st.sampled_from(_COLUMNS))
    kind = draw(st.integers(0, 6 if depth < 2 else 3))
    if kind <= 1:
        return f"{column} {draw(_OPERATORS)} {draw(_LITERALS)}"
    if kind == 2:
        return f"{column} IS {draw(st.sampled_from(['NULL', 'NOT NULL']))}"
    if kind == 3:
        values = ", ".join(draw(st.lists(_LITERALS, min_size=1, max_size=3)))
        return f"{column} {draw(st.sampled_from(['IN', 'NOT IN']))} ({values})"
    if kind == 4:
        return f"{column} BETWEEN {draw(_LITERALS)} AND {draw(_LITERALS)}"
    joiner = draw(st.sampled_from(["AND", "OR"]))
    left, right = draw(_conditions(depth + 1)), draw(_conditions(depth + 1))
    return f"({left} {joiner} {'NOT ' if kind == 6 else ''}{right})"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.one_of(_conditions(), st.text(max_size=40)))
def test_random_where_clauses_run_or_are_refused_never_crash(client: httpx.Client, where: str) -> None:
    response = suiteql(client, f"SELECT id, tranid FROM transaction WHERE {where} ORDER BY id", limit=5)
    assert response.status_code in (200, 400), response.text
    body = response.json()
    if response.status_code == 400:
        assert body["o:errorDetails"][0]["o:errorCode"] in ("INVALID_PARAMETER", "INVALID_CONTENT")
    else:
        assert body["count"] == len(body["items"]) <= 5


def test_the_fresh_account_has_no_transactions() -> None:
    acct = start_account()
    try:
        headers = {"Authorization": f"Bearer {basic_token(acct)}", "Prefer": "transient"}
        with httpx.Client(base_url=acct.settings["rest_url"], headers=headers) as http:
            body = suiteql(http, "SELECT COUNT(*) AS n FROM transaction").json()
            assert body["items"] == [{"links": [], "n": "0"}]
            assert suiteql(http, "SELECT * FROM currency ORDER BY id").json()["items"][0]["symbol"] == "USD"
    finally:
        acct.server.stop()


def test_record_list_filter_and_suiteql_count_the_same_rows(client: httpx.Client) -> None:
    q = 'tranDate ON_OR_AFTER "2/28/2024" AND tranDate BEFORE "3/1/2024" AND externalId START_WITH "INV-"'
    listed = client.get("/record/v1/invoice", params={"q": q, "limit": 1000}).json()
    counted = suiteql(
        client,
        "SELECT id FROM transaction WHERE type = 'CustInvc' AND trandate >= '2/28/2024' "
        "AND trandate < '3/1/2024' AND externalid LIKE 'INV-%' ORDER BY id",
    ).json()
    assert (
        listed["totalResults"] == counted["totalResults"] == sum(1 for n in range(INVOICES) if n % 60 >= 58)
    )
    assert [item["id"] for item in listed["items"]] == [item["id"] for item in counted["items"]]
    bad = client.get("/record/v1/invoice", params={"q": "tranDate SOMETIME 5"})
    assert _code(bad) == "INVALID_PARAMETER"


KEYSET_QUERY = (
    "SELECT t.id, t.tranid, TO_CHAR(t.lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS modified "
    "FROM transaction t WHERE t.type = 'CustInvc'{after} ORDER BY t.lastmodifieddate, t.id"
)


def _after(row: dict[str, str]) -> str:
    bound = f"TO_TIMESTAMP('{row['modified']}', 'YYYY-MM-DD HH24:MI:SS')"
    return f" AND (t.lastmodifieddate > {bound} OR (t.lastmodifieddate = {bound} AND t.id > {row['id']}))"


def test_key_set_pages_match_one_sorted_query_and_see_writes_between_pages() -> None:
    acct = start_account()
    state, ids = acct.state, acct.ids
    try:
        customer = int(state.create_customer("Keyset Customer", subsidiary_id=ids["us"])["id"])
        invoices = []
        for n in range(30):
            if n % 3 == 0:  # three invoices share each modification second: ties across page ends
                acct.clock.advance(timedelta(seconds=1))
            invoice = state.create_invoice(customer, [{"item": ids["item"], "quantity": 1, "rate": 5 + n}])
            invoices.append(int(invoice["id"]))
        headers = {"Authorization": f"Bearer {basic_token(acct)}", "Prefer": "transient"}
        with httpx.Client(base_url=acct.settings["rest_url"], headers=headers, timeout=60) as http:
            everything = suiteql(http, KEYSET_QUERY.format(after="")).json()["items"]
            assert [int(row["id"]) for row in everything] == invoices
            seen: list[dict[str, str]] = []
            totals = []
            after = ""
            while True:
                body = suiteql(http, KEYSET_QUERY.format(after=after), limit=7).json()
                seen += body["items"]
                totals.append(body["totalResults"])
                if not body["hasMore"]:
                    break
                after = _after(body["items"][-1])
                if len(seen) == 14:
                    # A write between pages: the next page must see it, not a result sorted before it.
                    acct.clock.advance(timedelta(seconds=1))
                    late = state.create_invoice(customer, [{"item": ids["item"], "quantity": 2, "rate": 9}])
            assert seen[:30] == everything
            assert [int(row["id"]) for row in seen[30:]] == [int(late["id"])]
            assert totals == [30, 23, 16 + 1, 10, 3]
            # ...and those pages were slices of one sorted result, not queries of their own.
            assert split(check(KEYSET_QUERY.format(after=_after(everything[0])), acct.clock.now()).tree)
            # A key-set condition on the same keys with an offset pages within what follows the bound.
            offset_page = suiteql(http, KEYSET_QUERY.format(after=_after(everything[4])), limit=5, offset=5)
            assert [row["id"] for row in offset_page.json()["items"]] == [
                row["id"] for row in everything[10:15]
            ]
    finally:
        acct.server.stop()

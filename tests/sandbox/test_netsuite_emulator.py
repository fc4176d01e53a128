"""The NetSuite emulator's OAuth, record service, business rules, faults and concurrency limit, over httpx."""

from __future__ import annotations

import ssl
import sys
import threading
from datetime import timedelta
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, str(Path(__file__).resolve().parent))

from netsuite_emulator_fixtures import (
    START,
    Account,
    account,
    api,
    assertion,
    assertion_grant,
    basic_token,
    created_id,
    seed_company,
    start_account,
    suiteql,
)

from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.netsuite import NetSuiteState, build_app, client_settings
from tieout.sandbox.server import EmulatorServer, SandboxCA

__all__ = ["account", "api"]


def _error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) >= {"type", "title", "status", "o:errorDetails"}
    assert body["status"] == response.status_code
    return str(body["o:errorDetails"][0]["o:errorCode"])


# -- OAuth 2.0 -------------------------------------------------------------------------------------


def test_jwt_assertion_grant_issues_a_bearer_token_that_works(account: Account) -> None:
    response = assertion_grant(account, assertion(account))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert int(body["expires_in"]) == 3600
    record = httpx.get(
        f"{account.settings['record_url']}/customer/{account.ids['acme']}",
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert record.status_code == 200
    assert record.json()["companyName"] == "Acme Corp"


def test_assertion_signed_by_an_unregistered_key_is_refused(account: Account) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    pem = stranger.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    response = assertion_grant(account, assertion(account, key_pem=pem))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_assertion_checks_scope_audience_and_lifetime(account: Account) -> None:
    assert assertion_grant(account, assertion(account, scope="restlets")).json()["error"] == "invalid_scope"
    assert assertion_grant(account, assertion(account, aud="https://elsewhere/token")).status_code == 400
    too_long = assertion_grant(account, assertion(account, lifetime=7200))
    assert too_long.json()["error"] == "invalid_grant"
    expired = assertion(
        account, iat=int(account.clock.now().timestamp()) - 600, exp=int(account.clock.now().timestamp()) - 1
    )
    assert assertion_grant(account, expired).json()["error"] == "invalid_grant"


def test_basic_credentials_grant_and_wrong_secret(account: Account) -> None:
    assert basic_token(account)
    bad = httpx.post(
        account.settings["token_url"],
        data={"grant_type": "client_credentials"},
        auth=(account.settings["client_id"], "not-the-secret"),
    )
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_client"
    wrong_grant = httpx.post(
        account.settings["token_url"],
        data={"grant_type": "password"},
        auth=(account.settings["client_id"], account.settings["client_secret"]),
    )
    assert wrong_grant.json()["error"] == "unsupported_grant_type"


def test_missing_invalid_and_expired_tokens_get_invalid_login() -> None:
    acct = start_account()
    try:
        url = f"{acct.settings['record_url']}/customer"
        assert _error_code(httpx.get(url)) == "INVALID_LOGIN"
        assert httpx.get(url, headers={"Authorization": "Bearer nonsense"}).status_code == 401
        token = basic_token(acct)
        assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        acct.clock.advance(timedelta(seconds=3601))
        expired = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
        assert expired.status_code == 401
        assert _error_code(expired) == "INVALID_LOGIN"
    finally:
        acct.server.stop()


# -- record service ----------------------------------------------------------------------------------


def test_customer_crud_with_location_header_and_modified_dates(account: Account, api: httpx.Client) -> None:
    created = api.post(
        "/record/v1/customer",
        json={"companyName": "Hooli", "subsidiary": {"id": str(account.ids["us"])}, "email": "ap@hooli.test"},
    )
    customer_id = created_id(created)
    assert created.headers["Location"].startswith(account.settings["record_url"])
    record = api.get(f"/record/v1/customer/{customer_id}").json()
    assert record["companyName"] == "Hooli"
    assert record["subsidiary"]["id"] == str(account.ids["us"])
    assert record["currency"]["refName"] == "US Dollar"
    assert record["currencyList"] == {
        "links": [{"rel": "self", "href": record["links"][0]["href"] + "/currencyList"}]
    }
    account.clock.advance(timedelta(minutes=5))
    assert (
        api.patch(f"/record/v1/customer/{customer_id}", json={"email": "billing@hooli.test"}).status_code
        == 204
    )
    updated = api.get(f"/record/v1/customer/{customer_id}").json()
    assert updated["email"] == "billing@hooli.test"
    assert updated["lastModifiedDate"] > record["lastModifiedDate"]
    assert updated["dateCreated"] == record["dateCreated"]
    assert api.delete(f"/record/v1/customer/{customer_id}").status_code == 204
    missing = api.get(f"/record/v1/customer/{customer_id}")
    assert missing.status_code == 404
    assert _error_code(missing) == "NONEXISTENT_ID"
    deleted = suiteql(
        api, f"SELECT type, name, deleteddate FROM deletedrecord WHERE recordid = {customer_id}"
    )
    assert deleted.json()["items"] == [
        {"links": [], "type": "customer", "name": f"CUS{customer_id:05d} Hooli", "deleteddate": "3/1/2024"}
    ]


def test_eid_upsert_creates_then_updates_and_duplicate_external_id_is_refused(
    account: Account, api: httpx.Client
) -> None:
    body = {"companyName": "Umbrella", "subsidiary": {"id": account.ids["de"]}}
    first = api.put("/record/v1/customer/eid:SF-UMBRELLA", json=body)
    customer_id = created_id(first)
    second = api.put("/record/v1/customer/eid:SF-UMBRELLA", json={"companyName": "Umbrella GmbH"})
    assert created_id(second) == customer_id
    record = api.get("/record/v1/customer/eid:SF-UMBRELLA").json()
    assert record["id"] == str(customer_id)
    assert record["companyName"] == "Umbrella GmbH"
    assert record["currency"]["refName"] == "Euro"
    duplicate = api.post("/record/v1/customer", json={**body, "externalId": "SF-UMBRELLA"})
    assert duplicate.status_code == 400
    assert _error_code(duplicate) == "USER_ERROR"
    assert "already exists" in duplicate.json()["o:errorDetails"][0]["detail"]
    listed = api.get("/record/v1/customer", params={"q": 'externalId IS "SF-UMBRELLA"'}).json()
    assert [item["id"] for item in listed["items"]] == [str(customer_id)]


def test_record_collection_paging_links(account: Account, api: httpx.Client) -> None:
    page = api.get("/record/v1/subsidiary", params={"limit": 2}).json()
    assert page["count"] == 2
    assert page["hasMore"] is True
    assert page["totalResults"] == 4
    rels = {link["rel"]: link["href"] for link in page["links"]}
    following = api.get(rels["next"].split("/services/rest", 1)[1]).json()
    assert following["offset"] == 2
    assert following["hasMore"] is False
    assert [item["id"] for item in page["items"] + following["items"]] == ["1", "2", "3", "4"]
    assert _error_code(api.get("/record/v1/subsidiary", params={"limit": 5000})) == "INVALID_PARAMETER"


def test_invoice_upsert_by_external_id_and_line_patch(account: Account, api: httpx.Client) -> None:
    body = {
        "entity": {"id": account.ids["acme"]},
        "tranDate": "2024-03-01",
        "item": {"items": [{"item": {"id": account.ids["item"]}, "quantity": 2, "rate": 50}]},
    }
    invoice_id = created_id(api.put("/record/v1/invoice/eid:MTR-UPSERT", json=body))
    again = api.put("/record/v1/invoice/eid:MTR-UPSERT", json={"memo": "usage March"})
    assert created_id(again) == invoice_id
    invoice = api.get(f"/record/v1/invoice/{invoice_id}").json()
    assert (invoice["memo"], invoice["total"], invoice["externalId"]) == ("usage March", 100, "MTR-UPSERT")
    patch = {"item": {"items": [{"line": 1, "quantity": 5}]}}
    assert api.patch(f"/record/v1/invoice/{invoice_id}", json=patch).status_code == 204
    assert api.get(f"/record/v1/invoice/{invoice_id}").json()["total"] == 250
    added = {"item": {"items": [{"item": {"id": account.ids["item"]}, "amount": 7}]}}
    assert api.patch(f"/record/v1/invoice/{invoice_id}", json=added).status_code == 204
    lines = suiteql(
        api,
        f"SELECT id, quantity, foreignamount FROM transactionline WHERE transaction = {invoice_id} "
        "AND mainline = 'F' ORDER BY id",
    ).json()["items"]
    assert [(line.get("quantity"), line["foreignamount"]) for line in lines] == [("5", "-250"), (None, "-7")]
    replaced = {"item": {"items": [{"item": {"id": account.ids["item"]}, "amount": 10}]}}
    assert api.patch(f"/record/v1/invoice/{invoice_id}?replace=item", json=replaced).status_code == 204
    assert api.get(f"/record/v1/invoice/{invoice_id}").json()["total"] == 10


def test_invoice_in_a_currency_the_customer_cannot_use_is_refused(
    account: Account, api: httpx.Client
) -> None:
    lines = {"items": [{"item": {"id": account.ids["item"]}, "quantity": 1, "rate": 100}]}
    refused = api.post(
        "/record/v1/invoice",
        json={"entity": {"id": account.ids["acme"]}, "currency": {"id": account.ids["jpy"]}, "item": lines},
    )
    assert refused.status_code == 400
    assert refused.json()["o:errorDetails"][0]["o:errorPath"] == "currency"
    allowed = api.post(
        "/record/v1/invoice",
        json={"entity": {"id": account.ids["acme"]}, "currency": {"id": account.ids["eur"]}, "item": lines},
    )
    invoice = api.get(f"/record/v1/invoice/{created_id(allowed)}").json()
    assert invoice["currency"]["refName"] == "Euro"
    assert invoice["exchangeRate"] == 1.08


def test_payment_apply_updates_invoice_balance_and_status(account: Account, api: httpx.Client) -> None:
    acme = account.ids["acme"]
    invoice_id = created_id(
        api.post(
            "/record/v1/invoice",
            json={
                "entity": {"id": acme},
                "tranDate": "2024-03-01",
                "externalId": "MTR-INV-1",
                "item": {"items": [{"item": {"id": account.ids["item"]}, "quantity": 3, "rate": 100}]},
                "taxTotal": 24.75,
            },
        )
    )
    invoice = api.get(f"/record/v1/invoice/{invoice_id}", params={"expandSubResources": "true"}).json()
    assert (invoice["total"], invoice["amountRemaining"], invoice["status"]["refName"]) == (
        324.75,
        324.75,
        "Open",
    )
    assert invoice["dueDate"] == "2024-03-31"
    assert invoice["item"]["items"][0]["amount"] == 300

    partial = {
        "customer": {"id": acme},
        "payment": 100,
        "externalId": "ch_1",
        "apply": {"items": [{"doc": {"id": invoice_id}, "apply": True, "amount": 100}]},
    }
    payment_id = created_id(api.post("/record/v1/customerPayment", json=partial))
    invoice = api.get(f"/record/v1/invoice/{invoice_id}").json()
    assert (invoice["amountPaid"], invoice["amountRemaining"], invoice["status"]["id"]) == (100, 224.75, "A")

    account.clock.advance(timedelta(minutes=1))
    patch = {"payment": 324.75, "apply": {"items": [{"doc": {"id": invoice_id}, "amount": 324.75}]}}
    assert api.patch(f"/record/v1/customerPayment/{payment_id}", json=patch).status_code == 204
    payment = api.get(f"/record/v1/customerPayment/{payment_id}/apply").json()
    assert [(item["doc"]["id"], item["amount"]) for item in payment["items"]] == [(str(invoice_id), 324.75)]
    invoice = api.get(f"/record/v1/invoice/{invoice_id}").json()
    assert (invoice["amountRemaining"], invoice["status"]["refName"]) == (0, "Paid In Full")
    rows = suiteql(api, f"SELECT status, foreignamountunpaid FROM transaction WHERE id = {invoice_id}").json()
    assert rows["items"][0]["status"] == "B"
    assert rows["items"][0]["foreignamountunpaid"] == "0"

    over = api.post(
        "/record/v1/customerPayment",
        json={"customer": {"id": acme}, "apply": {"items": [{"doc": {"id": invoice_id}, "amount": 1}]}},
    )
    assert over.status_code == 400
    dependent = api.delete(f"/record/v1/invoice/{invoice_id}")
    assert dependent.status_code == 400
    assert "dependent records" in dependent.json()["o:errorDetails"][0]["detail"]
    unapply = {"apply": {"items": [{"doc": {"id": invoice_id}, "apply": False}]}}
    assert api.patch(f"/record/v1/customerPayment/{payment_id}", json=unapply).status_code == 204
    payment = api.get(f"/record/v1/customerPayment/{payment_id}").json()
    assert (payment["applied"], payment["unapplied"]) == (0, 324.75)
    assert api.get(f"/record/v1/invoice/{invoice_id}").json()["status"]["id"] == "A"
    assert api.delete(f"/record/v1/invoice/{invoice_id}").status_code == 204


def test_credit_memo_refund_and_deposit_flow(account: Account, api: httpx.Client) -> None:
    ids = account.ids
    invoice = account.state.create_invoice(ids["globex"], [{"item": ids["item"], "amount": 500}])
    memo = api.post(
        "/record/v1/creditMemo",
        json={
            "entity": {"id": ids["globex"]},
            "item": {"items": [{"item": {"id": ids["item"]}, "amount": 200}]},
            "apply": {"items": [{"doc": {"id": invoice["id"]}, "apply": True, "amount": 150}]},
        },
    )
    memo_id = created_id(memo)
    shown = api.get(f"/record/v1/creditMemo/{memo_id}").json()
    assert (shown["applied"], shown["unapplied"], shown["status"]["refName"]) == (150, 50, "Open")
    assert api.get(f"/record/v1/invoice/{invoice['id']}").json()["amountRemaining"] == 350
    refund = api.post(
        "/record/v1/customerRefund",
        json={
            "customer": {"id": ids["globex"]},
            "account": {"id": ids["uk_bank"]},
            "apply": {"items": [{"doc": {"id": memo_id}, "amount": 50}]},
        },
    )
    assert api.get(f"/record/v1/customerRefund/{created_id(refund)}").json()["total"] == 50
    assert api.get(f"/record/v1/creditMemo/{memo_id}").json()["status"]["refName"] == "Fully Applied"

    payment = account.state.create_customer_payment(ids["globex"], applies=[(int(invoice["id"]), None)])
    assert payment["status"]["refName"] == "Not Deposited"
    deposit = api.post(
        "/record/v1/deposit",
        json={
            "account": {"id": ids["uk_bank"]},
            "payment": {"items": [{"id": payment["id"], "deposit": True}]},
            "cashback": {
                "items": [{"account": {"id": ids["uk_fees"]}, "amount": 10.5, "memo": "Stripe fees"}]
            },
        },
    )
    deposit_record = api.get(
        f"/record/v1/deposit/{created_id(deposit)}", params={"expandSubResources": "true"}
    ).json()
    assert deposit_record["total"] == 339.5
    assert deposit_record["payment"]["items"][0]["paymentAmount"] == 350
    assert api.get(f"/record/v1/customerPayment/{payment['id']}").json()["status"]["refName"] == "Deposited"
    assert api.patch(f"/record/v1/customerPayment/{payment['id']}", json={"payment": 1000}).status_code == 400
    assert (
        api.patch(f"/record/v1/customerPayment/{payment['id']}", json={"memo": "po_123"}).status_code == 204
    )
    still = api.get(f"/record/v1/customerPayment/{payment['id']}").json()
    assert (still["memo"], still["status"]["refName"], still["payment"]) == ("po_123", "Deposited", 350)
    assert api.delete(f"/record/v1/customerPayment/{payment['id']}").status_code == 400
    gl = suiteql(
        api,
        f"SELECT SUM(debit) d, SUM(credit) c FROM transactionaccountingline "
        f"WHERE transaction = {deposit_record['id']}",
    ).json()["items"][0]
    assert gl["d"] == gl["c"] == "350"


def test_journal_entry_must_balance(account: Account, api: httpx.Client) -> None:
    ids = account.ids
    lines = [
        {"account": {"id": ids["us_bank"]}, "debit": 100},
        {"account": {"id": ids["us_receivables"]}, "credit": 90, "entity": {"id": ids["acme"]}},
    ]
    unbalanced = api.post(
        "/record/v1/journalEntry", json={"subsidiary": {"id": ids["us"]}, "line": {"items": lines}}
    )
    assert unbalanced.status_code == 400
    assert "not in balance" in unbalanced.json()["o:errorDetails"][0]["detail"]
    lines[1]["credit"] = 100
    entry_id = created_id(
        api.post("/record/v1/journalEntry", json={"subsidiary": {"id": ids["us"]}, "line": {"items": lines}})
    )
    entry = api.get(f"/record/v1/journalEntry/{entry_id}", params={"expandSubResources": "true"}).json()
    assert [line.get("debit", 0) - line.get("credit", 0) for line in entry["line"]["items"]] == [100, -100]
    assert entry["line"]["items"][1]["entity"]["id"] == str(ids["acme"])


def test_validation_errors_carry_an_error_path(account: Account, api: httpx.Client) -> None:
    body = {"entity": {"id": account.ids["acme"]}, "item": {"items": [{"item": {"id": 9999}, "amount": 1}]}}
    response = api.post("/record/v1/invoice", json=body)
    assert response.status_code == 400
    detail = response.json()["o:errorDetails"][0]
    assert detail["o:errorCode"] == "INVALID_CONTENT"
    assert detail["o:errorPath"] == "item.items[0].item"
    assert api.get("/record/v1/noSuchRecord/1").status_code == 404
    assert _error_code(api.post("/record/v1/customer", json={"companyName": "X", "bogus": 1})) == "USER_ERROR"


# -- faults and governance -----------------------------------------------------------------------------


def test_injected_faults_have_netsuite_bodies(account: Account, api: httpx.Client) -> None:
    url = f"/record/v1/customer/{account.ids['acme']}"
    admin = f"{account.base_url}/__sandbox/faults"
    try:
        assert httpx.put(admin, json={"server_error_rate": 1.0}).status_code == 200
        failed = api.get(url)
        assert failed.status_code == 500
        assert _error_code(failed) == "UNEXPECTED_ERROR"
        assert httpx.put(admin, json={"rate_limit_rate": 1.0, "retry_after_seconds": 2}).status_code == 200
        limited = api.get(url)
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "2"
        assert _error_code(limited) == "CONCURRENCY_LIMIT_EXCEEDED"
    finally:
        httpx.put(admin, json={"profile": "none"})
    assert api.get(url).status_code == 200


def test_concurrency_limit_rejects_requests_beyond_the_account_limit(
    account: Account, api: httpx.Client
) -> None:
    admin = f"{account.base_url}/__sandbox/faults"
    url = f"/record/v1/customer/{account.ids['acme']}"
    workers = 12
    gate = threading.Barrier(workers)
    statuses: list[int] = []
    bodies: list[dict[str, object]] = []

    def call() -> None:
        with httpx.Client(base_url=account.settings["rest_url"], headers=api.headers, timeout=30) as client:
            gate.wait()
            response = client.get(url)
            statuses.append(response.status_code)
            if response.status_code == 429:
                bodies.append(response.json())

    try:
        httpx.put(admin, json={"slow_rate": 1.0, "slow_seconds": 1.5}).raise_for_status()
        threads = [threading.Thread(target=call) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        httpx.put(admin, json={"profile": "none"})
    limit = account.state.concurrency_limit
    assert 1 <= statuses.count(200) <= limit
    assert statuses.count(429) == workers - statuses.count(200)
    assert all(body["o:errorDetails"][0]["o:errorCode"] == "CONCURRENCY_LIMIT_EXCEEDED" for body in bodies)  # type: ignore[index]


def test_served_over_tls_with_the_sandbox_ca(tmp_path: Path) -> None:
    state = NetSuiteState(SandboxClock(START))
    ids = seed_company(state)
    with EmulatorServer(build_app(state), tls=SandboxCA(tmp_path), name="netsuite-tls") as server:
        settings = client_settings(server.base_url, state)
        assert settings["token_url"].startswith("https://127.0.0.1:")
        verify = ssl.create_default_context(cafile=str(tmp_path / "sandbox-ca.pem"))
        token = httpx.post(
            settings["token_url"],
            data={"grant_type": "client_credentials"},
            auth=(settings["client_id"], settings["client_secret"]),
            verify=verify,
        ).json()["access_token"]
        record = httpx.get(
            f"{settings['record_url']}/subsidiary/{ids['jp']}",
            headers={"Authorization": f"Bearer {token}"},
            verify=verify,
        ).json()
        assert (record["name"], record["currency"]["refName"]) == ("JP KK", "Yen")


# -- voids (the void RESTlet) -----------------------------------------------------------------------


def _void(account: Account, api: httpx.Client, body: dict[str, object]) -> httpx.Response:
    return api.post(
        account.base_url + "/app/site/hosting/restlet.nl",
        params={"script": "customscript_tieout_void", "deploy": "customdeploy_tieout_void"},
        json=body,
    )


def test_void_zeroes_the_invoice_keeps_it_and_refuses_one_with_payments(
    account: Account, api: httpx.Client
) -> None:
    acme = account.ids["acme"]
    lines = {"items": [{"item": {"id": account.ids["item"]}, "quantity": 2, "rate": 50}]}
    invoice_id = created_id(
        api.post("/record/v1/invoice", json={"entity": {"id": acme}, "externalId": "MTR-V-1", "item": lines})
    )
    paid_id = created_id(
        api.post("/record/v1/invoice", json={"entity": {"id": acme}, "externalId": "MTR-V-2", "item": lines})
    )
    api.post(
        "/record/v1/customerPayment",
        json={"customer": {"id": acme}, "apply": {"items": [{"doc": {"id": paid_id}, "amount": 40}]}},
    )
    account.clock.advance(timedelta(minutes=1))

    answer = _void(account, api, {"recordtype": "invoice", "id": str(invoice_id)})
    assert answer.status_code == 200 and answer.json() == {
        "id": str(invoice_id),
        "recordtype": "invoice",
        "voided": True,
    }
    invoice = api.get(f"/record/v1/invoice/{invoice_id}", params={"expandSubResources": "true"}).json()
    assert (invoice["total"], invoice["status"]["refName"], invoice["memo"]) == (0, "Voided", "VOID")
    assert [item["amount"] for item in invoice["item"]["items"]] == [0]
    row = suiteql(
        api, f"SELECT status, voided, foreigntotal, lastmodifieddate FROM transaction WHERE id = {invoice_id}"
    ).json()["items"][0]
    assert (row["status"], row["voided"], row["foreigntotal"]) == ("V", "T", "0")

    again = _void(account, api, {"recordtype": "invoice", "id": str(invoice_id)})
    assert again.status_code == 200  # voiding a voided invoice changes nothing
    rewrite = api.put("/record/v1/invoice/eid:MTR-V-1", json={"entity": {"id": acme}, "item": lines})
    assert rewrite.status_code == 400 and "voided" in rewrite.json()["o:errorDetails"][0]["detail"]

    refused = _void(account, api, {"recordtype": "invoice", "id": str(paid_id)})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "USER_ERROR" and "applied" in refused.json()["error"]["message"]
    unknown = api.post(
        account.base_url + "/app/site/hosting/restlet.nl",
        params={"script": "customscript_other", "deploy": "customdeploy_other"},
        json={"recordtype": "invoice", "id": str(paid_id)},
    )
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "INVALID_SCRIPT_DEPLOYMENT_ID"

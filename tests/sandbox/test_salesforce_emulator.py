"""The Salesforce emulator driven by simple-salesforce over loopback TLS, as tieout's connector will use it."""

from __future__ import annotations

import csv
import gc
import io
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.exceptions import OpenAPIError
from shared_specs import SPECS
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.faults import ADMIN_PATH, FaultInjector
from tieout.sandbox.salesforce import SalesforceState, build_app, client_settings
from tieout.sandbox.server import EmulatorServer, SandboxCA

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ACCOUNTS = 2100  # more than one 2,000-row query page


class Org:
    """The seeded org plus the ids tests refer to."""

    def __init__(self, state: SalesforceState) -> None:
        self.state = state
        product = state.create_product("Platform", product_code="PLT", family="Platform")
        usage = state.create_product("API Calls", product_code="API", family="Usage")
        self.platform_usd = state.create_pricebook_entry(product["Id"], 1000)["Id"]
        self.api_usd = state.create_pricebook_entry(usage["Id"], 0.25)["Id"]
        self.platform_eur = state.create_pricebook_entry(product["Id"], 900, currency="EUR")["Id"]
        self.parent = state.create_account("Globex Holdings", NetSuite_Id__c="NS-1", Subsidiary__c="US")["Id"]
        self.acme = state.create_account(
            "Acme Corp",
            ParentId=self.parent,
            NetSuite_Id__c="NS-2",
            Metronome_Customer_Id__c="m-acme",
            AR_Balance__c=1250.5,
            Days_Past_Due__c=12,
            Subsidiary__c="US",
            BillingCountry="US",
        )["Id"]
        self.initech = state.create_account("Initech GmbH", currency="EUR", Subsidiary__c="DE")["Id"]
        self.won = state.create_opportunity(
            self.acme,
            "Acme - Platform 2026",
            "Closed Won",
            date(2026, 2, 27),
            Type="New Business",
            at=START - timedelta(days=3),
        )["Id"]
        state.add_opportunity_line_item(
            self.won, self.platform_usd, 12, unit_price=800, service_date=date(2026, 3, 1)
        )
        state.add_opportunity_line_item(self.won, self.api_usd, 100000)
        self.open = state.create_opportunity(
            self.initech,
            "Initech renewal",
            "Negotiation/Review",
            date(2026, 4, 30),
            amount=50000,
            Type="Renewal",
        )["Id"]
        self.lost = state.create_opportunity(self.acme, "Acme add-on", "Closed Lost", date(2026, 1, 15))["Id"]
        state.create_contact(self.acme, "Hopper", FirstName="Grace", Email="grace@acme.example")
        self.contract = state.create_contract(self.acme, date(2026, 3, 1), 12, status="Activated")["Id"]
        self.order = state.create_order(self.acme, date(2026, 3, 1), contract_id=self.contract)["Id"]
        state.add_order_item(self.order, self.platform_usd, 12, unit_price=800)
        for number in range(ACCOUNTS - 3):
            state.create_account(f"Bulk Customer {number:04d}", AccountNumber=f"B{number:04d}")


@pytest.fixture(scope="module")
def clock() -> SandboxClock:
    return SandboxClock(frozen_at=START)


@pytest.fixture(scope="module")
def org(clock: SandboxClock) -> Org:
    return Org(SalesforceState(clock))


@pytest.fixture(scope="module")
def injector() -> FaultInjector:
    return FaultInjector()


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> SandboxCA:
    return SandboxCA(tmp_path_factory.mktemp("salesforce-ca"))


@pytest.fixture(scope="module")
def server(org: Org, injector: FaultInjector, ca: SandboxCA) -> Iterator[EmulatorServer]:
    with EmulatorServer(build_app(org.state, injector), tls=ca, name="salesforce") as running:
        yield running
        # A requests Response still referenced (say by a caught exception) keeps its TLS socket open,
        # and uvicorn's graceful shutdown waits for every open connection.
        gc.collect()


def _session(ca: SandboxCA) -> requests.Session:
    session = requests.Session()
    session.verify = str(ca.ca_bundle_path)
    session.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise override verify
    return session


@pytest.fixture(scope="module")
def sf(server: EmulatorServer, org: Org, ca: SandboxCA) -> Iterator[Salesforce]:
    settings = client_settings(server.base_url, org.state)
    with _session(ca) as session:  # closed before the server stops, so it need not wait on keep-alives
        yield Salesforce(
            instance_url=settings["instance_url"],
            session_id=settings["session_id"],
            version=settings["version"],
            session=session,
        )


def _names(result: dict[str, Any]) -> list[str]:
    return [r["Name"] for r in result["records"]]


def _error_code(exc: Exception) -> str:
    content = exc.content  # type: ignore[attr-defined]
    return str(content[0]["errorCode"])


def test_client_settings_name_what_simple_salesforce_needs(server: EmulatorServer, org: Org) -> None:
    settings = client_settings(server.base_url, org.state)
    assert settings == {
        "instance_url": server.base_url,
        "session_id": org.state.session_id,
        "version": "59.0",
    }
    assert server.base_url.startswith("https://127.0.0.1:")


def test_query_walks_parent_relationships(sf: Salesforce, org: Org) -> None:
    result = sf.query(
        "SELECT Id, Name, Account.Name, Account.Parent.Name, Account.Parent.NetSuite_Id__c FROM Opportunity "
        f"WHERE AccountId = '{org.acme}' ORDER BY Name"
    )
    assert result["totalSize"] == 2 and result["done"] is True
    first = result["records"][0]
    assert first["attributes"] == {
        "type": "Opportunity",
        "url": f"/services/data/v59.0/sobjects/Opportunity/{first['Id']}",
    }
    assert first["Account"]["Name"] == "Acme Corp"
    assert first["Account"]["attributes"]["type"] == "Account"
    assert first["Account"]["Parent"]["Name"] == "Globex Holdings"
    assert first["Account"]["Parent"]["NetSuite_Id__c"] == "NS-1"
    top = sf.query(f"SELECT Name, Parent.Name FROM Account WHERE Id = '{org.parent}'")["records"][0]
    assert top["Parent"] is None


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("StageName = 'Closed Won'", ["Acme - Platform 2026"]),
        ("stagename = 'closed won'", ["Acme - Platform 2026"]),
        ("IsWon = false AND IsClosed = true", ["Acme add-on"]),
        ("(IsWon = true OR Amount > 10000) AND NOT Name LIKE 'Acme%'", ["Initech renewal"]),
        ("StageName IN ('Closed Won', 'Closed Lost')", ["Acme - Platform 2026", "Acme add-on"]),
        ("StageName NOT IN ('Closed Won', 'Closed Lost')", ["Initech renewal"]),
        ("Name LIKE 'Acme _ Platform%'", ["Acme - Platform 2026"]),
        ("Amount = null", ["Acme add-on"]),
        ("Amount != null AND Amount >= 34600 AND Amount <= 34600", ["Acme - Platform 2026"]),
        ("CloseDate < 2026-02-01", ["Acme add-on"]),
        ("CloseDate >= 2026-02-27 AND CloseDate <= 2026-04-30", ["Acme - Platform 2026", "Initech renewal"]),
        ("CreatedDate < 2026-03-01T00:00:00Z", ["Acme - Platform 2026"]),
        ("CreatedDate > 2026-03-02T13:00:00+02:00", ["Acme add-on", "Initech renewal"]),
        ("CreatedDate = TODAY", ["Acme add-on", "Initech renewal"]),
        ("CreatedDate = LAST_N_DAYS:7", ["Acme - Platform 2026", "Acme add-on", "Initech renewal"]),
        ("CloseDate = THIS_MONTH", []),
        (
            "Account.Subsidiary__c = 'DE' OR Account.Parent.Name = 'Globex Holdings'",
            ["Acme - Platform 2026", "Acme add-on", "Initech renewal"],
        ),
        ("CurrencyIsoCode = 'EUR'", ["Initech renewal"]),
        ("Name != 'Acme add-on' AND Type != 'Renewal'", ["Acme - Platform 2026"]),
    ],
)
def test_where_clauses(sf: Salesforce, where: str, expected: list[str]) -> None:
    result = sf.query(f"SELECT Name FROM Opportunity WHERE {where} ORDER BY Name")
    assert _names(result) == expected


def test_string_escapes_and_nulls(sf: Salesforce, org: Org) -> None:
    created = sf.Account.create({"Name": "O'Brien \\ Sons\nLtd", "Industry": None})
    try:
        result = sf.query("SELECT Name, Industry FROM Account WHERE Name = 'O\\'Brien \\\\ Sons\\nLtd'")
        assert _names(result) == ["O'Brien \\ Sons\nLtd"]
        assert result["records"][0]["Industry"] is None
        assert sf.query("SELECT COUNT() FROM Account WHERE Name LIKE 'O\\'Brien%'")["totalSize"] == 1
    finally:
        sf.Account.delete(created["id"])


def test_order_by_limit_offset(sf: Salesforce) -> None:
    ordered = sf.query("SELECT Name, Amount FROM Opportunity ORDER BY Amount DESC NULLS LAST, Name")
    assert _names(ordered) == ["Initech renewal", "Acme - Platform 2026", "Acme add-on"]
    nulls_first = sf.query("SELECT Name FROM Opportunity ORDER BY Amount NULLS FIRST")
    assert _names(nulls_first) == ["Acme add-on", "Acme - Platform 2026", "Initech renewal"]
    page = sf.query("SELECT Name FROM Account WHERE Name LIKE 'Bulk%' ORDER BY Name DESC LIMIT 3 OFFSET 2")
    assert _names(page) == ["Bulk Customer 2094", "Bulk Customer 2093", "Bulk Customer 2092"]
    assert sf.query("SELECT COUNT() FROM Account WHERE Name LIKE 'Bulk%'") == {
        "totalSize": ACCOUNTS - 3,
        "done": True,
        "records": [],
    }


def test_query_all_follows_next_records_url_past_2000_rows(sf: Salesforce) -> None:
    first = sf.query("SELECT Id, Name FROM Account")
    assert first["done"] is False and len(first["records"]) == 2000
    assert first["totalSize"] == ACCOUNTS
    assert re.fullmatch(r"/services/data/v59\.0/query/01g[0-9A-Za-z]{15}-2000", first["nextRecordsUrl"])
    everything = sf.query_all("SELECT Id, Name FROM Account")
    ids = [r["Id"] for r in everything["records"]]
    assert everything["totalSize"] == ACCOUNTS and len(set(ids)) == ACCOUNTS
    assert all(len(i) == 18 and i.startswith("001") for i in ids)
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query_more("01gHs0000000zzzIAA-2000", identifier_is_url=False)
    assert _error_code(caught.value) == "INVALID_QUERY_LOCATOR"


def test_query_all_include_deleted_returns_recycled_rows(sf: Salesforce, clock: SandboxClock) -> None:
    created = sf.Account.create({"Name": "Short-lived Ltd"})["id"]
    clock.advance(timedelta(minutes=5))
    assert sf.Account.delete(created) == 204
    query = "SELECT Id, IsDeleted FROM Account WHERE Name = 'Short-lived Ltd'"
    assert sf.query(query)["totalSize"] == 0
    deleted = sf.query_all(query, include_deleted=True)
    assert [(r["Id"], r["IsDeleted"]) for r in deleted["records"]] == [(created, True)]
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(created)
    window = sf.Account.deleted(START - timedelta(days=1), START + timedelta(hours=1))
    assert created in [r["id"] for r in window["deletedRecords"]]


def test_record_crud_stamps_times_from_the_clock(sf: Salesforce, clock: SandboxClock) -> None:
    created = sf.Contact.create({"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com"})
    assert created["success"] is True and created["id"].startswith("003")
    record = sf.Contact.get(created["id"])
    assert record["Name"] == "Ada Lovelace" and record["IsDeleted"] is False
    assert record["CreatedDate"] == record["SystemModstamp"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", record["CreatedDate"])
    clock.advance(timedelta(minutes=1))
    assert sf.Contact.update(created["id"], {"Title": "Analyst"}) == 204
    updated = sf.Contact.get(created["id"])
    assert updated["Title"] == "Analyst" and updated["SystemModstamp"] > record["SystemModstamp"]
    assert updated["LastModifiedDate"] == updated["SystemModstamp"]
    changed = sf.Contact.updated(START, START + timedelta(hours=2))
    assert created["id"] in changed["ids"]
    assert sf.Contact.get(created["id"].lower()[:15] + created["id"][15:])["Id"] == created["id"]
    sf.Contact.delete(created["id"])
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Contact.delete(created["id"])
    assert _error_code(caught.value) == "ENTITY_IS_DELETED"


def test_upsert_by_external_id_creates_then_updates(sf: Salesforce) -> None:
    assert sf.Account.upsert("Stripe_Customer_Id__c/cus_123", {"Name": "Upserted Inc"}) == 201
    response = sf.Account.upsert(
        "Stripe_Customer_Id__c/cus_123", {"Name": "Upserted Inc."}, raw_response=True
    )
    assert response.status_code == 200
    assert response.json()["created"] is False
    fetched = sf.Account.get_by_custom_id("Stripe_Customer_Id__c", "CUS_123")
    assert fetched["Name"] == "Upserted Inc." and fetched["Stripe_Customer_Id__c"] == "cus_123"
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.upsert("Name/whatever", {"Name": "x"})
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.upsert("Stripe_Customer_Id__c/cus_404?updateOnly=true", {"Name": "Nobody"})
    assert sf.query("SELECT COUNT() FROM Account WHERE Stripe_Customer_Id__c = 'cus_404'")["totalSize"] == 0


def test_upsert_on_a_shared_external_id_is_a_300(sf: Salesforce) -> None:
    first = sf.Product2.create({"Name": "Twin A", "ExternalId": "twin"})["id"]
    second = sf.Product2.create({"Name": "Twin B", "ExternalId": "twin"})["id"]
    with pytest.raises(SalesforceMoreThanOneRecord) as caught:
        sf.Product2.upsert("ExternalId/twin", {"Description": "which one?"})
    assert sorted(caught.value.content) == sorted(  # type: ignore[attr-defined]
        f"/services/data/v59.0/sobjects/Product2/{i}" for i in (first, second)
    )


@pytest.mark.parametrize(
    ("object_name", "body", "code"),
    [
        ("Account", {"Industry": "Retail"}, "REQUIRED_FIELD_MISSING"),
        ("Account", {"Name": "x", "Bogus__c": 1}, "INVALID_FIELD"),
        ("Account", {"Name": "x", "CurrencyIsoCode": "XXX"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        ("Account", {"Name": "x", "NetSuite_Id__c": "ns-2"}, "DUPLICATE_VALUE"),
        ("Account", {"Name": "x", "NumberOfEmployees": "many"}, "JSON_PARSER_ERROR"),
        ("Account", {"Name": "x", "ParentId": "not-an-id"}, "MALFORMED_ID"),
        (
            "Opportunity",
            {"Name": "x", "StageName": "Closed Won", "CloseDate": "2026-01-01", "IsWon": True},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
        ),
        (
            "Opportunity",
            {"Name": "x", "StageName": "Dreaming", "CloseDate": "2026-01-01"},
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        ),
        ("Contact", {"LastName": "x", "AccountId": "001Hs00000zzzzzIAA"}, "INVALID_CROSS_REFERENCE_KEY"),
    ],
)
def test_write_validation_errors(sf: Salesforce, object_name: str, body: dict[str, Any], code: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        getattr(sf, object_name).create(body)
    assert _error_code(caught.value) == code


def test_derived_fields_and_roll_ups(sf: Salesforce, org: Org) -> None:
    won = sf.Opportunity.get(org.won)
    assert (won["IsWon"], won["IsClosed"], won["Probability"], won["HasOpportunityLineItem"]) == (
        True,
        True,
        100.0,
        True,
    )
    assert won["Amount"] == 12 * 800 + 100000 * 0.25
    assert sf.Opportunity.update(org.won, {"Amount": 1}) == 204  # silently ignored: Amount is a roll-up
    assert sf.Opportunity.get(org.won)["Amount"] == 34600.0
    line = sf.OpportunityLineItem.create(
        {"OpportunityId": org.won, "PricebookEntryId": org.api_usd, "Quantity": 10, "TotalPrice": 5}
    )
    assert sf.OpportunityLineItem.get(line["id"])["UnitPrice"] == 0.5
    assert sf.Opportunity.get(org.won)["Amount"] == 34605.0
    sf.OpportunityLineItem.delete(line["id"])
    assert sf.Opportunity.get(org.won)["Amount"] == 34600.0
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.OpportunityLineItem.create(
            {"OpportunityId": org.won, "PricebookEntryId": org.platform_eur, "Quantity": 1, "UnitPrice": 1}
        )
    assert _error_code(caught.value) == "FIELD_INTEGRITY_EXCEPTION"
    contract = sf.Contract.get(org.contract)
    assert (contract["StartDate"], contract["EndDate"], contract["StatusCode"]) == (
        "2026-03-01",
        "2027-02-28",
        "Activated",
    )
    assert contract["ContractNumber"] == "00000100"
    assert sf.Order.get(org.order)["TotalAmount"] == 9600.0
    sf.Opportunity.update(org.open, {"StageName": "Closed Won"})
    assert (
        sf.query(f"SELECT IsWon, ForecastCategoryName FROM Opportunity WHERE Id = '{org.open}'")["records"][
            0
        ]["ForecastCategoryName"]
        == "Closed"
    )
    sf.Opportunity.update(org.open, {"StageName": "Negotiation/Review"})


def test_collections_create_update_delete_with_all_or_none(sf: Salesforce) -> None:
    records = [{"attributes": {"type": "Account"}, "Name": f"Batch {n}"} for n in range(3)]
    bad = {"attributes": {"type": "Account"}, "Industry": "Retail"}
    partial = sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": False, "records": [*records, bad]}
    )
    assert [r["success"] for r in partial] == [True, True, True, False]
    assert partial[3]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    created_ids = [r["id"] for r in partial[:3]]

    before = sf.query("SELECT COUNT() FROM Account")["totalSize"]
    rolled = sf.restful(
        "composite/sobjects",
        method="POST",
        json={"allOrNone": True, "records": [{"attributes": {"type": "Account"}, "Name": "Never"}, bad]},
    )
    assert rolled[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert rolled[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == before

    updates = [{"attributes": {"type": "Account"}, "Id": i, "Industry": "Finance"} for i in created_ids]
    patched = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": updates})
    assert all(r["success"] for r in patched)
    quoted = ", ".join(f"'{i}'" for i in created_ids)
    assert (
        sf.query(f"SELECT COUNT() FROM Account WHERE Industry = 'Finance' AND Id IN ({quoted})")["totalSize"]
        == 3
    )

    deleted = sf.restful("composite/sobjects", method="DELETE", params={"ids": ",".join(created_ids)})
    assert [r["id"] for r in deleted if r["success"]] == created_ids
    too_many = [{"attributes": {"type": "Account"}, "Name": "x"}] * 201
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/sobjects", method="POST", json={"records": too_many})
    assert _error_code(caught.value) == "EXCEEDED_ID_LIMIT"


def test_bulk2_query_pages_csv_results(sf: Salesforce) -> None:
    pages = list(
        sf.bulk2.Account.query(
            "SELECT Id, Name, AccountNumber, Parent.Name FROM Account WHERE Name LIKE 'Bulk Customer%'",
            max_records=800,
            wait=0,
        )
    )
    assert len(pages) == 3
    rows = [row for page in pages for row in csv.DictReader(io.StringIO(page))]
    assert len(rows) == ACCOUNTS - 3
    assert set(rows[0]) == {"Id", "Name", "AccountNumber", "Parent.Name"}
    assert rows[0]["Parent.Name"] == "" and rows[0]["AccountNumber"].startswith("B")


def test_bulk2_job_state_machine(
    request: pytest.FixtureRequest, server: EmulatorServer, ca: SandboxCA, org: Org
) -> None:
    session = _session(ca)
    request.addfinalizer(session.close)
    headers = {"Authorization": f"Bearer {org.state.session_id}"}
    base = f"{server.base_url}/services/data/v59.0/jobs/query"
    job = session.post(
        base, json={"operation": "query", "query": "SELECT Id FROM Opportunity"}, headers=headers
    ).json()
    assert job["state"] == "UploadComplete" and job["id"].startswith("750")
    early = session.get(f"{base}/{job['id']}/results", headers=headers)
    assert early.status_code == 400 and early.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    states = [session.get(f"{base}/{job['id']}", headers=headers).json()["state"] for _ in range(3)]
    assert states == ["InProgress", "JobComplete", "JobComplete"]
    results = session.get(f"{base}/{job['id']}/results", params={"maxRecords": 2}, headers=headers)
    assert results.headers["Sforce-NumberOfRecords"] == "2" and results.headers["Sforce-Locator"] != "null"
    rest = session.get(
        f"{base}/{job['id']}/results", params={"locator": results.headers["Sforce-Locator"]}, headers=headers
    )
    assert rest.headers["Sforce-Locator"] == "null" and rest.headers["Sforce-NumberOfRecords"] == "1"
    aborted = session.patch(f"{base}/{job['id']}", json={"state": "Aborted"}, headers=headers)
    assert aborted.status_code == 400
    second = session.post(
        base, json={"operation": "query", "query": "SELECT Id FROM Account"}, headers=headers
    ).json()
    aborted = session.patch(f"{base}/{second['id']}", json={"state": "Aborted"}, headers=headers)
    assert aborted.json()["state"] == "Aborted"
    assert session.delete(f"{base}/{second['id']}", headers=headers).status_code == 204
    assert session.get(f"{base}/{second['id']}", headers=headers).status_code == 404


def test_limits_header_and_request_limit_exceeded(sf: Salesforce, org: Org) -> None:
    maximum, used = org.state.api_usage()[1], org.state.api_usage()[0]
    try:
        org.state.set_daily_api_requests(50, used=47)
        assert sf.limits()["DailyApiRequests"] == {"Max": 50, "Remaining": 2}
        assert sf.api_usage["api-usage"].used == 48 and sf.api_usage["api-usage"].total == 50
        sf.query("SELECT Id FROM Contract")
        sf.query("SELECT Id FROM Contract")
        with pytest.raises(SalesforceRefusedRequest) as caught:
            sf.query("SELECT Id FROM Contract")
        assert caught.value.status == 403  # type: ignore[attr-defined]
        assert _error_code(caught.value) == "REQUEST_LIMIT_EXCEEDED"
    finally:
        org.state.set_daily_api_requests(maximum, used=used)


def test_bad_session_is_expired_session(server: EmulatorServer, ca: SandboxCA) -> None:
    with _session(ca) as session:
        stranger = Salesforce(
            instance_url=server.base_url, session_id="00DXX!nope", session=session, version="59.0"
        )
        with pytest.raises(SalesforceExpiredSession) as caught:
            stranger.query("SELECT Id FROM Account")
    assert _error_code(caught.value) == "INVALID_SESSION_ID"


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'", "MALFORMED_QUERY"),
        ("SELECT Id, (SELECT Id FROM Contacts) FROM Account", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account GROUP BY Name", "MALFORMED_QUERY"),
        ("SELECT Nope FROM Account", "INVALID_FIELD"),
        ("SELECT Owner.Name FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Invoice__c", "INVALID_TYPE"),
        ("SELECT Id FROM Opportunity WHERE CloseDate = '2026-01-01'", "INVALID_FIELD"),
        ("SELECT Id FROM Opportunity WHERE CreatedDate > 2026-01-01", "INVALID_FIELD"),
        ("SELECT Id FROM Account OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE"),
    ],
)
def test_bad_soql_is_malformed_request(sf: Salesforce, soql: str, code: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query(soql)
    assert _error_code(caught.value) == code


def test_injected_faults_look_like_salesforce(
    sf: Salesforce, server: EmulatorServer, ca: SandboxCA, injector: FaultInjector
) -> None:
    admin = _session(ca)
    try:
        assert admin.put(server.base_url + ADMIN_PATH, json={"server_error_rate": 1.0}).status_code == 200
        with pytest.raises(SalesforceGeneralError) as failed:
            sf.query("SELECT Id FROM Account LIMIT 1")
        assert failed.value.status == 500  # type: ignore[attr-defined]
        assert _error_code(failed.value) == "UNKNOWN_EXCEPTION"
        admin.put(server.base_url + ADMIN_PATH, json={"rate_limit_rate": 1.0, "retry_after_seconds": 3})
        raw = sf.session.get(
            f"{server.base_url}/services/data/v59.0/limits",
            headers={"Authorization": f"Bearer {sf.session_id}"},
        )
        assert raw.status_code == 403 and raw.headers["Retry-After"] == "3"
        with pytest.raises(SalesforceRefusedRequest) as limited:
            sf.query("SELECT Id FROM Account LIMIT 1")
        assert _error_code(limited.value) == "REQUEST_LIMIT_EXCEEDED"
    finally:
        admin.put(server.base_url + ADMIN_PATH, json="none")
        admin.close()
    assert injector.injected["server_error"] >= 1 and injector.injected["rate_limited"] >= 2
    assert sf.query("SELECT COUNT() FROM Contract")["totalSize"] == 1


def test_describe_lists_types_and_external_ids(sf: Salesforce) -> None:
    names = {o["name"]: o["keyPrefix"] for o in sf.describe()["sobjects"]}
    assert names["Account"] == "001" and names["Opportunity"] == "006" and names["Contract"] == "800"
    assert names["Order"] == "801" and names["Product2"] == "01t"
    fields = {f["name"]: f for f in sf.Account.describe()["fields"]}
    assert fields["NetSuite_Id__c"]["externalId"] is True and fields["NetSuite_Id__c"]["custom"] is True
    assert fields["AR_Balance__c"]["type"] == "currency"
    assert (
        fields["ParentId"]["referenceTo"] == ["Account"]
        and fields["ParentId"]["relationshipName"] == "Parent"
    )
    assert fields["CurrencyIsoCode"]["type"] == "picklist"
    opportunity = {f["name"]: f for f in sf.Opportunity.describe()["fields"]}
    assert opportunity["IsWon"]["type"] == "boolean" and opportunity["IsWon"]["createable"] is False
    assert opportunity["CloseDate"]["type"] == "date" and opportunity["CreatedDate"]["type"] == "datetime"
    assert "Closed Won" in [v["value"] for v in opportunity["StageName"]["picklistValues"]]


def test_collections_retrieve_by_get_and_post(sf: Salesforce, org: Org) -> None:
    ids = f"{org.acme},{org.initech},001Hs0000000zzzIAA"
    fetched = sf.restful("composite/sobjects/Account", params={"ids": ids, "fields": "Name,CurrencyIsoCode"})
    assert [r and (r["Name"], r["CurrencyIsoCode"]) for r in fetched] == [
        ("Acme Corp", "USD"),
        ("Initech GmbH", "EUR"),
        None,
    ]
    posted = sf.restful(
        "composite/sobjects/Account",
        method="POST",
        json={"ids": [org.acme], "fields": ["Subsidiary__c", "AR_Balance__c"]},
    )
    assert posted == [
        {
            "attributes": {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{org.acme}"},
            "Subsidiary__c": "US",
            "AR_Balance__c": 1250.5,
        }
    ]


def test_bulk_query_jobs_count_against_their_daily_allocation(sf: Salesforce) -> None:
    before = sf.limits()["DailyBulkV2QueryJobs"]
    list(sf.bulk2.Contract.query("SELECT Id, ContractNumber FROM Contract", wait=0))
    after = sf.limits()["DailyBulkV2QueryJobs"]
    assert after == {"Max": before["Max"], "Remaining": before["Remaining"] - 1}


def test_replication_window_is_checked(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Account.updated(START - timedelta(days=31), START)
    assert _error_code(caught.value) == "INVALID_REPLICATION_DATE"
    with pytest.raises(SalesforceMalformedRequest):
        sf.Account.deleted(START, START - timedelta(hours=1))


def test_seeding_from_another_thread_while_serving(sf: Salesforce, org: Org) -> None:
    before = sf.query("SELECT COUNT() FROM Account")["totalSize"]
    seeder = threading.Thread(
        target=lambda: [org.state.create_account(f"Threaded {n}", Subsidiary__c="T") for n in range(300)]
    )
    seeder.start()
    while seeder.is_alive():
        assert sf.query("SELECT COUNT() FROM Account WHERE Subsidiary__c = 'T'")["totalSize"] <= 300
    seeder.join()
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == before + 300
    created = sf.query_all("SELECT Id FROM Account WHERE Subsidiary__c = 'T'")["records"]
    sf.restful(
        "composite/sobjects", method="DELETE", params={"ids": ",".join(r["Id"] for r in created[:200])}
    )
    sf.restful(
        "composite/sobjects", method="DELETE", params={"ids": ",".join(r["Id"] for r in created[200:])}
    )
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == before


SPEC_PATH = SPECS / "salesforce" / "sobjects-rest-oas3-v59.0.opensdks.json"
SF_DATETIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$"
SPEC_OBJECTS = (
    "Account",
    "Contact",
    "Opportunity",
    "OpportunityLineItem",
    "Product2",
    "PricebookEntry",
    "Contract",
    "Order",
    "OrderItem",
)


def _relax(node: Any) -> None:
    """Every property nullable (the spec marks none, Salesforce sends null for empty fields), and
    Salesforce's own datetime spelling (+0000, not RFC 3339's +00:00) checked by pattern instead."""
    if isinstance(node, dict):
        for child in (node.get("properties") or {}).values():
            if isinstance(child, dict):
                child["nullable"] = True
                if child.get("format") == "date-time":
                    del child["format"]
                    child["pattern"] = SF_DATETIME
        for value in node.values():
            _relax(value)
    elif isinstance(node, list):
        for value in node:
            _relax(value)


@pytest.fixture(scope="module")
def openapi(server: EmulatorServer) -> Any:
    if not SPEC_PATH.exists():
        pytest.skip(f"Salesforce v59 spec not found at {SPEC_PATH}")
    spec = json.loads(SPEC_PATH.read_text())
    wanted = {"/sobjects", "/sobjects/{sObject}/describe"}
    wanted |= {f"/sobjects/{name}{suffix}" for name in SPEC_OBJECTS for suffix in ("", "/{id}")}
    spec["paths"] = {path: item for path, item in spec["paths"].items() if path in wanted}
    schemas = spec["components"]["schemas"]
    kept: dict[str, Any] = {}
    pending = re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(spec["paths"]))
    while pending:
        name = pending.pop()
        if name not in kept:
            kept[name] = schemas[name]
            pending += re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(schemas[name]))
    spec["components"] = {"schemas": kept}
    _relax(spec["components"])
    spec["servers"] = [{"url": f"{server.base_url}/services/data/v59.0"}]
    return OpenAPI.from_dict(spec)


def _validate(openapi: Any, response: requests.Response) -> None:
    openapi.validate_response(RequestsOpenAPIRequest(response.request), RequestsOpenAPIResponse(response))


def _raw_get(sf: Salesforce, path: str) -> requests.Response:
    return sf.session.get(f"{sf.base_url}{path}", headers=sf.headers)


@pytest.mark.parametrize("object_name", SPEC_OBJECTS)
def test_records_and_describes_match_the_v59_spec(
    sf: Salesforce, org: Org, openapi: Any, object_name: str
) -> None:
    record_id = sf.query(f"SELECT Id FROM {object_name} LIMIT 1")["records"][0]["Id"]
    for path in (
        f"sobjects/{object_name}/{record_id}",
        f"sobjects/{object_name}/describe",
        f"sobjects/{object_name}",
    ):
        response = _raw_get(sf, path)
        assert response.status_code == 200
        _validate(openapi, response)
    missing = _raw_get(sf, f"sobjects/{object_name}/{record_id[:3]}Hs0000000zzzIAA")
    assert missing.status_code == 404
    _validate(openapi, missing)


@pytest.mark.parametrize(
    ("field", "tampered"),
    [("CreatedDate", "2026-03-02T12:00:00Z"), ("IsDeleted", "no"), ("NumberOfEmployees", 2.5)],
)
def test_describe_global_matches_the_spec_and_a_tampered_record_does_not(
    sf: Salesforce, org: Org, openapi: Any, field: str, tampered: Any
) -> None:
    _validate(openapi, _raw_get(sf, "sobjects"))
    response = _raw_get(sf, f"sobjects/Account/{org.acme}")
    _validate(openapi, response)
    body = response.json()
    body[field] = tampered  # the first is RFC 3339, but not how Salesforce writes datetimes
    response._content = json.dumps(body).encode()
    with pytest.raises(OpenAPIError):
        _validate(openapi, response)

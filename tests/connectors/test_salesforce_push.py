"""Salesforce pushes against the emulated org: upserts on External_Id__c, write-backs by Id, and sObject
Collections batches (200 a call) with per-record failures returned in place."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from salesforce_connector_fixtures import START, Org, new_state, seed_accounts, serving

from tieout.connectors.base import PushResult
from tieout.connectors.salesforce import SalesforceConnector, SalesforceSettings
from tieout.errors import ConflictError, ConnectorError, PushRejected
from tieout.mappings.salesforce import account_ar_payload, account_ids_payload, account_payload
from tieout.model import Customer
from tieout.money import Money


@pytest.fixture
def org(tmp_path: Path) -> Iterator[Org]:
    state = new_state()
    seed_accounts(state, 3)
    with serving(state, tmp_path) as running:
        yield running
        running.injector.clear_scripted()


def customer(number: int) -> Customer:
    return Customer(
        system="netsuite", native_id=str(number), legal_name=f"Pushed {number:03d}", currency="USD"
    )


def accounts_with(org: Org, field: str, value: Any) -> list[dict[str, Any]]:
    with org.state.lock:
        return [
            r for r in org.state.tables["Account"].values() if r.get(field) == value and not r["IsDeleted"]
        ]


def test_a_collections_push_of_450_records_is_3_calls_with_a_failure_in_its_place(org: Org) -> None:
    taken = accounts_with(org, "Name", "Customer 00001")[0]["NetSuite_Id__c"]
    items = [(account_payload(customer(n), external_id=f"ext-{n}"), f"key-{n}") for n in range(450)]
    items[321][0]["NetSuite_Id__c"] = taken  # unique external id field: DUPLICATE_VALUE for that record alone
    connector = org.connector()
    before = org.injector.requests
    results = connector.push_batch("accounts", items)
    assert org.injector.requests - before == 3
    assert len(results) == 450
    failure = results[321]
    assert isinstance(failure, PushRejected) and "DUPLICATE_VALUE" in str(failure)
    assert failure.record_id == "ext-321"
    created = [r for r in results if isinstance(r, PushResult)]
    assert len(created) == 449 and {r.operation for r in created} == {"created"}
    assert len(accounts_with(org, "External_Id__c", "ext-0")) == 1
    # the same batch again from the same process: answered from the keys it holds, no call
    before = org.injector.requests
    again = connector.push_batch("accounts", items)
    assert org.injector.requests - before == 1  # only the refused record is tried again
    assert [r.operation for r in again[:3] if isinstance(r, PushResult)] == ["unchanged"] * 3
    connector.close()
    # a retry after a crash (a new process, same keys): the upserts land on the same records
    retry = org.connector()
    results = retry.push_batch("accounts", items)
    retry.close()
    assert [r.target_id for r in results[:5] if isinstance(r, PushResult)] == [
        r.target_id for r in created[:5]
    ]
    assert {r.operation for r in results if isinstance(r, PushResult)} == {"updated"}
    assert (
        sum(
            1 for r in org.state.tables["Account"].values() if str(r.get("External_Id__c")).startswith("ext-")
        )
        == 449
    )


def test_batches_retry_transient_failures_without_duplicating(org: Org) -> None:
    items = [(account_payload(customer(n), external_id=f"retry-{n}"), f"retry-{n}") for n in range(250)]
    org.injector.fail_next(503)
    connector = org.connector()
    results = connector.push_batch("accounts", items)
    connector.close()
    assert all(isinstance(r, PushResult) for r in results)
    assert (
        len(
            [r for r in org.state.tables["Account"].values() if str(r["External_Id__c"]).startswith("retry-")]
        )
        == 250
    )


def test_write_backs_by_id_go_through_collections_update(org: Org) -> None:
    acme, globex, _ = (r["Id"] for r in list(org.state.tables["Account"].values())[:3])
    items = [
        (account_ids_payload(acme, {"metronome": "m-acme", "stripe": "cus_acme"}), "ids-acme"),
        (
            account_ar_payload(
                acme, account_currency="EUR", balance=Money.of("1250.50", "EUR"), days_past_due=12
            ),
            "ar-acme",
        ),
        (
            account_ar_payload(
                globex, account_currency="USD", balance=Money.of("-40", "USD"), days_past_due=None
            ),
            "ar-globex",
        ),
        ({"Id": "001Hs00000000ZZIAQ", "AR_Balance__c": 1.0}, "ar-missing"),
    ]
    connector = org.connector()
    before = org.injector.requests
    results = connector.push_batch("accounts", items)
    connector.close()
    assert org.injector.requests - before == 1
    assert [r.operation for r in results[:3] if isinstance(r, PushResult)] == ["updated"] * 3
    assert isinstance(results[3], PushRejected)
    record = org.state.tables["Account"][acme]
    assert (record["Metronome_Customer_Id__c"], record["Stripe_Customer_Id__c"]) == ("m-acme", "cus_acme")
    assert (record["AR_Balance__c"], record["Days_Past_Due__c"]) == (1250.5, 12)
    assert org.state.tables["Account"][globex]["AR_Balance__c"] == -40


def test_single_upsert_is_idempotent_and_reports_what_it_did(org: Org) -> None:
    payload = account_payload(customer(7), external_id="single-7")
    first = org.connector()
    created = first.push("accounts", payload, idempotency_key="k-7")
    assert created.operation == "created"
    assert first.push("accounts", payload, idempotency_key="k-7") == PushResult(
        created.target_id, "unchanged"
    )
    with pytest.raises(ConflictError):
        first.push("accounts", {**payload, "Name": "Renamed"}, idempotency_key="k-7")
    first.close()
    second = org.connector()  # another process retrying the same write
    updated = second.push("accounts", payload, idempotency_key="k-7")
    second.close()
    assert (updated.target_id, updated.operation) == (created.target_id, "updated")
    assert len(accounts_with(org, "External_Id__c", "single-7")) == 1
    by_id = org.connector()
    written = by_id.push(
        "accounts", account_ids_payload(created.target_id, {"netsuite": "ns-7"}), idempotency_key="w"
    )
    by_id.close()
    assert written == PushResult(created.target_id, "updated")
    assert org.state.tables["Account"][created.target_id]["NetSuite_Id__c"] == "ns-7"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"Name": "No key"}, "neither by Id nor by External_Id__c"),
        ({"External_Id__c": "", "Name": "Blank"}, "non-empty"),
        ({"External_Id__c": "bad-field", "Name; DROP": "x"}, "not a field name"),
        ({"External_Id__c": "bad-value", "Name": ["list"]}, "not a field value"),
        ({"External_Id__c": "dup", "NetSuite_Id__c": "NS-Customer-0", "Name": "Dup"}, "DUPLICATE_VALUE"),
        ({"Id": "001Hs00000000ZZIAQ", "Name": "Gone"}, "NOT_FOUND"),
    ],
)
def test_refused_records_are_push_rejected(org: Org, payload: dict[str, Any], message: str) -> None:
    connector = org.connector()
    with pytest.raises(PushRejected, match=message):
        connector.push("accounts", payload, idempotency_key="refused")
    connector.close()


def test_only_accounts_take_pushes(org: Org) -> None:
    connector = org.connector()
    with pytest.raises(ConnectorError, match="does not accept pushes"):
        connector.push("opportunities", {"Id": "006Hs0000000001IAA"}, idempotency_key="x")
    with pytest.raises(ConnectorError, match="unknown stream"):
        connector.push_batch("contacts", [])
    connector.close()


@responses.activate
def test_an_external_id_held_by_several_records_is_a_conflict_in_its_place() -> None:
    url = re.compile(
        r"https://tieout-test\.my\.salesforce\.com/services/data/v59\.0/composite/sobjects/Account/External_Id__c/?"
    )
    responses.patch(
        url,
        json=[
            {"id": "001Hs0000000001IAA", "success": True, "errors": [], "created": False},
            {
                "success": False,
                "errors": [
                    {
                        "statusCode": "DUPLICATE_EXTERNAL_ID",
                        "message": "2 records",
                        "fields": ["External_Id__c"],
                    }
                ],
            },
        ],
    )
    connector = SalesforceConnector(
        SalesforceSettings(
            instance_url="https://tieout-test.my.salesforce.com", session_id=SecretStr("tok!en")
        )
    )
    results = connector.push_batch(
        "accounts", [({"External_Id__c": "a", "Name": "A"}, "a"), ({"External_Id__c": "b", "Name": "B"}, "b")]
    )
    assert results[0] == PushResult("001Hs0000000001IAA", "updated")
    assert isinstance(results[1], ConflictError)
    sent = responses.calls[0].request.body
    assert sent is not None and b'"allOrNone": false' in sent and b'"type": "Account"' in sent


def test_pushed_records_are_stamped_by_the_org_clock(org: Org) -> None:
    connector = org.connector()
    result = connector.push(
        "accounts", account_payload(customer(9), external_id="clock-9"), idempotency_key="c9"
    )
    connector.close()
    assert org.state.tables["Account"][result.target_id]["SystemModstamp"] == START

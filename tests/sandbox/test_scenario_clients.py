"""The official clients see a generated company: stripe-python, simple-salesforce, metronome-sdk, SuiteQL."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import stripe
from metronome import Metronome
from simple_salesforce.api import Salesforce

from tieout.sandbox.runtime import Sandbox, SandboxOptions
from tieout.sandbox.scenario.generate import AnswerKey, generate


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, AnswerKey]]:
    sandbox = Sandbox(SandboxOptions(workdir=Path(tmp_path_factory.mktemp("sandbox")), seed=11))
    key = generate(sandbox, seed=11)
    with sandbox:
        yield sandbox, key


def _defect(key: AnswerKey, kind: str) -> dict[str, Any]:
    return next(d for d in key["defects"] if d["kind"] == kind)


def test_stripe_python_reads_the_partial_payment(running: tuple[Sandbox, AnswerKey]) -> None:
    sandbox, key = running
    settings = sandbox.describe()["stripe"]
    client = stripe.StripeClient(settings["api_key"], base_addresses={"api": settings["base_url"]})
    defect = _defect(key, "partial_payment_left_open")

    invoice = client.v1.invoices.retrieve(defect["records"]["stripe"][0])

    assert invoice.number == defect["detail"]["number"]
    assert 0 < invoice.amount_paid < invoice.amount_due and invoice.status == "open"
    assert invoice.metadata is not None
    assert invoice.metadata["netsuite_invoice_id"] == defect["records"]["netsuite"][0]
    listed = client.v1.invoices.list(params={"limit": 100})
    assert len(listed.data) == 100 and listed.has_more


def test_simple_salesforce_reads_the_account_links(running: tuple[Sandbox, AnswerKey]) -> None:
    sandbox, key = running
    settings = sandbox.describe()["salesforce"]
    defect = _defect(key, "customer_subsidiary_mismatch")
    with requests.Session() as session:
        session.verify = settings["ca_bundle"]
        session.trust_env = False
        sf = Salesforce(
            instance_url=settings["instance_url"],
            session_id=settings["session_id"],
            version=settings["version"],
            session=session,
        )
        account_id = defect["records"]["salesforce"][0]
        result = sf.query(f"SELECT Id, Subsidiary__c, NetSuite_Id__c FROM Account WHERE Id = '{account_id}'")
        won = sf.query("SELECT COUNT() FROM Opportunity WHERE StageName = 'Closed Won'")

    assert result["records"][0]["NetSuite_Id__c"] == defect["records"]["netsuite"][0]
    assert result["records"][0]["Subsidiary__c"] == defect["detail"]["salesforce_subsidiary"]
    assert won["totalSize"] == key["counts"]["salesforce"]["Opportunity"]


def test_metronome_sdk_sees_the_invoice_missing_in_stripe(running: tuple[Sandbox, AnswerKey]) -> None:
    sandbox, key = running
    settings = sandbox.describe()["metronome"]
    client = Metronome(
        bearer_token=settings["bearer_token"], base_url=settings["base_url"], _strict_response_validation=True
    )
    invoice_id = _defect(key, "invoice_missing_in_stripe")["records"]["metronome"][0]
    customer_id = sandbox.metronome.invoices[invoice_id]["customer_id"]

    invoice = client.v1.customers.invoices.retrieve(customer_id=customer_id, invoice_id=invoice_id).data
    listed = list(client.v1.customers.invoices.list(customer_id=customer_id))

    assert invoice.status == "FINALIZED" and invoice.external_invoice is None
    assert invoice.revenue_system_invoices and invoice.total > 0
    linked = [i for i in listed if i.external_invoice is not None]
    assert len(linked) == len(listed) - 1
    assert {i.external_invoice.invoice_id for i in linked if i.external_invoice} <= set(
        sandbox.stripe.tables["invoice"].records
    )


def test_suiteql_sees_the_netsuite_total_that_differs(running: tuple[Sandbox, AnswerKey]) -> None:
    sandbox, key = running
    settings = sandbox.describe()["netsuite"]
    credentials = base64.b64encode(f"{settings['client_id']}:{settings['client_secret']}".encode()).decode()
    token = httpx.post(
        settings["token_url"],
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {credentials}"},
    ).json()["access_token"]
    defect = _defect(key, "invoice_total_differs")
    metronome_id = defect["records"]["metronome"][0]
    rest = settings["base_url"].rstrip("/") + "/services/rest"
    with httpx.Client(
        base_url=rest, headers={"Authorization": f"Bearer {token}", "Prefer": "transient"}
    ) as api:
        response = api.post(
            "/query/v1/suiteql",
            json={
                "q": f"SELECT id, tranid, foreigntotal FROM transaction WHERE externalid = '{metronome_id}'"
            },
        )

    assert response.status_code == 200, response.text
    (row,) = response.json()["items"]
    assert row["id"] == defect["records"]["netsuite"][0]
    assert float(row["foreigntotal"]) == float(defect["detail"]["netsuite_total"])

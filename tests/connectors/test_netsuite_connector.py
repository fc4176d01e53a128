"""NetSuite connector behaviour against the emulator: tokens, SuiteQL paging, the row cap, detail queries, the limiter."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from netsuite_connector_fixtures import Account, running_account, seed_invoices, tick

from tieout.errors import AuthenticationError, ConnectorError
from tieout.sandbox.netsuite import suiteql as emulator_suiteql


class Recording(httpx.BaseTransport):
    """A real transport that remembers each request's path, query string and SuiteQL text."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.requests: list[tuple[str, dict[str, str], str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        query = json.loads(body)["q"] if request.url.path.endswith("/suiteql") else ""
        self.requests.append((request.url.path, dict(request.url.params), query))
        return self.inner.handle_request(request)

    def suiteql(self) -> list[tuple[dict[str, str], str]]:
        return [(params, query) for path, params, query in self.requests if path.endswith("/suiteql")]


@pytest.fixture(scope="module")
def big() -> Iterator[Account]:
    """2,600 invoices, 400 sharing each modification second, so pages split inside a tie."""
    with running_account() as acct:
        seed_invoices(acct, 2600, same_time_every=400)
        yield acct


# -- OAuth ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["jwt", "basic"])
def test_both_token_flows_work_and_the_token_is_cached(auth: str) -> None:
    with running_account() as acct:
        connector = acct.connector(auth=auth)
        connector.check()
        assert len([r for page in connector.pull("customers") for r in page.records]) == 2
        assert connector.tokens.fetched == 1
        connector.close()


def test_token_is_refreshed_before_it_expires_by_the_emulator_clock() -> None:
    with running_account() as acct:
        connector = acct.connector()
        connector.check()
        acct.clock.advance(timedelta(seconds=3600 - 30))  # inside the 60 s refresh margin
        before = acct.injector.requests
        connector.check()
        assert connector.tokens.fetched == 2
        assert acct.injector.requests - before == 2, "one token request, one query: no 401 on the way"
        acct.clock.advance(timedelta(hours=5))
        connector.check()
        assert connector.tokens.fetched == 3


def test_a_401_gets_one_new_token_and_one_retry_then_fails() -> None:
    with running_account() as acct:
        connector = acct.connector()
        connector.check()
        acct.injector.fail_next(401)
        connector.check()
        assert connector.tokens.fetched == 2
        acct.injector.fail_next(401, times=3)
        before = acct.injector.requests
        with pytest.raises(AuthenticationError):
            connector.check()
        assert acct.injector.requests - before == 2, "the query, then one token request; nothing more"


def test_bad_credentials_are_an_authentication_error_without_secrets() -> None:
    with running_account() as acct:
        secret = acct.settings["client_secret"]
        connector = acct.connector(auth="basic", client_secret="0" * 64)
        with pytest.raises(AuthenticationError) as raised:
            connector.check()
        assert "invalid_client" in str(raised.value)
        assert secret not in str(raised.value) and "0" * 64 not in str(raised.value)


def test_tokens_never_appear_in_errors() -> None:
    issued = "tok-" + "9" * 40

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            return httpx.Response(
                200, json={"access_token": issued, "expires_in": "3600", "token_type": "bearer"}
            )
        echoed = request.headers["authorization"]
        return httpx.Response(
            400,
            json={"status": 400, "o:errorDetails": [{"detail": f"bad header {echoed}", "o:errorCode": "X"}]},
        )

    with running_account() as acct:
        connector = acct.connector(transport=httpx.MockTransport(handler))
        with pytest.raises(ConnectorError) as raised:
            connector.check()
        assert issued not in str(raised.value) and "***" in str(raised.value)


# -- SuiteQL paging ------------------------------------------------------------------------------------


def test_paging_past_1000_rows_in_unique_order(big: Account) -> None:
    recording = Recording()
    connector = big.connector(transport=recording)
    pages = list(connector.pull("invoices"))
    records = [record for page in pages for record in page.records]
    sizes = [len(page.records) for page in pages]
    # The first page is the configured size; later ones are sized so their lines fill whole pages.
    assert sizes[0] == 1000 and max(sizes) == 1000 and sum(sizes) == 2600
    keys = [(record.updated_at, int(record.source_id)) for record in records]
    assert keys == sorted(keys) and len(set(keys)) == 2600
    headers = [query for _, query in recording.suiteql() if "FROM transaction t" in query]
    assert all(query.endswith("ORDER BY t.lastmodifieddate, t.id") for query in headers)


def test_pulls_reach_past_the_suiteql_row_cap(big: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emulator_suiteql, "MAX_RESULTS", 1500)
    recording = Recording()
    connector = big.connector(transport=recording)
    ids = [record.source_id for page in connector.pull("invoices") for record in page.records]
    assert len(ids) == len(set(ids)) == 2600
    assert all(int(params.get("offset", "0")) < 1500 for params, _ in recording.suiteql())
    # What the key set avoids: offset paging stops at the cap.
    token = connector.tokens.token()
    refused = httpx.post(
        f"{big.settings['suiteql_url']}?limit=1000&offset=1500",
        json={"q": "SELECT t.id FROM transaction t ORDER BY t.id"},
        headers={"Authorization": f"Bearer {token}", "Prefer": "transient"},
    )
    assert refused.status_code == 400


def test_lines_are_fetched_once_per_page_not_per_invoice(big: Account) -> None:
    recording = Recording()
    connector = big.connector(transport=recording, page_size=250)
    until = datetime(2024, 3, 1, 9, 0, 2, tzinfo=UTC)  # the first 800 invoices
    pages = list(connector.pull("invoices", until=until))
    assert sum(len(page.records) for page in pages) == 800
    queries = [query for _, query in recording.suiteql()]
    headers = [query for query in queries if "FROM transaction t" in query]
    lines = [query for query in queries if "FROM transactionline l" in query]
    assert len(pages) == len(headers) == 4
    assert len(lines) == 4, "one lines query per page (each under 1,000 rows)"
    assert all(record.payload["lines"] for page in pages for record in page.records)


def test_applications_and_deposits_are_fetched_per_page() -> None:
    with running_account() as acct:
        invoices = seed_invoices(acct, 12)
        state, ids = acct.state, acct.ids
        payments = []
        for invoice_id in invoices:
            payments.append(
                int(state.create_customer_payment(ids["acme"], applies=[(invoice_id, None)])["id"])
            )
            tick(acct)
        state.create_deposit(ids["us_bank"], payment_ids=payments[:5])
        recording = Recording()
        connector = acct.connector(transport=recording, page_size=5)
        pages = list(connector.pull("payments"))
        records = [record for page in pages for record in page.records]
        assert len(pages) == 3 and len(records) == 12
        link_queries = [query for _, query in recording.suiteql() if "nexttransactionlinelink" in query]
        assert len(link_queries) == 2 * len(pages)
        assert all(len(record.payload["applications"]) == 1 for record in records)
        assert sum(1 for record in records if record.payload["deposits"]) == 5


def test_since_and_until_with_fractions_of_a_second(big: Account) -> None:
    connector = big.connector(page_size=1000)
    second = datetime(2024, 3, 1, 9, 0, 1, tzinfo=UTC)
    inside = list(
        connector.pull(
            "invoices", since=second - timedelta(microseconds=1), until=second + timedelta(microseconds=1)
        )
    )
    assert sum(len(page.records) for page in inside) == 400
    after = list(
        connector.pull(
            "invoices", since=second + timedelta(microseconds=1), until=second + timedelta(seconds=1)
        )
    )
    assert sum(len(page.records) for page in after) == 0


def test_ar_balances_as_of_a_date() -> None:
    with running_account() as acct:
        seed_invoices(acct, 3)
        connector = acct.connector()
        [page] = list(connector.pull("ar_balances", until=datetime(2024, 3, 2, tzinfo=UTC)))
        [record] = page.records
        assert record.source_id == "1200-1|sub-1|USD|2024-03-01"
        assert record.payload["balance"] == "650.25"  # 108.25 + 233.75 + 308.25
        assert list(connector.pull("ar_balances", until=datetime(2024, 3, 1, tzinfo=UTC))) == []


# -- concurrency ------------------------------------------------------------------------------------


def test_threads_share_the_accounts_limit_and_all_finish() -> None:
    with running_account(concurrency_limit=2) as acct:
        seed_invoices(acct, 40)
        results: list[int] = []
        errors: list[BaseException] = []
        connectors = [acct.connector(page_size=5) for _ in range(8)]

        def work(index: int) -> None:
            try:
                stream = "invoices" if index % 2 else "customers"
                results.append(sum(len(page.records) for page in connectors[index].pull(stream)))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(index,)) for index in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors and sorted(results) == [2] * 4 + [40] * 4
        limiter = connectors[0].limiter
        assert all(connector.limiter is limiter for connector in connectors)
        assert limiter.peak <= 2
        assert acct.app.rejected == 0, "the emulator never saw more than 2 requests in flight"


def test_concurrency_refusals_are_backed_off_and_retried() -> None:
    with running_account() as acct:
        connector = acct.connector()
        acct.injector.fail_next(429, times=2, retry_after=0.05)
        connector.check()
        assert acct.injector.injected.get("scripted_status") == 2


def test_connectors_of_one_account_must_agree_on_the_limit() -> None:
    with running_account() as acct:
        acct.connector()
        with pytest.raises(ConnectorError):
            acct.connector(concurrency_limit=7)


def test_tls_with_the_sandbox_ca_bundle(tmp_path: Path) -> None:
    from netsuite_connector_fixtures import START, connector_for

    from tieout.sandbox.clock import SandboxClock
    from tieout.sandbox.faults import FaultInjector
    from tieout.sandbox.netsuite import NetSuiteState, build_app, client_settings
    from tieout.sandbox.server import EmulatorServer, SandboxCA

    authority = SandboxCA(tmp_path / "ca")
    clock = SandboxClock(START)
    state = NetSuiteState(clock, account_id="TSTDRVTLS0001")
    injector = FaultInjector()
    app = build_app(state, injector)
    with EmulatorServer(app, tls=authority, name="netsuite-tls") as server:
        account = Account(state, clock, injector, app, server, client_settings(server.base_url, state))
        connector = connector_for(account, ca_bundle=str(authority.ca_bundle_path))
        assert server.base_url.startswith("https://")
        connector.check()
        untrusted = connector_for(account, auth="basic", max_attempts=1)
        with pytest.raises(ConnectorError):
            untrusted.check()

"""Emulator of NetSuite's SuiteTalk REST web services (record service v1, SuiteQL, OAuth 2.0 M2M).

It emulates one NetSuite account as of the 2024.x REST API: the record service at
`/services/rest/record/v1/` for customer, invoice, customerPayment, creditMemo, customerRefund,
deposit, journalEntry, subsidiary, currency, account, term, accountingPeriod,
nonInventorySaleItem and serviceSaleItem; SuiteQL at `/services/rest/query/v1/suiteql`, run by
sqlglot over an in-memory SQLite database whose tables mirror SuiteQL's; the OAuth 2.0
client-credentials token endpoint (JWT assertion signed with a registered certificate, or HTTP
Basic); NetSuite's error bodies; and the account's concurrency limit. The record API and SuiteQL
read the same tables, so they always agree.

Modules: `schema` (tables and SuiteQL catalog), `store` (storage core and master data),
`ledger` (transactions as rows), `transactions` (transaction rules), `state` (the account),
`render` (REST record shapes), `records` (record types, listing, `q` filter), `writes` (REST
bodies to writes), `suiteql_check` / `suiteql` (SuiteQL), `auth` (OAuth), `errors`, `app`.
"""

from __future__ import annotations

from typing import Any

from tieout.sandbox.netsuite.app import build_app
from tieout.sandbox.netsuite.auth import TOKEN_PATH
from tieout.sandbox.netsuite.state import NetSuiteState


def client_settings(base_url: str, state: NetSuiteState) -> dict[str, Any]:
    """Everything a client needs to connect: URLs, account id and both kinds of OAuth credentials."""
    credentials = state.authority.default
    base = base_url.rstrip("/")
    return {
        "base_url": base,
        "account_id": state.account_id,
        "rest_url": f"{base}/services/rest",
        "record_url": f"{base}/services/rest/record/v1",
        "suiteql_url": f"{base}/services/rest/query/v1/suiteql",
        "token_url": f"{base}{TOKEN_PATH}",
        "client_id": credentials.client_id,
        "client_secret": credentials.client_secret,
        "certificate_id": credentials.certificate_id,
        "private_key_pem": credentials.private_key_pem,
        "jwt_algorithm": "ES256",
        "scope": "rest_webservices",
        "concurrency_limit": state.concurrency_limit,
    }


__all__ = ["NetSuiteState", "build_app", "client_settings"]

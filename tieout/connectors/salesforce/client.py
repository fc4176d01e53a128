"""The simple-salesforce client, wrapped: retries, the call budget, the org's API allocation, errors.

Every request goes through `SalesforceClient.call`: it spends one call of the `CallBudget` per
attempt, runs the SDK call, translates what it raises (`errors.translate`) and retries with
tenacity what is worth retrying (rate limits after the server's Retry-After, 5xx, transport
failures, with jittered exponential backoff otherwise) when the request is a read or an
idempotent write (upserts and updates). A response hook on the requests session reads
`Sforce-Limit-Info: api-usage=N/MAX` from every answer and shrinks the budget to what the org has
left minus `api_reserve`, so a run stops with BudgetExhausted before it spends the allocation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote_plus

import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.util import call_salesforce
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_random_exponential

from tieout.connectors.base import CallBudget
from tieout.errors import MalformedResponse, RateLimited, RetriableError

from .errors import SYSTEM, TRANSLATED, api_usage, translate
from .settings import SalesforceSettings

T = TypeVar("T")


class SalesforceClient:
    """One org's REST API through simple-salesforce, for one connector instance."""

    def __init__(self, settings: SalesforceSettings, budget: CallBudget) -> None:
        self.settings = settings
        self.budget = budget
        self.secrets = (settings.session_id.get_secret_value(),)
        self.last_headers: Mapping[str, str] = {}
        self.session = requests.Session()
        self.session.verify = settings.ca_bundle or True
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE and proxies from the environment would override
        self.session.hooks["response"].append(self._observe)
        self.sf = Salesforce(
            instance_url=settings.instance_url,
            session_id=settings.session_id.get_secret_value(),
            version=settings.api_version,
            session=self.session,
            parse_float=Decimal,
            object_pairs_hook=dict,
        )
        jittered = wait_random_exponential(
            multiplier=settings.backoff_base_seconds, max=settings.backoff_max_seconds
        )

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome is not None else None
            if isinstance(error, RateLimited) and error.retry_after_seconds is not None:
                return min(error.retry_after_seconds, settings.backoff_max_seconds)
            return float(jittered(state))

        self._wait = wait

    def _observe(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.last_headers = response.headers
        usage = api_usage(response.headers)
        if usage is not None:
            used, maximum = usage
            self.budget.limit_to(maximum - used - self.settings.api_reserve)

    def call(
        self, action: Callable[[], T], *, what: str, idempotent: bool = True, writing: bool = False
    ) -> T:
        """Run one SDK request with budget, translation and (when idempotent) retries."""
        retrying = Retrying(
            retry=retry_if_exception_type(RetriableError),
            wait=self._wait,
            stop=stop_after_attempt(self.settings.max_attempts if idempotent else 1),
            reraise=True,
            sleep=time.sleep,
        )
        result: T = retrying(self._attempt, action, what, writing)
        return result

    def _attempt(self, action: Callable[[], T], what: str, writing: bool) -> T:
        self.budget.spend()
        self.last_headers = {}
        try:
            return action()
        except TRANSLATED as exc:
            raise translate(
                exc, what=what, headers=self.last_headers, writing=writing, secrets=self.secrets
            ) from None

    # ---- requests -------------------------------------------------------------------------------

    def query(self, soql: str, *, include_deleted: bool, batch_size: int | None = None) -> dict[str, Any]:
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"} if batch_size else {}
        endpoint = "queryAll" if include_deleted else "query"
        body = self.call(
            lambda: self.sf.query(
                soql, include_deleted=include_deleted, headers=headers, timeout=self.settings.timeout_seconds
            ),
            what=f"GET {endpoint} ({soql[:120]})",
        )
        return query_page(body, endpoint)

    def query_uri_length(self, soql: str, *, include_deleted: bool) -> int:
        """The length of the URL `query` sends for `soql` (simple-salesforce puts it in `?q=`)."""
        endpoint = "queryAll/" if include_deleted else "query/"
        return len(self.sf.base_url) + len(endpoint) + len("?q=") + len(quote_plus(soql))

    def query_more(self, next_records_url: str) -> dict[str, Any]:
        body = self.call(
            lambda: self.sf.query_more(
                next_records_url, identifier_is_url=True, timeout=self.settings.timeout_seconds
            ),
            what=f"GET {next_records_url}",
        )
        return query_page(body, next_records_url)

    def count(self, soql: str, *, include_deleted: bool) -> int:
        total = self.query(soql, include_deleted=include_deleted).get("totalSize")
        if not isinstance(total, int):
            raise MalformedResponse(f"COUNT() answered totalSize {total!r}", system=SYSTEM)
        return total

    def rest(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool = True,
        writing: bool = False,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """A JSON REST call relative to `/services/data/vXX.X/` (None for 204 No Content)."""
        extra: dict[str, Any] = {"timeout": self.settings.timeout_seconds}
        if json is not None:
            extra["json"] = json
        return self.call(
            lambda: self.sf.restful(path, params=params, method=method, **extra),
            what=f"{method} {path}",
            idempotent=idempotent,
            writing=writing,
        )

    def text(self, path: str, *, params: dict[str, Any], accept: str) -> tuple[str, Mapping[str, str]]:
        """A GET answering text (Bulk 2.0 CSV results): the body and the response headers."""

        def fetch() -> tuple[str, Mapping[str, str]]:
            response = call_salesforce(
                self.sf.base_url + path,
                "GET",
                self.session,
                {**self.sf.headers, "Accept": accept},
                params=params,
                timeout=self.settings.timeout_seconds,
            )
            return response.content.decode("utf-8"), response.headers

        return self.call(fetch, what=f"GET {path}")

    def close(self) -> None:
        self.session.close()


def without_attributes(value: Any) -> Any:
    """A REST record without its `attributes` (type and URL) blocks, nested ones included."""
    if isinstance(value, dict):
        return {key: without_attributes(item) for key, item in value.items() if key != "attributes"}
    if isinstance(value, list):
        return [without_attributes(item) for item in value]
    return value


def query_page(body: Any, where: str) -> dict[str, Any]:
    """A query answer, checked for the shape the connector reads."""
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("records"), list)
        or not isinstance(body.get("done"), bool)
        or (body["done"] is False and not isinstance(body.get("nextRecordsUrl"), str))
    ):
        raise MalformedResponse(f"{where} answered something that is not a query result", system=SYSTEM)
    return body

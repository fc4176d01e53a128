"""The Stripe connector: streams as data, pulls and pushes through stripe-python.

| stream       | kind        | list endpoint     | expanded              | pushable |
|--------------|-------------|-------------------|-----------------------|----------|
| customers    | customer    | /v1/customers     |                       | yes      |
| invoices     | invoice     | /v1/invoices      | (lines paged beside)  | yes      |
| charges      | payment     | /v1/charges       | balance_transaction   | no       |
| refunds      | refund      | /v1/refunds       | charge                | no       |
| credit_notes | credit_note | /v1/credit_notes  |                       | no       |
| payouts      | payout      | /v1/payouts       | (composition beside)  | no       |

Lists are newest first, so no stream is `ordered`: the runner advances each cursor after the
last page. How each is read is in `pulls` (full lists, events, the 30-day fallback), how each
is written in `pushes`, the mapping in `tieout.mappings.stripe`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from tieout.connectors.base import (
    CallBudget,
    Connector,
    ConnectorSettings,
    Mapper,
    Page,
    PushResult,
    StreamSpec,
)
from tieout.connectors.stripe.api import SYSTEM, StripeApi, StripeSettings
from tieout.connectors.stripe.pulls import Puller
from tieout.connectors.stripe.pushes import push_customer, push_invoice
from tieout.connectors.stripe.streams import BY_NAME, STREAMS
from tieout.errors import ConnectorError
from tieout.mappings.stripe import (
    map_charge,
    map_credit_note,
    map_customer,
    map_invoice,
    map_payout,
    map_refund,
)

MAPPERS: dict[str, Mapper] = {
    "customers": map_customer,
    "invoices": map_invoice,
    "charges": map_charge,
    "refunds": map_refund,
    "credit_notes": map_credit_note,
    "payouts": map_payout,
}
PUSHES = {"customers": push_customer, "invoices": push_invoice}


def _utc_now() -> datetime:
    return datetime.now(UTC)


class StripeConnector(Connector):
    name: ClassVar[str] = SYSTEM
    title: ClassVar[str] = "Stripe (payments)"
    settings_model: ClassVar[type[ConnectorSettings]] = StripeSettings
    streams: ClassVar[tuple[StreamSpec, ...]] = tuple(
        StreamSpec(
            name=stream.name,
            kind=stream.kind,
            mapper=MAPPERS[stream.name],
            endpoint=stream.path,
            cursor_field="created",
            page_size=100,
            pushable=stream.name in PUSHES,
        )
        for stream in STREAMS
    )

    def __init__(
        self,
        settings: ConnectorSettings,
        *,
        budget: CallBudget | None = None,
        http_client: httpx.Client | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        super().__init__(settings, budget=budget)
        if not isinstance(settings, StripeSettings):
            raise ConnectorError("Stripe settings expected", system=SYSTEM)
        self.page_size = settings.page_size
        self.clock = clock
        self.api = StripeApi(settings, self.budget, http_client=http_client)

    def check(self) -> None:
        account = self.api.get("/v1/account")
        if not isinstance(account, dict) or account.get("object") != "account":
            raise ConnectorError("GET /v1/account did not answer an account", system=SYSTEM)

    def pull(
        self, stream: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Page]:
        spec = self.stream(stream)
        return Puller(self.api, BY_NAME[spec.name], self.page_size, self.clock).pull(since, until)

    def fetch(
        self,
        stream: str,
        record_ids: Sequence[str],
        *,
        known: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Page:
        spec = self.stream(stream)
        return Puller(self.api, BY_NAME[spec.name], self.page_size, self.clock).fetch(record_ids)

    def push(self, stream: str, payload: dict[str, Any], *, idempotency_key: str) -> PushResult:
        spec = self.stream(stream)
        push = PUSHES.get(spec.name)
        if push is None:
            return super().push(stream, payload, idempotency_key=idempotency_key)
        return push(self.api, payload, idempotency_key)

    def close(self) -> None:
        self.api.close()

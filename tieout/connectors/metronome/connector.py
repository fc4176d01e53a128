"""The Metronome connector: streams as data, pulls and pushes through metronome-sdk.

Streams (all keyed by Metronome's id; none arrives in update order across pages, so the runner
advances each cursor once, after the last page):

| stream    | kind     | updated_at                       | pushable |
|-----------|----------|----------------------------------|----------|
| customers | customer | `updated_at`                     | yes      |
| contracts | contract | `created_at` / `archived_at`     | yes      |
| invoices  | invoice  | `issued_at`                      | no       |
| usage     | usage    | end of the usage window          | yes      |

How each is read is in `pulls`, how each is written in `pushes`, the mapping in
`tieout.mappings.metronome`. Products, rate cards and rates are lookup data fetched inside a
pull, not a stream of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from tieout.connectors.base import CallBudget, Connector, ConnectorSettings, Page, PushResult, StreamSpec
from tieout.connectors.metronome.api import SYSTEM, MetronomeApi, MetronomeSettings
from tieout.connectors.metronome.pulls import Puller
from tieout.connectors.metronome.pushes import push_contract, push_customer, push_usage, push_usage_batch
from tieout.errors import ConnectorError
from tieout.mappings.metronome import map_contract, map_customer, map_invoice, map_usage


def _utc_now() -> datetime:
    return datetime.now(UTC)


class MetronomeConnector(Connector):
    name: ClassVar[str] = SYSTEM
    title: ClassVar[str] = "Metronome (usage billing)"
    settings_model: ClassVar[type[ConnectorSettings]] = MetronomeSettings
    streams: ClassVar[tuple[StreamSpec, ...]] = (
        StreamSpec(
            name="customers",
            kind="customer",
            mapper=map_customer,
            endpoint="/v1/customers",
            cursor_field="updated_at",
            page_size=100,
            pushable=True,
        ),
        StreamSpec(
            name="contracts",
            kind="contract",
            mapper=map_contract,
            endpoint="/v2/contracts/list",
            cursor_field="created_at",
            page_size=20,
            pushable=True,
        ),
        StreamSpec(
            name="invoices",
            kind="invoice",
            mapper=map_invoice,
            endpoint="/v1/customers/{customer_id}/invoices",
            cursor_field="issued_at",
            page_size=100,
        ),
        StreamSpec(
            name="usage",
            kind="usage",
            mapper=map_usage,
            endpoint="/v1/usage",
            cursor_field="end_timestamp",
            page_size=100,
            pushable=True,
        ),
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
        if not isinstance(settings, MetronomeSettings):
            raise ConnectorError("Metronome settings expected", system=SYSTEM)
        self.page_size = settings.page_size
        self.clock = clock
        self.api = MetronomeApi(settings, self.budget, http_client=http_client)

    def check(self) -> None:
        self.api.call("GET /v1/customers", self.api.sdk.v1.customers.with_raw_response.list, limit=1)

    def pull(
        self, stream: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Page]:
        spec = self.stream(stream)
        puller = Puller(self.api, self.page_size, spec.name, self.clock)
        pulls = {
            "customers": puller.customers,
            "contracts": puller.contracts,
            "invoices": puller.invoices,
            "usage": puller.usage,
        }
        return pulls[spec.name](since, until)

    def fetch(
        self,
        stream: str,
        record_ids: Sequence[str],
        *,
        known: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Page:
        spec = self.stream(stream)
        return Puller(self.api, self.page_size, spec.name, self.clock).fetch(record_ids, known or {})

    def push(self, stream: str, payload: dict[str, Any], *, idempotency_key: str) -> PushResult:
        spec = self.stream(stream)
        pushes = {"customers": push_customer, "contracts": push_contract, "usage": push_usage}
        if spec.name not in pushes:
            return super().push(stream, payload, idempotency_key=idempotency_key)
        return pushes[spec.name](self.api, payload, idempotency_key)

    def push_batch(
        self, stream: str, items: list[tuple[dict[str, Any], str]]
    ) -> list[PushResult | Exception]:
        if self.stream(stream).name == "usage":
            return push_usage_batch(self.api, items)
        return super().push_batch(stream, items)

    def close(self) -> None:
        self.api.close()

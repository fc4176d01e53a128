"""Pushes into Metronome, each one idempotent on the key Metronome itself enforces.

- customers: created with the idempotency key (the Salesforce Account Id) as their first ingest
  alias, then `updateConfig` sets `salesforce_account_id`. A repeat is Metronome's 409 on the
  alias; the customer holding the alias is looked up and returned as "unchanged" (or "updated"
  when the first attempt stopped before setting the Salesforce id). Another name, or another
  Salesforce id, under the same key is a `ConflictError`.
- contracts: created with `uniqueness_key` = the idempotency key (the Salesforce Opportunity
  Id). A repeat is Metronome's 409 on the key; the customer's contract with that key is looked
  up and returned as "unchanged", or a `ConflictError` if its rate card or start differs.
- usage: events go to `/v1/ingest` in batches of at most 100; Metronome drops any event whose
  `transaction_id` it has seen in the last 34 days, so a repeat never counts twice (and Metronome
  does not say which events were new: every accepted batch reports "created").

A 400 from Metronome refuses that record: `PushRejected`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from tieout.connectors.base import PushResult
from tieout.connectors.metronome.api import MetronomeApi
from tieout.connectors.metronome.pulls import stamp
from tieout.errors import ConflictError, ConnectorError, PushRejected, TieoutError

INGEST_BATCH = 100
NAME_LIMIT = 160
"""Metronome keeps the first 160 characters of a customer's name."""
Record = dict[str, Any]


def _rejected(error: ConnectorError, what: str, key: str) -> TieoutError:
    if error.status_code in (400, 422):
        return PushRejected(f"Metronome refused {what} {key}: {error}", system="metronome", record_id=key)
    return error


def _sending(api: MetronomeApi, what: str, key: str, send: Callable[..., Any], **params: Any) -> Any:
    try:
        return api.call(what, send, **params)
    except ConflictError:
        raise
    except ConnectorError as error:
        raise _rejected(error, what, key) from None


def push_customer(api: MetronomeApi, payload: Record, key: str) -> PushResult:
    name = payload.get("name")
    if not isinstance(name, str) or not name.strip():
        raise PushRejected("a Metronome customer needs a name", system="metronome", record_id=key)
    if isinstance(payload.get("id"), str):
        return _rename_customer(api, payload["id"], name, key)
    aliases = [key, *[alias for alias in payload.get("ingest_aliases") or [] if alias != key]]
    salesforce_id = payload.get("salesforce_account_id")
    extra = {
        field: payload[field]
        for field in (
            "custom_fields",
            "customer_billing_provider_configurations",
            "customer_revenue_system_configurations",
        )
        if payload.get(field)
    }
    sdk = api.sdk.v1.customers.with_raw_response
    try:
        body = _sending(
            api,
            "POST /v1/customers",
            key,
            sdk.create,
            name=name,
            ingest_aliases=aliases,
            extra_body=extra,
        )
    except ConflictError:
        return _existing_customer(api, name, salesforce_id, key)
    customer = body["data"]
    if salesforce_id:
        _set_salesforce_id(api, customer["id"], salesforce_id, key)
    return PushResult(target_id=str(customer["id"]), operation="created", payload=customer)


def _rename_customer(api: MetronomeApi, customer_id: str, name: str, key: str) -> PushResult:
    """An update of an existing customer: Metronome lets its name change (`setName`), idempotently."""
    sdk = api.sdk.v1.customers.with_raw_response
    current = api.call("GET /v1/customers/{id}", sdk.retrieve, customer_id=customer_id)["data"]
    if current.get("name") == name[:NAME_LIMIT]:
        return PushResult(target_id=customer_id, operation="unchanged", payload=current)
    _sending(api, "POST /v1/customers/{id}/setName", key, sdk.set_name, customer_id=customer_id, name=name)
    return PushResult(target_id=customer_id, operation="updated", payload={**current, "name": name})


def _set_salesforce_id(api: MetronomeApi, customer_id: str, salesforce_id: str, key: str) -> None:
    sdk = api.sdk.v1.customers.with_raw_response
    _sending(
        api,
        "POST /v1/customers/{id}/updateConfig",
        key,
        sdk.update_config,
        customer_id=customer_id,
        salesforce_account_id=salesforce_id,
    )


def _existing_customer(api: MetronomeApi, name: str, salesforce_id: str | None, key: str) -> PushResult:
    body = api.call(
        "GET /v1/customers", api.sdk.v1.customers.with_raw_response.list, ingest_alias=key, limit=1
    )
    found = body.get("data") or []
    if not found:
        raise ConflictError(
            f"ingest alias {key!r} is taken, but no active customer holds it",
            system="metronome",
            status_code=409,
        )
    customer = found[0]
    if customer.get("name") != name[:NAME_LIMIT]:
        raise ConflictError(
            f"customer {customer['id']} holds ingest alias {key!r} under the name {customer.get('name')!r}, "
            f"not {name!r}",
            system="metronome",
            status_code=409,
        )
    current = (customer.get("customer_config") or {}).get("salesforce_account_id")
    if salesforce_id and current and current != salesforce_id:
        raise ConflictError(
            f"customer {customer['id']} is linked to Salesforce account {current}, not {salesforce_id}",
            system="metronome",
            status_code=409,
        )
    if salesforce_id and not current:
        _set_salesforce_id(api, str(customer["id"]), salesforce_id, key)
        return PushResult(target_id=str(customer["id"]), operation="updated", payload=customer)
    return PushResult(target_id=str(customer["id"]), operation="unchanged", payload=customer)


def push_contract(api: MetronomeApi, payload: Record, key: str) -> PushResult:
    customer_id, starting_at = payload.get("customer_id"), payload.get("starting_at")
    if not isinstance(customer_id, str) or not isinstance(starting_at, str):
        raise PushRejected(
            "a Metronome contract needs customer_id and starting_at", system="metronome", record_id=key
        )
    extra = {k: v for k, v in payload.items() if k not in ("customer_id", "starting_at", "uniqueness_key")}
    extra["uniqueness_key"] = key
    sdk = api.sdk.v1.contracts.with_raw_response
    try:
        body = _sending(
            api,
            "POST /v1/contracts/create",
            key,
            sdk.create,
            customer_id=customer_id,
            starting_at=starting_at,
            extra_body=extra,
        )
    except ConflictError:
        return _existing_contract(api, customer_id, payload, key)
    return PushResult(target_id=str(body["data"]["id"]), operation="created", payload=body["data"])


def _customer_contracts(api: MetronomeApi, customer_id: str) -> Iterator[Record]:
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"customer_id": customer_id, "include_archived": True}
        if cursor:
            params["cursor"] = cursor
        body = api.call("POST /v2/contracts/list", api.sdk.v2.contracts.with_raw_response.list, **params)
        yield from body.get("data") or []
        cursor = body.get("cursor")
        if not cursor:
            return


def _existing_contract(api: MetronomeApi, customer_id: str, payload: Record, key: str) -> PushResult:
    for contract in _customer_contracts(api, customer_id):
        if contract.get("uniqueness_key") != key:
            continue
        differences = [
            name
            for name, same in (
                ("rate_card_id", contract.get("rate_card_id") == payload.get("rate_card_id")),
                ("starting_at", stamp(contract.get("starting_at")) == stamp(payload.get("starting_at"))),
            )
            if not same
        ]
        if differences:
            raise ConflictError(
                f"contract {contract['id']} already has uniqueness_key {key!r} with another "
                + " and ".join(differences),
                system="metronome",
                status_code=409,
            )
        return PushResult(target_id=str(contract["id"]), operation="unchanged", payload=contract)
    raise ConflictError(
        f"uniqueness_key {key!r} is used by a contract that is not customer {customer_id}'s",
        system="metronome",
        status_code=409,
    )


def events_of(payload: Record, key: str) -> list[Record]:
    """The usage events in a push payload: `{"events": [...]}` or one event."""
    events = payload.get("events", [payload])
    if not isinstance(events, list) or not events:
        raise PushRejected("a usage push needs one or more events", system="metronome", record_id=key)
    for index, event in enumerate(events):
        if not isinstance(event, dict) or not isinstance(event.get("transaction_id"), str):
            raise PushRejected(
                f"usage event {index} has no transaction_id: every event needs a stable one",
                system="metronome",
                record_id=key,
            )
    return events


def ingest(api: MetronomeApi, events: list[Record], key: str) -> int:
    """Send `events` in batches of at most 100; returns the number of calls made."""
    calls = 0
    for start in range(0, len(events), INGEST_BATCH):
        batch = events[start : start + INGEST_BATCH]
        _sending(
            api,
            "POST /v1/ingest",
            key,
            api.sdk.v1.usage.with_raw_response.ingest,
            usage=batch,
        )
        calls += 1
    return calls


def push_usage(api: MetronomeApi, payload: Record, key: str) -> PushResult:
    events = events_of(payload, key)
    ingest(api, events, key)
    return PushResult(target_id=key, operation="created", payload={"events": len(events)})


def push_usage_batch(api: MetronomeApi, items: list[tuple[Record, str]]) -> list[PushResult | Exception]:
    """Many usage pushes at once: their events share batches of 100, each item gets its result."""
    results: list[PushResult | Exception | None] = [None] * len(items)
    queued: list[tuple[int, Record]] = []
    for index, (payload, key) in enumerate(items):
        try:
            queued += [(index, event) for event in events_of(payload, key)]
        except PushRejected as error:
            results[index] = error
    for start in range(0, len(queued), INGEST_BATCH):
        batch = queued[start : start + INGEST_BATCH]
        owners = sorted({index for index, _ in batch})
        try:
            ingest(api, [event for _, event in batch], items[owners[0]][1])
        except TieoutError as error:
            for index in owners:
                results[index] = error
    out: list[PushResult | Exception] = []
    for index, (payload, key) in enumerate(items):
        result = results[index]
        out.append(
            result
            if result is not None
            else PushResult(key, "created", {"events": len(events_of(payload, key))})
        )
    return out

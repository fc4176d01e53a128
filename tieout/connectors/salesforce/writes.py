"""Account writes: one by upsert or update, many through sObject Collections, 200 records a call.

A payload names its record by `Id` (an update: write-backs of twin ids and AR figures) or by the
upsert field (`External_Id__c`: create-or-update). Both are idempotent on Salesforce's side, so
they are retried like reads. Batches go through `PATCH /composite/sobjects` (update) and
`PATCH /composite/sobjects/Account/{field}` (upsert) with allOrNone off: each record's error comes
back in its place as PushRejected (ConflictError when its external id is held by several records).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from simple_salesforce.format import format_external_id

from tieout.connectors.base import PushResult
from tieout.errors import ConflictError, MalformedResponse, PushRejected, TieoutError

from .client import SalesforceClient
from .errors import SYSTEM
from .soql import check_field_name

COLLECTION_SIZE = 200
JSON_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Write:
    """One record to write: how it is found (`key_field` = Id or an external-id field) and its fields."""

    key_field: str
    key_value: str
    fields: dict[str, Any]

    @property
    def by_id(self) -> bool:
        return self.key_field == "Id"


def _wire(name: str, value: Any, stream: str) -> Any:
    if isinstance(value, Decimal):
        number = float(value)
        if Decimal(repr(number)) != value:
            raise PushRejected(
                f"{name}: {value} has too many digits for a JSON number", system=SYSTEM, stream=stream
            )
        return number
    if not isinstance(value, JSON_SCALARS):
        raise PushRejected(
            f"{name}: {type(value).__name__} is not a field value", system=SYSTEM, stream=stream
        )
    return value


def parse_write(payload: Mapping[str, Any], *, upsert_field: str, stream: str) -> Write:
    """The Write a push payload asks for; PushRejected when it names no record or holds bad fields."""
    fields: dict[str, Any] = {}
    for name, value in payload.items():
        try:
            check_field_name(name)
        except (ValueError, TypeError):
            raise PushRejected(f"{name!r} is not a field name", system=SYSTEM, stream=stream) from None
        if name != "attributes":
            fields[name] = _wire(name, value, stream)
    for key_field in ("Id", upsert_field):
        key_value = fields.pop(key_field, None)
        if key_value is not None:
            if not isinstance(key_value, str) or not key_value.strip():
                raise PushRejected(f"{key_field} must be a non-empty string", system=SYSTEM, stream=stream)
            return Write(key_field, key_value.strip(), fields)
    raise PushRejected(
        f"the payload names its record neither by Id nor by {upsert_field}", system=SYSTEM, stream=stream
    )


class AccountWriter:
    def __init__(self, client: SalesforceClient, stream: str, object_name: str = "Account") -> None:
        self.client = client
        self.stream = stream
        self.object_name = object_name

    def one(self, write: Write) -> PushResult:
        if write.by_id:
            path = f"sobjects/{self.object_name}/{write.key_value}"
            self.client.rest("PATCH", path, json=write.fields, writing=True)
            return PushResult(write.key_value, "updated")
        path = f"sobjects/{self.object_name}/{format_external_id(write.key_field, write.key_value)}"
        body = self.client.rest("PATCH", path, json=write.fields, writing=True)
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise MalformedResponse(f"upsert on {path} answered without the record's id", system=SYSTEM)
        return PushResult(body["id"], "created" if body.get("created") else "updated")

    def many(self, writes: list[Write]) -> list[PushResult | Exception]:
        """One result or error per write, in order; 200 records per Collections call."""
        results: list[PushResult | Exception | None] = [None] * len(writes)
        groups: dict[str, list[int]] = {}
        for index, write in enumerate(writes):
            groups.setdefault(write.key_field, []).append(index)
        for key_field, indexes in groups.items():
            for start in range(0, len(indexes), COLLECTION_SIZE):
                chunk = indexes[start : start + COLLECTION_SIZE]
                try:
                    answers = self._collection(key_field, [writes[i] for i in chunk])
                except TieoutError as exc:
                    answers = [exc] * len(chunk)
                for index, answer in zip(chunk, answers, strict=True):
                    results[index] = answer
        return [result for result in results if result is not None]

    def _collection(self, key_field: str, writes: list[Write]) -> list[PushResult | Exception]:
        records = [
            {"attributes": {"type": self.object_name}, key_field: write.key_value, **write.fields}
            for write in writes
        ]
        path = (
            "composite/sobjects"
            if key_field == "Id"
            else f"composite/sobjects/{self.object_name}/{key_field}"
        )
        answer = self.client.rest("PATCH", path, json={"allOrNone": False, "records": records}, writing=True)
        if not isinstance(answer, list) or len(answer) != len(writes):
            raise MalformedResponse(
                f"{path} answered {type(answer).__name__} for {len(writes)} records", system=SYSTEM
            )
        return [self._result(item, write) for item, write in zip(answer, writes, strict=True)]

    def _result(self, item: Any, write: Write) -> PushResult | Exception:
        if not isinstance(item, dict):
            return MalformedResponse("a Collections result is not an object", system=SYSTEM)
        if item.get("success") is True and isinstance(item.get("id"), str):
            return PushResult(item["id"], "created" if item.get("created") else "updated")
        listed = item.get("errors")
        errors: list[Any] = listed if isinstance(listed, list) else []
        codes = [str(error.get("statusCode")) for error in errors if isinstance(error, dict)]
        detail = "; ".join(
            f"{error.get('statusCode')}: {error.get('message')}"
            for error in errors
            if isinstance(error, dict)
        )
        message = f"{write.key_field} {write.key_value}: {detail or 'refused without a reason'}"
        if "DUPLICATE_EXTERNAL_ID" in codes:
            return ConflictError(message, system=SYSTEM)
        return PushRejected(message, system=SYSTEM, stream=self.stream, record_id=write.key_value)

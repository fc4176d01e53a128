"""sObject Collections (`/composite/sobjects`): create, update, upsert, delete and retrieve up to 200 records.

With `allOrNone` every write of the request is undone when any record fails; the records that were
fine then report ALL_OR_NONE_OPERATION_ROLLED_BACK, as Salesforce does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .errors import SalesforceApiError
from .ids import normalize_id
from .rest import record_json
from .schema import BY_PREFIX
from .state import SalesforceState
from .store import MultipleMatches, object_def
from .web import json_object, json_response

MAX_RECORDS = 200
ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
    "fields": [],
}


class _RollBack(Exception):
    pass


def _too_many() -> SalesforceApiError:
    return SalesforceApiError(
        "EXCEEDED_ID_LIMIT",
        f"record limit reached. cannot submit more than {MAX_RECORDS} records into this call",
    )


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


class CollectionRoutes:
    def __init__(self, state: SalesforceState) -> None:
        self.state = state

    def _run(self, items: list[Any], all_or_none: bool, action: Callable[[Any], str]) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        try:
            with self.state.atomic():
                for item in items:
                    try:
                        results.append({"id": action(item), "success": True, "errors": []})
                    except SalesforceApiError as exc:
                        failed: dict[str, Any] = {"success": False, "errors": [exc.record_error()]}
                        if isinstance(item, str):
                            failed = {"id": item, **failed}
                        results.append(failed)
                if all_or_none and any(not r["success"] for r in results):
                    raise _RollBack
        except _RollBack:
            results = [
                r if not r["success"] else {"success": False, "errors": [ROLLED_BACK]} for r in results
            ]
        return results

    def _records(self, body: dict[str, Any]) -> list[Any]:
        records = body.get("records")
        if not isinstance(records, list):
            raise SalesforceApiError("JSON_PARSER_ERROR", "records must be an array of sObjects")
        if len(records) > MAX_RECORDS:
            raise _too_many()
        return records

    @staticmethod
    def _type_of(record: Any) -> tuple[str, dict[str, Any]]:
        if not isinstance(record, dict):
            raise SalesforceApiError("JSON_PARSER_ERROR", "each record must be an object")
        attributes = record.get("attributes")
        object_type = attributes.get("type") if isinstance(attributes, dict) else None
        if not isinstance(object_type, str):
            raise SalesforceApiError(
                "INVALID_TYPE", "No SObject Type defined in the attributes of the record"
            )
        try:
            obj = object_def(object_type)
        except SalesforceApiError:
            raise SalesforceApiError(
                "INVALID_TYPE", f"sObject type '{object_type}' is not supported."
            ) from None
        return obj.name, record

    async def create(self, request: Request) -> Response:
        body = await json_object(request)
        records = self._records(body)

        def create_one(raw: Any) -> str:
            object_name, record = self._type_of(raw)
            if any(k.lower() == "id" for k in record):
                raise SalesforceApiError(
                    "INVALID_FIELD", "cannot specify Id in an insert call", fields=["Id"]
                )
            return str(self.state.create(object_name, record)["Id"])

        return json_response(self._run(records, _flag(body.get("allOrNone")), create_one))

    async def update(self, request: Request) -> Response:
        body = await json_object(request)
        records = self._records(body)

        def update_one(raw: Any) -> str:
            object_name, record = self._type_of(raw)
            values = {k: v for k, v in record.items() if k.lower() != "id"}
            record_id = next((v for k, v in record.items() if k.lower() == "id"), None)
            if not isinstance(record_id, str):
                raise SalesforceApiError(
                    "MISSING_ARGUMENT", "Id not specified in an update call", fields=["Id"]
                )
            return str(self.state.update(object_name, record_id, values)["Id"])

        return json_response(self._run(records, _flag(body.get("allOrNone")), update_one))

    async def upsert(self, request: Request) -> Response:
        """PATCH `/composite/sobjects/{name}/{field}`: create-or-update each record on an external id field."""
        obj = object_def(request.path_params["name"])
        field = obj.field(request.path_params["field"])
        if field is None or not field.external_id:
            raise SalesforceApiError(
                "INVALID_FIELD",
                f"Field name provided, {request.path_params['field']} is not an External ID or indexed field "
                f"for {obj.name}",
            )
        body = await json_object(request)
        records = self._records(body)
        created: set[str] = set()

        def upsert_one(raw: Any) -> str:
            object_name, record = self._type_of(raw)
            if object_name != obj.name:
                raise SalesforceApiError("INVALID_TYPE", f"the record is a {object_name}, not a {obj.name}")
            value = next((v for k, v in record.items() if k.lower() == field.name.lower()), None)
            if not isinstance(value, str) or not value:
                raise SalesforceApiError(
                    "MISSING_ARGUMENT", f"{field.name} not specified in an upsert call", fields=[field.name]
                )
            values = {k: v for k, v in record.items() if k.lower() != field.name.lower()}
            try:
                saved, was_created = self.state.upsert(obj.name, field.name, value, values)
            except MultipleMatches as exc:
                raise SalesforceApiError(
                    "DUPLICATE_EXTERNAL_ID",
                    f"{field.name}: more than one record found for external id field: {exc.record_ids}",
                    fields=[field.name],
                ) from None
            if was_created:
                created.add(str(saved["Id"]))
            return str(saved["Id"])

        results = self._run(records, _flag(body.get("allOrNone")), upsert_one)
        return json_response(
            [{**r, "created": r.get("id") in created} if r["success"] else r for r in results]
        )

    async def delete(self, request: Request) -> Response:
        ids = [i for i in request.query_params.get("ids", "").split(",") if i]
        if not ids:
            raise SalesforceApiError("MISSING_ARGUMENT", "ids is required")
        if len(ids) > MAX_RECORDS:
            raise _too_many()

        def delete_one(record_id: str) -> str:
            normalized = normalize_id(record_id)
            obj = BY_PREFIX.get(normalized[:3]) if normalized else None
            if normalized is None or obj is None:
                raise SalesforceApiError("MALFORMED_ID", f"malformed id {record_id}", fields=[])
            self.state.delete(obj.name, normalized)
            return normalized

        return json_response(self._run(ids, _flag(request.query_params.get("allOrNone")), delete_one))

    async def retrieve(self, request: Request) -> Response:
        """GET with `ids` and `fields` in the query string, or POST with them in the body (for long lists)."""
        obj = object_def(request.path_params["name"])
        if request.method == "POST":
            body = await json_object(request)
            ids, fields = body.get("ids"), body.get("fields")
            if not (isinstance(ids, list) and isinstance(fields, list)):
                raise SalesforceApiError("MISSING_ARGUMENT", "ids and fields are required")
            ids, fields = [str(i) for i in ids], [str(f) for f in fields]
        else:
            ids = [i for i in request.query_params.get("ids", "").split(",") if i]
            fields = [f for f in request.query_params.get("fields", "").split(",") if f]
        if not ids or not fields:
            raise SalesforceApiError("MISSING_ARGUMENT", "ids and fields are required")
        if len(ids) > 2000:
            raise _too_many()
        out: list[Any] = []
        for record_id in ids:
            normalized = normalize_id(record_id)
            record = self.state.live(obj.name, normalized) if normalized else None
            out.append(record_json(obj, record, fields) if record is not None else None)
        return json_response(out)

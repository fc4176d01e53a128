"""sObject REST resources: describe, record CRUD, upsert by external id, updated/deleted and /limits."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .describe import describe_global, describe_object, global_entry
from .errors import SalesforceApiError, not_found
from .ids import normalize_id
from .query import attributes_of
from .schema import ObjectDef
from .state import API_VERSION, SalesforceState
from .store import MultipleMatches, object_def
from .values import format_datetime, parse_datetime, to_json
from .web import json_object, json_response

Record = dict[str, Any]
REPLICATION_WINDOW = timedelta(days=30)
MAX_REPLICATION_IDS = 600_000


def record_json(obj: ObjectDef, record: Record, field_names: list[str] | None = None) -> Record:
    out = attributes_of(obj.name, record["Id"])
    fields = obj.fields if field_names is None else [_field_or_error(obj, n) for n in field_names]
    for field in fields:
        out[field.name] = to_json(record.get(field.name))
    return out


def _field_or_error(obj: ObjectDef, name: str) -> Any:
    field = obj.field(name.strip())
    if field is None:
        raise SalesforceApiError(
            "INVALID_FIELD",
            f"No such column '{name.strip()}' on entity '{obj.name}'. If you are attempting to use "
            "a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL "
            "or the describe call for the appropriate names.",
        )
    return field


def _record_url(object_name: str, record_id: str) -> str:
    return f"/services/data/v{API_VERSION}/sobjects/{object_name}/{record_id}"


class SObjectRoutes:
    def __init__(self, state: SalesforceState) -> None:
        self.state = state

    async def versions(self, request: Request) -> Response:
        return json_response(
            [{"label": "Winter '24", "url": f"/services/data/v{API_VERSION}", "version": API_VERSION}]
        )

    async def resources(self, request: Request) -> Response:
        base = f"/services/data/v{API_VERSION}"
        names = ("sobjects", "query", "queryAll", "limits", "composite", "jobs")
        return json_response({name: f"{base}/{name}" for name in names})

    async def limits(self, request: Request) -> Response:
        return json_response(self.state.limits())

    async def describe_global(self, request: Request) -> Response:
        return json_response(describe_global())

    async def basic_info(self, request: Request) -> Response:
        # recentItems lists records the user viewed in the UI; an API-only org has viewed none
        obj = object_def(request.path_params["name"])
        return json_response({"objectDescribe": global_entry(obj), "recentItems": []})

    async def describe(self, request: Request) -> Response:
        return json_response(describe_object(object_def(request.path_params["name"])))

    async def create(self, request: Request) -> Response:
        obj = object_def(request.path_params["name"])
        record = self.state.create(obj.name, await json_object(request))
        return json_response(
            {"id": record["Id"], "success": True, "errors": []},
            status=201,
            headers={"Location": _record_url(obj.name, record["Id"])},
        )

    def _fetch(self, obj: ObjectDef, record_id: str) -> Record:
        normalized = normalize_id(record_id)
        record = self.state.live(obj.name, normalized) if normalized else None
        if record is None:
            raise not_found()
        return record

    async def get_record(self, request: Request) -> Response:
        obj = object_def(request.path_params["name"])
        record = self._fetch(obj, request.path_params["record_id"])
        fields = request.query_params.get("fields")
        return json_response(record_json(obj, record, fields.split(",") if fields else None))

    async def update_record(self, request: Request) -> Response:
        obj = object_def(request.path_params["name"])
        self.state.update(obj.name, request.path_params["record_id"], await json_object(request))
        return Response(status_code=204)

    async def delete_record(self, request: Request) -> Response:
        obj = object_def(request.path_params["name"])
        self.state.delete(obj.name, request.path_params["record_id"])
        return Response(status_code=204)

    def _multiple(self, obj: ObjectDef, exc: MultipleMatches) -> Response:
        return json_response([_record_url(obj.name, i) for i in exc.record_ids], status=300)

    async def get_by_external_id(self, request: Request) -> Response:
        obj = object_def(request.path_params["name"])
        field = obj.field(request.path_params["field"])
        if field is None or not (field.external_id or field.type == "id"):
            raise not_found()
        value = request.path_params["value"]
        if field.type == "id":
            return json_response(record_json(obj, self._fetch(obj, value)))
        matches = self.state.find_external(obj.name, field.name, value)
        if not matches:
            raise not_found()
        if len(matches) > 1:
            return self._multiple(obj, MultipleMatches([m["Id"] for m in matches]))
        return json_response(record_json(obj, matches[0]))

    async def upsert(self, request: Request) -> Response:
        obj = object_def(request.path_params["name"])
        body = await json_object(request)
        field_name, value = request.path_params["field"], request.path_params["value"]
        if field_name.lower() == "id":
            record = self.state.update(obj.name, value, body)
            return json_response({"id": record["Id"], "success": True, "errors": [], "created": False})
        try:
            update_only = request.query_params.get("updateOnly", "").lower() == "true"
            record, created = self.state.upsert(obj.name, field_name, value, body, update_only=update_only)
        except MultipleMatches as exc:
            return self._multiple(obj, exc)
        payload = {"id": record["Id"], "success": True, "errors": [], "created": created}
        if created:
            return json_response(
                payload, status=201, headers={"Location": _record_url(obj.name, record["Id"])}
            )
        return json_response(payload)

    def _window(self, request: Request) -> tuple[datetime, datetime]:
        start_text, end_text = request.query_params.get("start"), request.query_params.get("end")
        if not start_text or not end_text:
            raise SalesforceApiError("MISSING_ARGUMENT", "start and end are required parameters")
        try:
            start = parse_datetime(start_text).replace(second=0, microsecond=0)
            end = parse_datetime(end_text).replace(second=0, microsecond=0)
        except ValueError:
            raise SalesforceApiError(
                "INVALID_REPLICATION_DATE", "start and end must be valid dateTimes"
            ) from None
        now = self.state.clock.now()
        if start >= end:
            raise SalesforceApiError(
                "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate"
            )
        if start < now - REPLICATION_WINDOW:
            raise SalesforceApiError("INVALID_REPLICATION_DATE", "startDate cannot be more than 30 days ago")
        return start, min(end, now)

    async def updated(self, request: Request) -> Response:
        obj = object_def(request.path_params["name"])
        start, end = self._window(request)
        with self.state.lock:
            ids = [
                r["Id"]
                for r in self.state.tables[obj.name].values()
                if not r["IsDeleted"] and start <= r["SystemModstamp"] <= end
            ]
        if len(ids) > MAX_REPLICATION_IDS:
            raise SalesforceApiError(
                "EXCEEDED_ID_LIMIT", "record limit reached. cannot replicate more than 600000 ids"
            )
        return json_response({"ids": ids, "latestDateCovered": format_datetime(end)})

    async def deleted(self, request: Request) -> Response:
        obj = object_def(request.path_params["name"])
        start, end = self._window(request)
        with self.state.lock:
            log = list(self.state.deleted_log[obj.name])
        rows = [{"id": i, "deletedDate": format_datetime(at)} for i, at in log if start <= at <= end]
        earliest = min((at for _, at in log), default=end)
        return json_response(
            {
                "deletedRecords": rows,
                "earliestDateAvailable": format_datetime(earliest),
                "latestDateCovered": format_datetime(end),
            }
        )

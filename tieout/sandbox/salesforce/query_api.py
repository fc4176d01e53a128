"""Query resources: `/query` and `/queryAll` with nextRecordsUrl cursors, and Bulk API 2.0 query jobs."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .bulk import BulkQueryJobs
from .errors import SalesforceApiError
from .query import CompiledQuery, compile_query
from .state import API_VERSION, SalesforceState
from .web import json_object, json_response

DEFAULT_BATCH_SIZE = 2000
MIN_BATCH_SIZE = 200
MAX_OPEN_CURSORS = 50


@dataclass
class Cursor:
    compiled: CompiledQuery
    records: list[dict[str, Any]]
    endpoint: str
    batch_size: int


def _batch_size(request: Request) -> int:
    options = request.headers.get("sforce-query-options", "")
    match = re.search(r"batchSize\s*=\s*(\d+)", options)
    if not match:
        return DEFAULT_BATCH_SIZE
    return min(max(int(match.group(1)), MIN_BATCH_SIZE), DEFAULT_BATCH_SIZE)


class QueryRoutes:
    def __init__(self, state: SalesforceState) -> None:
        self.state = state
        self.bulk = BulkQueryJobs(state)
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._lock = threading.Lock()

    def _page(self, cursor_id: str, cursor: Cursor, start: int) -> dict[str, Any]:
        page = cursor.records[start : start + cursor.batch_size]
        following = start + len(page)
        body: dict[str, Any] = {"totalSize": len(cursor.records), "done": following >= len(cursor.records)}
        if not body["done"]:
            body["nextRecordsUrl"] = (
                f"/services/data/v{API_VERSION}/{cursor.endpoint}/{cursor_id}-{following}"
            )
        body["records"] = [cursor.compiled.to_json(self.state, r) for r in page]
        return body

    async def _query(self, request: Request, include_deleted: bool) -> Response:
        text = request.query_params.get("q")
        if not text:
            raise SalesforceApiError("MALFORMED_QUERY", "A query string has to be specified")
        compiled = compile_query(self.state, text)
        records = compiled.run(self.state, include_deleted)
        if compiled.query.count_only:
            return json_response({"totalSize": len(records), "done": True, "records": []})
        cursor = Cursor(compiled, records, "queryAll" if include_deleted else "query", _batch_size(request))
        cursor_id = self.state.ids.new_id("01g")
        if len(records) > cursor.batch_size:
            with self._lock:
                self._cursors[cursor_id] = cursor
                while len(self._cursors) > MAX_OPEN_CURSORS:
                    self._cursors.popitem(last=False)
        return json_response(self._page(cursor_id, cursor, 0))

    async def query(self, request: Request) -> Response:
        return await self._query(request, include_deleted=False)

    async def query_all(self, request: Request) -> Response:
        return await self._query(request, include_deleted=True)

    async def query_more(self, request: Request) -> Response:
        locator = request.path_params["locator"]
        cursor_id, _, position = locator.rpartition("-")
        with self._lock:
            cursor = self._cursors.get(cursor_id)
        if cursor is None or not position.isdigit() or int(position) > len(cursor.records):
            raise SalesforceApiError("INVALID_QUERY_LOCATOR", "invalid query locator")
        return json_response(self._page(cursor_id, cursor, int(position)))

    async def create_job(self, request: Request) -> Response:
        job = self.bulk.create(await json_object(request))
        return json_response(job.info(full=False))

    async def list_jobs(self, request: Request) -> Response:
        jobs = [job.info(full=False) for job in self.bulk.list()]
        return json_response({"done": True, "records": jobs, "nextRecordsUrl": None})

    async def get_job(self, request: Request) -> Response:
        return json_response(self.bulk.poll(request.path_params["job_id"]).info(full=True))

    async def patch_job(self, request: Request) -> Response:
        body = await json_object(request)
        return json_response(
            self.bulk.abort(request.path_params["job_id"], body.get("state")).info(full=False)
        )

    async def delete_job(self, request: Request) -> Response:
        self.bulk.delete(request.path_params["job_id"])
        return Response(status_code=204)

    async def job_results(self, request: Request) -> Response:
        text, locator, count = self.bulk.results(
            request.path_params["job_id"],
            request.query_params.get("locator"),
            request.query_params.get("maxRecords"),
        )
        headers = {"Sforce-Locator": locator, "Sforce-NumberOfRecords": str(count)}
        return Response(text, media_type="text/csv", headers=headers)

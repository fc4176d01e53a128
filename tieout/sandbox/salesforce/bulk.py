"""Bulk API 2.0 query jobs: create, poll through UploadComplete -> InProgress -> JobComplete, CSV results.

A job runs its query when it is created (the snapshot Salesforce takes when it starts processing)
and then advances one state each time its status is read, so clients see the real state machine
without timers. Results are served in pages of `maxRecords` rows with an opaque `Sforce-Locator`
naming the next page ("null" on the last) and `Sforce-NumberOfRecords`.
"""

from __future__ import annotations

import base64
import csv
import io
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .errors import SalesforceApiError, not_found
from .query import compile_query
from .schema import USER_ID
from .state import API_VERSION, SalesforceState
from .values import format_datetime

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
NEXT_STATE = {"UploadComplete": "InProgress", "InProgress": "JobComplete"}
DEFAULT_MAX_RECORDS = 50_000


@dataclass
class QueryJob:
    job_id: str
    operation: str
    object_name: str
    query: str
    column_delimiter: str
    line_ending: str
    created_at: datetime
    modified_at: datetime
    header: list[str]
    rows: list[list[str]]
    state: str = "UploadComplete"
    polls: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def info(self, *, full: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.job_id,
            "operation": self.operation,
            "object": self.object_name,
            "createdById": USER_ID,
            "createdDate": format_datetime(self.created_at),
            "systemModstamp": format_datetime(self.modified_at),
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(API_VERSION),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
        }
        if full:
            done = self.state == "JobComplete"
            body.update(
                jobType="V2Query",
                numberRecordsProcessed=len(self.rows) if done else 0,
                retries=0,
                totalProcessingTime=0,
                isPkChunkingSupported=True,
            )
        return body


def _bad_request(message: str, code: str = "INVALIDJOB") -> SalesforceApiError:
    return SalesforceApiError(code, message)


class BulkQueryJobs:
    """The org's Bulk API 2.0 query jobs."""

    def __init__(self, state: SalesforceState) -> None:
        self.state = state
        self._jobs: dict[str, QueryJob] = {}
        self._lock = threading.Lock()

    def create(self, body: dict[str, Any]) -> QueryJob:
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            raise _bad_request(f"Invalid operation: {operation}. Use query or queryAll.")
        text = body.get("query")
        if not isinstance(text, str) or not text.strip():
            raise _bad_request("Query is required for query jobs")
        delimiter = body.get("columnDelimiter", "COMMA")
        line_ending = body.get("lineEnding", "LF")
        if delimiter not in DELIMITERS or line_ending not in LINE_ENDINGS:
            raise _bad_request("Invalid columnDelimiter or lineEnding")
        compiled = compile_query(self.state, text)
        if compiled.query.count_only:
            raise _bad_request("Aggregate queries are not supported by Bulk API 2.0 query jobs", "API_ERROR")
        if compiled.query.offset is not None:
            raise _bad_request("OFFSET is not supported by Bulk API 2.0 query jobs", "API_ERROR")
        self.state.count_bulk_query_job()
        records = compiled.run(self.state, include_deleted=operation == "queryAll")
        rows = [compiled.to_csv_row(self.state, r) for r in records]
        now = self.state.clock.now()
        job = QueryJob(
            job_id=self.state.ids.new_id("750"),
            operation=operation,
            object_name=compiled.obj.name,
            query=text,
            column_delimiter=delimiter,
            line_ending=line_ending,
            created_at=now,
            modified_at=now,
            header=[c.dotted for c in compiled.columns],
            rows=rows,
        )
        with self._lock:
            self._jobs[job.job_id] = job
        return job

    def get(self, job_id: str) -> QueryJob:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise not_found()
        return job

    def poll(self, job_id: str) -> QueryJob:
        """Read a job's status, advancing it one step along the state machine."""
        job = self.get(job_id)
        with self._lock:
            if job.state in NEXT_STATE:
                job.state = NEXT_STATE[job.state]
                job.modified_at = self.state.clock.now()
        return job

    def list(self) -> list[QueryJob]:
        with self._lock:
            return list(self._jobs.values())

    def abort(self, job_id: str, new_state: Any) -> QueryJob:
        job = self.get(job_id)
        if new_state != "Aborted":
            raise _bad_request(
                f"Invalid state: {new_state}. A query job can only be set to Aborted.", "INVALIDJOBSTATE"
            )
        with self._lock:
            if job.state not in NEXT_STATE:
                raise _bad_request(f"Cannot abort a job in state {job.state}", "INVALIDJOBSTATE")
            job.state, job.modified_at = "Aborted", self.state.clock.now()
        return job

    def delete(self, job_id: str) -> None:
        job = self.get(job_id)
        if job.state in NEXT_STATE:
            raise _bad_request(
                "Cannot delete a job that is still in progress; abort it first", "INVALIDJOBSTATE"
            )
        with self._lock:
            self._jobs.pop(job_id, None)

    def results(self, job_id: str, locator: str | None, max_records: str | None) -> tuple[str, str, int]:
        """(CSV text, next locator or "null", number of records in this page)."""
        job = self.get(job_id)
        if job.state != "JobComplete":
            raise _bad_request(
                f"Job {job_id} is in state {job.state}; results are available once it is JobComplete",
                "INVALIDJOBSTATE",
            )
        try:
            start = int(base64.urlsafe_b64decode(locator.encode()).decode()) if locator else 0
            size = int(max_records) if max_records else DEFAULT_MAX_RECORDS
        except (ValueError, UnicodeDecodeError):
            raise _bad_request("Invalid locator or maxRecords", "INVALIDLOCATOR") from None
        if size < 1 or start < 0 or start > len(job.rows):
            raise _bad_request("Invalid locator or maxRecords", "INVALIDLOCATOR")
        page = job.rows[start : start + size]
        buffer = io.StringIO()
        writer = csv.writer(
            buffer,
            delimiter=DELIMITERS[job.column_delimiter],
            lineterminator=LINE_ENDINGS[job.line_ending],
            quoting=csv.QUOTE_ALL,
        )
        writer.writerow(job.header)
        writer.writerows(page)
        following = start + len(page)
        next_locator = (
            base64.urlsafe_b64encode(str(following).encode()).decode()
            if following < len(job.rows)
            else "null"
        )
        return buffer.getvalue(), next_locator, len(page)

"""Backfills through Bulk API 2.0 query jobs, yielded in SystemModstamp order like the REST path.

A `queryAll` job runs the stream's query without ORDER BY (Bulk API 2.0 refuses or ignores it,
since it would turn off chunking); its CSV results are read page by page through the
`Sforce-Locator`, spilled into a private SQLite file on disk, and read back sorted by
(SystemModstamp, Id) in pages of the stream's size, so memory stays bounded however large the
backfill. CSV cells are typed with the object's describe so a record reads exactly as the REST
API would give it: numbers as Decimal, booleans, `...+0000` datetimes, null for empty cells.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import closing
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from tieout.errors import ConnectorError, MalformedResponse, MappingError
from tieout.mappings.salesforce.values import timestamp

from .client import SalesforceClient
from .errors import SYSTEM

Record = dict[str, Any]
_DECIMAL_TYPES = {"double", "currency", "percent"}
_INTEGER_TYPES = {"int", "long"}
_FINAL_STATES = {"JobComplete", "Failed", "Aborted"}


class CsvTyper:
    """Converts one object's Bulk CSV rows into REST-shaped records, by the fields' describe types."""

    def __init__(self, describe: Mapping[str, Any]) -> None:
        fields = describe.get("fields")
        if not isinstance(fields, list):
            raise MalformedResponse("describe answered without fields", system=SYSTEM)
        self.types = {str(f["name"]).lower(): str(f["type"]) for f in fields if isinstance(f, Mapping)}

    def cell(self, column: str, raw: str) -> Any:
        if raw == "":
            return None
        kind = self.types.get(column.lower(), "string")
        try:
            if kind == "boolean":
                return raw.lower() == "true"
            if kind in _INTEGER_TYPES:
                return int(raw)
            if kind in _DECIMAL_TYPES:
                return Decimal(raw)
        except (ValueError, InvalidOperation):
            raise MalformedResponse(f"Bulk CSV column {column} holds {raw!r}", system=SYSTEM) from None
        if kind == "datetime" and raw.endswith("Z"):
            return raw[:-1] + "+0000"
        return raw

    def record(self, header: list[str], row: list[str]) -> Record:
        out: Record = {}
        for column, raw in zip(header, row, strict=True):
            *parents, name = column.split(".")
            target = out
            for parent in parents:
                target = target.setdefault(parent, {})
            target[name] = self.cell(column, raw) if not parents else (raw or None)
        return out


class BulkQuery:
    """One Bulk API 2.0 `queryAll` job, from creation to sorted pages."""

    def __init__(self, client: SalesforceClient, object_name: str, soql: str) -> None:
        self.client = client
        self.object_name = object_name
        self.soql = soql

    def _run_job(self) -> str:
        # Creating a query job has no side effect on the org's data, so a retried POST is safe.
        job = self.client.rest(
            "POST",
            "jobs/query",
            json={
                "operation": "queryAll",
                "query": self.soql,
                "columnDelimiter": "COMMA",
                "lineEnding": "LF",
            },
        )
        if not isinstance(job, dict) or not isinstance(job.get("id"), str):
            raise MalformedResponse("creating a query job answered without an id", system=SYSTEM)
        job_id: str = job["id"]
        settings = self.client.settings
        deadline = time.monotonic() + settings.bulk_max_wait_seconds
        while True:
            info = self.client.rest("GET", f"jobs/query/{job_id}")
            state = info.get("state") if isinstance(info, dict) else None
            if state == "JobComplete":
                return job_id
            if state in _FINAL_STATES or state is None:
                detail = info.get("errorMessage") if isinstance(info, dict) else None
                raise ConnectorError(f"Bulk query job {job_id} ended {state}: {detail}", system=SYSTEM)
            if time.monotonic() > deadline:
                raise ConnectorError(
                    f"Bulk query job {job_id} still {state} after {settings.bulk_max_wait_seconds:g} s",
                    system=SYSTEM,
                )
            time.sleep(settings.bulk_poll_seconds)

    def _result_pages(self, job_id: str) -> Iterator[tuple[list[str], list[list[str]]]]:
        locator: str | None = None
        while True:
            params: dict[str, Any] = {"maxRecords": self.client.settings.bulk_results_page_size}
            if locator:
                params["locator"] = locator
            text, headers = self.client.text(f"jobs/query/{job_id}/results", params=params, accept="text/csv")
            rows = list(csv.reader(io.StringIO(text)))
            if not rows:
                raise MalformedResponse(f"Bulk results of job {job_id} have no header row", system=SYSTEM)
            yield rows[0], rows[1:]
            locator = headers.get("Sforce-Locator")
            if not locator or locator == "null":
                return

    def pages(self, page_size: int) -> Iterator[list[Record]]:
        """The job's records sorted by (SystemModstamp, Id), `page_size` at a time."""
        typer = CsvTyper(self.client.rest("GET", f"sobjects/{self.object_name}/describe"))
        job_id = self._run_job()
        with (
            tempfile.TemporaryDirectory(prefix="tieout-sf-bulk-") as directory,
            closing(sqlite3.connect(Path(directory) / "spill.db")) as db,
        ):
            db.execute("CREATE TABLE rows (stamp TEXT, id TEXT, cells TEXT)")
            header: list[str] = []
            for header, rows in self._result_pages(job_id):
                db.executemany("INSERT INTO rows VALUES (?, ?, ?)", [_spill(header, row) for row in rows])
            db.commit()
            cursor = db.execute("SELECT cells FROM rows ORDER BY stamp, id")
            while batch := cursor.fetchmany(page_size):
                yield [typer.record(header, json.loads(cells)) for (cells,) in batch]


def _spill(header: list[str], row: list[str]) -> tuple[str, str, str]:
    if len(row) != len(header):
        raise MalformedResponse(f"Bulk CSV row has {len(row)} cells for {len(header)} columns", system=SYSTEM)
    cells = dict(zip(header, row, strict=True))
    try:
        moment = timestamp(cells.get("SystemModstamp"), "SystemModstamp")
    except MappingError as exc:
        raise MalformedResponse(f"Bulk CSV row: {exc}", system=SYSTEM) from None
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return stamp, cells.get("Id", ""), json.dumps(row)

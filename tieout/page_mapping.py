"""One page of pulled records mapped into what the store keeps: pure, so a worker process can do it.

For every record: its payload as canonical JSON text with that text's hash (its raw row), and
either its canonical row (encoded while mapping, so text the store cannot hold fails its own
record) or the reason it could not be mapped, as a finding for the exception queue. Nothing
here reads a clock or the store: the runner adds when the page was pulled, and writes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from tieout import jsonutil
from tieout.connectors.base import Mapper
from tieout.connectors.http import redact
from tieout.errors import MappingError
from tieout.findings import SYNC_MAPPING_FAILED, Finding, Severity
from tieout.mappings.context import MappingContext
from tieout.mappings.storable import check_storable, may_hold_unstorable_text
from tieout.model import CanonicalRecord
from tieout.store.records import canonical_row

PageRecord = tuple[str, bool, Mapping[str, Any], str | None]
"""What mapping needs of a pulled record: its source id, whether it was deleted, its payload, and
the payload's `jsonutil.dumps` text when the caller has made it already (None: it is made here)."""


@dataclass
class MappedPage:
    """A page's records mapped; the lists of raw texts, hashes and errors follow the page's order."""

    payload_texts: list[str] = field(default_factory=list)
    """The payload texts made here (none when every record came with its text)."""
    payload_hashes: list[str] = field(default_factory=list)
    errors: list[str | None] = field(default_factory=list)
    """Why each record could not be mapped; None for those that were."""
    canonical: list[dict[str, object]] = field(default_factory=list)
    """Rows made by `canonical_row`, one for each record that was mapped."""
    findings: list[Finding] = field(default_factory=list)


def mapping_failure_finding(system: str, stream: str, source_id: str, reason: str) -> Finding:
    return Finding(
        rule_code=SYNC_MAPPING_FAILED,
        title=f"{system} {stream} record could not be read",
        explanation=(
            f"tieout pulled {system} {stream} record {source_id} but could not turn it into its "
            f"canonical form: {reason}. The record is kept as it was pulled; once it is corrected in "
            f"{system} (or the field mapping is fixed), the next sync picks it up and this closes itself."
        ),
        severity=Severity.MEDIUM,
        record_ids=(f"{system}:{stream}:{source_id}",),
        details={"system": system, "stream": stream, "source_id": source_id, "reason": reason},
        system=system,
    )


def describe_mapping_error(error: Exception) -> str:
    if isinstance(error, ValidationError):
        parts = []
        for item in error.errors()[:5]:
            location = ".".join(str(part) for part in item["loc"]) or "record"
            parts.append(f"{location}: {item['msg']}")
        return "; ".join(parts)
    return f"{error}" if isinstance(error, MappingError) else f"{type(error).__name__}: {error}"


def storable_row(record: CanonicalRecord, stream: str) -> dict[str, object]:
    """The record's row, or the `MappingError` naming a field whose text the store cannot hold."""
    try:
        row = canonical_row(record, stream=stream)
    except Exception:
        check_storable(record)  # names the field when the encoder refused unstorable text
        raise
    if may_hold_unstorable_text(str(row["payload"])):
        check_storable(record)
    return row


@dataclass(frozen=True)
class PageMapper:
    """Maps the pages of one stream with its mapper and the configured field mappings."""

    system: str
    stream: str
    mapper: Mapper
    context: MappingContext
    max_record_bytes: int
    secrets: tuple[str, ...] = ()

    def map_page(self, records: Sequence[PageRecord]) -> MappedPage:
        out = MappedPage()
        system, stream, limit = self.system, self.stream, self.max_record_bytes
        for source_id, deleted, payload, known_text in records:
            if known_text is None:
                payload_text = jsonutil.dumps_decoded(payload)
                out.payload_texts.append(payload_text)
            else:
                payload_text = known_text
            out.payload_hashes.append(jsonutil.text_hash(payload_text))
            try:
                size = len(payload_text) if payload_text.isascii() else len(payload_text.encode())
                if size > limit:
                    raise MappingError(
                        f"the record is {size:,} bytes as JSON, over the {limit:,} a record may hold "
                        f"(systems.{system}.max_record_bytes); it is kept as pulled and not mapped"
                    )
                canonical = self.mapper(payload, self.context)
                if deleted and not canonical.deleted:
                    canonical = canonical.model_copy(update={"deleted": True})
                out.canonical.append(storable_row(canonical, stream))
            except Exception as exc:  # any failure to map one record is that record's problem, not the run's
                error_text = redact(describe_mapping_error(exc), self.secrets)
                out.errors.append(error_text)
                out.findings.append(mapping_failure_finding(system, stream, source_id, error_text))
                continue
            out.errors.append(None)
        return out

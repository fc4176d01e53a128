"""The connector contract suite: the behaviour every connector, ours or a third party's, must show.

Subclass `ConnectorContract` in a test module, name the stream to exercise, and provide two
fixtures: `connector` (an instance talking to a fake or emulated backend holding at least two
pages of records in that stream) and `backend` (a `ContractBackend` that can make the next
requests fail). The suite then checks: `check()` passes and fails properly, pulls cover every
record across pages exactly once, `since`/`until` bound the pull, cursors only move forward on
ordered streams, every record maps, the error table (401, 404, 409, 429 with Retry-After, 5xx,
timeouts, malformed bodies) is translated into tieout errors, and pushes are idempotent::

    class TestMyConnector(ConnectorContract):
        contract_stream = "invoices"

        @pytest.fixture
        def connector(self, my_backend): ...

        @pytest.fixture
        def backend(self, my_backend): ...
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import timedelta
from typing import Any, ClassVar, Protocol

import pytest

from tieout.connectors.base import Connector, Page, RawRecord
from tieout.errors import (
    AuthenticationError,
    ConflictError,
    ConnectorError,
    MalformedResponse,
    NotFoundError,
    ServerError,
    TransportError,
)
from tieout.mappings.context import MappingContext
from tieout.sandbox.faults import FaultInjector


class ContractBackend(Protocol):
    """Failure controls over the system a connector under test talks to."""

    def fail_next(self, status: int, *, times: int = 1, retry_after: float | None = None) -> None:
        """The next `times` requests answer `status` with the system's own error body."""

    def fail_next_timeout(self, *, times: int = 1) -> None:
        """The next `times` requests take longer than the connector's timeout."""

    def fail_next_malformed(self, *, times: int = 1) -> None:
        """The next `times` requests answer 200 with a body that is not the API's shape."""

    def record_count(self, stream: str) -> int:
        """How many records the stream holds."""

    def request_count(self) -> int:
        """Requests the backend has received so far."""


class InjectorBackend(ABC):
    """A `ContractBackend` over a sandbox emulator's `FaultInjector`; subclasses count the records.

    `timeout_seconds` is how long a hanging request hangs: longer than the connector's timeout.
    """

    def __init__(self, injector: FaultInjector, *, timeout_seconds: float = 1.0) -> None:
        self.injector = injector
        self.timeout_seconds = timeout_seconds

    def fail_next(self, status: int, *, times: int = 1, retry_after: float | None = None) -> None:
        self.injector.fail_next(status, times=times, retry_after=retry_after)

    def fail_next_timeout(self, *, times: int = 1) -> None:
        self.injector.fail_next_timeout(times=times, seconds=self.timeout_seconds)

    def fail_next_malformed(self, *, times: int = 1) -> None:
        self.injector.fail_next_malformed(times=times)

    def request_count(self) -> int:
        return self.injector.requests

    @abstractmethod
    def record_count(self, stream: str) -> int:
        """How many records the stream holds in the emulator."""


def pull_all(connector: Connector, stream: str, **bounds: Any) -> list[Page]:
    return list(connector.pull(stream, **bounds))


def records_of(pages: list[Page]) -> list[RawRecord]:
    return [record for page in pages for record in page.records]


class ConnectorContract:
    contract_stream: ClassVar[str]
    push_stream: ClassVar[str | None] = None
    push_payload: ClassVar[Callable[[int], dict[str, Any]] | None] = None

    def test_check_passes(self, connector: Connector) -> None:
        connector.check()

    def test_check_reports_refused_credentials(self, connector: Connector, backend: ContractBackend) -> None:
        backend.fail_next(401, times=10)
        with pytest.raises(AuthenticationError):
            connector.check()

    def test_streams_are_declared_as_data(self, connector: Connector) -> None:
        names = [spec.name for spec in connector.streams]
        assert names and len(names) == len(set(names))
        for spec in connector.streams:
            assert spec.page_size > 0
            assert callable(spec.mapper)
        with pytest.raises(ConnectorError):
            connector.stream("no-such-stream")

    def test_pull_covers_every_record_once_across_pages(
        self, connector: Connector, backend: ContractBackend
    ) -> None:
        pages = pull_all(connector, self.contract_stream)
        records = records_of(pages)
        assert len(pages) >= 2, "the backend must hold at least two pages for this contract"
        ids = [record.source_id for record in records]
        assert len(ids) == len(set(ids)) == backend.record_count(self.contract_stream)
        assert {record.stream for record in records} == {self.contract_stream}
        assert {record.system for record in records} == {connector.name}

    def test_cursor_only_moves_forward_on_ordered_streams(self, connector: Connector) -> None:
        spec = connector.stream(self.contract_stream)
        records = records_of(pull_all(connector, self.contract_stream))
        stamps = [record.updated_at for record in records if record.updated_at is not None]
        if spec.ordered:
            assert stamps == sorted(stamps)
        assert all(stamp.tzinfo is not None for stamp in stamps)

    def test_since_and_until_bound_the_pull(self, connector: Connector) -> None:
        records = records_of(pull_all(connector, self.contract_stream))
        stamps = sorted({record.updated_at for record in records if record.updated_at is not None})
        assert len(stamps) >= 3, "the backend must hold records updated at three or more moments"
        middle = stamps[len(stamps) // 2]
        newer = records_of(pull_all(connector, self.contract_stream, since=middle))
        older = records_of(pull_all(connector, self.contract_stream, until=middle))
        assert newer and all(
            record.updated_at is not None and record.updated_at >= middle for record in newer
        )
        assert older and all(record.updated_at is not None and record.updated_at < middle for record in older)
        assert len(newer) + len(older) == len(records)
        future = stamps[-1] + timedelta(days=1)
        assert records_of(pull_all(connector, self.contract_stream, since=future)) == []

    def test_every_record_maps(self, connector: Connector) -> None:
        spec = connector.stream(self.contract_stream)
        context = MappingContext(system=connector.name, stream=spec.name)
        for record in records_of(pull_all(connector, self.contract_stream)):
            canonical = spec.mapper(record.payload, context)
            assert canonical.native_id == record.source_id
            assert canonical.kind == spec.kind

    def test_api_calls_are_counted(self, connector: Connector) -> None:
        before = connector.api_calls
        pages = pull_all(connector, self.contract_stream)
        assert connector.api_calls - before >= len(pages)

    @pytest.mark.parametrize("status", [500, 502, 503])
    def test_transient_server_errors_are_retried(
        self, connector: Connector, backend: ContractBackend, status: int
    ) -> None:
        backend.fail_next(status)
        assert len(records_of(pull_all(connector, self.contract_stream))) == backend.record_count(
            self.contract_stream
        )

    def test_rate_limits_are_retried_after_the_servers_delay(
        self, connector: Connector, backend: ContractBackend
    ) -> None:
        backend.fail_next(429, retry_after=0.2)
        started = time.monotonic()
        records = records_of(pull_all(connector, self.contract_stream))
        assert len(records) == backend.record_count(self.contract_stream)
        assert time.monotonic() - started >= 0.2

    def test_persistent_server_errors_surface_as_server_error(
        self, connector: Connector, backend: ContractBackend
    ) -> None:
        backend.fail_next(500, times=50)
        with pytest.raises(ServerError):
            pull_all(connector, self.contract_stream)

    def test_not_found_is_not_found(self, connector: Connector, backend: ContractBackend) -> None:
        backend.fail_next(404, times=10)
        with pytest.raises(NotFoundError):
            pull_all(connector, self.contract_stream)

    def test_refused_credentials_stop_the_pull(self, connector: Connector, backend: ContractBackend) -> None:
        backend.fail_next(401, times=10)
        before = backend.request_count()
        with pytest.raises(AuthenticationError):
            pull_all(connector, self.contract_stream)
        assert backend.request_count() - before == 1, "a refused credential must not be retried"

    def test_timeouts_are_retried_then_reported(self, connector: Connector, backend: ContractBackend) -> None:
        backend.fail_next_timeout()
        assert len(records_of(pull_all(connector, self.contract_stream))) == backend.record_count(
            self.contract_stream
        )
        backend.fail_next_timeout(times=50)
        with pytest.raises(TransportError):
            pull_all(connector, self.contract_stream)

    def test_malformed_bodies_are_malformed_response(
        self, connector: Connector, backend: ContractBackend
    ) -> None:
        backend.fail_next_malformed(times=10)
        with pytest.raises(MalformedResponse):
            pull_all(connector, self.contract_stream)

    def test_push_is_idempotent(self, connector: Connector, backend: ContractBackend) -> None:
        if self.push_stream is None or type(self).push_payload is None:
            pytest.skip("this connector does not push")
        make_payload = type(self).push_payload
        assert make_payload is not None
        before = backend.record_count(self.push_stream)
        first = connector.push(self.push_stream, make_payload(1), idempotency_key="contract-key-1")
        again = connector.push(self.push_stream, make_payload(1), idempotency_key="contract-key-1")
        assert first.target_id == again.target_id
        assert backend.record_count(self.push_stream) == before + 1
        with pytest.raises(ConflictError):
            connector.push(self.push_stream, make_payload(2), idempotency_key="contract-key-1")

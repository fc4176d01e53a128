"""Every error tieout raises on purpose, in one hierarchy.

Callers catch by meaning, never by vendor: connectors translate httpx, requests and SDK errors
into these at their boundary, so nothing above `tieout.connectors` imports a vendor exception.
The split that matters most to a running sync is fatal (stop the run), retriable (back off and
try again) and per-record (file the record in the exception queue and go on)::

    TieoutError
    ├── ConfigError                 bad configuration; carries every problem found (file, line, field)
    ├── StoreError                  the state store failed or is not migrated
    │   └── SchemaOutOfDate         `tieout db upgrade` has not been run
    ├── QueueError                  an exception-queue action that cannot be done
    │   ├── UnknownException        no exception with that id
    │   └── InvalidTransition       e.g. resolving an exception that is already resolved
    ├── AccessError                 the web app refused a login or a user-account change
    │   ├── LoginRefused            wrong username or password, or the user is disabled
    │   └── TooManyLoginAttempts    too many failed logins in the last minute
    ├── RunLockedError              another run of the same job holds the lock
    │   └── JobLocked               a scheduled job's lock (or the leader lease) is held elsewhere
    ├── RunInterrupted              a shutdown was requested; the run stopped at a page boundary
    ├── WebhookRejected             a webhook delivery is forged, stale, oversized or malformed
    ├── RecordError                 one record is bad; the run goes on (per-record)
    │   ├── MappingError            a vendor payload cannot become a canonical record
    │   └── PushRejected            a target refused one record (validation, duplicate, closed period)
    └── ConnectorError              talking to a system failed
        ├── AuthenticationError     401/403 credentials refused (fatal)
        ├── PermissionDenied        authenticated, but not allowed (fatal)
        ├── NotFoundError           404 for a record or endpoint
        ├── ConflictError           409 (idempotency conflict, uniqueness key reused)
        ├── BudgetExhausted         the call budget (ours or the vendor's daily allocation) is spent (fatal for the run, clean stop)
        ├── MalformedResponse       the system answered with something that is not its API's shape
        └── RetriableError          worth retrying with backoff
            ├── RateLimited         429, with the server's Retry-After when it gave one
            ├── ServerError         5xx
            └── TransportError      timeouts, resets, TLS and DNS failures
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


class TieoutError(Exception):
    """Base of every error tieout raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a configuration file, pointing at where it is."""

    file: str
    line: int | None
    field_path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        field = f" {self.field_path}:" if self.field_path else ""
        return f"{where}:{field} {self.message}"


class ConfigError(TieoutError):
    """The configuration is invalid; `problems` lists every one found, not just the first."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = sorted(problems, key=lambda problem: (problem.file, problem.line or 0))
        super().__init__("\n".join(str(problem) for problem in problems))


class StoreError(TieoutError):
    """The state store failed (unreachable, locked, constraint broken)."""


class SchemaOutOfDate(StoreError):
    """The database schema is older than this version of tieout; run `tieout db upgrade`."""


class QueueError(TieoutError):
    """An exception-queue action cannot be done."""


class UnknownException(QueueError):
    """No exception has that id."""


class InvalidTransition(QueueError):
    """The action does not apply to the exception's current status."""


class AccessError(TieoutError):
    """The web app refused a login, or a user account cannot be added or changed as asked."""


class LoginRefused(AccessError):
    """Wrong username or password, or the account is disabled (the message never says which)."""


class TooManyLoginAttempts(AccessError):
    """Too many failed logins for this user or from this client in the last minute."""


class RunLockedError(TieoutError):
    """Another run of the same job holds its lock."""


class JobLocked(RunLockedError):
    """A job's lock is held by another process or host; `holder` says which, when it is known."""

    def __init__(self, name: str, holder: str | None = None) -> None:
        self.name = name
        self.holder = holder
        super().__init__(f"job {name} is already running" + (f" ({holder})" if holder else ""))


class RunInterrupted(TieoutError):
    """A shutdown was requested; the run committed its last page and stopped."""


class MappingWorkerFailed(TieoutError):
    """A worker process mapping a sync's pages died, or could not map a page (not one record)."""


class WebhookRejected(TieoutError):
    """A webhook delivery was refused; `reason` is forged, stale, oversized or malformed."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}")


class RecordError(TieoutError):
    """One record cannot be processed; it is filed in the exception queue and the run goes on."""

    def __init__(self, message: str, *, system: str = "", stream: str = "", record_id: str = "") -> None:
        self.system = system
        self.stream = stream
        self.record_id = record_id
        super().__init__(message)


class MappingError(RecordError):
    """A vendor payload cannot be mapped; names the field path and the offending value."""

    def __init__(
        self,
        message: str,
        *,
        field_path: str = "",
        value: object = None,
        system: str = "",
        stream: str = "",
        record_id: str = "",
    ) -> None:
        self.field_path = field_path
        self.value = value
        detail = message
        if field_path:
            shown = repr(value)
            if len(shown) > 120:
                shown = shown[:117] + "..."
            detail = f"{field_path}: {message} (got {shown})"
        super().__init__(detail, system=system, stream=stream, record_id=record_id)


class PushRejected(RecordError):
    """A target system refused one record it was sent."""


class ConnectorError(TieoutError):
    """Talking to an external system failed."""

    def __init__(self, message: str, *, system: str = "", status_code: int | None = None) -> None:
        self.system = system
        self.status_code = status_code
        prefix = f"{system}: " if system else ""
        super().__init__(f"{prefix}{message}")


class AuthenticationError(ConnectorError):
    """The system refused the credentials."""


class PermissionDenied(ConnectorError):
    """The credentials are valid but lack a permission the call needs."""


class NotFoundError(ConnectorError):
    """The record or endpoint does not exist."""


class ConflictError(ConnectorError):
    """The system reports a conflict: an idempotency key reused with other data, a duplicate key."""


class BudgetExhausted(ConnectorError):
    """No calls left in the budget; the run stops cleanly and resumes when the budget refills."""


class MalformedResponse(ConnectorError):
    """The answer was not in the shape the system's API promises."""


class RetriableError(ConnectorError):
    """A failure worth retrying with backoff."""


class RateLimited(RetriableError):
    """The system asked us to slow down; `rate_limit_listeners` hear of each one as it is made."""

    def __init__(
        self,
        message: str,
        *,
        system: str = "",
        status_code: int | None = 429,
        retry_after_seconds: float | None = None,
    ) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(message, system=system, status_code=status_code)
        for listener in rate_limit_listeners:
            listener(self)


# Every connector turns each rate-limit answer into a RateLimited, retried or not, so the metrics
# count them here rather than with a hook in each connector.
rate_limit_listeners: list[Callable[[RateLimited], None]] = []


class ServerError(RetriableError):
    """The system failed on its side (5xx)."""


class TransportError(RetriableError):
    """The request did not complete: timeout, connection reset, TLS or DNS failure."""

"""Structured logs: one JSON object a line, stamped with the run they belong to, and never a secret.

`configure_logging(config)` installs one handler on the root logger, so tieout's own loggers and
the libraries beneath it (httpx, httpcore, requests/urllib3, the vendor SDKs) all pass through
the same redaction. The redacting filter removes every secret value the configuration knows of
(`config.secret_values`) and anything shaped like a credential (API keys, bearer tokens, passwords
in URLs and query strings), from the message, its arguments, extras and any traceback; records
are also scrubbed as they are created, so no other handler sees a secret either.

Every record carries the run id and job of the run its thread is working for (see
`tieout.observability.runs`), whichever library logged it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

from tieout.config import TieoutConfig
from tieout.config_sections import LogFormat, LoggingConfig
from tieout.connectors.http import REDACTED, redact
from tieout.observability import runs

# Credentials recognisable by their shape, whatever the configuration says: Stripe keys and
# webhook secrets, bearer/basic tokens, passwords in URLs, secret-named fields in query strings,
# forms and JSON, Salesforce session ids (org id + "!" + token).
_CREDENTIAL_FIELDS = "|".join(
    [
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "client_secret",
        "access_token",
        "refresh_token",
        "session_id",
        "sessionid",
    ]
)
SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{8,}"), REDACTED),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=]{8,}"), REDACTED),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {REDACTED}"),
    (re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"), REDACTED),
    (re.compile(rf"(?i)\b((?:{_CREDENTIAL_FIELDS})[\"']?\s*[=:]\s*[\"']?)[^\s\"'&,;}}]+"), rf"\1{REDACTED}"),
    (re.compile(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._]{20,}"), REDACTED),
)

_HANDLER_NAME = "tieout"
# Libraries that log every request (or migration step) at INFO; below DEBUG they only speak up
# for problems.
_CHATTY_LIBRARIES = ("httpx", "httpcore", "urllib3", "stripe", "metronome", "alembic")
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` without the given secret values or anything shaped like a credential."""
    text = redact(text, secrets)
    for pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record so that nothing after it (formatters, handlers) can see a secret."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so a secret containing another is removed whole.
        self.secrets = tuple(sorted({value for value in secrets if value}, key=len, reverse=True))

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit the format: log what there is
            message = f"{record.msg} {record.args!r}"
        record.msg = scrub(message, self.secrets)
        record.args = None
        if record.exc_info:
            record.exc_text = scrub("".join(traceback.format_exception(*record.exc_info)), self.secrets)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = scrub(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info, self.secrets)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD_ATTRIBUTES and isinstance(value, str):
                setattr(record, name, scrub(value, self.secrets))
        return True


class RunContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id, record.job = runs.current()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("run_id", "job"):
            if getattr(record, name, None):
                entry[name] = getattr(record, name)
        for name, value in vars(record).items():
            if name not in _STANDARD_ATTRIBUTES and name not in entry and name not in ("run_id", "job"):
                entry[name] = value
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(run)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        run_id = getattr(record, "run_id", None)
        record.run = f" [{run_id}]" if run_id else ""
        return super().format(record)


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a record arrives (the CLI's test runner swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


_PLAIN_RECORD_FACTORY = logging.getLogRecordFactory()


def _redact_at_creation(redactor: RedactingFilter) -> None:
    """Scrub every record as it is made, so other handlers (a test's capture, a syslog handler
    added later) never hold a secret either; `extra` fields, set after creation, are scrubbed by
    the handler's filter."""

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = _PLAIN_RECORD_FACTORY(*args, **kwargs)
        redactor.filter(record)
        return record

    logging.setLogRecordFactory(make)


def configure_logging(
    config: TieoutConfig | LoggingConfig,
    *,
    secrets: Iterable[str] = (),
    stream: IO[str] | None = None,
    interactive: bool = False,
) -> logging.Handler:
    """Install tieout's handler on the root logger (replacing one installed before) and return it.

    `interactive` is for commands an operator watches (sync, reconcile, status...): they print
    their own tables and progress, so their logs stay at WARNING unless the config sets a level.
    Services (scheduler, workers, web, webhooks) log at the configured level, INFO by default.
    """
    settings = config.logging if isinstance(config, TieoutConfig) else config
    known = (*(config.secret_values if isinstance(config, TieoutConfig) else ()), *secrets)
    handler = logging.StreamHandler(stream) if stream is not None else _CurrentStderr()
    handler.name = _HANDLER_NAME
    handler.addFilter(RunContextFilter())
    redactor = RedactingFilter(known)
    handler.addFilter(redactor)
    _redact_at_creation(redactor)
    handler.setFormatter(JsonFormatter() if settings.format is LogFormat.JSON else TextFormatter())
    root = logging.getLogger()
    for existing in [item for item in root.handlers if item.name == _HANDLER_NAME]:
        root.removeHandler(existing)
        existing.close()
    root.addHandler(handler)
    level = settings.level
    if interactive and "level" not in settings.model_fields_set:
        level = "WARNING"
    root.setLevel(level)
    library_level = logging.DEBUG if settings.level == "DEBUG" else logging.WARNING
    for library in _CHATTY_LIBRARIES:
        logging.getLogger(library).setLevel(library_level)
    return handler

"""The operational sections of the config file: schedule, workers, alerts, logging, metrics, web, webhooks.

Each section is a frozen pydantic model with defaults, so a config file that leaves a section out
gets a working embedded deployment (in-process scheduler, no alerts, JSON logs to stderr). Secret
values (webhook signing secrets, SMTP password, alert webhook URL, a broker URL with a password)
are `SecretStr`; like connector secrets they must come from `${ENV}` or the secrets file.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# What a scheduled job runs: a full sync (pull every enabled system, then the flows in sync
# mode), one system's pull, one flow, a reconcile (of what changed, or of everything), or the
# nightly AR snapshot.
_JOB_TARGET = re.compile(r"^(sync|reconcile|reconcile:full|ar_snapshot|pull:[a-z0-9_]+|flow:[a-z0-9_]+)$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_duration(text: str) -> timedelta:
    """'30s', '5m', '2h', '1d' -> timedelta; raises ValueError naming the expected form."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"expected a duration such as 30s, 5m, 2h or 1d (got {text!r})")
    return timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})


class JobConfig(_Section):
    """One scheduled job: what it runs, and either an interval (`every`) or a cron expression."""

    run: str
    every: str | None = None
    cron: str | None = None
    then: list[str] = Field(default_factory=list)
    enabled: bool = True

    @field_validator("run")
    @classmethod
    def _known_target(cls, value: str) -> str:
        if not _JOB_TARGET.match(value):
            raise ValueError(
                "expected sync, reconcile, reconcile:full, ar_snapshot, pull:<system> or flow:<flow name> "
                f"(got {value!r})"
            )
        return value

    @field_validator("every")
    @classmethod
    def _valid_interval(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value) <= timedelta(0):
            raise ValueError("the interval must be longer than zero")
        return value

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str | None) -> str | None:
        if value is not None and len(value.split()) != 5:
            raise ValueError(f"expected a 5-field cron expression such as '0 2 * * *' (got {value!r})")
        return value

    @model_validator(mode="after")
    def _one_trigger(self) -> JobConfig:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give exactly one of 'every' (e.g. 5m) or 'cron' (e.g. '0 2 * * *')")
        return self

    @property
    def interval(self) -> timedelta | None:
        return parse_duration(self.every) if self.every else None


def _default_jobs() -> dict[str, JobConfig]:
    return {
        "sync": JobConfig(run="sync", every="5m", then=["reconcile"]),
        "reconcile": JobConfig(run="reconcile", every="1h"),
        # Hourly runs look only at what changed; once a night every record is looked at again, which
        # also reopens manually resolved exceptions whose mismatch is still there.
        "reconcile_full": JobConfig(run="reconcile:full", cron="30 1 * * *"),
        "ar_snapshot": JobConfig(run="ar_snapshot", cron="0 2 * * *"),
    }


class ScheduleConfig(_Section):
    """`tieout scheduler run`: the jobs, and how locks and the leader lease behave."""

    timezone: str = "UTC"
    misfire_grace_seconds: int = Field(default=300, ge=1)
    coalesce: bool = True
    # A job lock or the leader lease not renewed for this long belongs to a dead process.
    lock_lease_seconds: int = Field(default=120, ge=5)
    leader_lease_seconds: int = Field(default=30, ge=5)
    jobs: dict[str, JobConfig] = Field(default_factory=_default_jobs)

    @model_validator(mode="after")
    def _known_followers(self) -> ScheduleConfig:
        for name, job in self.jobs.items():
            unknown = [follower for follower in job.then if follower not in self.jobs]
            if unknown:
                raise ValueError(f"job {name!r} runs unknown job(s) after it: {', '.join(unknown)}")
        return self


class Executor(StrEnum):
    INPROCESS = "inprocess"
    CELERY = "celery"


class WorkersConfig(_Section):
    """Where scheduled work runs: in the scheduler's process (default) or on Celery workers."""

    executor: Executor = Executor.INPROCESS
    broker_url: SecretStr | None = None
    # Large pulls are split into windows of this many days so several workers share a backfill.
    partition_days: int = Field(default=30, ge=1)
    task_time_limit_seconds: int = Field(default=3600, ge=10)
    # Worker processes that map a large pull's pages while the runner stores them (0: map in the
    # runner's own process); unset, one per CPU beyond the first, at most four, and none on two CPUs.
    mapping_processes: int | None = Field(default=None, ge=0, le=64)


class SmtpConfig(_Section):
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = True
    from_address: str
    to: list[str] = Field(min_length=1)


class AlertsConfig(_Section):
    """Alerts on failed runs, lagging flows and new high-severity exceptions."""

    webhook_url: SecretStr | None = None
    smtp: SmtpConfig | None = None
    on_failed_runs: bool = True
    lag_threshold_minutes: int = Field(default=60, ge=1)
    min_severity: Literal["low", "medium", "high", "critical"] = "high"


class LogFormat(StrEnum):
    JSON = "json"
    TEXT = "text"


class LoggingConfig(_Section):
    format: LogFormat = LogFormat.JSON
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class ReconcileConfig(_Section):
    """Where the columnar projection reconcile matches on is kept between runs.

    By default it lives beside a SQLite state store, and in memory (rebuilt by every run, so every
    run looks at every record) for PostgreSQL; a `cache_path` (relative to the configuration file)
    keeps it in a file for either, so runs look only at what changed. One file per host."""

    cache_path: str | None = None


class MetricsConfig(_Section):
    """Prometheus metrics: the scheduler serves them on its own port; the web app at /metrics."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=1, le=65535)


class WebConfig(_Section):
    """`tieout web`: where it listens, sessions, and links to each record in its own system."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    # Per system, a URL template with {id} (the record's id in that system) and {stream}, e.g.
    # stripe: "https://dashboard.stripe.com/invoices/{id}".
    record_links: dict[str, str] = Field(default_factory=dict)
    login_attempts_per_minute: int = Field(default=5, ge=1)

    @field_validator("record_links")
    @classmethod
    def _templates_name_the_id(cls, value: dict[str, str]) -> dict[str, str]:
        for system, template in value.items():
            if "{id}" not in template:
                raise ValueError(f"the link template for {system} must contain {{id}}")
        return value


class WebhooksConfig(_Section):
    """Signed event deliveries from Stripe and Metronome that trigger a resync of what they name."""

    stripe_signing_secret: SecretStr | None = None
    metronome_signing_secret: SecretStr | None = None
    # Deliveries signed longer ago than this are refused as stale (replays of old captures).
    tolerance_seconds: int = Field(default=300, ge=1)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)


SECTION_MODELS: dict[str, type[BaseModel]] = {
    "schedule": ScheduleConfig,
    "workers": WorkersConfig,
    "alerts": AlertsConfig,
    "logging": LoggingConfig,
    "metrics": MetricsConfig,
    "web": WebConfig,
    "webhooks": WebhooksConfig,
}

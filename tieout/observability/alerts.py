"""Alerts: failed runs, jobs lagging past the threshold, new exceptions at or above a severity.

`AlertService(config, store).check_and_send()` finds what is worth telling, claims each item in
the alert log (so it is told once, however many processes check), and sends one message per
kind to every configured channel: a Slack-compatible webhook (`text` plus `blocks`) and e-mail
over SMTP. Items whose every channel failed are released, so the next check tries them again.
The scheduler calls it after each job; `tieout alerts check` does the same from cron.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import httpx

from tieout.config import TieoutConfig
from tieout.config_sections import SmtpConfig
from tieout.findings import Severity
from tieout.money import Money
from tieout.observability.logging import scrub
from tieout.store import Store
from tieout.store.alerts import AlertableException, FailedRun, JobActivity

log = logging.getLogger(__name__)

SEVERITY_ORDER = (Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)
# Jobs whose lag means something: scheduled syncs and flows, not one-off resyncs.
_LAG_JOB_PREFIXES = ("sync:", "flow:")
_MAX_LINES = 25
_SLACK_HEADER_LIMIT = 150
_SLACK_SECTION_LIMIT = 3000

Clock = Callable[[], datetime]
SmtpFactory = Callable[[SmtpConfig], smtplib.SMTP]


@dataclass(frozen=True)
class AlertItem:
    """One thing to tell, under the key that makes sure it is told once."""

    key: str
    line: str


@dataclass(frozen=True)
class Alert:
    kind: str
    # "{count}" and "{plural}" are filled in from the items, which the alert log may have thinned.
    title: str
    items: tuple[AlertItem, ...]

    @property
    def subject(self) -> str:
        return self.title.format(count=len(self.items), plural="" if len(self.items) == 1 else "s")

    @property
    def lines(self) -> list[str]:
        shown = [item.line for item in self.items[:_MAX_LINES]]
        if len(self.items) > _MAX_LINES:
            shown.append(f"... and {len(self.items) - _MAX_LINES} more")
        return shown


@dataclass
class AlertReport:
    sent: list[Alert] = field(default_factory=list)
    failed: list[Alert] = field(default_factory=list)
    channel_errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "sent": [
                {"kind": alert.kind, "subject": alert.subject, "lines": alert.lines} for alert in self.sent
            ],
            "failed": [{"kind": alert.kind, "subject": alert.subject} for alert in self.failed],
            "channel_errors": self.channel_errors,
        }


def slack_payload(alert: Alert) -> dict[str, object]:
    """A message Slack's incoming webhooks (and Mattermost, Teams' Slack mode...) accept."""
    body = "\n".join(f"• {line}" for line in alert.lines)
    if len(body) > _SLACK_SECTION_LIMIT:
        body = body[: _SLACK_SECTION_LIMIT - 1] + "…"
    return {
        "text": f"tieout: {alert.subject}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": alert.subject[:_SLACK_HEADER_LIMIT]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": body}},
        ],
    }


def email_message(alert: Alert, smtp: SmtpConfig) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"[tieout] {alert.subject}"
    message["From"] = smtp.from_address
    message["To"] = ", ".join(smtp.to)
    message.set_content("\n".join([alert.subject, "", *(f"- {line}" for line in alert.lines)]) + "\n")
    return message


def _open_smtp(smtp: SmtpConfig) -> smtplib.SMTP:
    return smtplib.SMTP(smtp.host, smtp.port, timeout=30)


def _money(item: AlertableException) -> str:
    if item.currency is None or item.amount_at_risk_minor is None:
        return ""
    return f" ({Money.from_minor(item.amount_at_risk_minor, item.currency)} at risk)"


class AlertService:
    def __init__(
        self,
        config: TieoutConfig,
        store: Store,
        *,
        clock: Clock = lambda: datetime.now(UTC),
        http_client: httpx.Client | None = None,
        open_smtp: SmtpFactory = _open_smtp,
    ) -> None:
        self.config = config
        self.settings = config.alerts
        self.store = store
        self.clock = clock
        self.http_client = http_client
        self.open_smtp = open_smtp

    @property
    def channels(self) -> list[str]:
        return (["webhook"] if self.settings.webhook_url else []) + (["email"] if self.settings.smtp else [])

    def candidates(self) -> list[Alert]:
        """What there is to tell: runs and exceptions not told yet, and every job behind now."""
        with self.store.transaction() as tx:
            failed = tx.untold_failed_runs() if self.settings.on_failed_runs else []
            activity = tx.job_activity()
            threshold = SEVERITY_ORDER.index(Severity(self.settings.min_severity))
            exceptions = tx.untold_exceptions([str(s) for s in SEVERITY_ORDER[threshold:]])
        alerts = [self._failed_runs(failed), self._lagging(activity), self._exceptions(exceptions)]
        return [alert for alert in alerts if alert.items]

    def check_and_send(self) -> AlertReport:
        report = AlertReport()
        if not self.channels:
            return report
        for candidate in self.candidates():
            alert = self._claim(candidate)
            if alert is None:
                continue
            errors = self._send(alert)
            report.channel_errors += errors
            if len(errors) == len(self.channels):
                with self.store.transaction() as tx:
                    tx.release_alerts([item.key for item in alert.items])
                report.failed.append(alert)
            else:
                report.sent.append(alert)
        return report

    def _failed_runs(self, runs: Sequence[FailedRun]) -> Alert:
        items = tuple(
            AlertItem(f"run:{run.run_id}", f"{run.job} failed: {run.error or 'no error recorded'}")
            for run in runs
        )
        return Alert("failed_run", "{count} run{plural} failed", items)

    def _lagging(self, activity: Sequence[JobActivity]) -> Alert:
        now = self.clock()
        threshold = timedelta(minutes=self.settings.lag_threshold_minutes)
        items = []
        for job in activity:
            if not job.job.startswith(_LAG_JOB_PREFIXES):
                continue
            since = job.last_success_at or job.first_started_at
            if now - since > threshold:
                minutes = int((now - since).total_seconds() // 60)
                last = (
                    f"last success {job.last_success_at:%Y-%m-%d %H:%M} UTC"
                    if job.last_success_at
                    else "never succeeded"
                )
                items.append(
                    AlertItem(
                        f"lag:{job.job}:{job.last_success_run_id or 'never'}",
                        f"{job.job} is {minutes} minutes behind ({last})",
                    )
                )
        return Alert(
            "lagging",
            f"{{count}} job{{plural}} behind by more than {self.settings.lag_threshold_minutes} minutes",
            tuple(items),
        )

    def _exceptions(self, exceptions: Sequence[AlertableException]) -> Alert:
        items = tuple(
            AlertItem(
                item.alert_key,
                f"#{item.exception_id} [{item.severity}] {item.rule_code}: {item.title}{_money(item)}",
            )
            for item in exceptions
        )
        return Alert(
            "exceptions",
            f"{{count}} new exception{{plural}} at {self.settings.min_severity} severity or above",
            items,
        )

    def _claim(self, candidate: Alert) -> Alert | None:
        """The alert reduced to the items no process has told yet (None when nothing is left)."""
        channels = ",".join(self.channels)
        with self.store.transaction() as tx:
            claimed = tuple(
                item
                for item in candidate.items
                if tx.claim_alert(
                    item.key, kind=candidate.kind, subject=item.line[:500], channels=channels, at=self.clock()
                )
            )
        return Alert(candidate.kind, candidate.title, claimed) if claimed else None

    def _send(self, alert: Alert) -> list[str]:
        errors = []
        if self.settings.webhook_url:
            try:
                self._post_webhook(alert, self.settings.webhook_url.get_secret_value())
            except (httpx.HTTPError, OSError) as exc:
                errors.append(self._failure("webhook", exc))
        if self.settings.smtp:
            try:
                self._send_email(alert, self.settings.smtp)
            except (smtplib.SMTPException, OSError) as exc:
                errors.append(self._failure("email", exc))
        return errors

    def _failure(self, channel: str, exc: BaseException) -> str:
        message = scrub(f"alert {channel} failed: {type(exc).__name__}: {exc}", self.config.secret_values)
        log.warning(message)
        return message

    def _post_webhook(self, alert: Alert, url: str) -> None:
        client = self.http_client or httpx.Client(timeout=30)
        try:
            client.post(url, json=slack_payload(alert)).raise_for_status()
        finally:
            if client is not self.http_client:
                client.close()

    def _send_email(self, alert: Alert, smtp: SmtpConfig) -> None:
        with self.open_smtp(smtp) as connection:
            if smtp.starttls:
                connection.starttls()
            if smtp.username:
                password = smtp.password.get_secret_value() if smtp.password else ""
                connection.login(smtp.username, password)
            connection.send_message(email_message(alert, smtp))

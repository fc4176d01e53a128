"""`tieout alerts check`: send what is worth telling (failed runs, lagging jobs, new exceptions) now.

The scheduler does this after every job; the command is for deployments that run syncs from
cron, and for trying the channels out.
"""

from __future__ import annotations

import typer

from tieout.cli_common import EXIT_RUN_FAILED, JsonOption, errors_to_exit_codes, out, print_json, state
from tieout.config import load_config
from tieout.observability.alerts import AlertService
from tieout.observability.logging import configure_logging
from tieout.store import Store

alerts_app = typer.Typer(help="Alerts on failed runs, lagging jobs and new exceptions.", no_args_is_help=True)


@alerts_app.command("check")
def check(as_json: JsonOption = False) -> None:
    """Send alerts for what has not been told yet; exits 1 when an alert reached no channel."""
    with errors_to_exit_codes():
        config = load_config(state.config_path)
        configure_logging(config)
        store = Store.open(config.store_url)
        try:
            service = AlertService(config, store)
            report = service.check_and_send()
        finally:
            store.close()
    if as_json:
        print_json({"channels": service.channels, **report.as_dict()})
    elif not service.channels:
        out.print("no alert channel is configured (alerts.webhook_url or alerts.smtp)")
    else:
        for alert in report.sent:
            out.print(f"sent: {alert.subject}", highlight=False)
        for alert in report.failed:
            out.print(f"[red]not sent:[/] {alert.subject}", highlight=False)
        for error in report.channel_errors:
            out.print(f"  [red]{error}[/]", highlight=False, soft_wrap=True)
        if not report.sent and not report.failed:
            out.print("nothing new to tell")
    if report.failed:
        raise typer.Exit(EXIT_RUN_FAILED)

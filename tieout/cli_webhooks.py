"""`tieout webhooks list`: the webhook deliveries received, newest first, with what became of each."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tieout.cli_common import JsonOption, errors_to_exit_codes, out, print_json, state
from tieout.config import load_config
from tieout.store import Store

webhooks_app = typer.Typer(help="Webhook events received from Stripe and Metronome.", no_args_is_help=True)


@webhooks_app.command("list")
def list_events(
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Events received (refused deliveries are in the logs, not here): source, id, type, status, error."""
    with errors_to_exit_codes():
        config = load_config(state.config_path)
        store = Store.open(config.store_url)
        try:
            with store.transaction() as tx:
                events = tx.list_webhook_events(limit=limit)
        finally:
            store.close()
    if as_json:
        print_json([event.__dict__ for event in events])
        return
    if not events:
        out.print("no webhook events received yet")
        return
    table = Table("received", "source", "event", "type", "status", "error")
    for event in events:
        table.add_row(
            f"{event.received_at:%Y-%m-%d %H:%M:%S}",
            event.source,
            event.event_id,
            event.event_type,
            event.status,
            event.error or "",
        )
    out.print(table)

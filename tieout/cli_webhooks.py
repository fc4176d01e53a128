"""`tieout webhooks list|serve`: the webhook events received, and the webhook endpoints on their own.

`tieout web` serves the endpoints along with the web app; `serve` is for a deployment that puts
only the webhook endpoints where Stripe and Metronome can reach them.
"""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn
from rich.table import Table

from tieout.cli_common import JsonOption, errors_to_exit_codes, out, print_json, state
from tieout.config import load_config
from tieout.observability.logging import configure_logging
from tieout.store import Store
from tieout.webhooks.app import create_webhook_app

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

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


@webhooks_app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8081,
    metrics: Annotated[
        bool | None,
        typer.Option("--metrics/--no-metrics", help="Serve /metrics (default: only on a loopback address)."),
    ] = None,
) -> None:
    """Serve POST /webhooks/stripe and /webhooks/metronome, with /healthz (and /metrics), until stopped."""
    with errors_to_exit_codes():
        config = load_config(state.config_path)
        configure_logging(config)
        store = Store.open(config.store_url)
    app = create_webhook_app(
        config, store, serve_metrics=host in LOOPBACK_HOSTS if metrics is None else metrics
    )
    out.print(f"tieout webhooks on http://{host}:{port}/webhooks/ (Ctrl-C stops it)", highlight=False)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", log_config=None)
    finally:
        store.close()

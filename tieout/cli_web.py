"""`tieout web` serves the AR team's web app; `tieout users add|list|disable` manages its users.

The web app's /metrics is open only while it listens on loopback (and no TLS proxy is declared in
front); bound to any other address, /metrics needs an admin's session, and a Prometheus scraper
should use the scheduler's own metrics port instead.

Passwords are read from a hidden prompt (asked twice) or, for scripts, from standard input with
`--password-stdin`; they never appear on the command line, where `ps` would show them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tieout.cli_common import EXIT_CONFIG, JsonOption, err, errors_to_exit_codes, out, print_json, state
from tieout.config import load_config
from tieout.errors import AccessError
from tieout.observability.logging import configure_logging
from tieout.store import Store
from tieout.web.accounts import ROLES, Accounts

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
users_app = typer.Typer(help="Who may log in to the web app: add, list, disable.", no_args_is_help=True)


def _accounts() -> Accounts:
    config = load_config(state.config_path)
    configure_logging(config)
    return Accounts(Store.open(config.store_url))


def _access(action: str) -> typer.Exit:
    err.print(f"[bold red]{action}[/]", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_CONFIG)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@users_app.command("add")
def add(
    username: str,
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(ROLES)}.")] = "viewer",
    name: Annotated[str | None, typer.Option("--name", help="Name shown in the app.")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add a user who can log in to the web app."""
    with errors_to_exit_codes():
        accounts = _accounts()
        try:
            accounts.add_user(username, _read_password(password_stdin), role, display_name=name)
        except AccessError as exc:
            raise _access(str(exc)) from None
    out.print(f"added {username.strip().lower()} ({role})")


@users_app.command("list")
def list_users(as_json: JsonOption = False) -> None:
    """List the web app's users."""
    with errors_to_exit_codes():
        users = _accounts().list_users()
    rows = [
        {
            "username": user.username,
            "name": user.display_name,
            "role": user.role,
            "disabled": user.disabled,
            "created_at": user.created_at,
            "last_login_at": user.last_login_at,
        }
        for user in users
    ]
    if as_json:
        print_json({"users": rows})
        return
    table = Table("username", "name", "role", "state", "last login")
    for user in users:
        table.add_row(
            user.username,
            user.display_name or "",
            user.role,
            "disabled" if user.disabled else "active",
            f"{user.last_login_at:%Y-%m-%d %H:%M}" if user.last_login_at else "never",
        )
    out.print(table if users else "no users yet: add one with `tieout users add NAME --role resolver`")


@users_app.command("disable")
def disable(username: str) -> None:
    """Disable a user: they cannot log in, and their open sessions end now."""
    with errors_to_exit_codes():
        try:
            _accounts().set_disabled(username)
        except AccessError as exc:
            raise _access(str(exc)) from None
    out.print(f"disabled {username}")


@users_app.command("enable")
def enable(username: str) -> None:
    """Let a disabled user log in again."""
    with errors_to_exit_codes():
        try:
            _accounts().set_disabled(username, disabled=False)
        except AccessError as exc:
            raise _access(str(exc)) from None
    out.print(f"enabled {username}")


def web(
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on (default: web.host).")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default: web.port).")] = None,
    certfile: Annotated[Path | None, typer.Option("--certfile", help="TLS certificate (PEM).")] = None,
    keyfile: Annotated[Path | None, typer.Option("--keyfile", help="TLS private key (PEM).")] = None,
    behind_tls_proxy: Annotated[
        bool, typer.Option("--behind-tls-proxy", help="A TLS proxy in front: mark cookies Secure.")
    ] = False,
) -> None:
    """Serve the web app: the exception queue, exception details and the AR dashboard."""
    import uvicorn

    from tieout.web.app import create_app

    with errors_to_exit_codes():
        config = load_config(state.config_path)
        configure_logging(config)
        store = Store.open(config.store_url)
    if (certfile is None) != (keyfile is None):
        raise typer.BadParameter("give both --certfile and --keyfile, or neither")
    bind_host = host or config.web.host
    # /metrics is open to a scraper only when nothing but this host can reach the app.
    loopback_only = bind_host in LOOPBACK_HOSTS and not behind_tls_proxy
    app = create_app(
        config, store, secure_cookies=behind_tls_proxy or certfile is not None, open_metrics=loopback_only
    )
    bind_port = port or config.web.port
    scheme = "https" if certfile else "http"
    out.print(f"tieout web on {scheme}://{bind_host}:{bind_port}/ (Ctrl-C stops it)", highlight=False)
    uvicorn.run(
        app,
        host=bind_host,
        port=bind_port,
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
        proxy_headers=behind_tls_proxy,
        log_level="warning",
    )
    store.close()

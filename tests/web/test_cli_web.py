"""`tieout users add|list|disable|enable` against a real store, and `tieout web` serving the app."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from tieout.cli import app
from tieout.store import Store


def run(config: Path, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--config", str(config), *args], input=stdin)
    return result.exit_code, result.output


def test_users_add_list_disable_enable(tmp_path: Path, store_url: str) -> None:
    config = tmp_path / "tieout.yaml"
    config.write_text(f'version: 1\nstore: {{url: "{store_url}"}}\nsystems: {{}}\n')
    code, output = run(
        config,
        "users",
        "add",
        "Ana",
        "--role",
        "resolver",
        "--name",
        "Ana Lopez",
        "--password-stdin",
        stdin="correct horse battery\n",
    )
    assert code == 0, output
    assert run(config, "users", "add", "ana", "--password-stdin", stdin="correct horse battery\n") == (
        2,
        "user 'ana' already exists\n",
    )
    code, output = run(
        config, "users", "add", "bob", "--role", "owner", "--password-stdin", stdin="long enough pw\n"
    )
    assert code == 2 and "choose one of viewer, resolver, admin" in output
    code, output = run(config, "users", "add", "bob", "--password-stdin", stdin="short\n")
    assert code == 2 and "at least 10 characters" in output
    code, output = run(config, "users", "list", "--json")
    [user] = json.loads(output)["users"]
    assert (user["username"], user["name"], user["role"], user["disabled"]) == (
        "ana",
        "Ana Lopez",
        "resolver",
        False,
    )
    assert run(config, "users", "disable", "ana")[0] == 0
    assert json.loads(run(config, "users", "list", "--json")[1])["users"][0]["disabled"] is True
    assert run(config, "users", "enable", "ana")[0] == 0
    assert run(config, "users", "disable", "nobody") == (2, "no user 'nobody'\n")
    store = Store.open(store_url)
    with store.transaction() as tx:
        stored = tx.get_user("ana")
    store.close()
    assert stored is not None and stored.password_hash.startswith("$argon2id$")
    assert "correct horse battery" not in stored.password_hash


def test_tieout_web_serves_the_app_and_opens_metrics_on_loopback_only(tmp_path: Path) -> None:
    config = tmp_path / "tieout.yaml"
    config.write_text(f'version: 1\nstore: {{url: "sqlite:///{tmp_path}/tieout.db"}}\nsystems: {{}}\n')
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "tieout", "--config", str(config), "web", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                health = httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("tieout web did not start")
        assert health.json() == {"status": "ok"}
        assert httpx.get(f"{base}/metrics").status_code == 200
        queue = httpx.get(f"{base}/queue")
        assert queue.status_code == 303 and queue.headers["location"] == "/login?next=%2Fqueue"
    finally:
        server.terminate()
        server.wait(timeout=30)

"""Shared fixtures: a throwaway real PostgreSQL server, and stores on both backends.

Every store test runs twice, on SQLite and on PostgreSQL. The PostgreSQL server is started
once per test session from Debian's binaries (initdb + pg_ctl, as the unprivileged `postgres`
user when the tests run as root, since PostgreSQL refuses to run as root), on a private socket
directory and a free loopback port, and removed afterwards; each test gets its own database.
Set TIEOUT_TEST_POSTGRES_URL to use an existing server instead. `make test` sets
TIEOUT_REQUIRE_POSTGRES=1 so a missing server fails the run instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tieout.store import Store
from tieout.testing.postgres_server import PostgresServer, postgres_bindir


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    external = os.environ.get("TIEOUT_TEST_POSTGRES_URL")
    if external:
        yield external
        return
    server = postgres_server_or_skip().start()
    try:
        yield server.admin_url
    finally:
        server.remove()


def postgres_server_or_skip(*, durable: bool = False) -> PostgresServer:
    """A new throwaway server (not started); skips (fails under make test) without the binaries."""
    bindir = postgres_bindir()
    if bindir is None:
        message = "PostgreSQL server binaries not found (make test installs Debian's postgresql)"
        if os.environ.get("TIEOUT_REQUIRE_POSTGRES"):
            pytest.fail(message)
        pytest.skip(message)
    return PostgresServer(bindir, durable=durable)


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A started, durable PostgreSQL server of the test's own, which it may stop and restart."""
    server = postgres_server_or_skip(durable=True).start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty database on the test server, dropped after the test."""
    name = f"tieout_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base = postgres_admin_url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/tieout.db"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    yield opened
    opened.close()

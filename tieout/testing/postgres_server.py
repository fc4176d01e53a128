"""A throwaway PostgreSQL server from Debian's binaries, for tests: start, stop, restart, remove.

`initdb` and `pg_ctl` run as the unprivileged `postgres` user when the tests run as root (the
server refuses to run as root), on a private socket directory and a free loopback port. The
test session's shared server runs with durability off (fsync, synchronous commit, full-page
writes) since its data is thrown away; a test that stops the database mid-run starts a durable
one of its own, since an immediate stop of a server without synchronous commit loses the last
transactions it acknowledged, and stopping it hurts no other test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def postgres_bindir() -> Path | None:
    """The newest installed server's bin directory, if Debian's postgresql is installed."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    return candidates[-1].parent if candidates else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One server in its own temporary directory; `start()` initialises it the first time."""

    def __init__(self, bindir: Path, *, durable: bool = False) -> None:
        self.bindir = bindir
        self.durable = durable
        self.root = Path(tempfile.mkdtemp(prefix="tieout-pg-"))
        self.run_as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, user="postgres", group="postgres")
            self.run_as = ["runuser", "-u", "postgres", "--"]
        self.root.chmod(0o700)
        self.data, self.sockets, self.log = (
            self.root / "data",
            self.root / "sockets",
            self.root / "server.log",
        )
        self.port = free_port()
        self.initialised = False

    @property
    def admin_url(self) -> str:
        return f"postgresql://tieout@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run([*self.run_as, *args], check=True, capture_output=True, cwd=self.root)  # noqa: S603

    def start(self) -> PostgresServer:
        if not self.initialised:
            self._run(
                str(self.bindir / "initdb"), "-D", str(self.data), "-U", "tieout", "--auth=trust", "-E", "UTF8",
                "--no-sync",
            )  # fmt: skip
            self._run("mkdir", "-p", str(self.sockets))
            self.initialised = True
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sockets} -c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.log),
            "-w",
            "start",
        )
        return self

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server (`immediate`: like a crash, every connection cut at once)."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        subprocess.run(  # noqa: S603
            [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.root, ignore_errors=True)

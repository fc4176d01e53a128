"""Run an emulator's ASGI app on loopback, in a background thread, optionally over TLS.

`SandboxCA` makes a throwaway certificate authority (trustme) and a certificate for 127.0.0.1
and localhost, written to a directory so clients in other processes can trust it through a CA
bundle path. `EmulatorServer` binds its own socket first, so port 0 gives a free port with no
race, then runs uvicorn on it until `stop()`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

import trustme
import uvicorn


class _HideInjectedDrops(logging.Filter):
    """Keep uvicorn from logging a traceback for each connection the fault injector drops on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return type(exc).__name__ != "DroppedConnection"


logging.getLogger("uvicorn.error").addFilter(_HideInjectedDrops())


class SandboxCA:
    """A throwaway CA and one server certificate for loopback, as PEM files in `directory`."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        authority = trustme.CA(organization_name="tieout sandbox")
        server_cert = authority.issue_cert("127.0.0.1", "localhost", "::1")
        self.ca_bundle_path = directory / "sandbox-ca.pem"
        self.cert_path = directory / "sandbox-server.pem"
        self.key_path = directory / "sandbox-server.key"
        authority.cert_pem.write_to_path(str(self.ca_bundle_path))
        server_cert.cert_chain_pems[0].write_to_path(str(self.cert_path))
        for extra in server_cert.cert_chain_pems[1:]:
            extra.write_to_path(str(self.cert_path), append=True)
        server_cert.private_key_pem.write_to_path(str(self.key_path))
        self.key_path.chmod(0o600)


class EmulatorServer:
    """One ASGI app served by uvicorn on 127.0.0.1 in a daemon thread."""

    def __init__(
        self,
        app: Any,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        tls: SandboxCA | None = None,
        name: str = "emulator",
    ) -> None:
        self.name = name
        self.host = host
        self.tls = tls
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit this; without it every response written in two parts
        # (headers, then body) waits out the client's delayed ACK: ~40 ms a request.
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.bind((host, port))
        self.port: int = self._socket.getsockname()[1]
        config_kwargs: dict[str, Any] = {
            "log_level": "warning",
            "access_log": False,
            "lifespan": "off",
            "timeout_keep_alive": 30,
            # A client that keeps a connection open (a requests session held by a caught
            # exception) must not hold the emulator's shutdown for long.
            "timeout_graceful_shutdown": 1,
        }
        if tls is not None:
            config_kwargs["ssl_certfile"] = str(tls.cert_path)
            config_kwargs["ssl_keyfile"] = str(tls.key_path)
        self._server = uvicorn.Server(uvicorn.Config(app, **config_kwargs))
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def start(self, timeout_seconds: float = 10.0) -> EmulatorServer:
        self._thread = threading.Thread(target=self._run, name=f"sandbox-{self.name}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_seconds
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox {self.name} emulator did not start on port {self.port}")
            time.sleep(0.01)
        return self

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._socket]))

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

"""A running sandbox: the four emulators on loopback, their credentials, and a config wired to them.

`Sandbox` builds the four emulator states on one shared clock, serves each on its own port
(Salesforce over TLS from a throwaway CA, since simple-salesforce only speaks https; the others
over plain HTTP on loopback), and describes what a client needs to reach each one. It writes a
tieout configuration that points at them, with the credentials in a secrets file beside it so
the configuration itself holds none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tieout.sandbox import metronome, netsuite, salesforce, stripe
from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.faults import FaultInjector, FaultProfile
from tieout.sandbox.server import EmulatorServer, SandboxCA

SYSTEMS = ("salesforce", "metronome", "stripe", "netsuite")


@dataclass(frozen=True)
class SandboxOptions:
    workdir: Path
    seed: int = 42
    faults: FaultProfile = field(default_factory=FaultProfile)
    port_base: int | None = None


class Sandbox:
    def __init__(self, options: SandboxOptions, *, clock: SandboxClock | None = None) -> None:
        self.options = options
        self.clock = clock or SandboxClock()
        seed = options.seed
        self.salesforce = salesforce.SalesforceState(self.clock)
        self.metronome = metronome.MetronomeState(self.clock, seed=seed)
        self.stripe = stripe.StripeState(self.clock, seed=seed)
        self.netsuite = netsuite.NetSuiteState(self.clock)
        self.injectors = {
            name: FaultInjector(options.faults, seed=seed * 10 + index) for index, name in enumerate(SYSTEMS)
        }
        self.ca: SandboxCA | None = None
        self.servers: dict[str, EmulatorServer] = {}

    def start(self) -> Sandbox:
        workdir = self.options.workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.ca = SandboxCA(workdir / "tls")
        apps = {
            "salesforce": salesforce.build_app(self.salesforce, self.injectors["salesforce"]),
            "metronome": metronome.build_app(self.metronome, self.injectors["metronome"]),
            "stripe": stripe.build_app(self.stripe, self.injectors["stripe"]),
            "netsuite": netsuite.build_app(self.netsuite, self.injectors["netsuite"]),
        }
        try:
            for index, name in enumerate(SYSTEMS):
                port = self.options.port_base + index if self.options.port_base else 0
                tls = self.ca if name == "salesforce" else None
                self.servers[name] = EmulatorServer(apps[name], port=port, tls=tls, name=name).start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers.clear()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def base_url(self, system: str) -> str:
        return self.servers[system].base_url

    def describe(self) -> dict[str, Any]:
        """What a client needs for each system, as `tieout sandbox up --json` prints it."""
        assert self.ca is not None, "start the sandbox first"
        ca_bundle = str(self.ca.ca_bundle_path)
        sf = salesforce.client_settings(self.base_url("salesforce"), self.salesforce)
        mt = metronome.client_settings(self.base_url("metronome"), self.metronome)
        st = stripe.client_settings(self.base_url("stripe"), self.stripe)
        ns = netsuite.client_settings(self.base_url("netsuite"), self.netsuite)
        return {
            "salesforce": {
                "instance_url": sf["instance_url"],
                "session_id": sf["session_id"],
                "version": sf["version"],
                "ca_bundle": ca_bundle,
            },
            "metronome": {"base_url": mt["base_url"], "bearer_token": mt["bearer_token"]},
            "stripe": {
                "base_url": st["api_base"],
                "api_key": st["api_key"],
                "api_version": st["api_version"],
            },
            "netsuite": {
                "base_url": ns["base_url"],
                "account_id": ns["account_id"],
                "token_url": ns["token_url"],
                "client_id": ns["client_id"],
                "client_secret": ns["client_secret"],
                "certificate_id": ns["certificate_id"],
                "concurrency_limit": ns["concurrency_limit"],
            },
            "ca_bundle": ca_bundle,
            "fault_admin": {
                name: f"{server.base_url}/__sandbox/faults" for name, server in self.servers.items()
            },
            "seed": self.options.seed,
        }

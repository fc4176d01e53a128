"""Write a tieout configuration wired to a running sandbox, with its credentials in a secrets file.

Each system's connector settings are built from the sandbox description; the credentials go into
`sandbox-secrets.env` beside the config and are referenced as ${NAME}, so the config itself holds
no secret. A system whose connector is not installed is written disabled.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tieout.connectors.registry import installed_connectors

SettingsBuilder = Callable[[dict[str, Any], dict[str, Any]], tuple[dict[str, Any], dict[str, str]]]


def _salesforce(system: dict[str, Any], _: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    settings = {
        "instance_url": system["instance_url"],
        "session_id": "${SANDBOX_SALESFORCE_SESSION_ID}",
        "ca_bundle": system["ca_bundle"],
    }
    return settings, {"SANDBOX_SALESFORCE_SESSION_ID": system["session_id"]}


def _metronome(system: dict[str, Any], _: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    settings = {"base_url": system["base_url"], "bearer_token": "${SANDBOX_METRONOME_TOKEN}"}
    return settings, {"SANDBOX_METRONOME_TOKEN": system["bearer_token"]}


def _stripe(system: dict[str, Any], _: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    settings = {"base_url": system["base_url"], "api_key": "${SANDBOX_STRIPE_API_KEY}"}
    return settings, {"SANDBOX_STRIPE_API_KEY": system["api_key"]}


def _netsuite(system: dict[str, Any], _: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    settings = {
        "base_url": system["base_url"],
        "account_id": system["account_id"],
        "client_id": system["client_id"],
        "client_secret": "${SANDBOX_NETSUITE_CLIENT_SECRET}",
        "concurrency_limit": system["concurrency_limit"],
    }
    return settings, {"SANDBOX_NETSUITE_CLIENT_SECRET": system["client_secret"]}


BUILDERS: dict[str, SettingsBuilder] = {
    "salesforce": _salesforce,
    "metronome": _metronome,
    "stripe": _stripe,
    "netsuite": _netsuite,
}


def write_sandbox_config(
    description: dict[str, Any],
    workdir: Path,
    *,
    value_maps: dict[str, dict[str, str]] | None = None,
    mode: str = "observe",
) -> Path:
    installed = {item.name for item in installed_connectors() if item.connector is not None}
    secrets: dict[str, str] = {}
    systems: dict[str, Any] = {}
    for name, build in BUILDERS.items():
        settings, system_secrets = build(description[name], description)
        enabled = name in installed
        systems[name] = {"enabled": enabled, "settings": settings if enabled else {}}
        if enabled:
            secrets.update(system_secrets)
    secrets_path = workdir / "sandbox-secrets.env"
    secrets_path.write_text("".join(f"{key}={value}\n" for key, value in sorted(secrets.items())))
    secrets_path.chmod(0o600)
    config: dict[str, Any] = {
        "version": 1,
        "mode": mode,
        "store": {"url": "sqlite:///tieout.db"},
        "secrets_file": secrets_path.name,
    }
    if value_maps:
        mappings_path = workdir / "sandbox-mappings.yaml"
        mappings_path.write_text(
            "# The sandbox company's codes in NetSuite and Metronome, for the flows and checks.\n"
            + yaml.safe_dump({"value_maps": value_maps}, sort_keys=True)
        )
        config["mappings"] = [mappings_path.name]
    config["systems"] = systems
    path = workdir / "tieout.yaml"
    header = "# Written by `tieout sandbox up`: a configuration wired to the running sandbox.\n"
    path.write_text(header + yaml.safe_dump(config, sort_keys=False))
    return path

"""Configuration: one YAML file, validated by pydantic, with every problem pointed at its line.

Secrets never sit in the file. A value such as `${STRIPE_API_KEY}` is taken from the
environment, or from the `secrets_file` the config names (KEY=VALUE lines or a YAML mapping);
a connector setting declared secret that is written inline is refused unless the config says
`allow_inline_secrets: true`. Secret settings are pydantic `SecretStr`, so they print as stars.

`load_config()` collects every problem (YAML syntax, unknown keys, wrong types, missing
environment variables, unknown connectors, bad connector settings, broken mapping files) and
raises one `ConfigError` listing them all with file, line and field path.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from tieout.config_sections import (
    AlertsConfig,
    LoggingConfig,
    MetricsConfig,
    ReconcileConfig,
    ScheduleConfig,
    WebConfig,
    WebhooksConfig,
    WorkersConfig,
)
from tieout.connectors.base import ConnectorSettings
from tieout.connectors.registry import connector_class
from tieout.errors import ConfigError, ConfigProblem, ConnectorError
from tieout.mappings.context import FieldMappings

DEFAULT_CONFIG_PATH = "tieout.yaml"
CONFIG_ENV_VAR = "TIEOUT_CONFIG"
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

FieldPath = tuple[str | int, ...]


class Mode(StrEnum):
    OBSERVE = "observe"
    SYNC = "sync"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreConfig(_Strict):
    url: str = "sqlite:///tieout.db"


class SystemConfig(_Strict):
    connector: str | None = None
    enabled: bool = True
    mode: Mode | None = None
    streams: list[str] | None = None
    lookback_seconds: int = Field(default=300, ge=0)
    max_calls_per_run: int | None = Field(default=None, ge=1)
    # A record larger than this (as JSON) is filed as a mapping failure instead of mapped: no
    # order-to-cash record is megabytes long, and pushing one on would spread the damage.
    max_record_bytes: int = Field(default=1_048_576, ge=1024)
    settings: dict[str, Any] = Field(default_factory=dict)


class FileConfig(_Strict):
    """The file's shape; connector settings are checked separately against each connector."""

    version: Literal[1] = 1
    mode: Mode = Mode.OBSERVE
    store: StoreConfig = Field(default_factory=StoreConfig)
    secrets_file: str | None = None
    allow_inline_secrets: bool = False
    mappings: list[str] = Field(default_factory=list)
    systems: dict[str, SystemConfig] = Field(default_factory=dict)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    workers: WorkersConfig = Field(default_factory=WorkersConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    webhooks: WebhooksConfig = Field(default_factory=WebhooksConfig)
    reconcile: ReconcileConfig = Field(default_factory=ReconcileConfig)


@dataclass(frozen=True)
class SystemSettings:
    name: str
    connector: str
    enabled: bool
    mode: Mode
    streams: list[str] | None
    lookback_seconds: int
    max_calls_per_run: int | None
    settings: ConnectorSettings | None
    max_record_bytes: int = 1_048_576


@dataclass(frozen=True)
class TieoutConfig:
    path: Path
    mode: Mode
    store_url: str
    systems: dict[str, SystemSettings]
    field_mappings: FieldMappings
    secret_values: tuple[str, ...] = field(default=(), repr=False)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    workers: WorkersConfig = field(default_factory=WorkersConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    web: WebConfig = field(default_factory=WebConfig)
    webhooks: WebhooksConfig = field(default_factory=WebhooksConfig)
    reconcile_cache: Path | None = None
    """Where the reconcile projection is kept (`reconcile.cache_path`, resolved); None: the default."""

    def system(self, name: str) -> SystemSettings:
        try:
            return self.systems[name]
        except KeyError:
            known = ", ".join(self.systems) or "none"
            raise ConfigError(
                [
                    ConfigProblem(
                        str(self.path), None, f"systems.{name}", f"no such system (configured: {known})"
                    )
                ]
            ) from None


def resolve_config_path(explicit: str | os.PathLike[str] | None) -> Path:
    return Path(explicit or os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_PATH)


def _format_path(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _line_index(text: str) -> dict[FieldPath, int]:
    """1-based line of every key and list item in a YAML document, by field path."""
    index: dict[FieldPath, int] = {}
    root = yaml.compose(text, Loader=yaml.SafeLoader)

    def walk(node: yaml.Node, path: FieldPath) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                child = (*path, str(key_node.value))
                index[child] = key_node.start_mark.line + 1
                walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for position, item in enumerate(node.value):
                child = (*path, position)
                index[child] = item.start_mark.line + 1
                walk(item, child)

    if root is not None:
        index[()] = root.start_mark.line + 1
        walk(root, ())
    return index


def _line_for(index: Mapping[FieldPath, int], path: FieldPath) -> int | None:
    for end in range(len(path), -1, -1):
        line = index.get(tuple(path[:end]))
        if line is not None:
            return line
    return None


def _read_secrets_file(path: Path, problems: list[ConfigProblem]) -> dict[str, str]:
    try:
        text = path.read_text()
    except OSError as exc:
        problems.append(ConfigProblem(str(path), None, "", f"cannot read secrets file: {exc.strerror}"))
        return {}
    if path.suffix in (".yaml", ".yml"):
        loaded = yaml.safe_load(text) or {}
        if not isinstance(loaded, dict):
            problems.append(
                ConfigProblem(str(path), 1, "", "a YAML secrets file must be a mapping of NAME: value")
            )
            return {}
        return {str(key): str(value) for key, value in loaded.items()}
    values = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, separator, value = stripped.partition("=")
        if not separator:
            problems.append(ConfigProblem(str(path), number, "", "expected NAME=value"))
            continue
        values[name.strip()] = value.strip().strip("'\"")
    return values


class _Interpolator:
    """Replaces ${NAME} and ${NAME:-default} in string values; remembers where it did."""

    def __init__(self, variables: Mapping[str, str], file: str, index: Mapping[FieldPath, int]) -> None:
        self.variables = variables
        self.file = file
        self.index = index
        self.problems: list[ConfigProblem] = []
        self.interpolated: set[FieldPath] = set()
        self.values: list[str] = []

    def __call__(self, value: Any, path: FieldPath = ()) -> Any:
        if isinstance(value, dict):
            return {key: self(item, (*path, str(key))) for key, item in value.items()}
        if isinstance(value, list):
            return [self(item, (*path, position)) for position, item in enumerate(value)]
        if not isinstance(value, str) or "${" not in value:
            return value

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in self.variables:
                resolved = self.variables[name]
            elif default is not None:
                resolved = default
            else:
                self.problems.append(
                    ConfigProblem(
                        self.file,
                        _line_for(self.index, path),
                        _format_path(path),
                        f"environment variable {name} is not set (and no secrets_file defines it)",
                    )
                )
                resolved = ""
            self.values.append(resolved)
            return resolved

        self.interpolated.add(path)
        return _REFERENCE.sub(replace, value)


def _secret_fields(model: type[BaseModel]) -> list[str]:
    return [
        name for name, info in model.model_fields.items() if info.annotation in (SecretStr, SecretStr | None)
    ]


def _pydantic_problems(
    error: ValidationError, file: str, index: Mapping[FieldPath, int], prefix: FieldPath = ()
) -> list[ConfigProblem]:
    problems = []
    for item in error.errors():
        path = (*prefix, *item["loc"])
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown setting (check the spelling)"
        elif (
            "input" in item
            and item["type"] not in ("missing",)
            and not isinstance(item["input"], dict | list)
        ):
            message = f"{message} (got {item['input']!r})"
        problems.append(ConfigProblem(file, _line_for(index, path), _format_path(path), message))
    return problems


def _load_mappings(
    patterns: list[str], base: Path, index: Mapping[FieldPath, int], file: str, problems: list[ConfigProblem]
) -> FieldMappings:
    value_maps: dict[str, dict[str, str]] = {}
    custom_fields: dict[str, dict[str, str]] = {}
    for position, pattern in enumerate(patterns):
        matches = sorted(base.glob(pattern)) if any(ch in pattern for ch in "*?[") else [base / pattern]
        if not matches or not all(path.exists() for path in matches):
            problems.append(
                ConfigProblem(
                    file,
                    _line_for(index, ("mappings", position)),
                    f"mappings[{position}]",
                    f"no file matches {pattern!r}",
                )
            )
            continue
        for path in matches:
            text = path.read_text()
            try:
                loaded = yaml.safe_load(text) or {}
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                problems.append(
                    ConfigProblem(str(path), mark.line + 1 if mark else None, "", f"not valid YAML: {exc}")
                )
                continue
            mapping_index = _line_index(text)
            if not isinstance(loaded, dict) or set(loaded) - {"value_maps", "custom_fields"}:
                problems.append(
                    ConfigProblem(
                        str(path), 1, "", "a mapping file has only 'value_maps' and 'custom_fields'"
                    )
                )
                continue
            for section, target in (("value_maps", value_maps), ("custom_fields", custom_fields)):
                for name, table in (loaded.get(section) or {}).items():
                    if not isinstance(table, dict):
                        problems.append(
                            ConfigProblem(
                                str(path),
                                _line_for(mapping_index, (section, name)),
                                f"{section}.{name}",
                                "must be a mapping of source value: target value",
                            )
                        )
                        continue
                    target.setdefault(str(name), {}).update({str(k): str(v) for k, v in table.items()})
    return FieldMappings(value_maps=value_maps, custom_fields=custom_fields)


def load_config(
    path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> TieoutConfig:
    """Read, interpolate and validate a config file; raises ConfigError listing every problem."""
    config_path = resolve_config_path(path)
    file = str(config_path)
    environment = os.environ if environ is None else environ
    try:
        text = config_path.read_text()
    except FileNotFoundError:
        raise ConfigError(
            [ConfigProblem(file, None, "", "config file not found; create one with `tieout init`")]
        ) from None
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem(file, None, "", f"cannot read config file: {exc.strerror}")]
        ) from None
    try:
        raw = yaml.safe_load(text)
        index = _line_index(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            [ConfigProblem(file, mark.line + 1 if mark else None, "", f"not valid YAML: {problem}")]
        ) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([ConfigProblem(file, 1, "", "the config file must be a YAML mapping")])

    problems: list[ConfigProblem] = []
    variables: dict[str, str] = {}
    secrets_file = raw.get("secrets_file")
    if isinstance(secrets_file, str):
        variables.update(_read_secrets_file(config_path.parent / secrets_file, problems))
    variables.update(environment)
    interpolate = _Interpolator(variables, file, index)
    data = interpolate(raw)
    problems += interpolate.problems

    try:
        parsed = FileConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems + _pydantic_problems(exc, file, index)) from None

    systems: dict[str, SystemSettings] = {}
    for name, system in parsed.systems.items():
        connector_name = system.connector or name
        settings: ConnectorSettings | None = None
        if system.enabled:
            settings = _connector_settings(
                name, connector_name, system, parsed, interpolate, file, index, problems
            )
        systems[name] = SystemSettings(
            name=name,
            connector=connector_name,
            enabled=system.enabled,
            mode=system.mode or parsed.mode,
            streams=system.streams,
            lookback_seconds=system.lookback_seconds,
            max_calls_per_run=system.max_calls_per_run,
            settings=settings,
            max_record_bytes=system.max_record_bytes,
        )
    field_mappings = _load_mappings(parsed.mappings, config_path.parent, index, file, problems)
    if not parsed.allow_inline_secrets:
        problems += _inline_section_secrets(parsed, interpolate, file, index)
    if problems:
        raise ConfigError(problems)
    return TieoutConfig(
        path=config_path,
        mode=parsed.mode,
        store_url=_resolve_store_url(parsed.store.url, config_path.parent),
        systems=systems,
        field_mappings=field_mappings,
        secret_values=tuple(value for value in interpolate.values if len(value) >= 4),
        schedule=parsed.schedule,
        workers=parsed.workers,
        alerts=parsed.alerts,
        logging=parsed.logging,
        metrics=parsed.metrics,
        web=parsed.web,
        webhooks=parsed.webhooks,
        reconcile_cache=(
            config_path.parent / parsed.reconcile.cache_path if parsed.reconcile.cache_path else None
        ),
    )


def _secret_paths(model: BaseModel, prefix: FieldPath) -> Iterable[FieldPath]:
    """Paths of the secret values set in a section, nested sections included."""
    for name in model.model_fields_set:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            yield (*prefix, name)
        elif isinstance(value, BaseModel):
            yield from _secret_paths(value, (*prefix, name))


def _inline_section_secrets(
    parsed: FileConfig, interpolate: _Interpolator, file: str, index: Mapping[FieldPath, int]
) -> list[ConfigProblem]:
    problems = []
    for section in ("schedule", "workers", "alerts", "logging", "metrics", "web", "webhooks", "reconcile"):
        for path in _secret_paths(getattr(parsed, section), (section,)):
            if path not in interpolate.interpolated:
                problems.append(
                    ConfigProblem(
                        file,
                        _line_for(index, path),
                        _format_path(path),
                        "secret written inline; use ${ENV_VAR} or secrets_file "
                        "(or set allow_inline_secrets: true)",
                    )
                )
    return problems


def _connector_settings(
    name: str,
    connector_name: str,
    system: SystemConfig,
    parsed: FileConfig,
    interpolate: _Interpolator,
    file: str,
    index: Mapping[FieldPath, int],
    problems: list[ConfigProblem],
) -> ConnectorSettings | None:
    prefix: FieldPath = ("systems", name)
    try:
        connector = connector_class(connector_name)
    except ConnectorError as exc:
        problems.append(
            ConfigProblem(
                file, _line_for(index, (*prefix, "connector")), _format_path((*prefix, "connector")), str(exc)
            )
        )
        return None
    model = connector.settings_model
    for secret_name in _secret_fields(model):
        path = (*prefix, "settings", secret_name)
        if (
            secret_name in system.settings
            and path not in interpolate.interpolated
            and not parsed.allow_inline_secrets
        ):
            problems.append(
                ConfigProblem(
                    file,
                    _line_for(index, path),
                    _format_path(path),
                    "secret written inline; use ${ENV_VAR} or secrets_file (or set allow_inline_secrets: true)",
                )
            )
    if system.streams:
        known = {spec.name for spec in connector.streams}
        for position, stream in enumerate(system.streams):
            if stream not in known:
                path = (*prefix, "streams", position)
                problems.append(
                    ConfigProblem(
                        file,
                        _line_for(index, path),
                        _format_path(path),
                        f"{connector_name} has no stream {stream!r} (streams: {', '.join(sorted(known))})",
                    )
                )
    try:
        return model.model_validate(system.settings)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, file, index, (*prefix, "settings")))
        return None


def _resolve_store_url(url: str, base: Path) -> str:
    """A relative SQLite path is relative to the config file, not to wherever tieout was started."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + str((base / url[len(prefix) :]).resolve())
    return url

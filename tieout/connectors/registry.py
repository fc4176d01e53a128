"""Finding connectors: every class registered under the `tieout.connectors` entry-point group.

tieout's own connectors register there too (in pyproject.toml), so a third-party package adds a
system the same way: one module, its mappings, and one entry point naming the class.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import entry_points

from tieout.connectors.base import Connector
from tieout.errors import ConnectorError

ENTRY_POINT_GROUP = "tieout.connectors"


@dataclass(frozen=True)
class InstalledConnector:
    name: str
    target: str
    distribution: str | None
    connector: type[Connector] | None
    load_error: str | None


def installed_connectors() -> list[InstalledConnector]:
    """Every registered connector, loaded; one that fails to import is listed with its error."""
    found = []
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda item: item.name):
        distribution = entry.dist.name if entry.dist is not None else None
        try:
            loaded = entry.load()
        except Exception as exc:  # a broken plugin must not break tieout; it is reported instead
            found.append(
                InstalledConnector(
                    entry.name, entry.value, distribution, None, f"{type(exc).__name__}: {exc}"
                )
            )
            continue
        if not (isinstance(loaded, type) and issubclass(loaded, Connector)):
            found.append(
                InstalledConnector(
                    entry.name, entry.value, distribution, None, "not a tieout Connector subclass"
                )
            )
            continue
        found.append(InstalledConnector(entry.name, entry.value, distribution, loaded, None))
    return found


def _import_reference(reference: str) -> type[Connector]:
    """`package.module:ClassName`: a connector under development, before it has an entry point."""
    module_name, _, attribute = reference.partition(":")
    try:
        loaded = getattr(import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConnectorError(f"cannot import connector {reference!r}: {exc}") from None
    if not (isinstance(loaded, type) and issubclass(loaded, Connector)):
        raise ConnectorError(f"{reference!r} is not a tieout Connector subclass")
    return loaded


def connector_class(name: str) -> type[Connector]:
    """The connector registered under `name`, or the class a `module:Class` reference names."""
    if ":" in name:
        return _import_reference(name)
    for installed in installed_connectors():
        if installed.name == name:
            if installed.connector is None:
                raise ConnectorError(
                    f"connector {name!r} is installed but cannot be loaded: {installed.load_error}"
                )
            return installed.connector
    known = ", ".join(item.name for item in installed_connectors()) or "none installed"
    raise ConnectorError(f"no connector named {name!r} (known: {known})")

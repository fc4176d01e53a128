"""Metronome payloads <-> the canonical model: mappers for each stream, and reverse builders.

Mappers (`map_customer`, `map_contract`, `map_invoice`, `map_usage`) turn one payload, as the
Metronome API returns it plus what the connector fetched beside it under `tieout_lookups`, into
one canonical record. Builders (`customer_payload`, `contract_payload`, `usage_events`) turn
canonical records into the payloads `MetronomeConnector.push` takes. All pure.
"""

from __future__ import annotations

from tieout.mappings.metronome.builders import contract_payload, customer_payload, minor_units, usage_events
from tieout.mappings.metronome.common import LOOKUPS, SYSTEM
from tieout.mappings.metronome.contracts import map_contract
from tieout.mappings.metronome.customers import map_customer
from tieout.mappings.metronome.invoices import map_invoice
from tieout.mappings.metronome.usage import map_usage, usage_native_id

__all__ = [
    "LOOKUPS",
    "SYSTEM",
    "contract_payload",
    "customer_payload",
    "map_contract",
    "map_customer",
    "map_invoice",
    "map_usage",
    "minor_units",
    "usage_events",
    "usage_native_id",
]

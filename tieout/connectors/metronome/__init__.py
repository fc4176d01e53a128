"""The Metronome connector (usage billing): customers, contracts, invoices and usage.

`MetronomeConnector` pulls and pushes through metronome-sdk; `MetronomeSettings` configures it
(`bearer_token` as a secret, `base_url` and `ca_bundle` to point it at the sandbox).
"""

from __future__ import annotations

from tieout.connectors.metronome.api import MetronomeSettings
from tieout.connectors.metronome.connector import MetronomeConnector

__all__ = ["MetronomeConnector", "MetronomeSettings"]

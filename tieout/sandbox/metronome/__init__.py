"""Emulator of the Metronome usage-billing API, as metronome-sdk 4.12.0 calls it.

Covers customers (v1), billable metrics, contract pricing (products, rate cards, rates),
contracts (v1 create/archive, v2 get/list), usage ingest and aggregation (`/v1/ingest`,
`/v1/usage`, `/v1/usage/groups`) and invoices (`/v1/customers/{id}/invoices`, void), with
Metronome's cursor pagination, `{"message": ...}` errors and signed `invoice.*` webhooks.
`state.MetronomeState` holds one account and is the seeding API; `app.build_app` serves it.
"""

from __future__ import annotations

from tieout.sandbox.metronome.app import build_app, client_settings
from tieout.sandbox.metronome.state import MetronomeState
from tieout.sandbox.metronome.webhooks import sign, verify

__all__ = ["MetronomeState", "build_app", "client_settings", "sign", "verify"]

"""Stripe payloads <-> the canonical model: mappers for each stream, and reverse builders.

Mappers (`map_customer`, `map_invoice`, `map_charge`, `map_refund`, `map_credit_note`,
`map_payout`) turn one object, as the Stripe API (version 2024-04-10) returns it plus what the
connector fetched beside it under `tieout_lookups`, into one canonical record. Builders
(`customer_payload`, `invoice_payload`, `void_payload`, `pay_out_of_band_payload`) turn
canonical records into the payloads `StripeConnector.push` takes. All pure.
"""

from __future__ import annotations

from tieout.mappings.stripe.builders import (
    customer_payload,
    invoice_payload,
    minor_units,
    pay_out_of_band_payload,
    void_payload,
)
from tieout.mappings.stripe.common import LOOKUPS, SYSTEM, stripe_exponent
from tieout.mappings.stripe.customers import map_customer
from tieout.mappings.stripe.invoices import map_credit_note, map_invoice
from tieout.mappings.stripe.payments import map_charge, map_refund
from tieout.mappings.stripe.payouts import map_payout

__all__ = [
    "LOOKUPS",
    "SYSTEM",
    "customer_payload",
    "invoice_payload",
    "map_charge",
    "map_credit_note",
    "map_customer",
    "map_invoice",
    "map_payout",
    "map_refund",
    "minor_units",
    "pay_out_of_band_payload",
    "stripe_exponent",
    "void_payload",
]

"""The Stripe connector (payments): customers, invoices, charges, refunds, credit notes, payouts.

`StripeConnector` pulls and pushes through stripe-python; `StripeSettings` configures it
(`api_key` as a secret, `base_url` and `ca_bundle` to point it at the sandbox).
"""

from __future__ import annotations

from tieout.connectors.stripe.api import StripeSettings
from tieout.connectors.stripe.connector import StripeConnector

__all__ = ["StripeConnector", "StripeSettings"]

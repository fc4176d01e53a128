"""Emulator of the Stripe API (v1, API version 2024-04-10) for the tieout sandbox.

stripe-python works against it unchanged, through `stripe.StripeClient(api_key,
base_addresses={"api": base_url})` or `stripe.api_base`/`stripe.api_key`. Responses have the
object shapes of API version 2024-04-10 (the `spec3.2024-04-10` OpenAPI spec they are validated
against): invoices still carry `charge`, `payment_intent`, `tax` and `paid`. Stripe-Version is
reported as 2024-04-10 whatever version a client asks for.

Covered: customers (and their balance transactions), products, prices, tax rates, invoice
items, invoices (+ lines; finalize, pay, void, mark uncollectible), payment intents, charges,
refunds, credit notes, disputes, payouts, balance transactions, balance, account, events
(30-day retention), webhook endpoints with signed delivery, and the Search API for customers,
invoices, charges, payment intents, prices and products; Stripe's list pagination, `expand[]`,
form encoding, metadata rules, idempotency keys and error objects. `StripeState` is also the
seeding API a scenario generator calls (see state.py).
"""

from __future__ import annotations

from tieout.sandbox.stripe.app import build_app
from tieout.sandbox.stripe.shapes import API_VERSION
from tieout.sandbox.stripe.state import StripeState, client_settings

__all__ = ["API_VERSION", "StripeState", "build_app", "client_settings"]

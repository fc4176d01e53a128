"""The Stripe emulator's state: every object table plus API keys and webhook endpoints.

`StripeState` is the seeding API. Its public methods (`create_customer`, `create_invoice`,
`finalize_invoice`, `pay_invoice`, `create_refund`, `create_payout` ...) take plain Python values,
stamp times from the injected `SandboxClock`, emit the events Stripe would, and return the
API-shaped object. They are the same code the HTTP routes call.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.stripe.collection import Record
from tieout.sandbox.stripe.credit_notes import CreditNoteStore
from tieout.sandbox.stripe.errors import invalid
from tieout.sandbox.stripe.params import merge_metadata
from tieout.sandbox.stripe.shapes import API_VERSION
from tieout.sandbox.stripe.webhooks import Target, WebhookDispatcher


class StripeState(CreditNoteStore):
    """One Stripe test-mode account, in memory."""

    def __init__(
        self,
        clock: SandboxClock | None = None,
        *,
        seed: int = 0,
        api_key: str | None = None,
        account_id: str | None = None,
    ) -> None:
        super().__init__(clock, seed=seed)
        self.api_key = api_key or "sk_test_" + self.ids.token(32)
        self.api_keys = {self.api_key}
        self.account_id = account_id or self.ids.new("acct")
        self.account_created = self.now()
        self.webhook_secrets: dict[str, str] = {}
        self.webhooks = WebhookDispatcher(self._webhook_payload, self._webhook_delivered)
        self.event_listeners.append(self._route_event)

    def account(self) -> dict[str, Any]:
        """GET /v1/account: the test-mode account the API key belongs to."""
        return {
            "id": self.account_id,
            "object": "account",
            "business_profile": {
                "annual_revenue": None,
                "estimated_worker_count": None,
                "mcc": None,
                "name": "tieout sandbox",
                "product_description": None,
                "support_address": None,
                "support_email": None,
                "support_phone": None,
                "support_url": None,
                "url": None,
            },
            "business_type": "company",
            "capabilities": {"card_payments": "active", "transfers": "active"},
            "charges_enabled": True,
            "controller": {"type": "account"},
            "country": "US",
            "created": self.account_created,
            "default_currency": "usd",
            "details_submitted": True,
            "email": "sandbox@tieout.invalid",
            "metadata": {},
            "payouts_enabled": True,
            "settings": {
                "bacs_debit_payments": {"display_name": None, "service_user_number": None},
                "branding": {"icon": None, "logo": None, "primary_color": None, "secondary_color": None},
                "card_issuing": {"tos_acceptance": {"date": None, "ip": None}},
                "card_payments": {
                    "decline_on": {"avs_failure": True, "cvc_failure": True},
                    "statement_descriptor_prefix": None,
                    "statement_descriptor_prefix_kana": None,
                    "statement_descriptor_prefix_kanji": None,
                },
                "dashboard": {"display_name": "tieout sandbox", "timezone": "Etc/UTC"},
                "invoices": {"default_account_tax_ids": None},
                "payments": {
                    "statement_descriptor": "TIEOUT SANDBOX",
                    "statement_descriptor_kana": None,
                    "statement_descriptor_kanji": None,
                    "statement_descriptor_prefix_kana": None,
                    "statement_descriptor_prefix_kanji": None,
                },
                "payouts": {
                    "debit_negative_balances": True,
                    "schedule": {"delay_days": 2, "interval": "daily"},
                    "statement_descriptor": None,
                },
                "sepa_debit_payments": {},
            },
            "type": "standard",
        }

    # -- webhooks ---------------------------------------------------------------------------------

    def create_webhook_endpoint(
        self,
        url: str,
        *,
        enabled_events: list[str] | None = None,
        secret: str | None = None,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Subscribe `url` to events (`["*"]` for all); the answer carries the signing `secret`."""
        with self.lock:
            if not url.startswith(("http://", "https://")):
                raise invalid(f"Invalid URL: {url}", param="url")
            events = enabled_events or ["*"]
            record: Record = {
                "id": self.ids.new("we"),
                "created": self.now(),
                "url": url,
                "enabled_events": events,
                "description": description,
                "metadata": merge_metadata(None, metadata),
                "status": "enabled",
            }
            self.insert("webhook_endpoint", record)
            self.webhook_secrets[record["id"]] = secret or "whsec_" + self.ids.token(32)
            return {**self.render("webhook_endpoint", record), "secret": self.webhook_secrets[record["id"]]}

    def update_webhook_endpoint(self, endpoint_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            record = self.find("webhook_endpoint", endpoint_id)
            changes = dict(changes)
            if "metadata" in changes:
                changes["metadata"] = merge_metadata(record["metadata"], changes["metadata"])
            if "disabled" in changes:
                changes["status"] = "disabled" if changes.pop("disabled") else "enabled"
            self.update_record("webhook_endpoint", record, changes, None)
            return self.render("webhook_endpoint", record)

    def delete_webhook_endpoint(self, endpoint_id: str) -> dict[str, Any]:
        with self.lock:
            self.find("webhook_endpoint", endpoint_id)
            self.tables["webhook_endpoint"].discard(endpoint_id)
            self.webhook_secrets.pop(endpoint_id, None)
            return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}

    def _route_event(self, event: Record) -> None:
        endpoints = self.tables["webhook_endpoint"].records
        if not endpoints:
            return
        for endpoint in endpoints.values():
            if endpoint["status"] != "enabled":
                continue
            if any(fnmatch.fnmatchcase(event["type"], pattern) for pattern in endpoint["enabled_events"]):
                event["pending_webhooks"] += 1
                target = Target(endpoint["id"], endpoint["url"], self.webhook_secrets[endpoint["id"]])
                self.webhooks.enqueue(target, event["id"])

    def _webhook_payload(self, event_id: str) -> bytes | None:
        with self.lock:
            event = self.tables["event"].get(event_id)
            if event is None:
                return None
            return json.dumps(self.render("event", event), indent=2).encode()

    def _webhook_delivered(self, event_id: str) -> None:
        with self.lock:
            event = self.tables["event"].get(event_id)
            if event is not None and event["pending_webhooks"] > 0:
                event["pending_webhooks"] -= 1

    def close(self) -> None:
        """Stop the webhook thread (the server is stopped separately)."""
        self.webhooks.stop()


def client_settings(base_url: str, state: StripeState) -> dict[str, Any]:
    """What stripe-python needs: `stripe.StripeClient(api_key, base_addresses={"api": api_base})`."""
    return {
        "system": "stripe",
        "api_base": base_url,
        "api_key": state.api_key,
        "api_version": API_VERSION,
        "account_id": state.account_id,
    }

"""Refunds in the Stripe state: each posts a negative `refund` balance transaction (Stripe keeps
its processing fee) and moves the charge's `amount_refunded`/`refunded`."""

from __future__ import annotations

from typing import Any

from tieout.sandbox.stripe.collection import Record
from tieout.sandbox.stripe.errors import StripeError, invalid
from tieout.sandbox.stripe.params import merge_metadata
from tieout.sandbox.stripe.payments import PaymentStore


class RefundStore(PaymentStore):
    """Refunds of succeeded charges, whole or partial."""

    def create_refund(
        self,
        *,
        charge_id: str | None = None,
        payment_intent_id: str | None = None,
        amount: int | None = None,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            charge = self._refundable_charge(charge_id, payment_intent_id)
            remaining = charge["amount_captured"] - charge["amount_refunded"]
            if remaining <= 0:
                raise StripeError(
                    f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
                )
            if amount is None:
                amount = remaining
            self._check_amount(amount, "amount")
            if amount > remaining:
                raise invalid(
                    f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
                    param="amount",
                )
            refund_id = self.ids.new("re")
            txn = self.post_balance_transaction(
                amount=-amount,
                currency=charge["currency"],
                txn_type="refund",
                reporting_category="refund",
                source=refund_id,
                description="REFUND FOR CHARGE",
            )
            record: Record = {
                "id": refund_id,
                "created": self.now(),
                "amount": amount,
                "balance_transaction": txn["id"],
                "charge": charge["id"],
                "currency": charge["currency"],
                "payment_intent": charge["payment_intent"],
                "reason": reason,
                "status": "succeeded",
                "metadata": merge_metadata(None, metadata),
            }
            self.insert("refund", record)
            refunded_total = charge["amount_refunded"] + amount
            self.update_record(
                "charge",
                charge,
                {"amount_refunded": refunded_total, "refunded": refunded_total >= charge["amount_captured"]},
                "charge.refunded",
            )
            self.emit("refund.created", "refund", record)
            return self.render("refund", record)

    def _refundable_charge(self, charge_id: str | None, payment_intent_id: str | None) -> Record:
        if charge_id is None and payment_intent_id is None:
            raise invalid(
                "One of the following params should be provided for this request: payment_intent or charge."
            )
        if charge_id is not None:
            charge = self.find("charge", charge_id, param="charge", status=400)
        else:
            assert payment_intent_id is not None
            intent = self.find("payment_intent", payment_intent_id, param="payment_intent", status=400)
            if intent["latest_charge"] is None or intent["status"] != "succeeded":
                raise invalid(
                    f"This PaymentIntent ({payment_intent_id}) does not have a successful charge to refund.",
                    param="payment_intent",
                )
            charge = self.find("charge", intent["latest_charge"])
        if charge["status"] != "succeeded":
            raise invalid(f"Charge {charge['id']} has not been captured or has failed.", param="charge")
        return charge

    def update_refund(self, refund_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            record = self.find("refund", refund_id)
            if "metadata" in changes:
                changes = {"metadata": merge_metadata(record["metadata"], changes["metadata"])}
            self.update_record("refund", record, changes, "refund.updated")
            return self.render("refund", record)

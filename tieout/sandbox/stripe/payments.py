"""Money movement in the Stripe state: payment intents, charges and balance transactions.

Every successful charge posts a `charge` balance transaction with Stripe's processing fee
(`net = amount - fee`), available two days later by the clock. Refunds (refunds.py), disputes
and payouts (payouts.py) post their own transactions on top of these.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tieout.sandbox.stripe.collection import Record
from tieout.sandbox.stripe.errors import StripeError, invalid
from tieout.sandbox.stripe.ids import processing_fee
from tieout.sandbox.stripe.params import merge_metadata
from tieout.sandbox.stripe.taxes import TaxRateStore

DECLINING_METHODS = frozenset({"pm_card_chargeDeclined", "tok_chargeDeclined", "pm_card_visa_chargeDeclined"})
CANCELABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)
AVAILABILITY_DELAY = timedelta(days=2)


class PaymentStore(TaxRateStore):
    """Payment intents, charges, refunds and the balance transactions they post."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Balance transactions not yet swept into a payout, per currency, in insertion order.
        self.unswept: dict[str, dict[str, None]] = {}

    # -- balance transactions -------------------------------------------------------------------

    def post_balance_transaction(
        self,
        *,
        amount: int,
        currency: str,
        txn_type: str,
        reporting_category: str,
        source: str | None,
        fee: int = 0,
        fee_description: str = "Stripe processing fees",
        description: str | None = None,
        available_on: int | None = None,
        sweepable: bool = True,
    ) -> Record:
        now = self.now()
        if available_on is None:
            day = datetime.fromtimestamp(now, UTC) + AVAILABILITY_DELAY
            available_on = int(day.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())
        fee_details = []
        if fee:
            fee_details.append(
                {
                    "amount": fee,
                    "application": None,
                    "currency": currency,
                    "description": fee_description,
                    "type": "stripe_fee",
                }
            )
        record: Record = {
            "id": self.ids.new("txn"),
            "created": now,
            "amount": amount,
            "available_on": available_on,
            "currency": currency,
            "description": description,
            "fee": fee,
            "fee_details": fee_details,
            "net": amount - fee,
            "reporting_category": reporting_category,
            "source": source,
            "type": txn_type,
        }
        self.insert("balance_transaction", record, {"payout": None})
        if sweepable:
            self.unswept.setdefault(currency, {})[record["id"]] = None
        return record

    def _render_balance_transaction(self, rendered: dict[str, Any]) -> None:
        rendered["status"] = "available" if rendered["available_on"] <= self.now() else "pending"

    def balance(self) -> dict[str, Any]:
        """GET /v1/balance: available and pending funds per currency, from the transactions."""
        with self.lock:
            now = self.now()
            available: dict[str, int] = {}
            pending: dict[str, int] = {}
            for txn in self.tables["balance_transaction"].records.values():
                bucket = available if txn["available_on"] <= now else pending
                bucket[txn["currency"]] = bucket.get(txn["currency"], 0) + txn["net"]
            currencies = sorted(set(available) | set(pending)) or ["usd"]

            def funds(bucket: dict[str, int]) -> list[dict[str, Any]]:
                return [
                    {"amount": bucket.get(c, 0), "currency": c, "source_types": {"card": bucket.get(c, 0)}}
                    for c in currencies
                ]

            return {
                "object": "balance",
                "available": funds(available),
                "livemode": False,
                "pending": funds(pending),
            }

    # -- charges ----------------------------------------------------------------------------------

    def _charge(
        self,
        *,
        amount: int,
        currency: str,
        customer_id: str | None,
        payment_intent_id: str | None,
        invoice_id: str | None,
        description: str | None,
        payment_method: str | None,
        fee: int | None,
        metadata: dict[str, str] | None,
    ) -> Record:
        """Create a charge; declined test methods give a failed charge and no balance transaction."""
        declined = payment_method in DECLINING_METHODS
        charge_id = self.ids.new("ch")
        record: Record = {
            "id": charge_id,
            "created": self.now(),
            "amount": amount,
            "amount_captured": 0 if declined else amount,
            "amount_refunded": 0,
            "balance_transaction": None,
            "currency": currency,
            "customer": customer_id,
            "description": description,
            "invoice": invoice_id,
            "payment_intent": payment_intent_id,
            "metadata": merge_metadata(None, metadata),
            "refunded": False,
            "status": "failed" if declined else "succeeded",
            "paid": not declined,
            "captured": not declined,
            "disputed": False,
        }
        if declined:
            record["failure_code"] = "card_declined"
            record["failure_message"] = "Your card was declined."
            record["outcome"] = {
                "network_status": "declined_by_network",
                "reason": "generic_decline",
                "risk_level": "normal",
                "risk_score": 40,
                "seller_message": "The bank did not return any further details with this decline.",
                "type": "issuer_declined",
            }
        else:
            txn = self.post_balance_transaction(
                amount=amount,
                currency=currency,
                txn_type="charge",
                reporting_category="charge",
                source=charge_id,
                fee=processing_fee(amount, currency) if fee is None else fee,
                description=description,
            )
            record["balance_transaction"] = txn["id"]
        self.insert("charge", record)
        self.emit("charge.failed" if declined else "charge.succeeded", "charge", record)
        return record

    def update_charge(self, charge_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            record = self.find("charge", charge_id)
            changes = dict(changes)
            if "metadata" in changes:
                changes["metadata"] = merge_metadata(record["metadata"], changes["metadata"])
            self.update_record("charge", record, changes, "charge.updated")
            return self.render("charge", record)

    def create_charge(
        self,
        amount: int,
        currency: str,
        *,
        customer_id: str | None = None,
        description: str | None = None,
        source: str | None = None,
        fee: int | None = None,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """A standalone charge (POST /v1/charges, or seeding); raises a card error when declined."""
        with self.lock:
            if customer_id is not None:
                self.find("customer", customer_id, param="customer", status=400)
            self._check_amount(amount, "amount")
            record = self._charge(
                amount=amount,
                currency=currency.lower(),
                customer_id=customer_id,
                payment_intent_id=None,
                invoice_id=None,
                description=description,
                payment_method=source,
                fee=fee,
                metadata=metadata,
            )
            if record["status"] == "failed":
                raise card_declined(record["id"])
            return self.render("charge", record)

    @staticmethod
    def _check_amount(amount: int, param: str) -> None:
        if amount < 1:
            raise invalid("This value must be greater than or equal to 1.", param=param)

    # -- payment intents --------------------------------------------------------------------------

    def create_payment_intent(
        self,
        amount: int,
        currency: str,
        *,
        customer_id: str | None = None,
        description: str | None = None,
        payment_method: str | None = None,
        invoice_id: str | None = None,
        confirm: bool = False,
        fee: int | None = None,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            record = self._new_payment_intent(
                amount,
                currency.lower(),
                customer_id=customer_id,
                description=description,
                payment_method=payment_method,
                invoice_id=invoice_id,
                metadata=metadata,
            )
            if confirm:
                return self.confirm_payment_intent(record["id"], fee=fee)
            return self.render("payment_intent", record)

    def _new_payment_intent(
        self,
        amount: int,
        currency: str,
        *,
        customer_id: str | None,
        description: str | None,
        payment_method: str | None,
        invoice_id: str | None,
        metadata: dict[str, str] | None,
    ) -> Record:
        if customer_id is not None:
            self.find("customer", customer_id, param="customer", status=400)
        self._check_amount(amount, "amount")
        intent_id = self.ids.new("pi")
        record: Record = {
            "id": intent_id,
            "created": self.now(),
            "amount": amount,
            "amount_received": 0,
            "client_secret": f"{intent_id}_secret_{self.ids.token(25)}",
            "currency": currency,
            "customer": customer_id,
            "description": description,
            "invoice": invoice_id,
            "latest_charge": None,
            "payment_method": payment_method,
            "metadata": merge_metadata(None, metadata),
            "status": "requires_confirmation" if payment_method else "requires_payment_method",
        }
        self.insert("payment_intent", record)
        self.emit("payment_intent.created", "payment_intent", record)
        return record

    def confirm_payment_intent(
        self, intent_id: str, *, payment_method: str | None = None, fee: int | None = None
    ) -> dict[str, Any]:
        """Confirm and capture at once (automatic capture); a declining test method raises 402."""
        with self.lock:
            intent = self.find("payment_intent", intent_id)
            if intent["status"] not in ("requires_payment_method", "requires_confirmation"):
                raise StripeError(
                    "This PaymentIntent's status is "
                    f"{intent['status']}, but it must be requires_payment_method or requires_confirmation "
                    "to be confirmed.",
                    code="payment_intent_unexpected_state",
                )
            method = payment_method or intent["payment_method"] or "pm_card_visa"
            charge = self._pay_intent(intent, method, fee)
            if charge["status"] == "failed":
                raise card_declined(charge["id"], self.render("payment_intent", intent))
            return self.render("payment_intent", intent)

    def _pay_intent(self, intent: Record, payment_method: str, fee: int | None) -> Record:
        charge = self._charge(
            amount=intent["amount"],
            currency=intent["currency"],
            customer_id=intent["customer"],
            payment_intent_id=intent["id"],
            invoice_id=intent["invoice"],
            description=intent["description"],
            payment_method=payment_method,
            fee=fee,
            metadata=None,
        )
        if charge["status"] == "failed":
            error = {
                "charge": charge["id"],
                "code": "card_declined",
                "decline_code": "generic_decline",
                "message": "Your card was declined.",
                "type": "card_error",
            }
            self.update_record(
                "payment_intent",
                intent,
                {
                    "status": "requires_payment_method",
                    "latest_charge": charge["id"],
                    "last_payment_error": error,
                    "payment_method": None,
                },
                None,
            )
            self.emit("payment_intent.payment_failed", "payment_intent", intent)
        else:
            self.update_record(
                "payment_intent",
                intent,
                {
                    "status": "succeeded",
                    "latest_charge": charge["id"],
                    "amount_received": intent["amount"],
                    "payment_method": payment_method,
                    "last_payment_error": None,
                },
                None,
            )
            self.emit("payment_intent.succeeded", "payment_intent", intent)
        return charge

    def cancel_payment_intent(self, intent_id: str, reason: str | None = None) -> dict[str, Any]:
        with self.lock:
            intent = self.find("payment_intent", intent_id)
            if intent["status"] not in CANCELABLE:
                raise StripeError(
                    "You cannot cancel this PaymentIntent because it has a status of "
                    f"{intent['status']}. Only a PaymentIntent with one of the following statuses may be "
                    f"canceled: {', '.join(CANCELABLE)}.",
                    code="payment_intent_unexpected_state",
                )
            self.update_record(
                "payment_intent",
                intent,
                {"status": "canceled", "canceled_at": self.now(), "cancellation_reason": reason},
                None,
            )
            self.emit("payment_intent.canceled", "payment_intent", intent)
            return self.render("payment_intent", intent)

    def update_payment_intent(self, intent_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            record = self.find("payment_intent", intent_id)
            changes = dict(changes)
            if "amount" in changes and record["status"] not in (
                "requires_payment_method",
                "requires_confirmation",
            ):
                raise StripeError(
                    f"This PaymentIntent's amount could not be updated because it has a status of "
                    f"{record['status']}.",
                    code="payment_intent_unexpected_state",
                )
            if "metadata" in changes:
                changes["metadata"] = merge_metadata(record["metadata"], changes["metadata"])
            self.update_record("payment_intent", record, changes, None)
            return self.render("payment_intent", record)


def card_declined(charge_id: str, payment_intent: dict[str, Any] | None = None) -> StripeError:
    extra: dict[str, Any] = {"charge": charge_id, "decline_code": "generic_decline"}
    if payment_intent is not None:
        extra["payment_intent"] = payment_intent
    return StripeError(
        "Your card was declined.", status=402, error_type="card_error", code="card_declined", extra=extra
    )

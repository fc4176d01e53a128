"""The invoice status machine: finalize, pay (in full, in part, or out of band), void, uncollectible."""

from __future__ import annotations

from typing import Any

from tieout.sandbox.stripe.billing import BillingStore
from tieout.sandbox.stripe.collection import Record
from tieout.sandbox.stripe.errors import StripeError, invalid
from tieout.sandbox.stripe.payments import card_declined


class InvoicingStore(BillingStore):
    """Invoice transitions; each emits the event Stripe sends for it."""

    def _transition(
        self, invoice: Record, status: str, stamp: str, extra: dict[str, Any] | None = None
    ) -> None:
        changes: dict[str, Any] = {
            "status": status,
            "status_transitions": {**invoice["status_transitions"], stamp: self.now()},
            **(extra or {}),
        }
        self.update_record("invoice", invoice, changes, None)

    def finalize_invoice(self, invoice_id: str, *, auto_advance: bool | None = None) -> dict[str, Any]:
        with self.lock:
            invoice = self.find("invoice", invoice_id)
            self._finalize(invoice, auto_advance)
            return self.render("invoice", invoice)

    def _finalize(self, invoice: Record, auto_advance: bool | None) -> None:
        if invoice["status"] != "draft":
            raise StripeError(
                "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
                code="invoice_not_editable",
            )
        customer = self.find("customer", invoice["customer"])
        # A number set on the draft is kept, as Stripe keeps it; otherwise the customer's sequence gives one.
        number = invoice["number"]
        if number is None:
            number = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
            customer["next_invoice_sequence"] += 1
        if customer["currency"] is None:
            customer["currency"] = invoice["currency"]
        starting_balance = customer["balance"] if customer["currency"] == invoice["currency"] else 0
        owed = invoice["total"] - invoice["pre_payment_credit_notes_amount"]
        # A credit balance (negative) pays down what is owed; a debit balance is added to it.
        applied = max(starting_balance, -owed) if starting_balance < 0 else starting_balance
        amount_due = max(0, owed + applied)
        if applied:
            self.adjust_customer_balance(
                customer["id"],
                -applied,
                invoice["currency"],
                transaction_type="applied_to_invoice",
                invoice_id=invoice["id"],
            )
        now = self.now()
        changes: dict[str, Any] = {
            "number": number,
            "starting_balance": starting_balance,
            "ending_balance": starting_balance - applied,
            "amount_due": amount_due,
            "effective_at": now,
        }
        if auto_advance is not None:
            changes["auto_advance"] = auto_advance
        if amount_due > 0 and invoice["collection_method"] == "charge_automatically":
            changes["next_payment_attempt"] = now + 3600
        if amount_due > 0:
            intent = self._new_payment_intent(
                amount_due,
                invoice["currency"],
                customer_id=customer["id"],
                description=f"Invoice {number}",
                payment_method=None,
                invoice_id=invoice["id"],
                metadata=None,
            )
            changes["payment_intent"] = intent["id"]
        self._transition(invoice, "open", "finalized_at", changes)
        self.emit("invoice.finalized", "invoice", invoice)
        if amount_due == 0:
            self._mark_paid(invoice)

    def _mark_paid(self, invoice: Record, extra: dict[str, Any] | None = None) -> None:
        self._transition(invoice, "paid", "paid_at", {"next_payment_attempt": None, **(extra or {})})
        self.emit("invoice.paid", "invoice", invoice)
        self.emit("invoice.payment_succeeded", "invoice", invoice)

    def pay_invoice(
        self,
        invoice_id: str,
        *,
        amount: int | None = None,
        paid_out_of_band: bool = False,
        payment_method: str | None = None,
        fee: int | None = None,
    ) -> dict[str, Any]:
        """Pay what remains (or `amount` of it: a partial payment, seeding only)."""
        with self.lock:
            invoice = self.find("invoice", invoice_id)
            if invoice["status"] == "draft":
                self._finalize(invoice, None)
                if invoice["status"] == "paid":
                    return self.render("invoice", invoice)
            if invoice["status"] == "paid":
                raise invalid("Invoice is already paid")
            if invoice["status"] == "void":
                raise invalid("This invoice has been voided and can no longer be paid.")
            remaining = invoice["amount_due"] - invoice["amount_paid"]
            if paid_out_of_band:
                self._cancel_open_intent(invoice)
                self._mark_paid(invoice, {"paid_out_of_band": True, "amount_paid": invoice["amount_due"]})
                return self.render("invoice", invoice)
            pay = remaining if amount is None else amount
            if not 0 < pay <= remaining:
                raise invalid(
                    f"The payment amount must be between 1 and the amount remaining ({remaining}).",
                    param="amount",
                )
            intent = self._intent_for(invoice, pay)
            method = payment_method or "pm_card_visa"
            charge = self._pay_intent(intent, method, fee)
            attempts = {"attempt_count": invoice["attempt_count"] + 1, "attempted": True}
            if charge["status"] == "failed":
                self.update_record("invoice", invoice, {**attempts, "charge": charge["id"]}, None)
                self.emit("invoice.payment_failed", "invoice", invoice)
                raise card_declined(charge["id"], self.render("payment_intent", intent))
            paid_total = invoice["amount_paid"] + pay
            changes = {
                **attempts,
                "amount_paid": paid_total,
                "charge": charge["id"],
                "payment_intent": intent["id"],
            }
            if paid_total >= invoice["amount_due"]:
                self._mark_paid(invoice, changes)
            else:
                self.update_record("invoice", invoice, changes, "invoice.updated")
            return self.render("invoice", invoice)

    def _intent_for(self, invoice: Record, amount: int) -> Record:
        """The invoice's open payment intent, resized to this payment, or a new one."""
        intents = self.tables["payment_intent"]
        current = intents.get(invoice["payment_intent"]) if invoice["payment_intent"] else None
        if current is not None and current["status"] in ("requires_payment_method", "requires_confirmation"):
            current["amount"] = amount
            return current
        return self._new_payment_intent(
            amount,
            invoice["currency"],
            customer_id=invoice["customer"],
            description=f"Invoice {invoice['number']}",
            payment_method=None,
            invoice_id=invoice["id"],
            metadata=None,
        )

    def _cancel_open_intent(self, invoice: Record) -> None:
        intent = self.tables["payment_intent"].get(invoice["payment_intent"] or "")
        if intent is not None and intent["status"] in ("requires_payment_method", "requires_confirmation"):
            self.update_record(
                "payment_intent",
                intent,
                {"status": "canceled", "canceled_at": self.now(), "cancellation_reason": "void_invoice"},
                None,
            )
            self.emit("payment_intent.canceled", "payment_intent", intent)

    def void_invoice(self, invoice_id: str) -> dict[str, Any]:
        with self.lock:
            invoice = self.find("invoice", invoice_id)
            if invoice["status"] not in ("open", "uncollectible"):
                raise invalid(
                    f"You can only void open or uncollectible invoices; this invoice is {invoice['status']}."
                )
            self._cancel_open_intent(invoice)
            self._transition(invoice, "void", "voided_at", {"next_payment_attempt": None})
            self.emit("invoice.voided", "invoice", invoice)
            return self.render("invoice", invoice)

    def mark_invoice_uncollectible(self, invoice_id: str) -> dict[str, Any]:
        with self.lock:
            invoice = self.find("invoice", invoice_id)
            if invoice["status"] != "open":
                raise invalid(
                    f"You can only mark open invoices as uncollectible; this invoice is {invoice['status']}."
                )
            self._transition(
                invoice, "uncollectible", "marked_uncollectible_at", {"next_payment_attempt": None}
            )
            self.emit("invoice.marked_uncollectible", "invoice", invoice)
            return self.render("invoice", invoice)

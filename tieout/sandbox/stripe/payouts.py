"""Disputes and payouts in the Stripe state.

A dispute withdraws the disputed amount plus Stripe's dispute fee (an `adjustment` balance
transaction) and, when won, reinstates the amount. An automatic payout sweeps a set of balance
transactions (by default every available one in its currency that no payout holds yet), so
`GET /v1/balance_transactions?payout=po_...` lists exactly what it paid out, plus its own
`payout` transaction.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tieout.sandbox.stripe.collection import Record
from tieout.sandbox.stripe.errors import StripeError, invalid
from tieout.sandbox.stripe.ids import dispute_fee
from tieout.sandbox.stripe.params import merge_metadata
from tieout.sandbox.stripe.refunds import RefundStore

PAYOUT_STATUSES = ("pending", "in_transit", "paid", "failed", "canceled")
_PAYOUT_MOVES = {
    "pending": {"in_transit", "paid", "failed", "canceled"},
    "in_transit": {"paid", "failed"},
    "paid": {"failed"},
    "failed": set(),
    "canceled": set(),
}
DISPUTE_STATUSES = (
    "warning_needs_response",
    "warning_under_review",
    "warning_closed",
    "needs_response",
    "under_review",
    "won",
    "lost",
)


class PayoutStore(RefundStore):
    """Disputes and payouts."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.payout_members: dict[str, list[str]] = {}

    # -- disputes ---------------------------------------------------------------------------------

    def create_dispute(
        self,
        charge_id: str,
        *,
        amount: int | None = None,
        reason: str = "general",
        status: str = "needs_response",
        fee: int | None = None,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Seed a dispute on a succeeded charge, withdrawing the funds and the dispute fee."""
        with self.lock:
            charge = self.find("charge", charge_id, param="charge", status=400)
            if charge["status"] != "succeeded" or charge["disputed"]:
                raise invalid(f"Charge {charge_id} cannot be disputed.", param="charge")
            if status not in DISPUTE_STATUSES:
                raise invalid(f"Invalid dispute status: {status}", param="status")
            amount = charge["amount"] if amount is None else amount
            dispute_id = self.ids.new("dp")
            withdrawal = self.post_balance_transaction(
                amount=-amount,
                currency=charge["currency"],
                txn_type="adjustment",
                reporting_category="dispute",
                source=dispute_id,
                fee=dispute_fee(charge["currency"]) if fee is None else fee,
                fee_description="Dispute fee",
                description=f"Chargeback withdrawal for {charge_id}",
            )
            now = self.now()
            record: Record = {
                "id": dispute_id,
                "created": now,
                "amount": amount,
                "balance_transactions": [withdrawal["id"]],
                "charge": charge_id,
                "currency": charge["currency"],
                "evidence_details": {
                    "due_by": now + int(timedelta(days=7).total_seconds()),
                    "has_evidence": False,
                    "past_due": False,
                    "submission_count": 0,
                },
                "is_charge_refundable": False,
                "metadata": merge_metadata(None, metadata),
                "payment_intent": charge["payment_intent"],
                "reason": reason,
                "status": status,
            }
            self.insert("dispute", record)
            self.update_record("charge", charge, {"disputed": True}, "charge.updated")
            self.emit("charge.dispute.created", "dispute", record)
            self.emit("charge.dispute.funds_withdrawn", "dispute", record)
            return self.render("dispute", record)

    def _render_dispute(self, rendered: dict[str, Any]) -> None:
        table = self.tables["balance_transaction"]
        rendered["balance_transactions"] = [
            self.render("balance_transaction", table.records[txn_id])
            for txn_id in rendered["balance_transactions"]
            if txn_id in table
        ]

    def close_dispute(self, dispute_id: str, *, won: bool = False) -> dict[str, Any]:
        """Close a dispute: lost (what POST /close does: you accept it) or won (funds reinstated)."""
        with self.lock:
            record = self.find("dispute", dispute_id)
            if record["status"] in ("won", "lost", "warning_closed"):
                raise invalid(
                    f"This dispute is already closed (status {record['status']}).",
                )
            changes: dict[str, Any] = {"status": "won" if won else "lost"}
            if won:
                reinstatement = self.post_balance_transaction(
                    amount=record["amount"],
                    currency=record["currency"],
                    txn_type="adjustment",
                    reporting_category="dispute_reversal",
                    source=dispute_id,
                    description=f"Chargeback reversal for {record['charge']}",
                )
                changes["balance_transactions"] = [*record["balance_transactions"], reinstatement["id"]]
            self.update_record("dispute", record, changes, None)
            self.emit("charge.dispute.closed", "dispute", record)
            if won:
                self.emit("charge.dispute.funds_reinstated", "dispute", record)
            return self.render("dispute", record)

    def update_dispute(self, dispute_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            record = self.find("dispute", dispute_id)
            if "metadata" in changes:
                changes = {"metadata": merge_metadata(record["metadata"], changes["metadata"])}
            self.update_record("dispute", record, changes, "charge.dispute.updated")
            return self.render("dispute", record)

    # -- payouts ----------------------------------------------------------------------------------

    def create_payout(
        self,
        currency: str = "usd",
        *,
        amount: int | None = None,
        automatic: bool = True,
        balance_transaction_ids: list[str] | None = None,
        status: str = "pending",
        arrival_date: int | None = None,
        description: str | None = "STRIPE PAYOUT",
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Create a payout. Automatic payouts sweep transactions and pay out their net sum;
        manual ones (the API's POST /v1/payouts) take an amount from the available balance."""
        with self.lock:
            currency = currency.lower()
            members: list[str] = []
            if automatic:
                members = self._sweep(currency, balance_transaction_ids)
                table = self.tables["balance_transaction"].records
                amount = sum(table[txn_id]["net"] for txn_id in members)
            elif amount is None:
                raise StripeError("Missing required param: amount.", code="parameter_missing", param="amount")
            else:
                available = self._available(currency)
                if amount > available:
                    raise StripeError(
                        "You have insufficient funds in your Stripe account for this transfer. "
                        "Your card balance is too low. You can use the /v1/balance endpoint to view "
                        "your Stripe balance (for more details, see stripe.com/docs/api#balance).",
                        code="balance_insufficient",
                        param="amount",
                    )
            if amount <= 0:
                raise invalid("This value must be greater than or equal to 1.", param="amount")
            if status not in PAYOUT_STATUSES:
                raise invalid(f"Invalid payout status: {status}", param="status")
            payout_id = self.ids.new("po")
            now = self.now()
            own = self.post_balance_transaction(
                amount=-amount,
                currency=currency,
                txn_type="payout",
                reporting_category="payout",
                source=payout_id,
                description=description,
                available_on=now,
                sweepable=False,
            )
            record: Record = {
                "id": payout_id,
                "created": now,
                "amount": amount,
                "arrival_date": arrival_date or now + int(timedelta(days=2).total_seconds()),
                "automatic": automatic,
                "balance_transaction": own["id"],
                "currency": currency,
                "description": description,
                "metadata": merge_metadata(None, metadata),
                # Automatic payouts can be reconciled line by line once paid; manual ones never can.
                "reconciliation_status": "in_progress" if automatic else "not_applicable",
                "status": "pending",
            }
            self.insert("payout", record)
            if automatic:
                table_obj = self.tables["balance_transaction"]
                for txn_id in [*members, own["id"]]:
                    table_obj.add_to_index("payout", payout_id, txn_id)
                self.payout_members[payout_id] = members
            self.emit("payout.created", "payout", record)
            if status != "pending":
                self.set_payout_status(payout_id, status)
            return self.render("payout", record)

    def _available(self, currency: str) -> int:
        now = self.now()
        return sum(
            txn["net"]
            for txn in self.tables["balance_transaction"].records.values()
            if txn["currency"] == currency and txn["available_on"] <= now
        )

    def _sweep(self, currency: str, chosen: list[str] | None) -> list[str]:
        pool = self.unswept.get(currency, {})
        if chosen is None:
            now = self.now()
            table = self.tables["balance_transaction"].records
            chosen = [txn_id for txn_id in pool if table[txn_id]["available_on"] <= now]
        for txn_id in chosen:
            if txn_id not in pool:
                raise invalid(
                    f"Balance transaction {txn_id} is not an unpaid {currency} transaction.",
                    param="balance_transaction_ids",
                )
        for txn_id in chosen:
            del pool[txn_id]
        return list(chosen)

    def set_payout_status(
        self, payout_id: str, status: str, *, failure_code: str = "account_closed"
    ) -> dict[str, Any]:
        """Move a payout along pending -> in_transit -> paid (or failed; a paid payout may still fail)."""
        with self.lock:
            record = self.find("payout", payout_id)
            if status not in _PAYOUT_MOVES[record["status"]]:
                raise invalid(f"A {record['status']} payout cannot become {status}.", param="status")
            changes: dict[str, Any] = {"status": status}
            if status == "failed":
                failure = self.post_balance_transaction(
                    amount=record["amount"],
                    currency=record["currency"],
                    txn_type="payout_failure",
                    reporting_category="payout_reversal",
                    source=payout_id,
                    available_on=self.now(),
                    description="Payout failure",
                )
                changes.update(
                    failure_balance_transaction=failure["id"],
                    failure_code=failure_code,
                    failure_message="The bank account has been closed.",
                )
            elif status == "canceled":
                self.post_balance_transaction(
                    amount=record["amount"],
                    currency=record["currency"],
                    txn_type="payout_cancel",
                    reporting_category="payout_reversal",
                    source=payout_id,
                    available_on=self.now(),
                    description="Payout cancellation",
                )
            if status == "paid" and record["automatic"]:
                changes["reconciliation_status"] = "completed"
            self.update_record("payout", record, changes, "payout.updated")
            if status in ("paid", "failed", "canceled"):
                self.emit(f"payout.{status}", "payout", record)
            return self.render("payout", record)

    def cancel_payout(self, payout_id: str) -> dict[str, Any]:
        with self.lock:
            record = self.find("payout", payout_id)
            if record["status"] != "pending":
                raise invalid("Payouts can only be canceled while they are pending.")
            return self.set_payout_status(payout_id, "canceled")

    def update_payout(self, payout_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            record = self.find("payout", payout_id)
            if "metadata" in changes:
                changes = {"metadata": merge_metadata(record["metadata"], changes["metadata"])}
            self.update_record("payout", record, changes, "payout.updated")
            return self.render("payout", record)

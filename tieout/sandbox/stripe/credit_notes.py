"""Credit notes: pre-payment ones lower an open invoice's `amount_due`; post-payment ones on a paid
invoice are settled by a refund, a customer-balance credit and/or an out-of-band amount."""

from __future__ import annotations

from typing import Any

from tieout.sandbox.stripe.collection import Record
from tieout.sandbox.stripe.errors import invalid
from tieout.sandbox.stripe.invoice_items import item_id_for
from tieout.sandbox.stripe.invoicing import InvoicingStore
from tieout.sandbox.stripe.params import merge_metadata
from tieout.sandbox.stripe.shapes import TEMPLATES

_LINE_TEMPLATE = TEMPLATES["credit_note_line_item"]
REASONS = ("duplicate", "fraudulent", "order_change", "product_unsatisfactory")


class CreditNoteStore(InvoicingStore):
    """Credit notes and their lines."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.credit_note_lines: dict[str, list[Record]] = {}

    def create_credit_note(
        self,
        invoice_id: str,
        *,
        amount: int | None = None,
        lines: list[dict[str, Any]] | None = None,
        reason: str | None = None,
        memo: str | None = None,
        refund_amount: int | None = None,
        credit_amount: int | None = None,
        out_of_band_amount: int | None = None,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """`lines` entries: `{"type": "invoice_line_item", "invoice_line_item": "il_...", "amount"?,
        "quantity"?}` or `{"type": "custom_line_item", "unit_amount", "quantity"?, "description"}`."""
        with self.lock:
            invoice = self.find("invoice", invoice_id, param="invoice", status=400)
            if invoice["status"] not in ("open", "paid", "uncollectible"):
                raise invalid(
                    f"Credit notes can only be issued on finalized invoices; invoice {invoice_id} is "
                    f"{invoice['status']}.",
                    param="invoice",
                )
            if reason is not None and reason not in REASONS:
                raise invalid(f"Invalid reason: must be one of {', '.join(REASONS)}", param="reason")
            cn_id = self.ids.new("cn")
            line_records = [self._credit_line(invoice, cn_id, line, i) for i, line in enumerate(lines or [])]
            lines_total = sum(line["amount"] for line in line_records)
            if amount is None:
                if not line_records:
                    raise invalid("You must pass either `amount` or `lines`.", param="amount")
                amount = lines_total
            elif line_records and amount != lines_total:
                raise invalid(
                    f"The amount ({amount}) must equal the sum of the line amounts ({lines_total}).",
                    param="amount",
                )
            if amount <= 0:
                raise invalid("This value must be greater than or equal to 1.", param="amount")
            pre_payment = invoice["status"] != "paid"
            record: Record = {
                "id": cn_id,
                "created": self.now(),
                "amount": amount,
                "currency": invoice["currency"],
                "customer": invoice["customer"],
                "effective_at": self.now(),
                "invoice": invoice_id,
                "memo": memo,
                "metadata": merge_metadata(None, metadata),
                "number": f"{invoice['number']}-CN-{self._credit_note_count(invoice_id) + 1:02d}",
                "pdf": f"https://pay.stripe.com/credit_notes/acct_tieoutsandbox/test_{cn_id}/pdf?s=ap",
                "reason": reason,
                "status": "issued",
                "subtotal": amount,
                "subtotal_excluding_tax": amount,
                "total": amount,
                "total_excluding_tax": amount,
                "type": "pre_payment" if pre_payment else "post_payment",
            }
            if pre_payment:
                self._apply_pre_payment(invoice, amount, refund_amount, credit_amount, out_of_band_amount)
            else:
                record.update(
                    self._settle_post_payment(
                        invoice, cn_id, amount, refund_amount, credit_amount, out_of_band_amount
                    )
                )
            self.insert("credit_note", record)
            self.credit_note_lines[cn_id] = line_records
            self.emit("credit_note.created", "credit_note", record)
            return self.render("credit_note", record)

    def _credit_note_count(self, invoice_id: str) -> int:
        return len(self.tables["credit_note"].page(limit=1000, index=("invoice", invoice_id)).records)

    def _credit_line(self, invoice: Record, cn_id: str, line: dict[str, Any], position: int) -> Record:
        line_type = line.get("type")
        base: Record = {"id": f"cnli_{cn_id.removeprefix('cn_')}{position:02d}", "livemode": False}
        if line_type == "invoice_line_item":
            line_id = str(line.get("invoice_line_item"))
            if item_id_for(line_id) not in self.invoice_lines.get(invoice["id"], []):
                raise invalid(
                    f"No such invoice line item: '{line_id}'", param=f"lines[{position}][invoice_line_item]"
                )
            source = self.line_record(item_id_for(line_id))
            quantity = int(line.get("quantity") or source["quantity"] or 1)
            amount = (
                int(line["amount"])
                if line.get("amount") is not None
                else (source["amount"] * quantity // max(1, source["quantity"] or 1))
            )
            return {
                **base,
                "amount": amount,
                "amount_excluding_tax": amount,
                "description": source["description"],
                "invoice_line_item": line_id,
                "quantity": quantity,
                "type": "invoice_line_item",
                "unit_amount": None,
                "unit_amount_decimal": None,
                "unit_amount_excluding_tax": str(amount // max(1, quantity)),
            }
        if line_type == "custom_line_item":
            if line.get("unit_amount") is None:
                raise invalid("Missing required param: unit_amount.", param=f"lines[{position}][unit_amount]")
            unit_amount = int(line["unit_amount"])
            quantity = int(line.get("quantity") or 1)
            return {
                **base,
                "amount": unit_amount * quantity,
                "amount_excluding_tax": unit_amount * quantity,
                "description": line.get("description"),
                "quantity": quantity,
                "type": "custom_line_item",
                "unit_amount": unit_amount,
                "unit_amount_decimal": str(unit_amount),
                "unit_amount_excluding_tax": str(unit_amount),
            }
        raise invalid(
            "Invalid type: must be one of invoice_line_item or custom_line_item",
            param=f"lines[{position}][type]",
        )

    def _apply_pre_payment(
        self, invoice: Record, amount: int, refund: int | None, credit: int | None, out_of_band: int | None
    ) -> None:
        if refund or credit or out_of_band:
            raise invalid(
                "Refunds, credits and out-of-band amounts can only be given for credit notes on paid invoices.",
                param="refund_amount" if refund else "credit_amount" if credit else "out_of_band_amount",
            )
        remaining = invoice["amount_due"] - invoice["amount_paid"]
        if amount > remaining:
            raise invalid(
                f"The credit note amount ({amount}) cannot exceed the amount remaining on the invoice "
                f"({remaining}).",
                param="amount",
            )
        changes = {
            "pre_payment_credit_notes_amount": invoice["pre_payment_credit_notes_amount"] + amount,
            "amount_due": invoice["amount_due"] - amount,
        }
        self.update_record("invoice", invoice, changes, "invoice.updated")
        if invoice["amount_due"] == invoice["amount_paid"]:
            self._cancel_open_intent(invoice)
            self._mark_paid(invoice)
        else:
            intent = self.tables["payment_intent"].get(invoice["payment_intent"] or "")
            if intent is not None and intent["status"] == "requires_payment_method":
                intent["amount"] = invoice["amount_due"] - invoice["amount_paid"]

    def _settle_post_payment(
        self,
        invoice: Record,
        cn_id: str,
        amount: int,
        refund: int | None,
        credit: int | None,
        out_of_band: int | None,
    ) -> dict[str, Any]:
        if refund is None and credit is None and out_of_band is None:
            credit = amount
        parts = (refund or 0) + (credit or 0) + (out_of_band or 0)
        if parts != amount:
            raise invalid(
                f"The sum of credit amount, refund amount and out of band amount ({parts}) must equal the "
                f"credit note amount ({amount}).",
                param="amount",
            )
        creditable = invoice["amount_paid"] - invoice["post_payment_credit_notes_amount"]
        if amount > creditable:
            raise invalid(
                f"The credit note amount ({amount}) cannot exceed the amount paid on the invoice that has not "
                f"been credited yet ({creditable}).",
                param="amount",
            )
        settled: dict[str, Any] = {"out_of_band_amount": out_of_band}
        if refund:
            if invoice["charge"] is None:
                raise invalid(
                    "This invoice was not paid by a charge, so it cannot be refunded.", param="refund_amount"
                )
            settled["refund"] = self.create_refund(charge_id=invoice["charge"], amount=refund)["id"]
        if credit:
            settled["customer_balance_transaction"] = self.adjust_customer_balance(
                invoice["customer"],
                -credit,
                invoice["currency"],
                transaction_type="credit_note",
                credit_note_id=cn_id,
                invoice_id=invoice["id"],
            )["id"]
        self.update_record(
            "invoice",
            invoice,
            {"post_payment_credit_notes_amount": invoice["post_payment_credit_notes_amount"] + amount},
            "invoice.updated",
        )
        return settled

    def _render_credit_note(self, rendered: dict[str, Any]) -> None:
        lines = self.credit_note_lines.get(rendered["id"], [])
        rendered["lines"] = {
            "object": "list",
            "data": [{**_LINE_TEMPLATE, **line} for line in lines[:10]],
            "has_more": len(lines) > 10,
            "url": f"/v1/credit_notes/{rendered['id']}/lines",
        }

    def credit_note_line_records(self, credit_note_id: str) -> list[dict[str, Any]]:
        with self.lock:
            self.find("credit_note", credit_note_id)
            return [{**_LINE_TEMPLATE, **line} for line in self.credit_note_lines.get(credit_note_id, [])]

    def void_credit_note(self, credit_note_id: str) -> dict[str, Any]:
        with self.lock:
            record = self.find("credit_note", credit_note_id)
            if record["status"] == "void":
                raise invalid("This credit note has already been voided.")
            invoice = self.find("invoice", record["invoice"])
            if record["type"] != "pre_payment" or invoice["status"] != "open":
                raise invalid("You can only void a credit note whose invoice is still open.")
            self.update_record(
                "invoice",
                invoice,
                {
                    "pre_payment_credit_notes_amount": invoice["pre_payment_credit_notes_amount"]
                    - record["amount"],
                    "amount_due": invoice["amount_due"] + record["amount"],
                },
                "invoice.updated",
            )
            intent = self.tables["payment_intent"].get(invoice["payment_intent"] or "")
            if intent is not None and intent["status"] == "requires_payment_method":
                intent["amount"] = invoice["amount_due"] - invoice["amount_paid"]
            self.update_record("credit_note", record, {"status": "void", "voided_at": self.now()}, None)
            self.emit("credit_note.voided", "credit_note", record)
            return self.render("credit_note", record)

    def update_credit_note(self, credit_note_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            record = self.find("credit_note", credit_note_id)
            changes = dict(changes)
            if "metadata" in changes:
                changes["metadata"] = merge_metadata(record["metadata"], changes["metadata"])
            self.update_record("credit_note", record, changes, "credit_note.updated")
            return self.render("credit_note", record)

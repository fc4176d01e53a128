"""Invoices, their lines and invoice items in the Stripe state, with Stripe's status machine.

draft --finalize--> open --pay--> paid; open/uncollectible --void--> void;
open --mark_uncollectible--> uncollectible --pay--> paid. Finalizing assigns `number`, applies
the customer's balance (`starting_balance`/`ending_balance`), and opens a payment intent for
`amount_due`; a zero `amount_due` is paid at once. `amount_remaining = amount_due - amount_paid`.
"""

from __future__ import annotations

from typing import Any

from tieout.sandbox.stripe.collection import Record
from tieout.sandbox.stripe.errors import StripeError, invalid, missing_param
from tieout.sandbox.stripe.params import merge_metadata
from tieout.sandbox.stripe.payouts import PayoutStore

DAY = 86_400


def line_id_for(item_id: str) -> str:
    return "il_" + item_id.removeprefix("ii_")


def item_id_for(line_id: str) -> str:
    return "ii_" + line_id.removeprefix("il_")


LINES_IN_INVOICE = 10


class BillingStore(PayoutStore):
    """Invoice items, invoices and invoice lines."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Invoice id -> ids of its invoice items, in line order. A line is drawn from its item at
        # render time (`il_` + the item id's body), so lines cost no memory of their own.
        self.invoice_lines: dict[str, list[str]] = {}

    # -- invoice items ----------------------------------------------------------------------------

    def create_invoice_item(
        self,
        customer_id: str,
        *,
        amount: int | None = None,
        currency: str | None = None,
        price_id: str | None = None,
        unit_amount: int | None = None,
        quantity: int = 1,
        description: str | None = None,
        invoice_id: str | None = None,
        period_start: int | None = None,
        period_end: int | None = None,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            customer = self.find("customer", customer_id, param="customer", status=400)
            price = None
            if price_id is not None:
                price_record = self.find("price", price_id, param="price", status=400)
                price = self.render("price", price_record)
                unit_amount = price_record["unit_amount"]
                currency = currency or price_record["currency"]
            if amount is None:
                if unit_amount is None:
                    raise missing_param("amount")
                amount = unit_amount * quantity
            elif unit_amount is None:
                unit_amount = amount // quantity if quantity else amount
            invoice = None
            if invoice_id is not None:
                invoice = self.find("invoice", invoice_id, param="invoice", status=400)
                currency = currency or invoice["currency"]
            currency = (currency or customer["currency"] or "").lower()
            if not currency:
                raise missing_param("currency")
            if invoice is not None:
                self._require_draft(invoice, "add invoice items to")
                if invoice["customer"] != customer_id:
                    raise invalid("The invoice belongs to a different customer.", param="invoice")
                if invoice["currency"] != currency:
                    raise invalid(
                        f"The currency of the invoice item ({currency}) must match the invoice's currency "
                        f"({invoice['currency']}).",
                        param="currency",
                    )
            now = self.now()
            record: Record = {
                "id": self.ids.new("ii"),
                "created": now,
                "amount": amount,
                "currency": currency,
                "customer": customer_id,
                "date": now,
                "description": description,
                "invoice": invoice_id,
                "metadata": merge_metadata(None, metadata),
                "period": {"start": period_start or now, "end": period_end or now},
                "price": price,
                "quantity": quantity,
                "unit_amount": unit_amount,
                "unit_amount_decimal": None if unit_amount is None else str(unit_amount),
            }
            self.insert("invoiceitem", record)
            if invoice is not None:
                self._attach_item(invoice, record)
            self.emit("invoiceitem.created", "invoiceitem", record)
            return self.render("invoiceitem", record)

    def update_invoice_item(self, item_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            record = self.find("invoiceitem", item_id)
            changes = dict(changes)
            if "metadata" in changes:
                changes["metadata"] = merge_metadata(record["metadata"], changes["metadata"])
            money = {"amount", "unit_amount", "quantity"} & set(changes)
            if record["invoice"] is not None and set(changes) - {"metadata", "description"}:
                self._require_draft(self.find("invoice", record["invoice"]), "update invoice items on")
            if money:
                quantity = changes.get("quantity", record["quantity"]) or 0
                unit_amount = changes.get("unit_amount", record["unit_amount"]) or 0
                if "amount" not in changes:
                    changes["amount"] = unit_amount * quantity
                changes["unit_amount_decimal"] = str(unit_amount)
            delta = changes.get("amount", record["amount"]) - record["amount"]
            self.update_record("invoiceitem", record, changes, "invoiceitem.updated")
            if record["invoice"] is not None and delta:
                self._add_to_totals(self.find("invoice", record["invoice"]), delta)
            return self.render("invoiceitem", record)

    def delete_invoice_item(self, item_id: str) -> dict[str, Any]:
        with self.lock:
            record = self.find("invoiceitem", item_id)
            if record["invoice"] is not None:
                invoice = self.find("invoice", record["invoice"])
                self._require_draft(invoice, "delete invoice items on")
                self.invoice_lines[invoice["id"]].remove(item_id)
                self._add_to_totals(invoice, -record["amount"])
            self.tables["invoiceitem"].discard(item_id)
            self.deleted[item_id] = "invoiceitem"
            self.emit("invoiceitem.deleted", "invoiceitem", record)
            return {"id": item_id, "object": "invoiceitem", "deleted": True}

    def _attach_item(self, invoice: Record, item: Record) -> None:
        self.invoice_lines.setdefault(invoice["id"], []).append(item["id"])
        self._add_to_totals(invoice, item["amount"])

    def line_record(self, item_id: str) -> Record:
        """The invoice line an invoice item makes, in the shape of the line_item object."""
        item = self.tables["invoiceitem"].records[item_id]
        return {
            "id": line_id_for(item_id),
            "amount": item["amount"],
            "amount_excluding_tax": item["amount"],
            "currency": item["currency"],
            "description": item["description"],
            "invoice": item["invoice"],
            "invoice_item": item_id,
            "metadata": item["metadata"],
            "period": item["period"],
            "price": item["price"],
            "quantity": item["quantity"],
            "unit_amount_excluding_tax": item["unit_amount_decimal"],
        }

    @staticmethod
    def _add_to_totals(invoice: Record, delta: int) -> None:
        invoice["subtotal"] += delta
        invoice["total"] += delta
        invoice["amount_due"] += delta

    # -- invoices ---------------------------------------------------------------------------------

    def create_invoice(
        self,
        customer_id: str,
        *,
        currency: str | None = None,
        collection_method: str = "charge_automatically",
        days_until_due: int | None = None,
        due_date: int | None = None,
        description: str | None = None,
        auto_advance: bool | None = None,
        include_pending_items: bool = False,
        lines: list[dict[str, Any]] | None = None,
        period_start: int | None = None,
        period_end: int | None = None,
        metadata: dict[str, str] | None = None,
        tax: int | None = None,
    ) -> dict[str, Any]:
        """A draft invoice. `lines` (seeding only) are invoice items to add: dicts with `amount`
        or `unit_amount`/`quantity` or `price_id`, and optional `description`, `period_start`,
        `period_end`, `metadata`. `tax` (seeding only) is the invoice's tax in minor units, as
        Stripe Tax or tax rates would compute it: part of `total` and `amount_due`, not of `subtotal`."""
        with self.lock:
            customer = self.find("customer", customer_id, param="customer", status=400)
            if collection_method not in ("charge_automatically", "send_invoice"):
                raise invalid(
                    "Invalid collection_method: must be one of charge_automatically or send_invoice",
                    param="collection_method",
                )
            now = self.now()
            if collection_method == "send_invoice":
                if due_date is None and days_until_due is None:
                    raise invalid(
                        "Invoices with `collection_method=send_invoice` must have a `due_date` or "
                        "`days_until_due` set.",
                        param="days_until_due",
                    )
                if due_date is None:
                    due_date = now + DAY * (days_until_due or 0)
            elif due_date is not None or days_until_due is not None:
                raise invalid(
                    "You can only set `due_date` or `days_until_due` if `collection_method` is `send_invoice`.",
                    param="due_date" if due_date is not None else "days_until_due",
                )
            record: Record = {
                "id": self.ids.new("in"),
                "created": now,
                "customer": customer_id,
                "currency": (currency or customer["currency"] or "usd").lower(),
                "collection_method": collection_method,
                "customer_email": customer["email"],
                "customer_name": customer["name"],
                "description": description,
                "due_date": due_date,
                "auto_advance": bool(auto_advance),
                "metadata": merge_metadata(None, metadata),
                "status": "draft",
                "number": None,
                "period_start": period_start or now,
                "period_end": period_end or now,
                "subtotal": 0,
                "tax": tax,
                "total": tax or 0,
                "amount_due": tax or 0,
                "amount_paid": 0,
                "starting_balance": 0,
                "ending_balance": None,
                "pre_payment_credit_notes_amount": 0,
                "post_payment_credit_notes_amount": 0,
                "status_transitions": {
                    "finalized_at": None,
                    "marked_uncollectible_at": None,
                    "paid_at": None,
                    "voided_at": None,
                },
                "charge": None,
                "payment_intent": None,
                "paid_out_of_band": False,
                "attempt_count": 0,
                "attempted": False,
                "effective_at": None,
            }
            self.insert("invoice", record)
            self.invoice_lines[record["id"]] = []
            if include_pending_items:
                for item in list(
                    self.tables["invoiceitem"]
                    .page(
                        limit=10_000,
                        index=("customer", customer_id),
                        predicate=lambda i: i["invoice"] is None and i["currency"] == record["currency"],
                    )
                    .records
                )[::-1]:
                    item["invoice"] = record["id"]
                    self._attach_item(record, item)
            self.emit("invoice.created", "invoice", record)
            for line in lines or []:
                self.create_invoice_item(
                    customer_id,
                    amount=line.get("amount"),
                    unit_amount=line.get("unit_amount"),
                    quantity=line.get("quantity", 1),
                    price_id=line.get("price_id"),
                    currency=record["currency"],
                    description=line.get("description"),
                    invoice_id=record["id"],
                    period_start=line.get("period_start"),
                    period_end=line.get("period_end"),
                    metadata=line.get("metadata"),
                )
            return self.render("invoice", record)

    def _render_invoice(self, rendered: dict[str, Any]) -> None:
        line_ids = self.invoice_lines.get(rendered["id"], [])
        rendered["lines"] = {
            "object": "list",
            "data": [self.render("line_item", self.line_record(i)) for i in line_ids[:LINES_IN_INVOICE]],
            "has_more": len(line_ids) > LINES_IN_INVOICE,
            "url": f"/v1/invoices/{rendered['id']}/lines",
        }
        rendered["amount_remaining"] = rendered["amount_due"] - rendered["amount_paid"]
        rendered["paid"] = rendered["status"] == "paid"
        rendered["subtotal_excluding_tax"] = rendered["subtotal"]
        rendered["total_excluding_tax"] = rendered["total"] - (rendered["tax"] or 0)

    def invoice_line_page(
        self, invoice_id: str, *, limit: int, starting_after: str | None, ending_before: str | None
    ) -> tuple[list[dict[str, Any]], bool]:
        """Lines in invoice order (Stripe lists them oldest first), paged by line id."""
        with self.lock:
            self.find("invoice", invoice_id)
            line_ids = [line_id_for(i) for i in self.invoice_lines.get(invoice_id, [])]
            if ending_before is not None:
                if ending_before not in line_ids:
                    raise invalid(f"No such line item: '{ending_before}'", param="ending_before")
                end = line_ids.index(ending_before)
                start = max(0, end - limit)
                chosen, has_more = line_ids[start:end], start > 0
            else:
                start = 0
                if starting_after is not None:
                    if starting_after not in line_ids:
                        raise invalid(f"No such line item: '{starting_after}'", param="starting_after")
                    start = line_ids.index(starting_after) + 1
                chosen = line_ids[start : start + limit]
                has_more = start + limit < len(line_ids)
            return [self.render("line_item", self.line_record(item_id_for(i))) for i in chosen], has_more

    @staticmethod
    def _require_draft(invoice: Record, action: str) -> None:
        if invoice["status"] != "draft":
            raise StripeError(
                f"You can only {action} draft invoices; invoice {invoice['id']} is {invoice['status']}.",
                code="invoice_not_editable",
            )

    def update_invoice(self, invoice_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            record = self.find("invoice", invoice_id)
            changes = dict(changes)
            if "metadata" in changes:
                changes["metadata"] = merge_metadata(record["metadata"], changes["metadata"])
            draft_only = set(changes) & {"collection_method", "days_until_due", "currency"}
            if draft_only and record["status"] != "draft":
                raise StripeError(
                    f"Finalized invoices can't be updated in this way ({', '.join(sorted(draft_only))}).",
                    code="invoice_not_editable",
                )
            if record["status"] in ("paid", "void") and set(changes) - {"metadata", "description"}:
                raise StripeError(
                    f"This invoice is {record['status']}; only its metadata and description can change.",
                    code="invoice_not_editable",
                )
            days = changes.pop("days_until_due", None)
            if days is not None:
                changes["due_date"] = record["created"] + DAY * days
            self.update_record("invoice", record, changes, "invoice.updated")
            return self.render("invoice", record)

    def delete_invoice(self, invoice_id: str) -> dict[str, Any]:
        with self.lock:
            record = self.find("invoice", invoice_id)
            if record["status"] != "draft":
                raise invalid("You can only delete draft invoices.")
            for item_id in self.invoice_lines.pop(invoice_id, []):
                self.tables["invoiceitem"].discard(item_id)
            self.tables["invoice"].discard(invoice_id)
            self.emit("invoice.deleted", "invoice", record)
            return {"id": invoice_id, "object": "invoice", "deleted": True}

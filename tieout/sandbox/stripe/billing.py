"""Invoices in the Stripe state: create, update, delete, render, and their lines' pages.

The status machine they move through (invoicing.py):

draft --finalize--> open --pay--> paid; open/uncollectible --void--> void;
open --mark_uncollectible--> uncollectible --pay--> paid. Finalizing assigns `number`, applies
the customer's balance (`starting_balance`/`ending_balance`), and opens a payment intent for
`amount_due`; a zero `amount_due` is paid at once. `amount_remaining = amount_due - amount_paid`.
"""

from __future__ import annotations

from typing import Any

from tieout.sandbox.stripe.collection import Record
from tieout.sandbox.stripe.errors import StripeError, invalid
from tieout.sandbox.stripe.invoice_items import InvoiceItemStore, item_id_for, line_id_for
from tieout.sandbox.stripe.params import merge_metadata

DAY = 86_400


LINES_IN_INVOICE = 10


class BillingStore(InvoiceItemStore):
    """Invoices and their lines."""

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
        `period_end`, `metadata`, `tax_rate_ids`. `tax` (seeding only) is invoice-level tax in minor
        units, as Stripe Tax would compute it: it joins any tax from line tax rates in `tax` and
        `total` (so `amount_due`), not in `subtotal`."""
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
                "subtotal_excluding_tax": 0,
                "tax": None,
                "total": 0,
                "total_excluding_tax": 0,
                "amount_due": 0,
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
            if tax is not None:
                self.invoice_seeded_tax[record["id"]] = tax
                self._recompute_totals(record)
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
                    tax_rate_ids=line.get("tax_rate_ids"),
                )
            return self.render("invoice", record)

    def _snapshot_invoice(self, copied: Record) -> None:
        # An event shows the lines the invoice had when it happened, not the ones added later.
        copied["event_line_ids"] = list(self.invoice_lines.get(copied["id"], ()))

    def _render_invoice(self, rendered: dict[str, Any]) -> None:
        line_ids = rendered.pop("event_line_ids", None)
        if line_ids is None:
            line_ids = self.invoice_lines.get(rendered["id"], [])
        rendered["lines"] = {
            "object": "list",
            "data": [self.render("line_item", self.line_record(i)) for i in line_ids[:LINES_IN_INVOICE]],
            "has_more": len(line_ids) > LINES_IN_INVOICE,
            "url": f"/v1/invoices/{rendered['id']}/lines",
        }
        rendered["amount_remaining"] = rendered["amount_due"] - rendered["amount_paid"]
        rendered["paid"] = rendered["status"] == "paid"

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

    def update_invoice(self, invoice_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            record = self.find("invoice", invoice_id)
            changes = dict(changes)
            if "metadata" in changes:
                changes["metadata"] = merge_metadata(record["metadata"], changes["metadata"])
            draft_only = set(changes) & {"collection_method", "days_until_due", "currency", "number"}
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

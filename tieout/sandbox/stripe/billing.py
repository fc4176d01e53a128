"""Invoices, their lines and invoice items in the Stripe state, with Stripe's status machine.

draft --finalize--> open --pay--> paid; open/uncollectible --void--> void;
open --mark_uncollectible--> uncollectible --pay--> paid. Finalizing assigns `number`, applies
the customer's balance (`starting_balance`/`ending_balance`), and opens a payment intent for
`amount_due`; a zero `amount_due` is paid at once. `amount_remaining = amount_due - amount_paid`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tieout.sandbox.stripe.collection import Record
from tieout.sandbox.stripe.errors import StripeError, invalid, missing_param
from tieout.sandbox.stripe.params import merge_metadata
from tieout.sandbox.stripe.payouts import PayoutStore

DAY = 86_400


def line_id_for(item_id: str) -> str:
    return "il_" + item_id.removeprefix("ii_")


def _decimal_text(value: Decimal) -> str:
    """Stripe's decimal strings: up to 12 places, no trailing zeros, never exponent notation."""
    text = f"{value.quantize(Decimal('0.000000000001')):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


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
        # Invoice-level tax given at seeding (as Stripe Tax would compute it), by invoice id.
        self.invoice_seeded_tax: dict[str, int] = {}

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
        tax_rate_ids: list[str] | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            customer = self.find("customer", customer_id, param="customer", status=400)
            rate_ids = self.checked_tax_rates(tax_rate_ids, "tax_rates")
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
            if rate_ids:
                record["tax_rate_ids"] = rate_ids  # rendered as `tax_rates` objects
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
                self._recompute_totals(self.find("invoice", record["invoice"]))
            return self.render("invoiceitem", record)

    def delete_invoice_item(self, item_id: str) -> dict[str, Any]:
        with self.lock:
            record = self.find("invoiceitem", item_id)
            if record["invoice"] is not None:
                invoice = self.find("invoice", record["invoice"])
                self._require_draft(invoice, "delete invoice items on")
                self.invoice_lines[invoice["id"]].remove(item_id)
                self._recompute_totals(invoice)
            self.tables["invoiceitem"].discard(item_id)
            self.deleted[item_id] = "invoiceitem"
            self.emit("invoiceitem.deleted", "invoiceitem", record)
            return {"id": item_id, "object": "invoiceitem", "deleted": True}

    def _attach_item(self, invoice: Record, item: Record) -> None:
        self.invoice_lines.setdefault(invoice["id"], []).append(item["id"])
        self._recompute_totals(invoice)

    def _render_invoiceitem(self, rendered: dict[str, Any]) -> None:
        rate_ids = rendered.pop("tax_rate_ids", None)
        if rate_ids:
            table = self.tables["tax_rate"].records
            rendered["tax_rates"] = [self.render("tax_rate", table[rate_id]) for rate_id in rate_ids]

    def line_record(self, item_id: str) -> Record:
        """The invoice line an invoice item makes, in the shape of the line_item object."""
        item = self.tables["invoiceitem"].records[item_id]
        rate_ids = item.get("tax_rate_ids", ())
        line: Record = {
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
        if rate_ids:
            amounts = self.tax_amounts(item["amount"], list(rate_ids))
            inclusive = sum(a["amount"] for a in amounts if a["inclusive"])
            excluding = item["amount"] - inclusive
            table = self.tables["tax_rate"].records
            line.update(
                amount_excluding_tax=excluding,
                tax_amounts=amounts,
                tax_rates=[self.render("tax_rate", table[rate_id]) for rate_id in rate_ids],
                unit_amount_excluding_tax=_decimal_text(Decimal(excluding) / max(1, item["quantity"] or 1)),
            )
        return line

    def _recompute_totals(self, invoice: Record) -> None:
        """Totals of a draft from its lines' amounts and tax rates, plus any seeded invoice-level tax."""
        items = self.tables["invoiceitem"].records
        subtotal = exclusive = inclusive = 0
        by_rate: dict[tuple[str, bool], list[int]] = {}
        for item_id in self.invoice_lines.get(invoice["id"], []):
            item = items[item_id]
            subtotal += item["amount"]
            for share in self.tax_amounts(item["amount"], item.get("tax_rate_ids", [])):
                if share["inclusive"]:
                    inclusive += share["amount"]
                else:
                    exclusive += share["amount"]
                sums = by_rate.setdefault((share["tax_rate"], share["inclusive"]), [0, 0])
                sums[0] += share["amount"]
                sums[1] += share["taxable_amount"]
        seeded_tax = self.invoice_seeded_tax.get(invoice["id"])
        taxed = bool(by_rate) or seeded_tax is not None
        tax = exclusive + inclusive + (seeded_tax or 0)
        total = subtotal + exclusive + (seeded_tax or 0)
        invoice.update(
            subtotal=subtotal,
            subtotal_excluding_tax=subtotal - inclusive,
            tax=tax if taxed else None,
            total=total,
            total_excluding_tax=total - tax,
            total_tax_amounts=[
                {
                    "amount": amount,
                    "inclusive": is_inclusive,
                    "tax_rate": rate_id,
                    "taxability_reason": None,
                    "taxable_amount": taxable,
                }
                for (rate_id, is_inclusive), (amount, taxable) in by_rate.items()
            ],
            amount_due=total,
        )

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

"""Invoice items and the lines they make on draft invoices, with tax and totals.

A line is drawn from its invoice item at render time (line id `il_` + the item id's body), so
lines cost no memory of their own. A draft's totals are recomputed from its lines whenever they
change: `subtotal` (line amounts), `tax` (line tax rates plus seeded invoice-level tax), `total`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tieout.sandbox.stripe.collection import Record
from tieout.sandbox.stripe.errors import StripeError, invalid, missing_param
from tieout.sandbox.stripe.params import merge_metadata
from tieout.sandbox.stripe.payouts import PayoutStore


def line_id_for(item_id: str) -> str:
    return "il_" + item_id.removeprefix("ii_")


def _decimal_text(value: Decimal) -> str:
    """Stripe's decimal strings: up to 12 places, no trailing zeros, never exponent notation."""
    text = f"{value.quantize(Decimal('0.000000000001')):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def item_id_for(line_id: str) -> str:
    return "ii_" + line_id.removeprefix("il_")


class InvoiceItemStore(PayoutStore):
    """Invoice items, invoice lines and draft totals."""

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

    @staticmethod
    def _require_draft(invoice: Record, action: str) -> None:
        if invoice["status"] != "draft":
            raise StripeError(
                f"You can only {action} draft invoices; invoice {invoice['id']} is {invoice['status']}.",
                code="invoice_not_editable",
            )

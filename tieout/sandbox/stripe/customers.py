"""Customers, customer balance transactions, products and prices of the Stripe state."""

from __future__ import annotations

from typing import Any

from tieout.sandbox.stripe.collection import Record
from tieout.sandbox.stripe.errors import invalid
from tieout.sandbox.stripe.params import merge_metadata
from tieout.sandbox.stripe.store import StripeStore

_PREFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


class CustomerStore(StripeStore):
    """Customer-side records; every public method takes the lock and returns the API shape."""

    # -- customers ------------------------------------------------------------------------------

    def create_customer(
        self,
        *,
        email: str | None = None,
        name: str | None = None,
        description: str | None = None,
        phone: str | None = None,
        currency: str | None = None,
        balance: int = 0,
        tax_exempt: str = "none",
        invoice_prefix: str | None = None,
        preferred_locales: list[str] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            prefix = invoice_prefix or "".join(
                _PREFIX_ALPHABET[ord(c) % len(_PREFIX_ALPHABET)] for c in self.ids.token(8)
            )
            record: Record = {
                "id": self.ids.new("cus"),
                "created": self.now(),
                "email": email,
                "name": name,
                "description": description,
                "phone": phone,
                "currency": currency.lower() if currency else None,
                "balance": balance,
                "tax_exempt": tax_exempt,
                "invoice_prefix": prefix,
                "next_invoice_sequence": 1,
                "preferred_locales": preferred_locales or [],
                "metadata": merge_metadata(None, metadata),
            }
            self.insert("customer", record)
            self.emit("customer.created", "customer", record)
            return self.render("customer", record)

    def update_customer(self, customer_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """`changes` holds API field values; `metadata` is merged the Stripe way."""
        with self.lock:
            record = self.find("customer", customer_id)
            changes = dict(changes)
            if "metadata" in changes:
                changes["metadata"] = merge_metadata(record["metadata"], changes["metadata"])
            new_balance = changes.pop("balance", None)
            self.update_record("customer", record, changes, "customer.updated")
            if new_balance is not None and new_balance != record["balance"]:
                # Stripe records a direct balance change as an `adjustment` balance transaction.
                self.adjust_customer_balance(
                    customer_id, new_balance - record["balance"], record["currency"] or "usd"
                )
            return self.render("customer", record)

    def delete_customer(self, customer_id: str) -> dict[str, Any]:
        with self.lock:
            record = self.find("customer", customer_id)
            self.tables["customer"].discard(customer_id)
            self.deleted[customer_id] = "customer"
            self.emit("customer.deleted", "customer", record)
            return {"id": customer_id, "object": "customer", "deleted": True}

    # -- customer balance -----------------------------------------------------------------------

    def adjust_customer_balance(
        self,
        customer_id: str,
        amount: int,
        currency: str,
        *,
        description: str | None = None,
        transaction_type: str = "adjustment",
        invoice_id: str | None = None,
        credit_note_id: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Add `amount` to the customer's balance (negative = credit owed to the customer)."""
        with self.lock:
            customer = self.find("customer", customer_id)
            currency = currency.lower()
            if customer["currency"] is None:
                customer["currency"] = currency
            elif customer["currency"] != currency:
                raise invalid(
                    f"The currency of this customer balance transaction ({currency}) must match the "
                    f"customer's currency ({customer['currency']}).",
                    param="currency",
                )
            ending = customer["balance"] + amount
            record: Record = {
                "id": self.ids.new("cbtxn"),
                "created": self.now(),
                "amount": amount,
                "currency": currency,
                "customer": customer_id,
                "description": description,
                "ending_balance": ending,
                "type": transaction_type,
                "invoice": invoice_id,
                "credit_note": credit_note_id,
                "metadata": merge_metadata(None, metadata) if metadata is not None else {},
            }
            self.insert("customer_balance_transaction", record)
            self.update_record("customer", customer, {"balance": ending}, "customer.updated")
            return self.render("customer_balance_transaction", record)

    # -- products and prices --------------------------------------------------------------------

    def create_product(
        self,
        name: str,
        *,
        description: str | None = None,
        active: bool = True,
        unit_label: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            now = self.now()
            record: Record = {
                "id": self.ids.new("prod"),
                "created": now,
                "updated": now,
                "name": name,
                "description": description,
                "active": active,
                "unit_label": unit_label,
                "metadata": merge_metadata(None, metadata),
            }
            self.insert("product", record)
            self.emit("product.created", "product", record)
            return self.render("product", record)

    def update_product(self, product_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            record = self.find("product", product_id)
            changes = dict(changes)
            if "metadata" in changes:
                changes["metadata"] = merge_metadata(record["metadata"], changes["metadata"])
            if "default_price" in changes and changes["default_price"] is not None:
                price = self.find("price", changes["default_price"], param="default_price", status=400)
                if price["product"] != product_id:
                    raise invalid("The default price must belong to this product.", param="default_price")
            before = dict(record)
            self.update_record("product", record, changes, None)
            if record != before:
                record["updated"] = self.now()
                self.emit(
                    "product.updated",
                    "product",
                    record,
                    {k: before.get(k) for k in changes if before.get(k) != record.get(k)},
                )
            return self.render("product", record)

    def create_price(
        self,
        product_id: str,
        currency: str,
        unit_amount: int,
        *,
        recurring_interval: str | None = None,
        recurring_interval_count: int = 1,
        nickname: str | None = None,
        lookup_key: str | None = None,
        active: bool = True,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            self.find("product", product_id, param="product", status=400)
            if unit_amount < 0:
                raise invalid("This value must be greater than or equal to 0.", param="unit_amount")
            recurring = None
            if recurring_interval is not None:
                if recurring_interval not in ("day", "week", "month", "year"):
                    raise invalid(
                        "Invalid recurring[interval]: must be one of day, week, month, or year",
                        param="recurring[interval]",
                    )
                recurring = {
                    "aggregate_usage": None,
                    "interval": recurring_interval,
                    "interval_count": recurring_interval_count,
                    "meter": None,
                    "trial_period_days": None,
                    "usage_type": "licensed",
                }
            record: Record = {
                "id": self.ids.new("price"),
                "created": self.now(),
                "product": product_id,
                "currency": currency.lower(),
                "unit_amount": unit_amount,
                "unit_amount_decimal": str(unit_amount),
                "recurring": recurring,
                "type": "recurring" if recurring else "one_time",
                "nickname": nickname,
                "lookup_key": lookup_key,
                "active": active,
                "metadata": merge_metadata(None, metadata),
            }
            self.insert("price", record)
            self.emit("price.created", "price", record)
            return self.render("price", record)

    def update_price(self, price_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            record = self.find("price", price_id)
            changes = dict(changes)
            if "metadata" in changes:
                changes["metadata"] = merge_metadata(record["metadata"], changes["metadata"])
            self.update_record("price", record, changes, "price.updated")
            return self.render("price", record)

"""Tax rates, and the tax they put on an invoice line.

An exclusive rate adds `round(amount * percentage / 100)` on top of the line; an inclusive rate
is already inside the line amount, so its tax is `amount - round(amount / (1 + percentage / 100))`.
Invoices sum them into `tax` and `total_tax_amounts`; `total = subtotal + exclusive tax`.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from tieout.sandbox.stripe.collection import Record
from tieout.sandbox.stripe.customers import CustomerStore
from tieout.sandbox.stripe.errors import invalid
from tieout.sandbox.stripe.params import merge_metadata

TAX_TYPES = (
    "amusement_tax",
    "communications_tax",
    "gst",
    "hst",
    "igst",
    "jct",
    "lease_tax",
    "pst",
    "qst",
    "rst",
    "sales_tax",
    "vat",
)


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def line_tax(amount: int, rate: Record) -> int:
    percentage = Decimal(str(rate["percentage"]))
    if rate["inclusive"]:
        return amount - _round(Decimal(amount) / (1 + percentage / 100))
    return _round(Decimal(amount) * percentage / 100)


class TaxRateStore(CustomerStore):
    """Tax rates and per-line tax amounts."""

    def create_tax_rate(
        self,
        display_name: str,
        percentage: float,
        *,
        inclusive: bool = False,
        country: str | None = None,
        state: str | None = None,
        jurisdiction: str | None = None,
        tax_type: str | None = None,
        description: str | None = None,
        active: bool = True,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            if not 0 <= percentage <= 100:
                raise invalid("The percentage must be between 0 and 100.", param="percentage")
            if tax_type is not None and tax_type not in TAX_TYPES:
                raise invalid(f"Invalid tax_type: must be one of {', '.join(TAX_TYPES)}", param="tax_type")
            record: Record = {
                "id": self.ids.new("txr"),
                "created": self.now(),
                "display_name": display_name,
                "percentage": percentage,
                "inclusive": inclusive,
                "country": country,
                "state": state,
                "jurisdiction": jurisdiction,
                "tax_type": tax_type,
                "description": description,
                "active": active,
                "metadata": merge_metadata(None, metadata),
            }
            self.insert("tax_rate", record)
            self.emit("tax_rate.created", "tax_rate", record)
            return self.render("tax_rate", record)

    def update_tax_rate(self, tax_rate_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            record = self.find("tax_rate", tax_rate_id)
            changes = dict(changes)
            if "metadata" in changes:
                changes["metadata"] = merge_metadata(record["metadata"], changes["metadata"])
            self.update_record("tax_rate", record, changes, "tax_rate.updated")
            return self.render("tax_rate", record)

    def checked_tax_rates(self, tax_rate_ids: list[str] | None, param: str) -> list[str]:
        rate_ids = list(tax_rate_ids or [])
        for position, rate_id in enumerate(rate_ids):
            rate = self.find("tax_rate", rate_id, param=f"{param}[{position}]", status=400)
            if not rate["active"]:
                raise invalid(
                    f"Tax rate {rate_id} is inactive and cannot be applied.", param=f"{param}[{position}]"
                )
        return rate_ids

    def tax_amounts(self, amount: int, tax_rate_ids: list[str]) -> list[dict[str, Any]]:
        """The `tax_amounts` of a line of `amount` under these rates."""
        table = self.tables["tax_rate"].records
        result = []
        for rate_id in tax_rate_ids:
            rate = table[rate_id]
            tax = line_tax(amount, rate)
            taxable = amount - tax if rate["inclusive"] else amount
            result.append(
                {
                    "amount": tax,
                    "inclusive": rate["inclusive"],
                    "tax_rate": rate_id,
                    "taxability_reason": None,
                    "taxable_amount": taxable,
                }
            )
        return result

"""Per-object business rules: derived fields, roll-ups and the validations Salesforce enforces.

`derive` fills the fields Salesforce computes (Opportunity IsWon/IsClosed from the stage, Contract
EndDate from StartDate + ContractTerm, line item prices from the price book entry, Contact Name);
`check` raises the errors Salesforce raises for inconsistent records; `rollup` recomputes a parent's
totals (Opportunity Amount, Order TotalAmount) from its live children.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .errors import SalesforceApiError
from .schema import CONTRACT_STATUSES, OPPORTUNITY_STAGES, ORDER_STATUSES

Record = dict[str, Any]
Lookup = Callable[[str, str | None], Record | None]


def _integrity(field: str, detail: str) -> SalesforceApiError:
    return SalesforceApiError(
        "FIELD_INTEGRITY_EXCEPTION", f"field integrity exception: {field} ({detail})", fields=[field]
    )


def _money(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def add_months(start: date, months: int) -> date:
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def derive(object_name: str, record: Record, changed: set[str], lookup: Lookup, created: bool) -> None:
    """Fill computed fields of `record` in place; `changed` names the fields the caller set."""
    now = record["LastModifiedDate"]
    if object_name == "Contact":
        record["Name"] = " ".join(p for p in (record.get("FirstName"), record.get("LastName")) if p)
    elif object_name == "Opportunity":
        probability, is_closed, is_won, forecast = OPPORTUNITY_STAGES[record["StageName"]]
        if "StageName" in changed and ("Probability" not in changed or record.get("Probability") is None):
            record["Probability"] = float(probability)
        record["IsClosed"], record["IsWon"], record["ForecastCategoryName"] = is_closed, is_won, forecast
        record.setdefault("HasOpportunityLineItem", False)
    elif object_name in ("PricebookEntry", "OpportunityLineItem", "OrderItem"):
        _derive_priced(object_name, record, changed, lookup, created)
    elif object_name == "Contract":
        record["StatusCode"] = CONTRACT_STATUSES[record["Status"]]
        start, term = record.get("StartDate"), record.get("ContractTerm")
        record["EndDate"] = add_months(start, term) - timedelta(days=1) if start and term else None
        if record["StatusCode"] == "Activated" and record.get("ActivatedDate") is None:
            record["ActivatedDate"] = now
    elif object_name == "Order":
        record["StatusCode"] = ORDER_STATUSES[record["Status"]]
        if record["StatusCode"] == "Activated" and record.get("ActivatedDate") is None:
            record["ActivatedDate"] = now
        record.setdefault("TotalAmount", 0.0)


def _derive_priced(
    object_name: str, record: Record, changed: set[str], lookup: Lookup, created: bool
) -> None:
    if object_name == "PricebookEntry":
        product = lookup("Product2", record["Product2Id"])
        assert product is not None
        record["Name"], record["ProductCode"] = product["Name"], product.get("ProductCode")
        return
    entry = lookup("PricebookEntry", record["PricebookEntryId"])
    assert entry is not None
    product = lookup("Product2", entry["Product2Id"])
    assert product is not None
    record["Product2Id"], record["ListPrice"] = entry["Product2Id"], entry["UnitPrice"]
    if object_name == "OrderItem":
        order = lookup("Order", record["OrderId"])
        assert order is not None
        record["CurrencyIsoCode"] = order["CurrencyIsoCode"]
        record["TotalPrice"] = _money(Decimal(str(record["Quantity"])) * Decimal(str(record["UnitPrice"])))
        return
    opportunity = lookup("Opportunity", record["OpportunityId"])
    assert opportunity is not None
    record["CurrencyIsoCode"] = opportunity["CurrencyIsoCode"]
    record["ProductCode"] = product.get("ProductCode")
    record["Name"] = f"{opportunity['Name']} {product['Name']}"[:376]
    quantity = Decimal(str(record["Quantity"]))
    discount = Decimal(str(record.get("Discount") or 0)) / 100
    if created and "UnitPrice" in changed and "TotalPrice" in changed:
        raise _integrity("TotalPrice", "you cannot set both TotalPrice and UnitPrice")
    if "TotalPrice" in changed and record.get("TotalPrice") is not None and "UnitPrice" not in changed:
        unit = Decimal(str(record["TotalPrice"])) / quantity / (1 - discount) if quantity else Decimal(0)
        record["UnitPrice"] = _money(unit)
    if record.get("UnitPrice") is None:
        raise _integrity("unknown", "must specify either UnitPrice or TotalPrice")
    if "TotalPrice" not in changed or "UnitPrice" in changed or "Quantity" in changed:
        record["TotalPrice"] = _money(quantity * Decimal(str(record["UnitPrice"])) * (1 - discount))


def check(
    object_name: str,
    record: Record,
    lookup: Lookup,
    standard_pricebook_id: str,
    entries_for: Callable[[str, str, str], Iterable[Record]],
) -> None:
    """Cross-record validations; raises SalesforceApiError like the real org."""
    if object_name == "PricebookEntry":
        product_id, currency = record["Product2Id"], record["CurrencyIsoCode"]
        same = [
            e for e in entries_for(record["Pricebook2Id"], product_id, currency) if e["Id"] != record["Id"]
        ]
        if same:
            raise SalesforceApiError(
                "DUPLICATE_VALUE", "This price definition already exists in this price book"
            )
        if record["Pricebook2Id"] != standard_pricebook_id:
            if not any(entries_for(standard_pricebook_id, product_id, currency)):
                raise SalesforceApiError(
                    "STANDARD_PRICE_NOT_DEFINED",
                    "Before creating a custom price, create a standard price.",
                    fields=["Pricebook2Id"],
                )
        elif record.get("UseStandardPrice"):
            raise _integrity("UseStandardPrice", "standard price book entries cannot use the standard price")
    elif object_name in ("OpportunityLineItem", "OrderItem"):
        parent_name, parent_field = (
            ("Opportunity", "OpportunityId") if object_name == "OpportunityLineItem" else ("Order", "OrderId")
        )
        parent = lookup(parent_name, record[parent_field])
        entry = lookup("PricebookEntry", record["PricebookEntryId"])
        assert parent is not None and entry is not None
        if not entry.get("IsActive"):
            raise _integrity("PricebookEntryId", "pricebook entry is inactive")
        if entry["CurrencyIsoCode"] != parent["CurrencyIsoCode"]:
            raise _integrity(
                "PricebookEntryId",
                f"pricebook entry currency code does not match {parent_name.lower()} currency code",
            )
        if parent.get("Pricebook2Id") not in (None, entry["Pricebook2Id"]) or (
            object_name == "OrderItem" and parent.get("Pricebook2Id") is None
        ):
            raise _integrity(
                "PricebookEntryId",
                f"pricebook entry is in a different pricebook than the one assigned to the {parent_name.lower()}"
                + (", or the order has no pricebook assigned" if object_name == "OrderItem" else ""),
            )


def rollup(parent_name: str, parent: Record, children: Iterable[Record]) -> dict[str, Any]:
    """The roll-up fields of an Opportunity or Order from its live line items."""
    items = list(children)
    total = _money(sum((Decimal(str(c["TotalPrice"])) for c in items), Decimal(0)))
    if parent_name == "Opportunity":
        if not items:
            return {"HasOpportunityLineItem": False}
        return {"HasOpportunityLineItem": True, "Amount": total}
    return {"TotalAmount": total}

"""Salesforce Opportunity (with its OpportunityLineItems) -> canonical Contract.

The connector embeds the line items under `OpportunityLineItems` in the shape of a
parent-to-child subquery (`{"totalSize", "done", "records"}`), each line carrying
`Product2.{ProductCode, Name, Family}` and `PricebookEntry.{UnitPrice, Pricebook2Id}`.

- status: IsWon -> active; closed and not won (Closed Lost) -> cancelled; open (including a
  won deal reopened) -> draft. Deleted opportunities keep their last status and `deleted=True`.
- starts_on: the earliest line ServiceDate, else CloseDate. An opportunity has no end date.
- total_value: Amount (pre-tax; Salesforce opportunities carry no tax).
- lines: product_id is the SKU (`Product2.ProductCode`, else the Product2 id); unit_price is the
  sales price after the line's Discount percent; quantity is Quantity; starts_on is ServiceDate.
- pricing model: by `Product2.Family`, through the value map `salesforce_product_family_pricing`
  when configured, else `DEFAULT_FAMILY_PRICING` (a family not in the table is per_unit).
  Salesforce keeps no billing frequency, so it follows the model: per_unit is billed in arrears,
  flat once, everything else monthly.
- links: metronome from Metronome_Contract_Id__c (custom field `metronome_contract_id`).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tieout.errors import MappingError
from tieout.mappings.context import MappingContext
from tieout.model import BillingFrequency, Contract, ContractLine, ContractStatus, PricingModel
from tieout.money import Money

from . import values

FAMILY_PRICING_MAP = "salesforce_product_family_pricing"
DEFAULT_FAMILY_PRICING: dict[str, PricingModel] = {
    "Usage": PricingModel.PER_UNIT,
    "Platform": PricingModel.SUBSCRIPTION,
    "Support": PricingModel.SUBSCRIPTION,
    "Services": PricingModel.FLAT,
}
FREQUENCY_BY_MODEL: dict[PricingModel, BillingFrequency] = {
    PricingModel.PER_UNIT: BillingFrequency.IN_ARREARS,
    PricingModel.FLAT: BillingFrequency.ONE_TIME,
}


def _status(payload: Mapping[str, Any]) -> ContractStatus:
    if values.flag(payload, "IsWon", "IsWon"):
        return ContractStatus.ACTIVE
    if values.flag(payload, "IsClosed", "IsClosed"):
        return ContractStatus.CANCELLED
    return ContractStatus.DRAFT


def _pricing_model(family: str | None, context: MappingContext, path: str) -> PricingModel:
    configured = context.fields.value_maps.get(FAMILY_PRICING_MAP)
    if configured is not None and family is not None and family in configured:
        name = configured[family]
        try:
            return PricingModel(name)
        except ValueError:
            raise MappingError(
                f"value map {FAMILY_PRICING_MAP!r} names an unknown pricing model {name!r}",
                field_path=path,
                value=family,
            ) from None
    if family is None:
        return PricingModel.PER_UNIT
    return DEFAULT_FAMILY_PRICING.get(family, PricingModel.PER_UNIT)


def _related(line: Mapping[str, Any], name: str, path: str) -> Mapping[str, Any]:
    related = line.get(name)
    if related is None:
        return {}
    if not isinstance(related, Mapping):
        raise MappingError("expected a related record", field_path=path, value=related)
    return related


def _line(line: Mapping[str, Any], currency: str, context: MappingContext, path: str) -> ContractLine:
    product = _related(line, "Product2", f"{path}.Product2")
    sku = values.text(product, "ProductCode", f"{path}.Product2.ProductCode")
    product_id = sku or values.text(line, "Product2Id", f"{path}.Product2Id")
    name = values.text(product, "Name", f"{path}.Product2.Name") or values.text(line, "Name", f"{path}.Name")
    family = values.text(product, "Family", f"{path}.Product2.Family")
    model = _pricing_model(family, context, f"{path}.Product2.Family")
    sales_price = values.number(line, "UnitPrice", f"{path}.UnitPrice")
    discount = values.number(line, "Discount", f"{path}.Discount") or Decimal(0)
    unit_price = None
    if sales_price is not None:
        unit_price = Money(amount=sales_price * (100 - discount) / 100, currency=currency)
    commit = None
    if model is PricingModel.COMMIT:
        commit = values.money(line, "TotalPrice", currency, f"{path}.TotalPrice")
        if commit is None:
            raise MappingError("a commit line needs TotalPrice", field_path=f"{path}.TotalPrice", value=None)
    if model is PricingModel.TIERED:
        raise MappingError(
            "Salesforce line items carry no price tiers; map this family to another model",
            field_path=f"{path}.Product2.Family",
            value=family,
        )
    return ContractLine(
        line_id=values.id18(line.get("Id"), f"{path}.Id"),
        product_id=product_id,
        product_name=name or product_id or "",
        pricing_model=model,
        unit_price=unit_price,
        quantity=values.number(line, "Quantity", f"{path}.Quantity"),
        commit=commit,
        billing_frequency=FREQUENCY_BY_MODEL.get(model, BillingFrequency.MONTHLY),
        starts_on=values.day(line, "ServiceDate", f"{path}.ServiceDate"),
    )


def _line_records(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    embedded = payload.get("OpportunityLineItems")
    if embedded is None:
        return []
    records = embedded.get("records") if isinstance(embedded, Mapping) else None
    if not isinstance(records, list) or not all(isinstance(r, Mapping) for r in records):
        raise MappingError(
            "expected {totalSize, done, records: [...]}", field_path="OpportunityLineItems", value=embedded
        )
    return records


def map_opportunity(payload: Mapping[str, Any], context: MappingContext) -> Contract:
    currency = values.currency(payload)
    lines = tuple(
        _line(line, currency, context, f"OpportunityLineItems.records[{index}]")
        for index, line in enumerate(_line_records(payload))
    )
    close_date = values.day(payload, "CloseDate", "CloseDate")
    service_dates = [line.starts_on for line in lines if line.starts_on is not None]
    starts_on = min(service_dates) if service_dates else close_date
    if starts_on is None:
        raise MappingError("required field is missing", field_path="CloseDate", value=None)
    contract_field = context.fields.custom_field(
        "salesforce", "metronome_contract_id", "Metronome_Contract_Id__c"
    )
    metronome_id = values.text(payload, contract_field, contract_field)
    account = values.required(payload, "AccountId", "AccountId")
    return Contract(
        system=context.system,
        native_id=values.id18(payload.get("Id"), "Id"),
        links={"metronome": metronome_id.strip()} if metronome_id and metronome_id.strip() else {},
        updated_at=values.modstamp(payload),
        deleted=values.flag(payload, "IsDeleted", "IsDeleted"),
        customer_id=values.id18(account, "AccountId"),
        status=_status(payload),
        currency=currency,
        starts_on=starts_on,
        lines=lines,
        total_value=values.money(payload, "Amount", currency, "Amount"),
    )

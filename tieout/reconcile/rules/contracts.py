"""Deals against billing: a closed-won deal must be provisioned, at the price the customer signed.

Each active Salesforce contract (a closed-won opportunity) is paired with its Metronome contract
(by the opportunity id the billing contract carries). Line prices are compared by product SKU,
exactly, after both are in the contract currency. The amount at risk of a price difference is
what was billed at the wrong price so far: the difference times the quantities on the billing
invoices of that contract. A deal with no billing contract puts its monthly recurring fees at
risk (usage cannot be known until it is billed).
"""

from __future__ import annotations

from decimal import Decimal

from tieout.findings import Finding, Severity
from tieout.model import Contract, ContractStatus, Invoice, PricingModel
from tieout.money import Money
from tieout.reconcile.rules.base import Check, Rule, side_by_side
from tieout.reconcile.snapshot import Snapshot

_USAGE_MODELS = (PricingModel.PER_UNIT, PricingModel.TIERED)


def _deals(snapshot: Snapshot) -> list[Contract]:
    return [
        contract
        for contract in snapshot.records(Contract, "salesforce").values()
        if contract.status is ContractStatus.ACTIVE
    ]


def _billed_quantity(snapshot: Snapshot, contract: Contract, sku: str) -> Decimal:
    quantity = Decimal(0)
    for invoice in snapshot.records(Invoice, contract.system).values():
        if invoice.contract_id != contract.native_id or invoice.status.value in ("draft", "void"):
            continue
        quantity += sum(
            (line.quantity or Decimal(0) for line in invoice.lines if line.product_id == sku), Decimal(0)
        )
    return quantity


def _price_mismatches(snapshot: Snapshot) -> list[Finding]:
    findings = []
    for deal in _deals(snapshot):
        billing = snapshot.typed_twin(deal, Contract, "metronome")
        if billing is None:
            continue
        billed_prices = {line.product_id: line.unit_price for line in billing.lines if line.product_id}
        rows = []
        at_risk = Decimal(0)
        for line in deal.lines:
            billed = billed_prices.get(line.product_id) if line.product_id else None
            if line.unit_price is None or billed is None or billed.currency != line.unit_price.currency:
                continue
            if billed.amount != line.unit_price.amount:
                rows.append((f"{line.product_id} unit price", (line.unit_price.amount, billed.amount)))
                quantity = _billed_quantity(snapshot, billing, line.product_id or "")
                at_risk += abs(billed.amount - line.unit_price.amount) * quantity
        if rows:
            findings.append(
                Finding(
                    rule_code=CRM_PRICE_MISMATCH.code,
                    title=f"{CRM_PRICE_MISMATCH.title} ({deal.contract_number or deal.native_id})",
                    explanation=CRM_PRICE_MISMATCH.explanation,
                    severity=CRM_PRICE_MISMATCH.severity,
                    record_ids=(deal.record_id, billing.record_id),
                    details={
                        **side_by_side(("salesforce", "metronome"), rows),
                        "records": {"salesforce": deal.native_id, "metronome": billing.native_id},
                    },
                    system="metronome",
                    customer_ref=deal.customer_id,
                    amount_at_risk=Money(amount=at_risk, currency=deal.currency),
                )
            )
    return findings


def _missing(snapshot: Snapshot) -> list[Finding]:
    findings = []
    for deal in _deals(snapshot):
        if snapshot.twin(deal, "metronome") is not None:
            continue
        recurring = sum(
            (
                (line.quantity or Decimal(0)) * line.unit_price.amount
                for line in deal.lines
                if line.unit_price is not None and line.pricing_model not in _USAGE_MODELS
            ),
            Decimal(0),
        )
        findings.append(
            Finding(
                rule_code=CONTRACT_MISSING_IN_BILLING.code,
                title=f"{CONTRACT_MISSING_IN_BILLING.title} ({deal.contract_number or deal.native_id})",
                explanation=CONTRACT_MISSING_IN_BILLING.explanation,
                severity=CONTRACT_MISSING_IN_BILLING.severity,
                record_ids=(deal.record_id,),
                details={
                    **side_by_side(
                        ("salesforce", "metronome"),
                        [
                            ("contract", (deal.contract_number or deal.native_id, None)),
                            ("starts on", (deal.starts_on, None)),
                        ],
                    ),
                    "records": {"salesforce": deal.native_id},
                },
                system="metronome",
                customer_ref=deal.customer_id,
                amount_at_risk=Money(amount=recurring, currency=deal.currency),
            )
        )
    return findings


CRM_PRICE_MISMATCH = Rule(
    code="CRM_PRICE_MISMATCH",
    title="Price in the CRM differs from the rate billed",
    explanation=(
        "The price the customer signed in Salesforce is not the rate Metronome bills for the same product. "
        "Every invoice since the contract started used the billed rate. Fix the billing contract from the "
        "right date, then credit (overbilled) or true up (underbilled) the past periods."
    ),
    severity=Severity.HIGH,
)

CONTRACT_MISSING_IN_BILLING = Rule(
    code="CONTRACT_MISSING_IN_BILLING",
    title="Closed-won deal has no contract in billing",
    explanation=(
        "The deal is closed-won in Salesforce but Metronome has no contract for it, so nothing is being "
        "billed. The amount shown is one month of its fixed fees. Create the contract from the deal's start "
        "date and bill the missed periods."
    ),
    severity=Severity.CRITICAL,
)

CHECKS = (
    Check((CRM_PRICE_MISMATCH,), _price_mismatches),
    Check((CONTRACT_MISSING_IN_BILLING,), _missing),
)

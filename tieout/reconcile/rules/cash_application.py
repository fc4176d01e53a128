"""Cash application: unapplied cash in the ledger, with the invoices it most likely pays.

A NetSuite payment (or part of one) that is applied to no invoice is unapplied cash: the
customer's AR looks overdue although the money is in. For each, the customer's open invoices in
the payment's currency are tried in tiers, and the first tier with exactly one answer wins:

1. reference: an open invoice whose number appears in the payment's reference (memo, check
   number, remittance) and whose open amount equals the unapplied amount;
2. amount: exactly one open invoice whose open amount equals the unapplied amount, within a
   minor unit (rounding);
3. several invoices: exactly one set of up to `MAX_SET` of the customer's oldest open invoices
   whose open amounts add up to the unapplied amount (a bounded subset sum).

One answer is proposed in the exception for the AR team to apply; more than one at the first
tier that has any is an "ambiguous match" listing every candidate, because a wrong application
is worse than none (two equal monthly invoices make amount-only matching a coin flip). No
answer leaves the cash unapplied, reported as such.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from itertools import combinations

from tieout.findings import Finding, Severity
from tieout.model import Customer, Invoice, InvoiceStatus, Payment
from tieout.money import Money
from tieout.reconcile.rules.base import Check, Rule, side_by_side
from tieout.reconcile.rules.invoices import crm_customer_id
from tieout.reconcile.snapshot import Snapshot

SYSTEM = "netsuite"
MAX_SET = 4
MAX_CANDIDATES = 12
"""Subset sums look at the customer's oldest open invoices, at most this many."""


def normalize_reference(text: str) -> str:
    """Upper case, letters and digits only, leading zeros of numbers dropped: 'inv-000123' -> 'INV123'."""
    collapsed = re.sub(r"[^A-Z0-9]+", "", text.upper())
    return re.sub(r"(?<![0-9])0+(?=[0-9])", "", collapsed)


def _open_invoices(snapshot: Snapshot, payment: Payment) -> list[Invoice]:
    invoices = [
        invoice
        for invoice in snapshot.records(Invoice, SYSTEM).values()
        if invoice.customer_id == payment.customer_id
        and invoice.currency == payment.currency
        and invoice.status is InvoiceStatus.OPEN
        and invoice.amount_remaining.amount > 0
    ]
    return sorted(invoices, key=_age_key)


def _age_key(invoice: Invoice) -> tuple[date, str]:
    """Oldest first: by due date, else issue date; undated last."""
    return (invoice.due_on or invoice.issued_on or date.max, invoice.native_id)


def candidates(payment: Payment, open_invoices: Sequence[Invoice]) -> tuple[str, list[tuple[Invoice, ...]]]:
    """(the tier that answered, its candidate sets); an empty list when no tier found any."""
    assert payment.unapplied is not None
    amount = payment.unapplied.amount
    rounding = Decimal(1).scaleb(-payment.unapplied.exponent)
    reference = normalize_reference(payment.reference or "")
    by_reference: list[tuple[Invoice, ...]] = [
        (invoice,)
        for invoice in open_invoices
        if invoice.number
        and reference
        and normalize_reference(invoice.number) in reference
        and invoice.amount_remaining.amount == amount
    ]
    if by_reference:
        return "reference", by_reference
    by_amount: list[tuple[Invoice, ...]] = [
        (invoice,) for invoice in open_invoices if abs(invoice.amount_remaining.amount - amount) <= rounding
    ]
    if by_amount:
        return "amount", by_amount
    pool = list(open_invoices[:MAX_CANDIDATES])
    sets = [
        combination
        for size in range(2, MAX_SET + 1)
        for combination in combinations(pool, size)
        if sum((invoice.amount_remaining.amount for invoice in combination), Decimal(0)) == amount
    ]
    return ("several invoices", sets) if sets else ("none", [])


def _unapplied(snapshot: Snapshot) -> list[Finding]:
    findings = []
    for payment in snapshot.records(Payment, SYSTEM).values():
        if payment.unapplied is None or payment.unapplied.amount <= 0 or payment.status.value == "failed":
            continue
        tier, found = candidates(payment, _open_invoices(snapshot, payment))
        customer = snapshot.get(Customer, SYSTEM, payment.customer_id) if payment.customer_id else None
        rule = AMBIGUOUS_CASH_MATCH if len(found) > 1 else UNAPPLIED_CASH
        proposals = [
            {
                "invoices": [invoice.native_id for invoice in combination],
                "numbers": [invoice.number for invoice in combination],
                "open": [str(invoice.amount_remaining.amount) for invoice in combination],
            }
            for combination in found
        ]
        details = side_by_side(
            ("netsuite",),
            [("unapplied amount", (payment.unapplied.amount,)), ("reference", (payment.reference,))],
        )
        details.update({"tier": tier, "candidates": proposals, "records": {SYSTEM: payment.native_id}})
        numbers = [invoice.number or invoice.native_id for invoice in found[0]] if len(found) == 1 else []
        title = f"{rule.title}: it matches {', '.join(numbers)}" if numbers else rule.title
        findings.append(
            Finding(
                rule_code=rule.code,
                title=title,
                explanation=rule.explanation,
                severity=rule.severity,
                record_ids=(payment.record_id,),
                details=details,
                system=SYSTEM,
                customer_ref=crm_customer_id(snapshot, SYSTEM, payment.customer_id)
                if payment.customer_id
                else None,
                customer_name=customer.legal_name if customer else None,
                subsidiary_id=payment.subsidiary_id,
                amount_at_risk=Money(amount=payment.unapplied.amount, currency=payment.currency),
            )
        )
    return findings


UNAPPLIED_CASH = Rule(
    code="UNAPPLIED_CASH",
    title="Cash received but not applied to any invoice",
    explanation=(
        "NetSuite holds money from this customer that is applied to no invoice, so their invoices look "
        "unpaid and may be chased. Where tieout found exactly one matching invoice (or set of invoices) it is "
        "named here: apply the payment to it. Otherwise confirm with the customer, refund, or hold as credit."
    ),
    severity=Severity.MEDIUM,
)
AMBIGUOUS_CASH_MATCH = Rule(
    code="AMBIGUOUS_CASH_MATCH",
    title="Unapplied cash matches more than one invoice",
    explanation=(
        "This unapplied payment fits several open invoices (or sets of them) equally well, so tieout does not "
        "guess. The candidates are listed; ask the customer which invoices they paid, then apply it."
    ),
    severity=Severity.MEDIUM,
)

CHECKS = (Check((UNAPPLIED_CASH, AMBIGUOUS_CASH_MATCH), _unapplied),)

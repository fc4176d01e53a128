"""Customer master data: the CRM account and the ERP customer must agree on name, currency, entity.

The CRM is the source of truth for master data; the ERP is where a wrong currency or
subsidiary does damage (invoices posted to the wrong entity, aging in the wrong currency), so
each Salesforce account is compared with its NetSuite customer. Names are compared after
normalising case, punctuation and legal suffixes; currency and subsidiary must match exactly.
The subsidiary comparison goes through the `netsuite_subsidiary` value map (the CRM's
subsidiary code -> NetSuite's internal id) when one is configured.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from decimal import Decimal

from tieout.findings import Finding, Severity
from tieout.model import Customer, Invoice, InvoiceStatus
from tieout.money import Money
from tieout.reconcile.rules.base import Check, Rule, side_by_side
from tieout.reconcile.snapshot import Snapshot

_LEGAL_SUFFIXES = {
    "inc",
    "incorporated",
    "llc",
    "ltd",
    "limited",
    "plc",
    "corp",
    "corporation",
    "co",
    "company",
    "gmbh",
    "ag",
    "kg",
    "sa",
    "sas",
    "sarl",
    "bv",
    "nv",
    "kk",
    "gk",
    "pty",
    "oy",
    "ab",
    "as",
    "spa",
    "srl",
}


def normalize_name(name: str) -> str:
    """Case, accents, punctuation and legal-form suffixes removed: 'ACME, Inc.' == 'Acme Inc'."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    words = re.sub(r"[^a-z0-9]+", " ", folded).split()
    while words and words[-1] in _LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


def open_receivables(snapshot: Snapshot, customer: Customer) -> Money | None:
    """What the ERP customer still owes: the sum of its open invoices' remaining amounts."""
    total: Money | None = None
    for invoice in snapshot.records(Invoice, customer.system).values():
        if invoice.customer_id != customer.native_id or invoice.status is not InvoiceStatus.OPEN:
            continue
        total = invoice.amount_remaining if total is None else _add(total, invoice.amount_remaining)
    if total is None and customer.currency:
        return Money(amount=Decimal(0), currency=customer.currency)
    return total


def _add(left: Money, right: Money) -> Money:
    return left + right if left.currency == right.currency else left


def _pairs(snapshot: Snapshot) -> list[tuple[Customer, Customer]]:
    pairs = []
    for account in snapshot.records(Customer, "salesforce").values():
        customer = snapshot.typed_twin(account, Customer, "netsuite")
        if customer is not None:
            pairs.append((account, customer))
    return pairs


def _finding(
    rule: Rule,
    account: Customer,
    customer: Customer,
    field: str,
    values: tuple[object, object],
    snapshot: Snapshot,
) -> Finding:
    return Finding(
        rule_code=rule.code,
        title=f"{rule.title}: {account.legal_name}",
        explanation=rule.explanation,
        severity=rule.severity,
        record_ids=(account.record_id, customer.record_id),
        details={
            **side_by_side(("salesforce", "netsuite"), [(field, values)]),
            "records": {"salesforce": account.native_id, "netsuite": customer.native_id},
        },
        system="netsuite",
        customer_ref=account.native_id,
        customer_name=account.legal_name,
        subsidiary_id=customer.subsidiary_id,
        amount_at_risk=open_receivables(snapshot, customer),
        rule_version=rule.version,
    )


def _names(snapshot: Snapshot) -> list[Finding]:
    return [
        _finding(
            CUSTOMER_NAME_MISMATCH,
            account,
            customer,
            "legal name",
            (account.legal_name, customer.legal_name),
            snapshot,
        )
        for account, customer in _pairs(snapshot)
        if normalize_name(account.legal_name) != normalize_name(customer.legal_name)
    ]


def _currencies(snapshot: Snapshot) -> list[Finding]:
    return [
        _finding(
            CUSTOMER_CURRENCY_MISMATCH,
            account,
            customer,
            "currency",
            (account.currency, customer.currency),
            snapshot,
        )
        for account, customer in _pairs(snapshot)
        if account.currency and customer.currency and account.currency != customer.currency
    ]


def subsidiary_check(subsidiary_map: Mapping[str, str]) -> Check:
    def check(snapshot: Snapshot) -> list[Finding]:
        findings = []
        for account, customer in _pairs(snapshot):
            if account.subsidiary_id is None or customer.subsidiary_id is None:
                continue
            expected = subsidiary_map.get(account.subsidiary_id, account.subsidiary_id)
            if expected != customer.subsidiary_id:
                findings.append(
                    _finding(
                        CUSTOMER_SUBSIDIARY_MISMATCH,
                        account,
                        customer,
                        "subsidiary",
                        (account.subsidiary_id, customer.subsidiary_id),
                        snapshot,
                    )
                )
        return findings

    return Check((CUSTOMER_SUBSIDIARY_MISMATCH,), check)


CUSTOMER_SUBSIDIARY_MISMATCH = Rule(
    code="CUSTOMER_SUBSIDIARY_MISMATCH",
    title="Customer is in a different subsidiary in NetSuite",
    explanation=(
        "The CRM says this customer belongs to one legal entity, NetSuite books it in another. Its "
        "invoices and receivables may sit in the wrong entity's books. Confirm the right entity; moving a "
        "customer between subsidiaries in NetSuite usually means a new customer record."
    ),
    severity=Severity.HIGH,
)


CUSTOMER_NAME_MISMATCH = Rule(
    code="CUSTOMER_NAME_MISMATCH",
    title="Customer name differs between Salesforce and NetSuite",
    explanation=(
        "The customer's legal name in NetSuite is not the one in the CRM (case, punctuation and legal "
        "suffixes are already ignored). Invoices and statements may go out under the wrong name. Correct "
        "the name where it is wrong; the CRM is the usual source of truth."
    ),
    severity=Severity.MEDIUM,
)

CUSTOMER_CURRENCY_MISMATCH = Rule(
    code="CUSTOMER_CURRENCY_MISMATCH",
    title="Customer currency differs between Salesforce and NetSuite",
    explanation=(
        "The CRM account and the NetSuite customer have different currencies, so new invoices may be "
        "raised or aged in the wrong currency. Agree which currency the contract is in and correct the other system."
    ),
    severity=Severity.HIGH,
)

CHECKS = (
    Check((CUSTOMER_NAME_MISMATCH,), _names),
    Check((CUSTOMER_CURRENCY_MISMATCH,), _currencies),
)

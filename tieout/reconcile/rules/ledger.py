"""The general ledger against the AR sub-ledger: per subsidiary, the AR control account must equal
the open items.

NetSuite's AR control balance (posting lines on receivable accounts, in the subsidiary's base
currency) is compared with the sum of the open items of that subsidiary: open invoices' remaining
amounts less payments' unapplied amounts, converted to the base currency with the rate NetSuite
applied to each document. A document in another currency with no known rate cannot be converted;
it is listed in the finding's details rather than guessed at. A difference is usually a journal
entry posted to AR without a customer, a posting to the wrong subsidiary, or a missed revaluation.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from tieout.findings import Finding, Severity
from tieout.model import Invoice, InvoiceStatus, LedgerBalance, Payment
from tieout.money import Money
from tieout.reconcile.rules.base import Check, Rule, side_by_side
from tieout.reconcile.snapshot import Snapshot

SYSTEM = "netsuite"


def _base_amount(amount: Money, base_currency: str, rate: Decimal | None) -> Decimal | None:
    if amount.currency == base_currency:
        return amount.amount
    if rate is None:
        return None
    # The ledger posts each document's base amount rounded to the base currency's minor unit.
    return Money(amount=amount.amount * rate, currency=base_currency).quantized(ROUND_HALF_UP).amount


def _control(snapshot: Snapshot) -> list[Finding]:
    gl: dict[str, tuple[Decimal, str, list[LedgerBalance]]] = {}
    for account in snapshot.records(LedgerBalance, SYSTEM).values():
        if account.subsidiary_id is None:
            continue
        total, currency, parts = gl.get(account.subsidiary_id, (Decimal(0), account.currency, []))
        gl[account.subsidiary_id] = (total + account.balance.amount, currency, [*parts, account])
    open_items: dict[str, Decimal] = defaultdict(Decimal)
    unconverted: dict[str, list[str]] = defaultdict(list)
    for invoice in snapshot.records(Invoice, SYSTEM).values():
        if invoice.status is not InvoiceStatus.OPEN or invoice.subsidiary_id not in gl:
            continue
        base = _base_amount(invoice.amount_remaining, gl[invoice.subsidiary_id][1], invoice.exchange_rate)
        if base is None:
            unconverted[invoice.subsidiary_id].append(invoice.native_id)
        else:
            open_items[invoice.subsidiary_id] += base
    for payment in snapshot.records(Payment, SYSTEM).values():
        if payment.unapplied is None or payment.subsidiary_id not in gl or payment.unapplied.amount == 0:
            continue
        base = _base_amount(payment.unapplied, gl[payment.subsidiary_id][1], payment.exchange_rate)
        if base is None:
            unconverted[payment.subsidiary_id].append(payment.native_id)
        else:
            open_items[payment.subsidiary_id] -= base
    findings = []
    for subsidiary_id, (balance, currency, parts) in sorted(gl.items()):
        sub_ledger = open_items.get(subsidiary_id, Decimal(0))
        if balance == sub_ledger:
            continue
        details = side_by_side(
            ("general ledger", "open items"),
            [(f"AR, subsidiary {subsidiary_id} ({currency})", (balance, sub_ledger))],
        )
        details["records"] = {SYSTEM: [part.native_id for part in parts]}
        if unconverted.get(subsidiary_id):
            details["not_converted"] = sorted(unconverted[subsidiary_id])
        findings.append(
            Finding(
                rule_code=AR_CONTROL_MISMATCH.code,
                title=f"{AR_CONTROL_MISMATCH.title} (subsidiary {subsidiary_id})",
                explanation=AR_CONTROL_MISMATCH.explanation,
                severity=AR_CONTROL_MISMATCH.severity,
                record_ids=(f"{SYSTEM}:ar_control:{subsidiary_id}",),
                details=details,
                system=SYSTEM,
                subsidiary_id=subsidiary_id,
                amount_at_risk=Money(amount=abs(balance - sub_ledger), currency=currency),
                base_amount_at_risk=Money(amount=abs(balance - sub_ledger), currency=currency),
            )
        )
    return findings


AR_CONTROL_MISMATCH = Rule(
    code="AR_CONTROL_MISMATCH",
    title="AR control account does not match the open invoices",
    explanation=(
        "The receivables balance in the general ledger differs from the sum of the customers' open items for "
        "this subsidiary, which blocks signing off the close. Look for journal entries posted to AR without a "
        "customer, postings to the wrong subsidiary, or a missed revaluation, and reclassify them."
    ),
    severity=Severity.CRITICAL,
)

CHECKS = (Check((AR_CONTROL_MISMATCH,), _control),)

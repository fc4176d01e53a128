"""Cash: every Stripe payment, refund and payout must be in NetSuite, applied where Stripe applied it.

Payments pair by the Stripe charge id NetSuite keeps as the payment's external id; refunds and
payouts likewise. A paired payment must be applied to the NetSuite twin of the invoice the
charge paid. An invoice partly paid is followed up until the rest is paid. An invoice Stripe
calls paid must not stay open in NetSuite; that check leaves out invoices whose cash is already
reported missing or misapplied, or whose totals differ, so one root cause gives one exception. A payout's amount must
equal its deposit's total: the deposit is net of the fees the payout already took off.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from tieout.findings import Finding, Severity
from tieout.model import (
    CanonicalRecord,
    Customer,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    Payout,
    Refund,
)
from tieout.money import Money
from tieout.reconcile.rules.base import Check, Rule, side_by_side
from tieout.reconcile.rules.invoices import crm_customer_id
from tieout.reconcile.snapshot import Snapshot

_COLLECTED = (
    PaymentStatus.SUCCEEDED,
    PaymentStatus.REFUNDED,
    PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.DISPUTED,
)


def _finding(
    rule: Rule,
    snapshot: Snapshot,
    records: Sequence[CanonicalRecord],
    amount: Money,
    rows: list[tuple[str, tuple[object, ...]]],
    *,
    customer: tuple[str, str | None] | None,
) -> Finding:
    return Finding(
        rule_code=rule.code,
        title=rule.title,
        explanation=rule.explanation,
        severity=rule.severity,
        record_ids=tuple(record.record_id for record in records),
        details={
            **side_by_side(tuple(record.system for record in records) or ("stripe", "netsuite"), rows),
            "records": {record.system: record.native_id for record in records},
        },
        system="netsuite",
        customer_ref=crm_customer_id(snapshot, customer[0], customer[1])
        if customer and customer[1]
        else None,
        customer_name=_customer_name(snapshot, customer),
        amount_at_risk=amount,
    )


def _customer_name(snapshot: Snapshot, customer: tuple[str, str | None] | None) -> str | None:
    if customer is None or customer[1] is None:
        return None
    found = snapshot.get(Customer, customer[0], customer[1])
    return found.legal_name if found is not None else None


def _charges(snapshot: Snapshot) -> list[Payment]:
    return [
        payment for payment in snapshot.records(Payment, "stripe").values() if payment.status in _COLLECTED
    ]


def _payments_missing(snapshot: Snapshot) -> list[Finding]:
    findings = []
    for charge in _charges(snapshot):
        if snapshot.twin(charge, "netsuite") is None:
            rows: list[tuple[str, tuple[object, ...]]] = [
                ("amount", (charge.gross.amount, None)),
                ("received", (charge.received_at, None)),
            ]
            records: list[CanonicalRecord] = [charge]
            findings.append(
                _finding(
                    PAYMENT_MISSING_IN_NETSUITE,
                    snapshot,
                    records,
                    charge.gross,
                    rows,
                    customer=("stripe", charge.customer_id),
                )
            )
    return findings


def _expected_invoices(snapshot: Snapshot, charge: Payment) -> set[str]:
    """NetSuite ids of the invoices the charge paid in Stripe."""
    expected = set()
    for application in charge.applications:
        stripe_invoice = snapshot.get(Invoice, "stripe", application.invoice_id)
        twin = snapshot.typed_twin(stripe_invoice, Invoice, "netsuite") if stripe_invoice else None
        if twin is not None:
            expected.add(twin.native_id)
    return expected


def _misapplied(snapshot: Snapshot) -> tuple[list[Finding], set[str]]:
    """Findings, and the Stripe invoice ids whose cash went elsewhere in NetSuite."""
    findings: list[Finding] = []
    affected: set[str] = set()
    for charge in _charges(snapshot):
        recorded = snapshot.typed_twin(charge, Payment, "netsuite")
        expected = _expected_invoices(snapshot, charge)
        if recorded is None or not expected:
            continue
        applied = {application.invoice_id for application in recorded.applications}
        if applied and not applied <= expected:
            affected.update(application.invoice_id for application in charge.applications)
            rows: list[tuple[str, tuple[object, ...]]] = [
                ("applied to invoice", (", ".join(sorted(expected)), ", ".join(sorted(applied))))
            ]
            wrong = sum(
                (a.amount.amount for a in recorded.applications if a.invoice_id not in expected), Decimal(0)
            )
            findings.append(
                _finding(
                    PAYMENT_APPLIED_TO_WRONG_INVOICE,
                    snapshot,
                    [charge, recorded],
                    Money(amount=wrong, currency=recorded.currency),
                    rows,
                    customer=("stripe", charge.customer_id),
                )
            )
    return findings, affected


def _partials(snapshot: Snapshot) -> list[Finding]:
    findings = []
    for invoice in snapshot.records(Invoice, "stripe").values():
        if invoice.status is not InvoiceStatus.OPEN:
            continue
        if invoice.amount_paid.amount > 0 and invoice.amount_remaining.amount > 0:
            twin = snapshot.typed_twin(invoice, Invoice, "netsuite")
            records: list[CanonicalRecord] = [invoice, twin] if twin else [invoice]
            rows: list[tuple[str, tuple[object, ...]]] = [
                ("paid", (invoice.amount_paid.amount, twin.amount_paid.amount if twin else None)),
                (
                    "still open",
                    (invoice.amount_remaining.amount, twin.amount_remaining.amount if twin else None),
                ),
                ("due", (invoice.due_on, twin.due_on if twin else None)),
            ]
            findings.append(
                _finding(
                    PARTIAL_PAYMENT_LEFT_OPEN,
                    snapshot,
                    records,
                    invoice.amount_remaining,
                    rows,
                    customer=("stripe", invoice.customer_id),
                )
            )
    return findings


def _paid_but_open(snapshot: Snapshot) -> list[Finding]:
    missing = {
        application.invoice_id
        for charge in _charges(snapshot)
        if snapshot.twin(charge, "netsuite") is None
        for application in charge.applications
    }
    _, misapplied = _misapplied(snapshot)
    findings = []
    for invoice in snapshot.records(Invoice, "stripe").values():
        if invoice.status is not InvoiceStatus.PAID or invoice.native_id in missing | misapplied:
            continue
        twin = snapshot.typed_twin(invoice, Invoice, "netsuite")
        if twin is None or twin.currency != invoice.currency or twin.amount_remaining.amount <= 0:
            continue
        if twin.total != invoice.total:
            continue  # the open residual is the total difference, reported as such
        rows: list[tuple[str, tuple[object, ...]]] = [
            ("status", (invoice.status.value, twin.status.value)),
            ("still open", (invoice.amount_remaining.amount, twin.amount_remaining.amount)),
        ]
        findings.append(
            _finding(
                PAID_IN_STRIPE_OPEN_IN_NETSUITE,
                snapshot,
                [invoice, twin],
                twin.amount_remaining,
                rows,
                customer=("stripe", invoice.customer_id),
            )
        )
    return findings


def _refunds(snapshot: Snapshot) -> list[Finding]:
    findings = []
    for refund in snapshot.records(Refund, "stripe").values():
        if refund.status != "succeeded" or snapshot.twin(refund, "netsuite") is not None:
            continue
        rows: list[tuple[str, tuple[object, ...]]] = [("amount", (refund.amount.amount, None))]
        records: list[CanonicalRecord] = [refund]
        findings.append(
            _finding(
                REFUND_MISSING_IN_NETSUITE,
                snapshot,
                records,
                refund.amount,
                rows,
                customer=("stripe", refund.customer_id),
            )
        )
    return findings


def _payouts(snapshot: Snapshot) -> list[Finding]:
    findings = []
    for payout in snapshot.records(Payout, "stripe").values():
        if payout.status != "paid":
            continue
        deposit = snapshot.typed_twin(payout, Payout, "netsuite")
        if (
            deposit is None
            or deposit.currency != payout.currency
            or deposit.amount.amount == payout.amount.amount
        ):
            continue
        rows: list[tuple[str, tuple[object, ...]]] = [
            ("amount", (payout.amount.amount, deposit.amount.amount)),
            (
                "fees",
                (payout.fees.amount if payout.fees else None, deposit.fees.amount if deposit.fees else None),
            ),
        ]
        delta = Money(amount=abs(deposit.amount.amount - payout.amount.amount), currency=payout.currency)
        findings.append(
            _finding(PAYOUT_DEPOSIT_MISMATCH, snapshot, [payout, deposit], delta, rows, customer=None)
        )
    return findings


PAYMENT_MISSING_IN_NETSUITE = Rule(
    code="PAYMENT_MISSING_IN_NETSUITE",
    title="Payment collected in Stripe is not in NetSuite",
    explanation=(
        "Stripe collected this payment but NetSuite has no customer payment for it: AR is overstated and the "
        "customer may be chased for an invoice they paid. Record and apply the payment."
    ),
    severity=Severity.HIGH,
)
PAYMENT_APPLIED_TO_WRONG_INVOICE = Rule(
    code="PAYMENT_APPLIED_TO_WRONG_INVOICE",
    title="Payment applied to the wrong invoice in NetSuite",
    explanation=(
        "NetSuite applied this payment to another invoice than the one the customer paid in Stripe, so one "
        "invoice looks paid and the other ages. Unapply and reapply it in the open period."
    ),
    severity=Severity.HIGH,
)
PARTIAL_PAYMENT_LEFT_OPEN = Rule(
    code="PARTIAL_PAYMENT_LEFT_OPEN",
    title="Invoice partly paid, the rest still open",
    explanation=(
        "The customer paid part of this invoice. Collections should follow up on the rest, or write off a "
        "small residual under policy."
    ),
    severity=Severity.MEDIUM,
)
PAID_IN_STRIPE_OPEN_IN_NETSUITE = Rule(
    code="PAID_IN_STRIPE_OPEN_IN_NETSUITE",
    title="Paid in Stripe but still open in NetSuite",
    explanation=(
        "Stripe shows this invoice paid (for example marked paid after a bank transfer), but NetSuite still "
        "shows it open with no payment. Record the payment in NetSuite so AR and dunning are right."
    ),
    severity=Severity.HIGH,
)
REFUND_MISSING_IN_NETSUITE = Rule(
    code="REFUND_MISSING_IN_NETSUITE",
    title="Refund made in Stripe is not in NetSuite",
    explanation=(
        "Money went back to the customer in Stripe, but NetSuite has no customer refund for it. Record the "
        "credit memo and the customer refund."
    ),
    severity=Severity.MEDIUM,
)
PAYOUT_DEPOSIT_MISMATCH = Rule(
    code="PAYOUT_DEPOSIT_MISMATCH",
    title="Stripe payout and NetSuite deposit differ",
    explanation=(
        "The deposit recorded in NetSuite is not the amount Stripe paid out, often because fees were not taken "
        "off (booked gross). The cash account will not match the bank. Correct the deposit's lines."
    ),
    severity=Severity.HIGH,
)

CHECKS = (
    Check((PAYMENT_MISSING_IN_NETSUITE,), _payments_missing),
    Check((PAYMENT_APPLIED_TO_WRONG_INVOICE,), lambda snapshot: _misapplied(snapshot)[0]),
    Check((PARTIAL_PAYMENT_LEFT_OPEN,), _partials),
    Check((PAID_IN_STRIPE_OPEN_IN_NETSUITE,), _paid_but_open),
    Check((REFUND_MISSING_IN_NETSUITE,), _refunds),
    Check((PAYOUT_DEPOSIT_MISMATCH,), _payouts),
)

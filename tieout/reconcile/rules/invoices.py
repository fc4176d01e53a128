"""Invoices across billing, payments and the ledger: present everywhere, once, with the same amounts.

The billing system (Metronome) is the source of every invoice. Each finalized billing invoice
with something to pay must have a twin in Stripe (for collection) and in NetSuite (for the
books), found by the ids the systems store about each other. Paired invoices must share the
currency and the pre-tax subtotal (billing computes no tax; Stripe and NetSuite must agree on
the tax and the grand total, within a minor unit a line for tax rounded line by line). A NetSuite invoice no billing invoice claims is matched by a
fallback key (the customer's CRM id, currency, service period and subtotal): when that billing
invoice already has its NetSuite twin, the extra one is a duplicate. Usage on a billed line must
equal the usage metered for that customer, product and period, where usage was metered: a
period in which the customer has no usage at all on record is treated as not metered (the
events were not kept), not as zero.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from tieout.findings import Finding, Severity
from tieout.model import Customer, Invoice, InvoiceStatus, UsageSummary
from tieout.money import Money, currency_exponent
from tieout.reconcile.rules.base import Check, Rule, side_by_side
from tieout.reconcile.snapshot import Snapshot

SOURCE = "metronome"
BILLABLE = (InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.UNCOLLECTIBLE)


def billable_invoices(snapshot: Snapshot) -> list[Invoice]:
    return [
        invoice
        for invoice in snapshot.records(Invoice, SOURCE).values()
        if invoice.status in BILLABLE and invoice.total.amount > 0
    ]


def crm_customer_id(snapshot: Snapshot, system: str, customer_id: str) -> str | None:
    """The Salesforce account id of a customer in any system (its own id in Salesforce)."""
    if system == "salesforce":
        return customer_id
    customer = snapshot.get(Customer, system, customer_id)
    return None if customer is None else customer.links.get("salesforce")


def customer_name(snapshot: Snapshot, invoice: Invoice) -> str | None:
    customer = snapshot.get(Customer, invoice.system, invoice.customer_id)
    return customer.legal_name if customer is not None else None


def collection_total(snapshot: Snapshot, source: Invoice) -> Money:
    """The invoice total as the customer sees it (tax included): Stripe's, else NetSuite's, else billing's."""
    for system in ("stripe", "netsuite"):
        twin = snapshot.typed_twin(source, Invoice, system)
        if twin is not None and twin.currency == source.currency:
            return twin.total
    return source.total


def _invoice_finding(
    rule: Rule,
    snapshot: Snapshot,
    source: Invoice,
    others: list[Invoice],
    amount: Money,
    rows: list[tuple[str, tuple[object, ...]]],
    *,
    system: str,
) -> Finding:
    systems = (source.system, *(other.system for other in others))
    return Finding(
        rule_code=rule.code,
        title=f"{rule.title} ({source.number or source.native_id})",
        explanation=rule.explanation,
        severity=rule.severity,
        record_ids=(source.record_id, *(other.record_id for other in others)),
        details={
            **side_by_side(systems, rows),
            "records": {item.system: item.native_id for item in (source, *others)},
        },
        system=system,
        customer_ref=crm_customer_id(snapshot, source.system, source.customer_id),
        customer_name=customer_name(snapshot, source),
        subsidiary_id=next((other.subsidiary_id for other in others if other.subsidiary_id), None),
        amount_at_risk=amount,
    )


def _missing_in(target: str, rule: Rule) -> Check:
    def check(snapshot: Snapshot) -> list[Finding]:
        findings = []
        for invoice in billable_invoices(snapshot):
            if snapshot.twin(invoice, target) is not None:
                continue
            rows: list[tuple[str, tuple[object, ...]]] = [
                ("number", (invoice.number, None)),
                ("period", (f"{invoice.period_start} to {invoice.period_end}", None)),
                ("subtotal", (invoice.subtotal.amount, None)),
            ]
            amount = collection_total(snapshot, invoice)
            findings.append(_invoice_finding(rule, snapshot, invoice, [], amount, rows, system=target))
        return findings

    return Check((rule,), check)


def _differences(snapshot: Snapshot) -> list[Finding]:
    findings = []
    for invoice in billable_invoices(snapshot):
        twins = {system: snapshot.typed_twin(invoice, Invoice, system) for system in ("stripe", "netsuite")}
        stripe, netsuite = twins["stripe"], twins["netsuite"]
        for target in (stripe, netsuite):
            if target is None:
                continue
            if target.currency != invoice.currency:
                amount = collection_total(snapshot, invoice)
                rows: list[tuple[str, tuple[object, ...]]] = [
                    ("currency", (invoice.currency, target.currency))
                ]
                findings.append(
                    _invoice_finding(
                        INVOICE_CURRENCY_MISMATCH,
                        snapshot,
                        invoice,
                        [target],
                        amount,
                        rows,
                        system=target.system,
                    )
                )
                continue
            rows = []
            delta = Decimal(0)
            if target.subtotal.amount != invoice.subtotal.amount:
                rows.append(("subtotal (before tax)", (invoice.subtotal.amount, target.subtotal.amount)))
                delta = abs(target.subtotal.amount - invoice.subtotal.amount)
            other = stripe if target is netsuite else None
            if other is not None and other.currency == target.currency:
                # Tax computed line by line (Stripe) and on the document (NetSuite) may round apart
                # by a minor unit a line; up to that is rounding, not a difference (DOMAIN M6).
                rounding = Decimal(max(1, len(other.lines))).scaleb(-currency_exponent(other.currency))
                tax_gap = abs(other.tax.amount - target.tax.amount)
                total_gap = abs(other.total.amount - target.total.amount)
                if tax_gap > rounding or (tax_gap == 0 and total_gap > 0) or total_gap > rounding:
                    if tax_gap:
                        rows.append(("tax (Stripe, NetSuite)", (None, other.tax.amount, target.tax.amount)))
                    if total_gap:
                        rows.append(
                            ("total (Stripe, NetSuite)", (None, other.total.amount, target.total.amount))
                        )
                    delta = max(delta, tax_gap, total_gap)
            if rows:
                amount = Money(amount=delta, currency=invoice.currency)
                findings.append(
                    _invoice_finding(
                        INVOICE_TOTAL_DIFFERS, snapshot, invoice, [target], amount, rows, system=target.system
                    )
                )
    return findings


def _fallback_key(snapshot: Snapshot, invoice: Invoice) -> tuple[object, ...] | None:
    account = crm_customer_id(snapshot, invoice.system, invoice.customer_id)
    if account is None:
        return None
    return (account, invoice.currency, invoice.period_start, invoice.period_end, invoice.subtotal.amount)


def _orphans(snapshot: Snapshot) -> list[Finding]:
    """NetSuite invoices no billing invoice claims: duplicates of one that is claimed, or sourceless."""
    by_key: dict[tuple[object, ...], list[Invoice]] = defaultdict(list)
    for source in billable_invoices(snapshot):
        key = _fallback_key(snapshot, source)
        if key is not None:
            by_key[key].append(source)
    findings = []
    for invoice in snapshot.records(Invoice, "netsuite").values():
        if invoice.status is InvoiceStatus.VOID or snapshot.twin(invoice, SOURCE) is not None:
            continue
        key = _fallback_key(snapshot, invoice)
        candidates = by_key.get(key, []) if key is not None else []
        claimed = [source for source in candidates if snapshot.twin(source, "netsuite") is not None]
        rows: list[tuple[str, tuple[object, ...]]] = [
            ("number", (None, invoice.number)),
            ("total", (None, invoice.total.amount)),
        ]
        if len(claimed) == 1:
            source = claimed[0]
            rows = [
                ("number", (source.number, invoice.number)),
                ("subtotal", (source.subtotal.amount, invoice.subtotal.amount)),
            ]
            findings.append(
                _invoice_finding(
                    DUPLICATE_INVOICE_IN_NETSUITE,
                    snapshot,
                    source,
                    [invoice],
                    invoice.total,
                    rows,
                    system="netsuite",
                )
            )
        else:
            findings.append(
                Finding(
                    rule_code=INVOICE_WITHOUT_SOURCE.code,
                    title=f"{INVOICE_WITHOUT_SOURCE.title} ({invoice.number or invoice.native_id})",
                    explanation=INVOICE_WITHOUT_SOURCE.explanation,
                    severity=INVOICE_WITHOUT_SOURCE.severity,
                    record_ids=(invoice.record_id,),
                    details={
                        **side_by_side((SOURCE, "netsuite"), rows),
                        "records": {"netsuite": invoice.native_id},
                    },
                    system="netsuite",
                    customer_ref=crm_customer_id(snapshot, "netsuite", invoice.customer_id),
                    customer_name=customer_name(snapshot, invoice),
                    subsidiary_id=invoice.subsidiary_id,
                    amount_at_risk=invoice.total,
                )
            )
    return findings


def _usage(snapshot: Snapshot) -> list[Finding]:
    metered: dict[tuple[str, str, date, date], Decimal] = defaultdict(Decimal)
    active: set[tuple[str, date, date]] = set()
    for usage in snapshot.records(UsageSummary, SOURCE).values():
        if usage.product_id is None:
            continue
        # Usage windows end exclusively at midnight; invoice periods name their last day.
        last_day = (usage.period_end - timedelta(microseconds=1)).date()
        key = (usage.customer_id, usage.product_id, usage.period_start.date(), last_day)
        metered[key] += usage.quantity
        if usage.quantity:
            active.add((usage.customer_id, usage.period_start.date(), last_day))
    findings = []
    for invoice in billable_invoices(snapshot):
        if invoice.period_start is None or invoice.period_end is None:
            continue
        rows: list[tuple[str, tuple[object, ...]]] = []
        at_risk = Decimal(0)
        for line in invoice.lines:
            if line.product_id is None or line.quantity is None:
                continue
            key = (invoice.customer_id, line.product_id, invoice.period_start, invoice.period_end)
            # A period with no usage at all for the customer was not metered (events not kept), not zero.
            if (
                key not in metered
                or (invoice.customer_id, invoice.period_start, invoice.period_end) not in active
            ):
                continue
            if metered[key] != line.quantity:
                rows.append((f"{line.product_id} quantity (billed, metered)", (line.quantity, metered[key])))
                price = line.unit_price.amount if line.unit_price is not None else Decimal(0)
                at_risk += abs(line.quantity - metered[key]) * price
        if rows:
            finding = _invoice_finding(
                USAGE_BILLED_NOT_METERED,
                snapshot,
                invoice,
                [],
                Money(amount=at_risk, currency=invoice.currency),
                rows,
                system=SOURCE,
            )
            findings.append(finding)
    return findings


USAGE_BILLED_NOT_METERED = Rule(
    code="USAGE_BILLED_NOT_METERED",
    title="Usage billed differs from usage metered",
    explanation=(
        "The quantity on this invoice line is not the usage metered for the customer in the invoice period "
        "(late events, a wrong alias, or a conversion). The customer was over- or under-billed by the "
        "difference times the unit price. Correct it with a credit or a true-up on the next invoice."
    ),
    severity=Severity.MEDIUM,
)
INVOICE_MISSING_IN_NETSUITE = Rule(
    code="INVOICE_MISSING_IN_NETSUITE",
    title="Invoice missing in NetSuite",
    explanation=(
        "Billing finalized this invoice but NetSuite has no invoice for it: it is missing from AR and revenue. "
        "Re-push it, in the current open period if its own period is closed."
    ),
    severity=Severity.HIGH,
)
INVOICE_MISSING_IN_STRIPE = Rule(
    code="INVOICE_MISSING_IN_STRIPE",
    title="Invoice missing in Stripe",
    explanation=(
        "Billing finalized this invoice but Stripe has no invoice for it, so the customer is not being asked "
        "to pay. Re-push it for collection."
    ),
    severity=Severity.HIGH,
)
INVOICE_TOTAL_DIFFERS = Rule(
    code="INVOICE_TOTAL_DIFFERS",
    title="Invoice amounts differ between systems",
    explanation=(
        "The same invoice has a different subtotal, tax or total in two systems. Posted invoices are never "
        "overwritten by tieout: correct it with a credit memo and a new invoice (or an adjustment) in the open period."
    ),
    severity=Severity.HIGH,
)
INVOICE_CURRENCY_MISMATCH = Rule(
    code="INVOICE_CURRENCY_MISMATCH",
    title="Invoice is in a different currency in another system",
    explanation=(
        "The invoice was recorded in another currency than it was billed in, so the whole amount is wrong in "
        "that system. Void it there and re-issue it in the billed currency."
    ),
    severity=Severity.CRITICAL,
)
DUPLICATE_INVOICE_IN_NETSUITE = Rule(
    code="DUPLICATE_INVOICE_IN_NETSUITE",
    title="Duplicate invoice in NetSuite",
    explanation=(
        "NetSuite holds two invoices for one billing invoice (often a retried sync). The customer's balance "
        "and AR are overstated by the duplicate. Void the duplicate."
    ),
    severity=Severity.CRITICAL,
)
INVOICE_WITHOUT_SOURCE = Rule(
    code="INVOICE_WITHOUT_SOURCE",
    title="NetSuite invoice with no billing invoice",
    explanation=(
        "This NetSuite invoice matches no invoice in billing, by id or by customer, period and amount. It may "
        "be a manual invoice that belongs elsewhere, or one whose source was deleted. Confirm it or void it."
    ),
    severity=Severity.MEDIUM,
)

CHECKS = (
    Check((USAGE_BILLED_NOT_METERED,), _usage),
    _missing_in("netsuite", INVOICE_MISSING_IN_NETSUITE),
    _missing_in("stripe", INVOICE_MISSING_IN_STRIPE),
    Check((INVOICE_TOTAL_DIFFERS, INVOICE_CURRENCY_MISMATCH), _differences),
    Check((DUPLICATE_INVOICE_IN_NETSUITE, INVOICE_WITHOUT_SOURCE), _orphans),
)

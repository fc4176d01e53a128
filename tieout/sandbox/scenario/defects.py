"""Planted defects: where the generated systems are made to disagree, and the answer key listing them.

Each defect kind names the reconcile rule that must find it and whether tieout's sync flows fix
it (a missing invoice gets created) or must only flag it (a posted invoice whose total differs:
tieout never overwrites a posted financial record). `choose_defects()` picks targets from the
company plan so that no two defects touch the same record and no defect causes a second,
unplanned disagreement (a missing NetSuite invoice is chosen among unpaid invoices, so no
payment goes unapplied because of it). The writers read the chosen defects when they put the
company into each emulator, and fill in the records' native ids in the answer key.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tieout.sandbox.scenario.company import (
    Company,
    CustomerPlan,
    InvoicePlan,
    PaymentPlan,
    card_fee,
    plan_payouts,
    reprice,
    round_money,
)


class DefectKind(StrEnum):
    CRM_PRICE_MISMATCH = "crm_price_mismatch"
    CONTRACT_MISSING_IN_BILLING = "contract_missing_in_billing"
    CUSTOMER_NAME_MISMATCH = "customer_name_mismatch"
    CUSTOMER_CURRENCY_MISMATCH = "customer_currency_mismatch"
    CUSTOMER_SUBSIDIARY_MISMATCH = "customer_subsidiary_mismatch"
    USAGE_BILLED_NOT_METERED = "usage_billed_not_metered"
    INVOICE_MISSING_IN_NETSUITE = "invoice_missing_in_netsuite"
    INVOICE_MISSING_IN_STRIPE = "invoice_missing_in_stripe"
    INVOICE_TOTAL_DIFFERS = "invoice_total_differs"
    DUPLICATE_INVOICE_IN_NETSUITE = "duplicate_invoice_in_netsuite"
    INVOICE_CURRENCY_MISMATCH = "invoice_currency_mismatch"
    PAYMENT_MISSING_IN_NETSUITE = "payment_missing_in_netsuite"
    PAYMENT_APPLIED_TO_WRONG_INVOICE = "payment_applied_to_wrong_invoice"
    PARTIAL_PAYMENT_LEFT_OPEN = "partial_payment_left_open"
    PAYOUT_DEPOSIT_MISMATCH = "payout_deposit_mismatch"
    REFUND_MISSING_IN_NETSUITE = "refund_missing_in_netsuite"
    PAID_IN_STRIPE_OPEN_IN_NETSUITE = "paid_in_stripe_open_in_netsuite"
    AR_CONTROL_MISMATCH = "ar_control_mismatch"


MASTER_DATA_KINDS = {
    DefectKind.CUSTOMER_NAME_MISMATCH,
    DefectKind.CUSTOMER_SUBSIDIARY_MISMATCH,
    DefectKind.CUSTOMER_CURRENCY_MISMATCH,
}

FIXED_BY_SYNC = {
    DefectKind.CUSTOMER_NAME_MISMATCH,
    DefectKind.CONTRACT_MISSING_IN_BILLING,
    DefectKind.INVOICE_MISSING_IN_NETSUITE,
    DefectKind.INVOICE_MISSING_IN_STRIPE,
    DefectKind.PAYMENT_MISSING_IN_NETSUITE,
    DefectKind.REFUND_MISSING_IN_NETSUITE,
}
"""Defects the sync flows repair, by creating the missing record or (a customer's name, which
Salesforce owns) updating it; every other kind is flagged."""


@dataclass
class Defect:
    kind: DefectKind
    target: Any  # the planned record the defect is planted on
    amount_at_risk: Decimal
    currency: str
    detail: dict[str, Any] = field(default_factory=dict)
    records: dict[str, list[str]] = field(default_factory=dict)  # system -> native ids, filled by writers
    other: Any = None  # a second planned record the defect involves (the invoice wrongly paid)

    @property
    def fixed_by_sync(self) -> bool:
        return self.kind in FIXED_BY_SYNC

    def record(self, system: str, native_id: str) -> None:
        self.records.setdefault(system, []).append(native_id)

    def as_answer(self, number: int) -> dict[str, Any]:
        return {
            "defect_id": f"D{number:05d}",
            "kind": self.kind.value,
            "records": {system: sorted(ids) for system, ids in sorted(self.records.items())},
            "amount_at_risk": str(self.amount_at_risk),
            "currency": self.currency,
            "fixed_by_sync": self.fixed_by_sync,
            "detail": self.detail,
        }


@dataclass
class DefectPlan:
    defects: list[Defect]

    def on(self, kind: DefectKind, target: Any) -> Defect | None:
        for defect in self.defects:
            if defect.kind is kind and defect.target is target:
                return defect
        return None

    def kinds_on(self, target: Any) -> set[DefectKind]:
        return {defect.kind for defect in self.defects if defect.target is target}

    def answer_key(self) -> list[dict[str, Any]]:
        return [defect.as_answer(number) for number, defect in enumerate(self.defects, start=1)]


def _count(rate: float, population: int, rng: random.Random) -> int:
    """About `rate` of the population, and at least one when the population allows."""
    if population == 0:
        return 0
    expected = rate * population
    return max(1, min(population, int(expected) + (1 if rng.random() < expected - int(expected) else 0)))


class DefectPlanner:
    """Plants defects in two passes: billing (before cash is planned) and cash (after)."""

    def __init__(self, company: Company, *, rate: float, seed: int) -> None:
        self.company = company
        self.rate = rate
        self.rng = random.Random(seed * 7919 + 1)
        self.used: set[int] = set()
        # Planned objects dropped from the company but still named in `used` are held here: were
        # one freed, a later object could take its id() and be wrongly skipped, differently per run.
        self.dropped: list[Any] = []
        self.plan = DefectPlan([])

    def _take(self, candidates: list[Any], count: int) -> list[Any]:
        free = [item for item in candidates if id(item) not in self.used]
        chosen = self.rng.sample(free, min(count, len(free)))
        self.used.update(id(item) for item in chosen)
        return chosen

    def plant_billing(self) -> None:
        """Customer- and invoice-level defects; those that change what was billed change the plan."""
        company, rng = self.company, self.rng
        kinds = (
            DefectKind.CRM_PRICE_MISMATCH,
            DefectKind.CONTRACT_MISSING_IN_BILLING,
            DefectKind.CUSTOMER_NAME_MISMATCH,
            DefectKind.CUSTOMER_SUBSIDIARY_MISMATCH,
            DefectKind.CUSTOMER_CURRENCY_MISMATCH,
        )
        with_invoices = [c for c in company.customers if company.invoices_of(c)]
        for index, customer in enumerate(
            self._take(with_invoices, _count(self.rate, len(with_invoices), rng) * len(kinds))
        ):
            # A customer-level defect takes the whole customer: nothing else is planted on its records.
            self.used.update(id(invoice) for invoice in company.invoices_of(customer))
            self.used.add(id(customer))
            kind = kinds[index % len(kinds)]
            self.plan.defects.append(_customer_defect(kind, customer, company))
            if kind is DefectKind.CONTRACT_MISSING_IN_BILLING:
                # Never provisioned, so never billed: the deal exists in the CRM only.
                self.dropped.extend(company.invoices_of(customer))
                company.invoices = [
                    invoice for invoice in company.invoices if invoice.customer is not customer
                ]
        recent = [i for i in company.invoices if i.period_start >= company.usage_from]
        for invoice in self._take(recent, _count(self.rate, len(company.invoices), rng)):
            line = next(line for line in invoice.lines if line.sku == "API_CALLS")
            metered = line.quantity
            extra = Decimal(max(1, int(metered // 10)))
            reprice(invoice, "API_CALLS", quantity=metered + extra)
            self.plan.defects.append(
                Defect(
                    DefectKind.USAGE_BILLED_NOT_METERED,
                    invoice,
                    extra * line.unit_price,
                    invoice.currency,
                    {
                        "sku": "API_CALLS",
                        "billed_quantity": str(metered + extra),
                        "metered_quantity": str(metered),
                    },
                )
            )

    def _fill_open_receivables(self) -> None:
        """Master-data defects put the customer's open receivables at risk."""
        applied: dict[int, Decimal] = {}
        for payment in self.company.payments:
            for invoice, amount in payment.applications:
                applied[id(invoice)] = applied.get(id(invoice), Decimal(0)) + amount
        for defect in self.plan.defects:
            if defect.kind in MASTER_DATA_KINDS:
                defect.amount_at_risk = sum(
                    (
                        invoice.total - applied.get(id(invoice), Decimal(0))
                        for invoice in self.company.invoices_of(defect.target)
                    ),
                    Decimal(0),
                )

    def _wrong_invoice(
        self, payment: PaymentPlan, open_by_customer: dict[str, list[InvoicePlan]]
    ) -> InvoicePlan | None:
        """Another open invoice of the payer's that the whole payment could be applied to."""
        for invoice in open_by_customer.get(payment.customer.key, []):
            if (
                invoice.customer is payment.customer
                and id(invoice) not in self.used
                and invoice.total >= payment.amount
                and all(invoice is not paid for paid, _ in payment.applications)
            ):
                return invoice
        return None

    def plant_cash(self) -> None:
        """Defects on invoices, payments, refunds, payouts and the ledger, once cash is planned."""
        company, rng, rate = self.company, self.rng, self.rate
        paid = {id(invoice) for payment in company.payments for invoice, _ in payment.applications}
        refunded = {id(refund.payment) for refund in company.refunds}
        open_invoices = [invoice for invoice in company.invoices if id(invoice) not in paid]
        open_by_customer: dict[str, list[InvoicePlan]] = {}
        for invoice in open_invoices:
            open_by_customer.setdefault(invoice.customer.key, []).append(invoice)
        for kind in (
            DefectKind.INVOICE_MISSING_IN_NETSUITE,
            DefectKind.INVOICE_MISSING_IN_STRIPE,
            DefectKind.INVOICE_TOTAL_DIFFERS,
            DefectKind.DUPLICATE_INVOICE_IN_NETSUITE,
            DefectKind.INVOICE_CURRENCY_MISMATCH,
        ):
            # At most a tenth of the open invoices per kind, so payments have open invoices left to be
            # misapplied to (at 200,000 invoices, 1% of all of them per kind is more than are open).
            count = min(_count(rate, len(company.invoices), rng), max(1, len(open_invoices) // 10))
            for invoice in self._take(open_invoices, count):
                self.plan.defects.append(_invoice_defect(kind, invoice))
        card = [
            p
            for p in company.payments
            if p.channel == "card"
            and id(p) not in refunded
            and not any(id(invoice) in self.used for invoice, _ in p.applications)
        ]
        # A payment missing from the ERP, or paid out of band instead of by card, would also leave
        # its payout's deposit short; those two kinds are planted on payments no payout swept yet.
        swept = {id(payment) for payout in company.payouts for payment in payout.payments}
        unswept_only = {DefectKind.PAYMENT_MISSING_IN_NETSUITE, DefectKind.PAID_IN_STRIPE_OPEN_IN_NETSUITE}
        for kind in (
            DefectKind.PAYMENT_MISSING_IN_NETSUITE,
            DefectKind.PAYMENT_APPLIED_TO_WRONG_INVOICE,
            DefectKind.PARTIAL_PAYMENT_LEFT_OPEN,
            DefectKind.PAID_IN_STRIPE_OPEN_IN_NETSUITE,
        ):
            pool = [p for p in card if id(p) not in swept] if kind in unswept_only else card
            if kind is DefectKind.PAYMENT_APPLIED_TO_WRONG_INVOICE:
                # Only a customer with another open invoice the payment fits can have it misapplied.
                pool = [p for p in pool if self._wrong_invoice(p, open_by_customer) is not None]
            for payment in self._take(pool, _count(rate, len(card), rng)):
                self.used.update(id(invoice) for invoice, _ in payment.applications)
                defect = _payment_defect(kind, payment)
                if kind is DefectKind.PAYMENT_APPLIED_TO_WRONG_INVOICE:
                    wrong = self._wrong_invoice(payment, open_by_customer)
                    if wrong is None:
                        continue
                    defect.other = wrong
                    self.used.add(id(wrong))
                    defect.detail["applied_to"] = wrong.number
                self.plan.defects.append(defect)
        # A partial payment changes what the payouts swept: plan them again before choosing among them.
        company.payouts = plan_payouts(company.payments, company.refunds, company.as_of)
        self._fill_open_receivables()
        refunds = [r for r in company.refunds if id(r.payment) not in self.used]
        for refund in self._take(refunds, _count(rate, len(company.refunds), rng)):
            self.plan.defects.append(
                Defect(DefectKind.REFUND_MISSING_IN_NETSUITE, refund, refund.amount, refund.payment.currency)
            )
        payouts = [p for p in company.payouts if not any(id(payment) in self.used for payment in p.payments)]
        for payout in self._take(payouts, _count(rate, len(company.payouts), rng)):
            # The deposit was booked gross: the fees were never taken off.
            self.plan.defects.append(
                Defect(
                    DefectKind.PAYOUT_DEPOSIT_MISMATCH,
                    payout,
                    payout.fees,
                    payout.currency,
                    {"payout": str(payout.net), "deposit": str(payout.gross)},
                )
            )
        keys = sorted({customer.subsidiary.key for customer in company.customers})
        if keys:
            key = rng.choice(keys)
            currency = next(c.currency for c in company.customers if c.subsidiary.key == key)
            amount = Decimal(1250) if currency != "JPY" else Decimal(125000)
            self.plan.defects.append(
                Defect(DefectKind.AR_CONTROL_MISMATCH, key, amount, currency, {"subsidiary": key})
            )


def _customer_defect(kind: DefectKind, customer: CustomerPlan, company: Company) -> Defect:
    currency = customer.currency
    if kind is DefectKind.CRM_PRICE_MISMATCH:
        # Billing provisioned the seat line at another price, and every invoice was billed at it.
        line = customer.lines[0]
        billed = line.unit_price + (Decimal(5) if currency != "JPY" else Decimal(500))
        quantity = line.quantity or Decimal(1)
        invoices = company.invoices_of(customer)
        for invoice in invoices:
            reprice(invoice, line.sku, unit_price=billed)
        at_risk = (billed - line.unit_price) * quantity * len(invoices)
        return Defect(
            kind,
            customer,
            at_risk,
            currency,
            {"sku": line.sku, "crm_unit_price": str(line.unit_price), "billed_unit_price": str(billed)},
        )
    if kind is DefectKind.CONTRACT_MISSING_IN_BILLING:
        monthly = sum(
            ((line.quantity or Decimal(0)) * line.unit_price for line in customer.lines), Decimal(0)
        )
        return Defect(kind, customer, monthly, currency)
    # The customer's open receivables are at risk; cash is planned later, so it is filled in then.
    return Defect(kind, customer, Decimal(0), currency)


def _invoice_defect(kind: DefectKind, invoice: InvoicePlan) -> Defect:
    currency = invoice.currency
    if kind is DefectKind.INVOICE_TOTAL_DIFFERS:
        delta = Decimal(1) if currency == "JPY" else Decimal("12.50")
        return Defect(kind, invoice, delta, currency, {"netsuite_total": str(invoice.total + delta)})
    return Defect(kind, invoice, invoice.total, currency)


def _payment_defect(kind: DefectKind, payment: PaymentPlan) -> Defect:
    invoice, _ = payment.applications[0]
    if kind is DefectKind.PARTIAL_PAYMENT_LEFT_OPEN:
        # The customer paid part of the invoice; both systems agree and the rest is overdue.
        paid = round_money(payment.amount * Decimal("0.6"), payment.currency)
        remaining = invoice.total - paid
        payment.amount = paid
        payment.fee = card_fee(paid, payment.customer.subsidiary)
        payment.applications = [(invoice, paid)]
        return Defect(
            kind, payment, remaining, payment.currency, {"paid": str(paid), "remaining": str(remaining)}
        )
    if kind is DefectKind.PAID_IN_STRIPE_OPEN_IN_NETSUITE:
        # Paid to the bank and marked paid in Stripe by hand: no charge, nothing in the ERP.
        payment.channel = "out_of_band"
        payment.fee = Decimal(0)
    return Defect(kind, payment, payment.amount, payment.currency)

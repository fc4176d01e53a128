"""The company in the payment processor: customers, invoices, charges, refunds and weekly payouts.

Each Metronome invoice is presented in Stripe as a send-invoice Invoice with the plan's number,
its lines (metadata `sku`) and its tax. Card payments pay the invoice by a charge whose balance
transaction carries the processing fee; wires are marked paid out of band; refunds are
post-payment credit notes settled by a refund; each planned payout sweeps exactly the balance
transactions of its payments and refunds, so its amount is gross - fees - refunds.
"""

from __future__ import annotations

from datetime import timedelta

from tieout.sandbox.scenario.company import SUBSIDIARIES, InvoicePlan, PaymentPlan
from tieout.sandbox.scenario.context import Scenario, epoch, minor, moment, onboarded_at
from tieout.sandbox.scenario.defects import DefectKind

ISSUE_DELAY = timedelta(minutes=10)
LINK_DELAY = timedelta(minutes=30)


def write_customers(scenario: Scenario) -> None:
    state, ids = scenario.states.stripe, scenario.ids
    for customer in scenario.company.customers:
        scenario.at(onboarded_at(customer) + timedelta(hours=1))
        record = state.create_customer(
            email=customer.email,
            name=customer.name,
            currency=customer.currency,
            metadata={"salesforce_account_id": ids.sf_account[customer.key]},
        )
        ids.stripe_customer[customer.key] = record["id"]


def write_invoices(scenario: Scenario) -> None:
    """Finalized invoices for every Metronome invoice but those planted as missing here."""
    for invoice in scenario.company.invoices:
        if defect := scenario.defect(DefectKind.INVOICE_MISSING_IN_STRIPE, invoice):
            defect.detail.setdefault("number", invoice.number)
            continue
        _write_invoice(scenario, invoice)


def _write_invoice(scenario: Scenario, invoice: InvoicePlan) -> None:
    state, ids = scenario.states.stripe, scenario.ids
    currency = invoice.currency
    scenario.at(invoice.issued_at + ISSUE_DELAY)
    lines = [
        {
            "unit_amount": minor(line.unit_price, currency),
            "quantity": int(line.quantity),
            "amount": minor(line.amount, currency),
            "description": line.description,
            "period_start": epoch(invoice.period_start),
            "period_end": epoch(invoice.period_end),
            "metadata": {"sku": line.sku},
        }
        for line in invoice.lines
    ]
    record = state.create_invoice(
        ids.stripe_customer[invoice.customer.key],
        currency=currency,
        collection_method="send_invoice",
        due_date=epoch(invoice.due_on),
        lines=lines,
        period_start=epoch(invoice.period_start),
        period_end=epoch(invoice.period_end),
        metadata={"metronome_invoice_id": ids.mt_invoice[invoice.key]},
        tax=minor(invoice.tax, currency),
    )
    state.update_invoice(record["id"], {"number": invoice.number})
    state.finalize_invoice(record["id"], auto_advance=False)
    ids.stripe_invoice[invoice.key] = record["id"]


def link_records(scenario: Scenario) -> None:
    """The NetSuite and Metronome ids in customers' and invoices' metadata."""
    state, ids = scenario.states.stripe, scenario.ids
    for customer in scenario.company.customers:
        scenario.at(onboarded_at(customer) + timedelta(hours=4))
        state.update_customer(
            ids.stripe_customer[customer.key],
            {
                "metadata": {
                    "metronome_customer_id": ids.mt_customer[customer.key],
                    "netsuite_customer_id": str(ids.ns_customer[customer.key]),
                }
            },
        )
    for invoice in scenario.company.invoices:
        stripe_id = ids.stripe_invoice.get(invoice.key)
        netsuite_id = ids.ns_invoice.get(invoice.key)
        if stripe_id is None or netsuite_id is None:
            continue
        scenario.at(invoice.issued_at + LINK_DELAY)
        state.update_invoice(stripe_id, {"metadata": {"netsuite_invoice_id": str(netsuite_id)}})


def write_payments(scenario: Scenario) -> None:
    """Card payments as charges on the invoice; wires and hand-marked payments paid out of band."""
    for payment in sorted(scenario.company.payments, key=lambda p: p.received_at):
        scenario.at(payment.received_at)
        if payment.channel == "card":
            _pay_by_card(scenario, payment)
            continue
        for invoice, _ in payment.applications:
            stripe_id = scenario.ids.stripe_invoice.get(invoice.key)
            if stripe_id is not None:
                scenario.states.stripe.pay_invoice(stripe_id, paid_out_of_band=True)
        if defect := scenario.defect(DefectKind.PAID_IN_STRIPE_OPEN_IN_NETSUITE, payment):
            invoice = payment.applications[0][0]
            defect.record("stripe", scenario.ids.stripe_invoice[invoice.key])
            defect.detail.setdefault("number", invoice.number)


def _pay_by_card(scenario: Scenario, payment: PaymentPlan) -> None:
    state, ids = scenario.states.stripe, scenario.ids
    invoice, amount = payment.applications[0]
    currency = payment.currency
    partial = scenario.defect(DefectKind.PARTIAL_PAYMENT_LEFT_OPEN, payment)
    paid = state.pay_invoice(
        ids.stripe_invoice[invoice.key],
        amount=minor(amount, currency) if partial else None,
        fee=minor(payment.fee, currency),
    )
    charge = state.find("charge", paid["charge"])
    ids.stripe_charge[payment.key] = charge["id"]
    ids.stripe_txn[payment.key] = charge["balance_transaction"]
    if partial:
        partial.record("stripe", paid["id"])
        partial.detail.setdefault("number", invoice.number)
    for kind in (DefectKind.PAYMENT_MISSING_IN_NETSUITE, DefectKind.PAYMENT_APPLIED_TO_WRONG_INVOICE):
        if defect := scenario.defect(kind, payment):
            defect.record("stripe", charge["id"])
            defect.detail.setdefault("number", invoice.number)


def write_refunds(scenario: Scenario) -> None:
    """Each refund as a post-payment credit note on the paid invoice, settled by a refund of the charge."""
    state, ids = scenario.states.stripe, scenario.ids
    for refund in sorted(scenario.company.refunds, key=lambda r: r.refunded_at):
        scenario.at(refund.refunded_at)
        invoice = refund.payment.applications[0][0]
        amount = minor(refund.amount, refund.payment.currency)
        note = state.create_credit_note(
            ids.stripe_invoice[invoice.key],
            amount=amount,
            refund_amount=amount,
            reason="product_unsatisfactory",
            memo=f"Service credit on {invoice.number}",
        )
        refund_record = state.find("refund", note["refund"])
        ids.stripe_credit_note[refund.key] = note["id"]
        ids.stripe_refund[refund.key] = refund_record["id"]
        ids.stripe_txn[refund.key] = refund_record["balance_transaction"]
        if defect := scenario.defect(DefectKind.REFUND_MISSING_IN_NETSUITE, refund):
            defect.record("stripe", refund_record["id"])


def write_payouts(scenario: Scenario) -> None:
    """One automatic payout per planned payout, sweeping its payments' and refunds' transactions."""
    state, ids = scenario.states.stripe, scenario.ids
    as_of = scenario.company.as_of
    for payout in sorted(scenario.company.payouts, key=lambda p: (p.created_at, p.key)):
        scenario.at(payout.created_at)
        members = [ids.stripe_txn[p.key] for p in payout.payments] + [
            ids.stripe_txn[r.key] for r in payout.refunds
        ]
        record = state.create_payout(
            payout.currency,
            automatic=True,
            balance_transaction_ids=members,
            arrival_date=epoch(payout.arrival_on),
        )
        expected = minor(payout.net, payout.currency)
        if record["amount"] != expected:
            raise AssertionError(f"payout {payout.key}: Stripe swept {record['amount']}, planned {expected}")
        ids.stripe_payout[payout.key] = record["id"]
        scenario.at(payout.created_at + timedelta(hours=1))
        state.set_payout_status(record["id"], "in_transit")
        arrival = moment(payout.arrival_on, 6)
        if arrival < as_of:
            scenario.at(arrival)
            state.set_payout_status(record["id"], "paid")
        if defect := scenario.defect(DefectKind.PAYOUT_DEPOSIT_MISMATCH, payout):
            defect.record("stripe", record["id"])


def write_tax_rates(scenario: Scenario) -> None:
    """A Stripe tax rate for each subsidiary that charges tax, for invoices created through the API."""
    state, ids = scenario.states.stripe, scenario.ids
    for subsidiary in SUBSIDIARIES:
        if subsidiary.tax_rate:
            rate = state.create_tax_rate(
                f"Tax {subsidiary.country}",
                float(subsidiary.tax_rate * 100),
                inclusive=False,
                country=subsidiary.country,
            )
            ids.stripe_tax_rate[subsidiary.currency] = rate["id"]

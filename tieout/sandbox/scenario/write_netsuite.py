"""The company in the ERP: currencies, subsidiaries, accounts, items, customers, and the AR sub-ledger.

Master data first (four subsidiaries under the US parent, each with its standard accounts;
items whose itemId is the SKU; customers whose externalId is the Salesforce Account Id), then
the accounting copy of every invoice (externalId = the Metronome invoice id, tranId = the plan's
number, tax on its own), customer payments (externalId = the Stripe charge id) into Undeposited
Funds, wires straight to the bank, credit memos and customer refunds for Stripe's credit notes
and refunds, and one deposit per Stripe payout with cash-back lines for fees and refunds.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from tieout.sandbox.scenario.company import PRODUCTS, SUBSIDIARIES, CustomerPlan, InvoicePlan, PayoutPlan
from tieout.sandbox.scenario.context import Scenario, moment, onboarded_at
from tieout.sandbox.scenario.defects import DefectKind
from tieout.sandbox.scenario.write_salesforce import other_currency

EXCHANGE_RATES = {"USD": 1.0, "GBP": 1.27, "EUR": 1.08, "JPY": 0.0067}
CURRENCY_NAMES = {"USD": "US Dollar", "GBP": "British Pound", "EUR": "Euro", "JPY": "Japanese Yen"}
ISSUE_DELAY = timedelta(minutes=20)


def _add_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def write_master_data(scenario: Scenario) -> None:
    """Currencies, subsidiaries with their accounts, terms, items and monthly accounting periods."""
    state, ids, company = scenario.states.netsuite, scenario.ids, scenario.company
    first = min((c.start_month for c in company.customers), default=company.as_of.date().replace(day=1))
    scenario.at(moment(first - timedelta(days=60), 7))
    with state.batch():
        for code, rate in EXCHANGE_RATES.items():
            record = state.create_currency(
                code, name=CURRENCY_NAMES[code], exchange_rate=rate, is_base=code == "USD"
            )
            ids.ns_currency[code] = int(record["id"])
        parent: int | None = None
        for subsidiary in SUBSIDIARIES:
            record = state.create_subsidiary(
                subsidiary.name,
                currency_id=ids.ns_currency[subsidiary.currency],
                country=subsidiary.country,
                legal_name=subsidiary.legal_name,
                parent_id=parent,
            )
            ids.ns_subsidiary[subsidiary.key] = int(record["id"])
            parent = parent or int(record["id"])
            accounts = state.create_standard_accounts(int(record["id"]))
            ids.ns_accounts[subsidiary.key] = {role: int(a["id"]) for role, a in accounts.items()}
        for days in sorted({c.terms_days for c in company.customers} | {30}):
            ids.ns_term[days] = int(state.create_term(f"Net {days}", days)["id"])
        revenue = ids.ns_accounts[SUBSIDIARIES[0].key]["revenue"]
        for product in PRODUCTS:
            record = state.create_item(
                product.sku, income_account_id=revenue, item_type="Service", display_name=product.name
            )
            ids.ns_item[product.sku] = int(record["id"])
        month = first.replace(day=1)
        while month <= company.as_of.date():
            following = _add_month(month)
            state.create_accounting_period(f"{month:%b %Y}", month, following - timedelta(days=1))
            month = following


def write_customers(scenario: Scenario) -> None:
    state = scenario.states.netsuite
    # Customers an invoice is booked for in another currency must be allowed that currency.
    extra: dict[str, list[int]] = {}
    for invoice in scenario.company.invoices:
        if scenario.defect(DefectKind.INVOICE_CURRENCY_MISMATCH, invoice):
            currency_id = scenario.ids.ns_currency[other_currency(invoice.currency)]
            extra.setdefault(invoice.customer.key, []).append(currency_id)
    with state.batch():
        for customer in scenario.company.customers:
            _write_customer(scenario, customer, extra.get(customer.key, []))


def _write_customer(scenario: Scenario, customer: CustomerPlan, extra: list[int]) -> None:
    state, ids = scenario.states.netsuite, scenario.ids
    scenario.at(onboarded_at(customer) + timedelta(hours=2))
    name = customer.name
    if defect := scenario.defect(DefectKind.CUSTOMER_NAME_MISMATCH, customer):
        number = f" {int(customer.key[1:]):04d} "
        name = customer.name.replace(number, f" Holdings{number}")
        defect.detail.update(salesforce_name=customer.name, netsuite_name=name)
    record = state.create_customer(
        name,
        subsidiary_id=ids.ns_subsidiary[customer.subsidiary.key],
        currency_id=ids.ns_currency[customer.currency],
        currency_ids=extra,
        email=customer.email,
        external_id=ids.sf_account[customer.key],
        terms_id=ids.ns_term[customer.terms_days],
    )
    ids.ns_customer[customer.key] = int(record["id"])
    for kind in (
        DefectKind.CUSTOMER_NAME_MISMATCH,
        DefectKind.CUSTOMER_SUBSIDIARY_MISMATCH,
        DefectKind.CUSTOMER_CURRENCY_MISMATCH,
    ):
        if defect := scenario.defect(kind, customer):
            defect.record("netsuite", str(record["id"]))


def _lines(scenario: Scenario, invoice: InvoicePlan) -> list[dict[str, Any]]:
    return [
        {
            "item": scenario.ids.ns_item[line.sku],
            "quantity": float(line.quantity),
            "rate": float(line.unit_price),
            "amount": float(line.amount),
            "description": line.description,
        }
        for line in invoice.lines
    ]


def write_invoices(scenario: Scenario) -> None:
    """The accounting copy of each Metronome invoice, with the planted differences."""
    state = scenario.states.netsuite
    with state.batch():
        for invoice in scenario.company.invoices:
            if scenario.defect(DefectKind.INVOICE_MISSING_IN_NETSUITE, invoice):
                continue
            _write_invoice(scenario, invoice)


def _write_invoice(scenario: Scenario, invoice: InvoicePlan) -> None:
    state, ids = scenario.states.netsuite, scenario.ids
    scenario.at(invoice.issued_at + ISSUE_DELAY)
    metronome_id = ids.mt_invoice[invoice.key]
    lines = _lines(scenario, invoice)
    currency = invoice.currency
    if defect := scenario.defect(DefectKind.INVOICE_TOTAL_DIFFERS, invoice):
        # Re-keyed by hand with an extra line nobody billed.
        lines.append(
            {
                "item": lines[0]["item"],
                "quantity": 1.0,
                "rate": float(defect.amount_at_risk),
                "amount": float(defect.amount_at_risk),
                "description": "Manual adjustment",
            }
        )
    mismatch = scenario.defect(DefectKind.INVOICE_CURRENCY_MISMATCH, invoice)
    if mismatch:
        currency = other_currency(currency)
        mismatch.detail.update(metronome_currency=invoice.currency, netsuite_currency=currency)
    fields: dict[str, Any] = {
        "tran_date": invoice.issued_at.date(),
        "due_date": invoice.due_on,
        "currency_id": ids.ns_currency[currency],
        "tax_total": float(invoice.tax),
        "memo": f"Metronome invoice {metronome_id}",
        "start_date": invoice.period_start,
        "end_date": invoice.period_end - timedelta(days=1),
    }
    customer_id = ids.ns_customer[invoice.customer.key]
    record = state.create_invoice(
        customer_id, lines, external_id=metronome_id, tran_id=invoice.number, **fields
    )
    ids.ns_invoice[invoice.key] = int(record["id"])
    for kind in (DefectKind.INVOICE_TOTAL_DIFFERS, DefectKind.INVOICE_CURRENCY_MISMATCH):
        if defect := scenario.defect(kind, invoice):
            defect.record("netsuite", str(record["id"]))
    if defect := scenario.defect(DefectKind.DUPLICATE_INVOICE_IN_NETSUITE, invoice):
        # A retried create without the external id: the same invoice again under a suffixed number.
        scenario.at(invoice.issued_at + ISSUE_DELAY + timedelta(minutes=3))
        duplicate = state.create_invoice(customer_id, lines, tran_id=f"{invoice.number}-1", **fields)
        ids.ns_duplicate[invoice.key] = int(duplicate["id"])
        defect.record("netsuite", str(duplicate["id"]))
        defect.detail.setdefault("number", invoice.number)


def write_payments(scenario: Scenario) -> None:
    """Card payments into Undeposited Funds (externalId = charge id); wires straight to the bank."""
    state, ids = scenario.states.netsuite, scenario.ids
    with state.batch():
        for payment in sorted(scenario.company.payments, key=lambda p: p.received_at):
            if payment.channel == "out_of_band":
                invoice = payment.applications[0][0]
                if defect := scenario.defect(DefectKind.PAID_IN_STRIPE_OPEN_IN_NETSUITE, payment):
                    defect.record("netsuite", str(ids.ns_invoice[invoice.key]))
                continue
            if payment.channel == "card" and scenario.defect(DefectKind.PAYMENT_MISSING_IN_NETSUITE, payment):
                continue
            scenario.at(payment.received_at + timedelta(hours=2))
            customer_id = ids.ns_customer[payment.customer.key]
            applies = [
                (ids.ns_invoice[invoice.key], float(amount)) for invoice, amount in payment.applications
            ]
            wrong = scenario.defect(DefectKind.PAYMENT_APPLIED_TO_WRONG_INVOICE, payment)
            if wrong is not None:
                applies = [(ids.ns_invoice[wrong.other.key], float(payment.amount))]
            day = payment.received_at.date()
            if payment.channel == "card":
                charge_id = ids.stripe_charge[payment.key]
                record = state.create_customer_payment(
                    customer_id,
                    applies=applies,
                    amount=float(payment.amount),
                    tran_date=day,
                    undeposited=True,
                    memo=charge_id,
                    external_id=charge_id,
                )
            else:
                bank = ids.ns_accounts[payment.customer.subsidiary.key]["bank"]
                record = state.create_customer_payment(
                    customer_id,
                    applies=applies,
                    amount=float(payment.amount),
                    tran_date=day,
                    account_id=bank,
                    memo=f"Wire transfer {payment.key}",
                )
            ids.ns_payment[payment.key] = int(record["id"])
            if wrong is not None:
                wrong.record("netsuite", str(record["id"]))
            if partial := scenario.defect(DefectKind.PARTIAL_PAYMENT_LEFT_OPEN, payment):
                partial.record("netsuite", str(ids.ns_invoice[payment.applications[0][0].key]))


def write_refunds(scenario: Scenario) -> None:
    """A credit memo for each Stripe credit note, and a customer refund paying it out."""
    state, ids = scenario.states.netsuite, scenario.ids
    with state.batch():
        for refund in sorted(scenario.company.refunds, key=lambda r: r.refunded_at):
            if scenario.defect(DefectKind.REFUND_MISSING_IN_NETSUITE, refund):
                continue
            scenario.at(refund.refunded_at + timedelta(hours=2))
            payment = refund.payment
            invoice = payment.applications[0][0]
            customer_id = ids.ns_customer[payment.customer.key]
            day = refund.refunded_at.date()
            note_id = ids.stripe_credit_note[refund.key]
            memo = state.create_credit_memo(
                customer_id,
                [
                    {
                        "item": ids.ns_item[invoice.lines[0].sku],
                        "quantity": 1.0,
                        "rate": float(refund.amount),
                        "amount": float(refund.amount),
                        "description": f"Service credit on {invoice.number}",
                    }
                ],
                tran_date=day,
                external_id=note_id,
                memo=note_id,
            )
            ids.ns_credit_memo[refund.key] = int(memo["id"])
            refund_id = ids.stripe_refund[refund.key]
            record = state.create_customer_refund(
                customer_id,
                applies=[(int(memo["id"]), float(refund.amount))],
                account_id=ids.ns_accounts[payment.customer.subsidiary.key]["undeposited"],
                tran_date=day,
                external_id=refund_id,
                memo=refund_id,
            )
            ids.ns_refund[refund.key] = int(record["id"])


def write_deposits(scenario: Scenario) -> None:
    """One deposit per Stripe payout: its payments, less fees and refunds as cash-back lines."""
    state = scenario.states.netsuite
    with state.batch():
        for payout in sorted(scenario.company.payouts, key=lambda p: (p.created_at, p.key)):
            _write_deposit(scenario, payout)


def _write_deposit(scenario: Scenario, payout: PayoutPlan) -> None:
    state, ids, as_of = scenario.states.netsuite, scenario.ids, scenario.company.as_of
    subsidiary = next(s for s in SUBSIDIARIES if s.currency == payout.currency)
    accounts = ids.ns_accounts[subsidiary.key]
    booked_at = min(moment(payout.arrival_on, 9), as_of - timedelta(minutes=30))
    scenario.at(booked_at)
    payout_id = ids.stripe_payout[payout.key]
    gross = scenario.defect(DefectKind.PAYOUT_DEPOSIT_MISMATCH, payout)
    cashback: list[dict[str, Any]] = []
    if gross is None and payout.fees > 0:
        cashback.append({"account": accounts["fees"], "amount": float(payout.fees), "memo": "Stripe fees"})
    for refund in payout.refunds:
        cashback.append(
            {
                "account": accounts["undeposited"],
                "amount": float(refund.amount),
                "memo": ids.stripe_refund[refund.key],
            }
        )
    record = state.create_deposit(
        accounts["bank"],
        payment_ids=[ids.ns_payment[payment.key] for payment in payout.payments],
        cashback=cashback,
        tran_date=booked_at.date(),
        memo=payout_id,
        external_id=payout_id,
    )
    ids.ns_deposit[payout.key] = int(record["id"])
    if gross is not None:
        gross.record("netsuite", str(record["id"]))


def write_journal_entries(scenario: Scenario) -> None:
    """The manual AR postings planted as AR control mismatches: AR debited with no customer."""
    state, ids = scenario.states.netsuite, scenario.ids
    for defect in scenario.plan.defects:
        if defect.kind is not DefectKind.AR_CONTROL_MISMATCH:
            continue
        key = str(defect.target)
        accounts = ids.ns_accounts[key]
        scenario.at(scenario.company.as_of - timedelta(days=3, hours=5))
        amount = float(defect.amount_at_risk)
        record = state.create_journal_entry(
            ids.ns_subsidiary[key],
            [
                {"account": accounts["receivables"], "debit": amount, "memo": "Reclass"},
                {"account": accounts["revenue"], "credit": amount, "memo": "Reclass"},
            ],
            tran_date=(scenario.company.as_of - timedelta(days=3)).date(),
            memo="Manual AR reclass",
        )
        ids.ns_journal[key] = int(record["id"])
        defect.record("netsuite", str(record["id"]))

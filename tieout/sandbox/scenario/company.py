"""The truth of a generated company: what was sold, metered, billed, paid and paid out.

`plan_company()` builds, deterministically from a seed, a usage-based SaaS company across four
subsidiaries (US/USD, UK/GBP, DE/EUR, JP/JPY): customers, closed-won deals with seat, usage and
support lines, monthly usage, monthly invoices, payments (on time, late, by wire covering
several invoices, not yet paid), refunds and weekly payouts net of fees. It is system-agnostic:
the writers put it into each emulator, and the defect planter decides where the systems should
disagree. Amounts are Decimals in the document currency, already rounded to its minor unit.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from tieout.money import currency_exponent


@dataclass(frozen=True)
class Subsidiary:
    key: str
    name: str
    legal_name: str
    country: str
    currency: str
    tax_rate: Decimal
    card_fee_rate: Decimal
    card_fee_fixed: Decimal


SUBSIDIARIES = (
    Subsidiary(
        "US",
        "Tieout Demo Inc.",
        "Tieout Demo Inc.",
        "US",
        "USD",
        Decimal("0"),
        Decimal("0.029"),
        Decimal("0.30"),
    ),
    Subsidiary(
        "UK",
        "Tieout Demo Ltd",
        "Tieout Demo Limited",
        "GB",
        "GBP",
        Decimal("0.20"),
        Decimal("0.015"),
        Decimal("0.20"),
    ),
    Subsidiary(
        "DE",
        "Tieout Demo GmbH",
        "Tieout Demo GmbH",
        "DE",
        "EUR",
        Decimal("0.19"),
        Decimal("0.015"),
        Decimal("0.25"),
    ),
    Subsidiary(
        "JP",
        "Tieout Demo KK",
        "Tieout Demo Kabushiki Kaisha",
        "JP",
        "JPY",
        Decimal("0.10"),
        Decimal("0.036"),
        Decimal("0"),
    ),
)
SUBSIDIARY_WEIGHTS = (0.55, 0.15, 0.2, 0.1)


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    kind: str  # "seat", "usage" or "flat"
    unit: str
    list_prices: dict[str, Decimal]
    metric: str | None = None


PRODUCTS = (
    Product(
        "PLATFORM",
        "Platform seats",
        "seat",
        "seat",
        {"USD": Decimal("50"), "GBP": Decimal("40"), "EUR": Decimal("45"), "JPY": Decimal("7000")},
    ),
    Product(
        "API_CALLS",
        "API calls (per 1,000)",
        "usage",
        "1,000 calls",
        {"USD": Decimal("0.40"), "GBP": Decimal("0.32"), "EUR": Decimal("0.36"), "JPY": Decimal("55")},
        metric="api_calls_thousands",
    ),
    Product(
        "STORAGE",
        "Storage (GB-month)",
        "usage",
        "GB",
        {"USD": Decimal("0.25"), "GBP": Decimal("0.20"), "EUR": Decimal("0.22"), "JPY": Decimal("35")},
        metric="storage_gb",
    ),
    Product(
        "SUPPORT",
        "Premium support",
        "flat",
        "month",
        {"USD": Decimal("500"), "GBP": Decimal("400"), "EUR": Decimal("450"), "JPY": Decimal("70000")},
    ),
)
PRODUCT_BY_SKU = {product.sku: product for product in PRODUCTS}

_FIRST = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Oscorp",
    "Wonka",
    "Gringotts",
    "Aperture",
    "Monarch",
    "Nakatomi",
    "Pied Piper",
    "Dunder",
    "Massive",
    "Blue Sun",
    "Virtucon",
    "Zorg",
    "Octan",
    "Ajax",
    "Nimbus",
    "Bluth",
    "Prestige",
    "Sirius",
    "Duff",
    "Kwik",
    "Sterling",
    "Clampett",
    "Rekall",
    "Weyland",
    "Yoyodyne",
    "Genco",
    "Atlas",
    "Orion",
)
_SECOND = (
    "Analytics",
    "Logistics",
    "Health",
    "Robotics",
    "Media",
    "Foods",
    "Energy",
    "Labs",
    "Systems",
    "Capital",
    "Retail",
    "Networks",
    "Mobility",
    "Biotech",
    "Games",
    "Security",
    "Cloud",
    "Data",
)
_SUFFIX = {"US": ("Inc.", "LLC", "Corp."), "UK": ("Ltd", "PLC"), "DE": ("GmbH", "AG"), "JP": ("KK", "GK")}


@dataclass
class ContractLinePlan:
    sku: str
    unit_price: Decimal
    quantity: Decimal | None  # seats; None for usage lines


@dataclass
class CustomerPlan:
    key: str
    name: str
    subsidiary: Subsidiary
    terms_days: int
    email: str
    city: str
    start_month: date
    lines: list[ContractLinePlan]
    api_thousands_per_day: int
    storage_gb: int
    payer: str  # "prompt", "late", "wire" or "slow"

    @property
    def currency(self) -> str:
        return self.subsidiary.currency


@dataclass
class InvoiceLinePlan:
    sku: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


@dataclass
class InvoicePlan:
    key: str
    number: str
    customer: CustomerPlan
    period_start: date
    period_end: date  # exclusive
    issued_at: datetime
    due_on: date
    lines: list[InvoiceLinePlan]
    subtotal: Decimal
    tax: Decimal
    total: Decimal

    @property
    def currency(self) -> str:
        return self.customer.currency


@dataclass
class PaymentPlan:
    key: str
    customer: CustomerPlan
    channel: str  # "card" (a Stripe charge on the invoice) or "wire" (bank, recorded in the ERP)
    received_at: datetime
    amount: Decimal
    applications: list[tuple[InvoicePlan, Decimal]]
    fee: Decimal = Decimal(0)

    @property
    def currency(self) -> str:
        return self.customer.currency


@dataclass
class RefundPlan:
    key: str
    payment: PaymentPlan
    amount: Decimal
    refunded_at: datetime


@dataclass
class PayoutPlan:
    key: str
    currency: str
    created_at: datetime
    arrival_on: date
    payments: list[PaymentPlan]
    refunds: list[RefundPlan]
    gross: Decimal
    fees: Decimal

    @property
    def net(self) -> Decimal:
        return self.gross - self.fees


@dataclass
class Company:
    seed: int
    as_of: datetime
    customers: list[CustomerPlan]
    invoices: list[InvoicePlan]
    payments: list[PaymentPlan]
    refunds: list[RefundPlan]
    payouts: list[PayoutPlan]
    usage_from: date
    """Usage events are generated for invoice periods starting on or after this month."""

    _by_customer: tuple[list[InvoicePlan], int, dict[str, list[InvoicePlan]]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def invoices_of(self, customer: CustomerPlan) -> list[InvoicePlan]:
        # Indexed once per version of the invoice list (replaced or grown), not scanned per customer:
        # a scan per customer is quadratic at 10,000 customers and 200,000 invoices.
        index = self._by_customer
        if index is None or index[0] is not self.invoices or index[1] != len(self.invoices):
            grouped: dict[str, list[InvoicePlan]] = {}
            for invoice in self.invoices:
                grouped.setdefault(invoice.customer.key, []).append(invoice)
            index = self._by_customer = (self.invoices, len(self.invoices), grouped)
        return [invoice for invoice in index[2].get(customer.key, []) if invoice.customer is customer]


def round_money(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-currency_exponent(currency)), rounding=ROUND_HALF_UP)


def _add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    return date(day.year + month_index // 12, month_index % 12 + 1, 1)


def _at(day: date, hour: int, rng: random.Random) -> datetime:
    return datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)), tzinfo=UTC)


def _plan_customers(
    rng: random.Random, count: int, first_month: date, last_month: date
) -> list[CustomerPlan]:
    customers = []
    span = (last_month.year - first_month.year) * 12 + last_month.month - first_month.month
    for number in range(1, count + 1):
        subsidiary = rng.choices(SUBSIDIARIES, weights=SUBSIDIARY_WEIGHTS)[0]
        base = f"{rng.choice(_FIRST)} {rng.choice(_SECOND)}"
        name = f"{base} {number:04d} {rng.choice(_SUFFIX[subsidiary.key])}"
        discount = Decimal(rng.choice((0, 0, 5, 10, 15, 20))) / 100
        currency = subsidiary.currency
        lines = [
            ContractLinePlan(
                "PLATFORM",
                round_money(PRODUCT_BY_SKU["PLATFORM"].list_prices[currency] * (1 - discount), currency),
                Decimal(rng.choice((5, 10, 20, 25, 50, 100))),
            ),
            ContractLinePlan("API_CALLS", PRODUCT_BY_SKU["API_CALLS"].list_prices[currency], None),
            ContractLinePlan("STORAGE", PRODUCT_BY_SKU["STORAGE"].list_prices[currency], None),
        ]
        if rng.random() < 0.3:
            lines.append(
                ContractLinePlan("SUPPORT", PRODUCT_BY_SKU["SUPPORT"].list_prices[currency], Decimal(1))
            )
        customers.append(
            CustomerPlan(
                key=f"C{number:05d}",
                name=name,
                subsidiary=subsidiary,
                terms_days=rng.choice((30, 30, 30, 45, 60)),
                email=f"ap@{base.lower().replace(' ', '-')}-{number:04d}.example",
                city=rng.choice(
                    ("Springfield", "Riverside", "Fairview", "Kingston", "Madison", "Georgetown")
                ),
                start_month=_add_months(first_month, rng.randrange(max(1, span - 1))),
                lines=lines,
                api_thousands_per_day=rng.randrange(5, 400),
                storage_gb=rng.randrange(10, 2000),
                payer=rng.choices(("prompt", "late", "wire", "slow"), weights=(0.6, 0.2, 0.1, 0.1))[0],
            )
        )
    return customers


def _invoice_for(rng: random.Random, customer: CustomerPlan, month: date, number: int) -> InvoicePlan:
    currency = customer.currency
    end = _add_months(month, 1)
    days = (end - month).days
    lines = []
    for line in customer.lines:
        product = PRODUCT_BY_SKU[line.sku]
        if product.kind == "usage":
            per_day = customer.api_thousands_per_day if line.sku == "API_CALLS" else customer.storage_gb / 30
            quantity = Decimal(int(per_day * days * rng.uniform(0.8, 1.2)))
        else:
            quantity = line.quantity or Decimal(1)
        amount = round_money(quantity * line.unit_price, currency)
        lines.append(InvoiceLinePlan(line.sku, product.name, quantity, line.unit_price, amount))
    subtotal = sum((line.amount for line in lines), Decimal(0))
    tax = round_money(subtotal * customer.subsidiary.tax_rate, currency)
    issued_at = _at(end, 2, rng)
    return InvoicePlan(
        key=f"{customer.key}-{month:%Y-%m}",
        number=f"INV-{number:07d}",
        customer=customer,
        period_start=month,
        period_end=end,
        issued_at=issued_at,
        due_on=end + timedelta(days=customer.terms_days),
        lines=lines,
        subtotal=subtotal,
        tax=tax,
        total=subtotal + tax,
    )


def card_fee(amount: Decimal, subsidiary: Subsidiary) -> Decimal:
    return round_money(amount * subsidiary.card_fee_rate + subsidiary.card_fee_fixed, subsidiary.currency)


def _plan_payments(
    rng: random.Random,
    customer: CustomerPlan,
    invoices: list[InvoicePlan],
    as_of: datetime,
    counter: list[int],
) -> list[PaymentPlan]:
    payments: list[PaymentPlan] = []
    pending_wire: list[InvoicePlan] = []
    for invoice in invoices:
        delay = {
            "prompt": rng.randrange(-20, 0),
            "late": rng.randrange(5, 75),
            "wire": rng.randrange(-10, 5),
            "slow": rng.randrange(60, 140),
        }[customer.payer]
        paid_on = invoice.due_on + timedelta(days=delay)
        paid_on = max(paid_on, invoice.issued_at.date() + timedelta(days=1))
        received_at = _at(paid_on, 15, rng)
        if received_at >= as_of:
            continue
        counter[0] += 1
        if customer.payer == "wire":
            # Wires arrive for two invoices at a time: one payment, several invoices.
            pending_wire.append(invoice)
            if len(pending_wire) == 2:
                total = sum((item.total for item in pending_wire), Decimal(0))
                payments.append(
                    PaymentPlan(
                        f"P{counter[0]:07d}",
                        customer,
                        "wire",
                        received_at,
                        total,
                        [(item, item.total) for item in pending_wire],
                    )
                )
                pending_wire = []
            continue
        payments.append(
            PaymentPlan(
                f"P{counter[0]:07d}",
                customer,
                "card",
                received_at,
                invoice.total,
                [(invoice, invoice.total)],
                fee=card_fee(invoice.total, customer.subsidiary),
            )
        )
    return payments


def plan_payouts(payments: list[PaymentPlan], refunds: list[RefundPlan], as_of: datetime) -> list[PayoutPlan]:
    """Weekly automatic payouts per currency, sweeping the week's card payments and refunds."""
    buckets: dict[tuple[str, date], tuple[list[PaymentPlan], list[RefundPlan]]] = {}
    for payment in payments:
        if payment.channel != "card":
            continue
        week = payment.received_at.date() - timedelta(days=payment.received_at.weekday())
        buckets.setdefault((payment.currency, week), ([], []))[0].append(payment)
    for refund in refunds:
        week = refund.refunded_at.date() - timedelta(days=refund.refunded_at.weekday())
        buckets.setdefault((refund.payment.currency, week), ([], []))[1].append(refund)
    payouts = []
    carried: dict[str, tuple[list[PaymentPlan], list[RefundPlan]]] = {}
    for number, ((currency, week), (swept, refunded)) in enumerate(sorted(buckets.items()), start=1):
        created = datetime.combine(week + timedelta(days=9), time(3, 0), tzinfo=UTC)
        if created >= as_of:
            continue
        earlier_payments, earlier_refunds = carried.pop(currency, ([], []))
        swept, refunded = earlier_payments + swept, earlier_refunds + refunded
        gross = sum((payment.amount for payment in swept), Decimal(0)) - sum(
            (r.amount for r in refunded), Decimal(0)
        )
        fees = sum((payment.fee for payment in swept), Decimal(0))
        if gross - fees <= 0:
            # Stripe pays out nothing from a negative balance: the week's refunds wait for later payments.
            carried[currency] = (swept, refunded)
            continue
        payouts.append(
            PayoutPlan(
                f"PO{number:06d}",
                currency,
                created,
                created.date() + timedelta(days=2),
                swept,
                refunded,
                gross,
                fees,
            )
        )
    return payouts


def plan_billing(*, seed: int, customers: int, months: int, as_of: datetime) -> Company:
    """Customers, their deals and their monthly invoices; cash comes after defects touch billing."""
    rng = random.Random(seed)
    last_month = date(as_of.year, as_of.month, 1)
    first_month = _add_months(last_month, -months)
    plans = _plan_customers(rng, customers, first_month, last_month)
    invoices: list[InvoicePlan] = []
    for customer in plans:
        month = customer.start_month
        while _add_months(month, 1) <= last_month:
            invoice = _invoice_for(rng, customer, month, len(invoices) + 1)
            if invoice.issued_at < as_of:
                invoices.append(invoice)
            month = _add_months(month, 1)
    return Company(
        seed=seed,
        as_of=as_of,
        customers=plans,
        invoices=invoices,
        payments=[],
        refunds=[],
        payouts=[],
        usage_from=_add_months(last_month, -2),
    )


def reprice(
    invoice: InvoicePlan, sku: str, *, unit_price: Decimal | None = None, quantity: Decimal | None = None
) -> None:
    """Change one line of a planned invoice and recompute its amounts (defects that alter billing)."""
    currency = invoice.currency
    for line in invoice.lines:
        if line.sku == sku:
            line.unit_price = unit_price if unit_price is not None else line.unit_price
            line.quantity = quantity if quantity is not None else line.quantity
            line.amount = round_money(line.quantity * line.unit_price, currency)
    invoice.subtotal = sum((line.amount for line in invoice.lines), Decimal(0))
    invoice.tax = round_money(invoice.subtotal * invoice.customer.subsidiary.tax_rate, currency)
    invoice.total = invoice.subtotal + invoice.tax


def plan_cash(company: Company) -> None:
    """Payments, refunds and payouts for the invoices as billed."""
    rng = random.Random(company.seed * 31 + 7)
    counter = [0]
    by_customer: dict[str, list[InvoicePlan]] = {}
    for invoice in company.invoices:
        by_customer.setdefault(invoice.customer.key, []).append(invoice)
    for customer in company.customers:
        company.payments += _plan_payments(
            rng, customer, by_customer.get(customer.key, []), company.as_of, counter
        )
    for payment in company.payments:
        if payment.channel == "card" and rng.random() < 0.03:
            refunded_at = payment.received_at + timedelta(days=rng.randrange(2, 20))
            if refunded_at < company.as_of:
                amount = round_money(
                    payment.amount * Decimal(rng.choice(("0.1", "0.25", "0.5"))), payment.currency
                )
                company.refunds.append(
                    RefundPlan(f"R{len(company.refunds) + 1:06d}", payment, amount, refunded_at)
                )
    company.payouts = plan_payouts(company.payments, company.refunds, company.as_of)

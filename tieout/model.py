"""The canonical model: one shape for customers, contracts, usage, invoices and money movements.

Each canonical record is one system's view of a business object, mapped into the shared shape:
the Stripe invoice and the NetSuite invoice for the same sale are two `Invoice` records, each
with its own `system` and `native_id`. The crosswalk (in the store) ties views of one object
together; `links` carries the ids a record itself states for its twins in other systems (Stripe
`metadata.netsuite_invoice_id`, NetSuite `externalId`, ...), which is the first evidence the
crosswalk is built from. References inside a record (`customer_id`, `invoice_id`) are native ids
in the record's own system.

Records are frozen pydantic models: money is `Money`, datetimes are aware UTC, accounting dates
are plain dates in the entity's calendar.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from tieout.money import Money


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must carry a time zone")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_aware_utc)]
"""A datetime that must be aware; stored converted to UTC."""


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CanonicalRecord(Frozen):
    """Common head of every canonical record."""

    kind: ClassVar[str]

    system: str
    native_id: str = Field(min_length=1)
    links: dict[str, str] = Field(default_factory=dict)
    updated_at: UtcDatetime | None = None
    deleted: bool = False

    @property
    def record_id(self) -> str:
        """tieout's id for this view: unique across systems and kinds."""
        return record_id_for(self.system, self.kind, self.native_id)


def record_id_for(system: str, kind: str, native_id: str) -> str:
    return f"{system}:{kind}:{native_id}"


def _check_currency(record: BaseModel, currency: str, names: tuple[str, ...]) -> None:
    fields = record.__dict__
    for name in names:
        value = fields[name]
        if value is not None and value.currency != currency:
            raise ValueError(f"{name} is in {value.currency} but the record is in {currency}")


class Address(Frozen):
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


class Customer(CanonicalRecord):
    kind: ClassVar[str] = "customer"

    legal_name: str
    subsidiary_id: str | None = None
    currency: str | None = None
    billing_address: Address | None = None
    payment_terms_days: int | None = Field(default=None, ge=0)
    tax_id: str | None = None
    email: str | None = None
    parent_customer_id: str | None = None
    is_active: bool = True
    ar_balance: Money | None = None
    """The open receivables the record shows for the customer (the CRM's copy of the ERP's AR)."""
    days_past_due: int | None = Field(default=None, ge=0)
    """Days the oldest open invoice is past due, as the record shows it (with `ar_balance`)."""


class PricingModel(StrEnum):
    FLAT = "flat"
    PER_UNIT = "per_unit"
    TIERED = "tiered"
    COMMIT = "commit"
    SUBSCRIPTION = "subscription"


class BillingFrequency(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    ANNUAL = "annual"
    ONE_TIME = "one_time"
    IN_ARREARS = "in_arrears"


class PriceTier(Frozen):
    """Units up to `up_to` (inclusive; None for the last tier) cost `unit_price` each."""

    up_to: Decimal | None
    unit_price: Money
    flat_fee: Money | None = None


class ContractLine(Frozen):
    line_id: str
    product_id: str | None = None
    product_name: str
    pricing_model: PricingModel
    unit_price: Money | None = None
    quantity: Decimal | None = None
    tiers: tuple[PriceTier, ...] = ()
    commit: Money | None = None
    billing_frequency: BillingFrequency = BillingFrequency.MONTHLY
    starts_on: date | None = None
    ends_on: date | None = None

    @model_validator(mode="after")
    def _shape_fits_model(self) -> ContractLine:
        if self.pricing_model is PricingModel.TIERED and not self.tiers:
            raise ValueError(f"line {self.line_id}: a tiered line needs tiers")
        if self.pricing_model is PricingModel.COMMIT and self.commit is None:
            raise ValueError(f"line {self.line_id}: a commit line needs a commit amount")
        return self


class ContractStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    ENDED = "ended"
    CANCELLED = "cancelled"


class Contract(CanonicalRecord):
    kind: ClassVar[str] = "contract"

    customer_id: str
    contract_number: str | None = None
    status: ContractStatus
    currency: str
    starts_on: date
    ends_on: date | None = None
    payment_terms_days: int | None = Field(default=None, ge=0)
    lines: tuple[ContractLine, ...] = ()
    total_value: Money | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Contract:
        if self.ends_on is not None and self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        _check_currency(self, self.currency, ("total_value",))
        for line in self.lines:
            _check_currency(line, self.currency, ("unit_price", "commit"))
        return self


class UsageSummary(CanonicalRecord):
    """Metered quantity of one metric for one customer over [period_start, period_end)."""

    kind: ClassVar[str] = "usage"

    customer_id: str
    metric: str
    product_id: str | None = None
    period_start: UtcDatetime
    period_end: UtcDatetime
    quantity: Decimal


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


class InvoiceLine(Frozen):
    line_id: str
    description: str
    product_id: str | None = None
    quantity: Decimal | None = None
    unit_price: Money | None = None
    amount: Money
    tax: Money | None = None
    period_start: date | None = None
    period_end: date | None = None


_INVOICE_MONEY = ("subtotal", "tax", "total", "amount_due", "amount_paid", "amount_remaining")


class Invoice(CanonicalRecord):
    kind: ClassVar[str] = "invoice"

    customer_id: str
    contract_id: str | None = None
    number: str | None = None
    currency: str
    status: InvoiceStatus
    issued_on: date | None = None
    due_on: date | None = None
    subtotal: Money
    tax: Money
    total: Money
    amount_due: Money
    amount_paid: Money
    amount_remaining: Money
    period_start: date | None = None
    period_end: date | None = None
    """The service period's first and last day (inclusive), as invoices print them."""
    subsidiary_id: str | None = None
    exchange_rate: Decimal | None = None
    """Units of the subsidiary's base currency per unit of the invoice currency, where known."""
    lines: tuple[InvoiceLine, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Invoice:
        _check_currency(self, self.currency, _INVOICE_MONEY)
        for line in self.lines:
            _check_currency(line, self.currency, ("unit_price", "amount", "tax"))
        return self


class PaymentMethod(StrEnum):
    CARD = "card"
    ACH = "ach"
    WIRE = "wire"
    CHECK = "check"
    SEPA = "sepa"
    OTHER = "other"


class PaymentStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    DISPUTED = "disputed"


class PaymentApplication(Frozen):
    invoice_id: str
    amount: Money


class Payment(CanonicalRecord):
    """Cash received: gross, the processor's fee, and what it settles."""

    kind: ClassVar[str] = "payment"

    customer_id: str | None = None
    currency: str
    gross: Money
    fee: Money | None = None
    net: Money | None = None
    method: PaymentMethod = PaymentMethod.OTHER
    status: PaymentStatus = PaymentStatus.SUCCEEDED
    received_at: UtcDatetime
    applications: tuple[PaymentApplication, ...] = ()
    unapplied: Money | None = None
    reference: str | None = None
    payout_id: str | None = None
    subsidiary_id: str | None = None
    exchange_rate: Decimal | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Payment:
        _check_currency(self, self.currency, ("gross", "fee", "net", "unapplied"))
        for application in self.applications:
            _check_currency(application, self.currency, ("amount",))
        return self


class CreditNoteStatus(StrEnum):
    ISSUED = "issued"
    VOID = "void"


class CreditNote(CanonicalRecord):
    kind: ClassVar[str] = "credit_note"

    customer_id: str | None = None
    invoice_id: str | None = None
    number: str | None = None
    currency: str
    amount: Money
    reason: str | None = None
    issued_on: date | None = None
    status: CreditNoteStatus = CreditNoteStatus.ISSUED

    @model_validator(mode="after")
    def _consistent(self) -> CreditNote:
        _check_currency(self, self.currency, ("amount",))
        return self


class Refund(CanonicalRecord):
    kind: ClassVar[str] = "refund"

    customer_id: str | None = None
    payment_id: str | None = None
    currency: str
    amount: Money
    refunded_at: UtcDatetime
    status: str = "succeeded"
    reason: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Refund:
        _check_currency(self, self.currency, ("amount",))
        return self


class Payout(CanonicalRecord):
    """Money leaving the processor for the bank (Stripe payout) or arriving there (ERP deposit).

    Both sides of M13 use this shape, told apart by `system`: `amount` is the net that moves,
    `fees` what was netted out, `payment_ids` the payments it carries.
    """

    kind: ClassVar[str] = "payout"

    currency: str
    amount: Money
    fees: Money | None = None
    arrival_on: date | None = None
    status: str = "paid"
    subsidiary_id: str | None = None
    payment_ids: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Payout:
        _check_currency(self, self.currency, ("amount", "fees"))
        return self


class JournalLine(Frozen):
    account_id: str
    debit: Money | None = None
    credit: Money | None = None
    entity_id: str | None = None
    memo: str | None = None


class JournalEntry(CanonicalRecord):
    kind: ClassVar[str] = "journal_entry"

    posted_on: date
    subsidiary_id: str | None = None
    currency: str
    memo: str | None = None
    lines: tuple[JournalLine, ...]

    @model_validator(mode="after")
    def _balanced(self) -> JournalEntry:
        for line in self.lines:
            _check_currency(line, self.currency, ("debit", "credit"))
        debits = sum((line.debit.amount for line in self.lines if line.debit), Decimal(0))
        credits = sum((line.credit.amount for line in self.lines if line.credit), Decimal(0))
        if debits != credits:
            raise ValueError(f"journal entry does not balance: debits {debits} != credits {credits}")
        return self


class LedgerBalance(CanonicalRecord):
    """A general-ledger account's balance for one subsidiary and currency at a date (AR control).

    `native_id` names the account, subsidiary, currency and date together, since the ledger has
    no record of its own for a balance; `balance` is in the subsidiary's base currency.
    """

    kind: ClassVar[str] = "ledger_balance"

    account_id: str
    account_name: str | None = None
    subsidiary_id: str | None = None
    currency: str
    as_of: date
    balance: Money

    @model_validator(mode="after")
    def _consistent(self) -> LedgerBalance:
        _check_currency(self, self.currency, ("balance",))
        return self


RECORD_TYPES: dict[str, type[CanonicalRecord]] = {
    cls.kind: cls
    for cls in (
        Customer,
        Contract,
        UsageSummary,
        Invoice,
        Payment,
        CreditNote,
        Refund,
        Payout,
        JournalEntry,
        LedgerBalance,
    )
}
"""Canonical kinds by name, for decoding stored records."""

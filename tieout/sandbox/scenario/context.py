"""What the writers share: the four emulator states, the plan with its defects, and the id registry.

The writers put one company into four systems in an order that resolves cross-system ids: each
records the native ids it creates in `Registry`, keyed by the planned object's key, so a later
writer can link to them. `Scenario.at()` freezes the shared clock at a planned moment, so every
record carries the history it would have had.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from tieout.money import currency_exponent
from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.metronome import MetronomeState
from tieout.sandbox.netsuite import NetSuiteState
from tieout.sandbox.salesforce import SalesforceState
from tieout.sandbox.scenario.company import Company, CustomerPlan
from tieout.sandbox.scenario.defects import Defect, DefectKind, DefectPlan
from tieout.sandbox.stripe import StripeState


@dataclass
class States:
    """The four emulator states, on one clock."""

    clock: SandboxClock
    salesforce: SalesforceState
    metronome: MetronomeState
    stripe: StripeState
    netsuite: NetSuiteState


@dataclass
class Registry:
    """Native ids per system, keyed by the plan's keys (customer, invoice, payment, refund, payout)."""

    sf_product: dict[str, str] = field(default_factory=dict)
    sf_entry: dict[tuple[str, str], str] = field(default_factory=dict)
    sf_account: dict[str, str] = field(default_factory=dict)
    sf_opportunity: dict[str, str] = field(default_factory=dict)

    stripe_customer: dict[str, str] = field(default_factory=dict)
    stripe_invoice: dict[str, str] = field(default_factory=dict)
    stripe_charge: dict[str, str] = field(default_factory=dict)
    stripe_txn: dict[str, str] = field(default_factory=dict)  # payment or refund key -> balance txn
    stripe_refund: dict[str, str] = field(default_factory=dict)
    stripe_credit_note: dict[str, str] = field(default_factory=dict)
    stripe_payout: dict[str, str] = field(default_factory=dict)
    stripe_tax_rate: dict[str, str] = field(default_factory=dict)  # currency -> tax rate id

    ns_currency: dict[str, int] = field(default_factory=dict)
    ns_subsidiary: dict[str, int] = field(default_factory=dict)
    ns_accounts: dict[str, dict[str, int]] = field(default_factory=dict)
    ns_term: dict[int, int] = field(default_factory=dict)
    ns_item: dict[str, int] = field(default_factory=dict)
    ns_customer: dict[str, int] = field(default_factory=dict)
    ns_invoice: dict[str, int] = field(default_factory=dict)
    ns_duplicate: dict[str, int] = field(default_factory=dict)
    ns_payment: dict[str, int] = field(default_factory=dict)
    ns_credit_memo: dict[str, int] = field(default_factory=dict)
    ns_refund: dict[str, int] = field(default_factory=dict)
    ns_deposit: dict[str, int] = field(default_factory=dict)
    ns_journal: dict[str, int] = field(default_factory=dict)

    mt_metric: dict[str, str] = field(default_factory=dict)
    mt_product: dict[str, str] = field(default_factory=dict)
    mt_rate_card: dict[str, str] = field(default_factory=dict)
    mt_customer: dict[str, str] = field(default_factory=dict)
    mt_contract: dict[str, str] = field(default_factory=dict)
    mt_invoice: dict[str, str] = field(default_factory=dict)


@dataclass
class Scenario:
    """One generation run: the plan, its defects, the states being written and the ids so far."""

    company: Company
    plan: DefectPlan
    states: States
    ids: Registry = field(default_factory=Registry)
    _by_kind: dict[DefectKind, dict[int, Defect]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for defect in self.plan.defects:
            self._by_kind.setdefault(defect.kind, {})[id(defect.target)] = defect

    def defect(self, kind: DefectKind, target: object) -> Defect | None:
        return self._by_kind.get(kind, {}).get(id(target))

    def at(self, moment: datetime) -> None:
        self.states.clock.freeze(moment)


def minor(amount: Decimal, currency: str) -> int:
    """An amount in the currency's minor unit (cents; yen for JPY); plan amounts are already rounded."""
    return int(amount.scaleb(currency_exponent(currency)).to_integral_value())


def moment(day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def epoch(day: date) -> int:
    return int(moment(day).timestamp())


def onboarded_at(customer: CustomerPlan) -> datetime:
    """When the deal closed and the customer was set up, a few days before its first billed month."""
    return moment(customer.start_month - timedelta(days=5), 9)


def signed_at(customer: CustomerPlan) -> datetime:
    """When the account and the opportunity were first entered in the CRM."""
    return moment(customer.start_month - timedelta(days=30), 10)

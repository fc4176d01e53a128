"""The flows: which records tieout creates in which system, decided from one snapshot.

Each flow finds source records whose twin is missing in its target and plans a `PushIntent`
built by the target's pure payload builder. The ids a builder needs in the target (the
customer, the invoices a payment applies to) come from twins in the snapshot; codes the
systems do not share (NetSuite currency and item ids, Metronome products and rate cards) come
from the configured value maps. A record that cannot be planned (its customer is not in the
target yet, an item is not mapped) is skipped with the reason, and tried again next run: the
flows run in dependency order, so a customer pushed now lets its invoices go next time.

Flows create, and void: a billing invoice voided at the source has its NetSuite and Stripe
twins voided (by the target's own void, which keeps the document, so history is not rewritten),
unless something was paid against the twin, which is left to the AR team. A target record that
exists and differs is otherwise never overwritten to make it agree (posted financial records
especially): reconcile reports the difference instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tieout.errors import MappingError
from tieout.flows.pusher import PushIntent
from tieout.mappings.metronome import builders as metronome_builders
from tieout.mappings.netsuite import builders as netsuite_builders
from tieout.mappings.stripe import builders as stripe_builders
from tieout.model import (
    CanonicalRecord,
    Contract,
    ContractStatus,
    CreditNote,
    Customer,
    Invoice,
    InvoiceStatus,
    Payment,
    Refund,
)
from tieout.reconcile.rules.invoices import billable_invoices
from tieout.reconcile.snapshot import Snapshot

ValueMaps = Mapping[str, Mapping[str, str]]


@dataclass
class FlowPlan:
    intents: list[PushIntent] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source record id, reason)


@dataclass(frozen=True)
class Flow:
    name: str
    title: str
    source: str
    target: str
    plan: Callable[[Snapshot, ValueMaps], FlowPlan]


def plan_intent(
    flow: str,
    target: str,
    stream: str,
    record: CanonicalRecord,
    payload: Mapping[str, Any],
    *,
    current: dict[str, Any] | None = None,
    fixed_key: str | None = None,
) -> PushIntent:
    """A push of `record` to `target`: a create, or an update of the target's `current` values."""
    return PushIntent(
        flow=flow,
        target_system=target,
        target_stream=stream,
        kind=record.kind,
        source_system=record.system,
        source_native_id=record.native_id,
        source_record_id=record.record_id,
        operation="create" if current is None else "update",
        payload=dict(payload),
        current=current,
        fixed_key=fixed_key,
    )


def map_value(value_maps: ValueMaps, name: str, key: str, what: str) -> str:
    """The value map's entry for `key`; a MappingError naming the map when it has none."""
    value = value_maps.get(name, {}).get(key)
    if value is None:
        raise MappingError(f"the value map {name!r} has no entry for this {what}", field_path=name, value=key)
    return value


def _customer_in(snapshot: Snapshot, system: str, customer_id: str | None, target: str) -> Customer | None:
    """The customer a record of `system` belongs to, as it exists in `target` (None if not yet)."""
    customer = snapshot.get(Customer, system, customer_id)
    return snapshot.typed_twin(customer, Customer, target) if customer is not None else None


VoidBuilder = Callable[[str], tuple[dict[str, Any], dict[str, Any]]]
"""A twin's native id -> (the body that voids it, what the twin shows for those fields now)."""


def _plan_voids(snapshot: Snapshot, plan: FlowPlan, flow: str, target: str, build: VoidBuilder) -> None:
    """Void the `target` twin of every billing invoice voided at the source while the twin is live."""
    for invoice in snapshot.records(Invoice, "metronome").values():
        if invoice.status is not InvoiceStatus.VOID:
            continue
        twin = snapshot.typed_twin(invoice, Invoice, target)
        if twin is None or twin.status is InvoiceStatus.VOID:
            continue
        if not twin.amount_paid.is_zero():
            plan.skipped.append(
                (
                    invoice.record_id,
                    f"voided in billing, but {twin.amount_paid} was paid against its {target} invoice "
                    f"{twin.native_id}: refund or unapply it, then void the invoice",
                )
            )
            continue
        payload, current = build(twin.native_id)
        plan.intents.append(
            PushIntent(
                flow=flow,
                target_system=target,
                target_stream="invoices",
                kind=invoice.kind,
                source_system=invoice.system,
                source_native_id=invoice.native_id,
                source_record_id=invoice.record_id,
                operation="update",
                payload=payload,
                current=current,
            )
        )


def _netsuite_void(internal_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return netsuite_builders.void_payload(internal_id), {"id": internal_id, "voided": False}


def _stripe_void(invoice_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return stripe_builders.void_payload(invoice_id), {"operation": None, "invoice": invoice_id}


def _deals_to_metronome(snapshot: Snapshot, value_maps: ValueMaps) -> FlowPlan:
    plan = FlowPlan()
    for deal in snapshot.records(Contract, "salesforce").values():
        if deal.status is not ContractStatus.ACTIVE or snapshot.twin(deal, "metronome") is not None:
            continue
        customer = _customer_in(snapshot, "salesforce", deal.customer_id, "metronome")
        if customer is None:
            plan.skipped.append((deal.record_id, "the account has no Metronome customer yet"))
            continue
        try:
            payload = metronome_builders.contract_payload(
                deal,
                customer_id=customer.native_id,
                rate_card_id=map_value(value_maps, "metronome_rate_card", deal.currency, "currency"),
                product_ids_by_sku=value_maps.get("metronome_product", {}),
            )
        except MappingError as exc:
            plan.skipped.append((deal.record_id, str(exc)))
            continue
        plan.intents.append(plan_intent("deals_to_metronome", "metronome", "contracts", deal, payload))
    return plan


def _invoices_to_netsuite(snapshot: Snapshot, value_maps: ValueMaps) -> FlowPlan:
    plan = FlowPlan()
    for invoice in billable_invoices(snapshot):
        if snapshot.twin(invoice, "netsuite") is not None:
            continue
        customer = _customer_in(snapshot, invoice.system, invoice.customer_id, "netsuite")
        if customer is None:
            plan.skipped.append((invoice.record_id, "the customer has no NetSuite customer yet"))
            continue
        # Billing computes no tax; the tax the customer was charged is the collection system's.
        collected = snapshot.typed_twin(invoice, Invoice, "stripe")
        booked = invoice
        if collected is not None and collected.currency == invoice.currency:
            booked = invoice.model_copy(update={"tax": collected.tax, "total": collected.total})
        try:
            payload = netsuite_builders.invoice_payload(
                booked,
                customer_id=customer.native_id,
                currency_id=map_value(value_maps, "netsuite_currency", invoice.currency, "currency"),
                item_ids=value_maps.get("netsuite_item", {}),
                subsidiary_id=customer.subsidiary_id,
            )
        except MappingError as exc:
            plan.skipped.append((invoice.record_id, str(exc)))
            continue
        plan.intents.append(plan_intent("invoices_to_netsuite", "netsuite", "invoices", invoice, payload))
    _plan_voids(snapshot, plan, "invoices_to_netsuite", "netsuite", _netsuite_void)
    return plan


def _payments_to_netsuite(snapshot: Snapshot, value_maps: ValueMaps) -> FlowPlan:
    plan = FlowPlan()
    for charge in snapshot.records(Payment, "stripe").values():
        if charge.status.value == "failed" or snapshot.twin(charge, "netsuite") is not None:
            continue
        customer = _customer_in(snapshot, "stripe", charge.customer_id, "netsuite")
        invoice_ids: dict[str, str] = {}
        for application in charge.applications:
            paid = snapshot.get(Invoice, "stripe", application.invoice_id)
            twin = snapshot.typed_twin(paid, Invoice, "netsuite") if paid else None
            if twin is not None:
                invoice_ids[application.invoice_id] = twin.native_id
        if customer is None or len(invoice_ids) < len(charge.applications):
            plan.skipped.append((charge.record_id, "its customer or invoice is not in NetSuite yet"))
            continue
        try:
            payload = netsuite_builders.payment_payload(
                charge,
                customer_id=customer.native_id,
                currency_id=map_value(value_maps, "netsuite_currency", charge.currency, "currency"),
                invoice_ids=invoice_ids,
            )
        except MappingError as exc:
            plan.skipped.append((charge.record_id, str(exc)))
            continue
        plan.intents.append(plan_intent("payments_to_netsuite", "netsuite", "payments", charge, payload))
    return plan


def _invoices_to_stripe(snapshot: Snapshot, value_maps: ValueMaps) -> FlowPlan:
    plan = FlowPlan()
    tax_rates = value_maps.get("stripe_tax_rate", {})
    for invoice in billable_invoices(snapshot):
        if snapshot.twin(invoice, "stripe") is not None:
            continue
        customer = _customer_in(snapshot, invoice.system, invoice.customer_id, "stripe")
        if customer is None:
            plan.skipped.append((invoice.record_id, "the customer has no Stripe customer yet"))
            continue
        try:
            payload = stripe_builders.invoice_payload(
                invoice,
                stripe_customer_id=customer.native_id,
                tax_rate_ids=[tax_rates[invoice.currency]] if invoice.currency in tax_rates else [],
            )
        except MappingError as exc:
            plan.skipped.append((invoice.record_id, str(exc)))
            continue
        plan.intents.append(plan_intent("invoices_to_stripe", "stripe", "invoices", invoice, payload))
    _plan_voids(snapshot, plan, "invoices_to_stripe", "stripe", _stripe_void)
    return plan


def _ns_customer_of_charge(
    snapshot: Snapshot, charge_id: str | None
) -> tuple[Payment | None, Customer | None]:
    charge = snapshot.get(Payment, "stripe", charge_id)
    customer = _customer_in(snapshot, "stripe", charge.customer_id if charge else None, "netsuite")
    return charge, customer


def _refund_of(snapshot: Snapshot, note: CreditNote) -> Refund | None:
    """The Stripe refund a post-payment credit note paid out: same invoice's charge, same amount."""
    for refund in snapshot.records(Refund, "stripe").values():
        charge = snapshot.get(Payment, "stripe", refund.payment_id)
        if charge is None or refund.amount != note.amount:
            continue
        if any(application.invoice_id == note.invoice_id for application in charge.applications):
            return refund
    return None


def _credit_notes_to_netsuite(snapshot: Snapshot, value_maps: ValueMaps) -> FlowPlan:
    plan = FlowPlan()
    for note in snapshot.records(CreditNote, "stripe").values():
        if note.status.value != "issued" or snapshot.twin(note, "netsuite") is not None:
            continue
        refund = _refund_of(snapshot, note)
        _, customer = _ns_customer_of_charge(snapshot, refund.payment_id if refund else None)
        invoice = snapshot.get(Invoice, "stripe", note.invoice_id)
        sku = next((line.product_id for line in invoice.lines if line.product_id), None) if invoice else None
        if customer is None or sku is None:
            plan.skipped.append((note.record_id, "its customer or invoice is not in NetSuite yet"))
            continue
        try:
            payload = netsuite_builders.credit_memo_payload(
                note,
                customer_id=customer.native_id,
                currency_id=map_value(value_maps, "netsuite_currency", note.currency, "currency"),
                item_id=map_value(value_maps, "netsuite_item", sku, "product"),
            )
        except MappingError as exc:
            plan.skipped.append((note.record_id, str(exc)))
            continue
        plan.intents.append(
            plan_intent("credit_notes_to_netsuite", "netsuite", "credit_memos", note, payload)
        )
    return plan


def _refunds_to_netsuite(snapshot: Snapshot, value_maps: ValueMaps) -> FlowPlan:
    plan = FlowPlan()
    notes = list(snapshot.records(CreditNote, "stripe").values())
    for refund in snapshot.records(Refund, "stripe").values():
        if refund.status != "succeeded" or snapshot.twin(refund, "netsuite") is not None:
            continue
        _, customer = _ns_customer_of_charge(snapshot, refund.payment_id)
        note = next((item for item in notes if _refund_of(snapshot, item) is refund), None)
        memo = snapshot.typed_twin(note, CreditNote, "netsuite") if note else None
        if customer is None or memo is None:
            plan.skipped.append((refund.record_id, "its customer or credit memo is not in NetSuite yet"))
            continue
        try:
            payload = netsuite_builders.refund_payload(
                refund,
                customer_id=customer.native_id,
                currency_id=map_value(value_maps, "netsuite_currency", refund.currency, "currency"),
                account_id=map_value(
                    value_maps, "netsuite_refund_account", customer.subsidiary_id or "", "subsidiary"
                ),
                applies=[(memo.native_id, refund.amount)],
            )
        except MappingError as exc:
            plan.skipped.append((refund.record_id, str(exc)))
            continue
        plan.intents.append(plan_intent("refunds_to_netsuite", "netsuite", "refunds", refund, payload))
    return plan


FLOWS: tuple[Flow, ...] = (
    Flow(
        "deals_to_metronome",
        "Closed-won deals -> Metronome contracts",
        "salesforce",
        "metronome",
        _deals_to_metronome,
    ),
    Flow(
        "invoices_to_netsuite",
        "Metronome invoices -> NetSuite invoices",
        "metronome",
        "netsuite",
        _invoices_to_netsuite,
    ),
    Flow(
        "invoices_to_stripe",
        "Metronome invoices -> Stripe invoices",
        "metronome",
        "stripe",
        _invoices_to_stripe,
    ),
    Flow(
        "payments_to_netsuite",
        "Stripe payments -> NetSuite payments",
        "stripe",
        "netsuite",
        _payments_to_netsuite,
    ),
    Flow(
        "credit_notes_to_netsuite",
        "Stripe credit notes -> NetSuite credit memos",
        "stripe",
        "netsuite",
        _credit_notes_to_netsuite,
    ),
    Flow(
        "refunds_to_netsuite",
        "Stripe refunds -> NetSuite customer refunds",
        "stripe",
        "netsuite",
        _refunds_to_netsuite,
    ),
)

# The remaining flows live in their own module, which builds on the types above.
from tieout.flows.more import MORE_FLOWS  # noqa: E402

FLOWS += MORE_FLOWS

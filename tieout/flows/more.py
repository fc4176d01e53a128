"""The remaining sync-mode flows: payouts to deposits, new customers everywhere, write-backs to the CRM.

- `payouts_to_netsuite`: a paid automatic Stripe payout (one whose swept charges Stripe lists:
  a manual payout has none) without a NetSuite deposit becomes a `deposit` of the NetSuite
  payments of its charges into the subsidiary's bank account, the payout's fees as one cash-back
  line to the fees account (value maps `netsuite_bank_account` and `netsuite_fees_account`, by
  NetSuite subsidiary id). It waits until every charge of the payout is a NetSuite payment, and
  is refused when the payments less the fees are not the payout (it also swept refunds or
  adjustments): such a deposit would not tie out to the bank.
- `customers_to_netsuite`, `customers_to_stripe`, `customers_to_metronome` (the customers flow,
  one per target, NetSuite first so the others can carry its id): a Salesforce account with no
  customer in the target gets one. NetSuite's externalId is the Account Id and its subsidiary the
  `netsuite_subsidiary` value map of the account's Subsidiary__c; Metronome's push key is the
  Account Id (its first ingest alias); Stripe's is the ledger's Idempotency-Key. Salesforce is
  the source of truth for the accounts' master data: a customer that exists but shows another
  name, e-mail, active flag or (NetSuite) currency is updated to the account's, with the target's
  present values for the dry-run diff. A field the account leaves empty is not blanked in the
  target; a NetSuite customer keeps its subsidiary, and its currency once it has transactions
  (NetSuite refuses to change either), which reconcile then reports.
- `accounts_to_salesforce`: the ids the other systems gave a customer are written onto its
  Account when it lacks them, and the AR figures (NetSuite's open balance of the customer and
  the days its oldest open invoice is past due, as of NetSuite's latest AR read) when they
  differ from what the Account shows. Both are updates by Id, carrying the Account's present
  values so a dry run shows before -> after; the pusher sends them through sObject Collections.

Stripe fees are not booked as journal entries: the deposit's cash-back line already books each
payout's fees, and a fee journal as well would book them twice.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from tieout import jsonutil
from tieout.errors import MappingError
from tieout.flows.definitions import Flow, FlowPlan, ValueMaps, map_value, plan_intent
from tieout.flows.pusher import PushIntent, idempotency_key
from tieout.mappings.metronome import builders as metronome_builders
from tieout.mappings.netsuite import builders as netsuite_builders
from tieout.mappings.salesforce import builders as salesforce_builders
from tieout.mappings.salesforce.accounts import LINK_FIELDS
from tieout.mappings.stripe import builders as stripe_builders
from tieout.model import Customer, Invoice, InvoiceStatus, LedgerBalance, Payment, Payout
from tieout.money import Money, sum_money
from tieout.reconcile.snapshot import Snapshot

# ---- payouts -> deposits ------------------------------------------------------------------------


def _deposit(snapshot: Snapshot, payout: Payout, value_maps: ValueMaps) -> dict[str, Any] | str:
    """The deposit body for `payout`, or why it cannot be planned yet."""
    payment_ids: list[str] = []
    subsidiaries: set[str | None] = set()
    gross: list[Money] = []
    for charge_id in payout.payment_ids:
        charge = snapshot.get(Payment, "stripe", charge_id)
        booked = snapshot.typed_twin(charge, Payment, "netsuite") if charge else None
        if charge is None or booked is None:
            return f"charge {charge_id} of the payout is not a NetSuite payment yet"
        customer = snapshot.get(Customer, "netsuite", booked.customer_id)
        subsidiaries.add(customer.subsidiary_id if customer else None)
        payment_ids.append(booked.native_id)
        gross.append(charge.gross)
    if len(subsidiaries) != 1 or None in subsidiaries:
        return "its payments' NetSuite customers are not all of one known subsidiary"
    fees = abs(payout.fees) if payout.fees is not None else Money.zero(payout.currency)
    if sum_money(gross, payout.currency) - fees != payout.amount:
        return (
            "its charges less fees are not the payout (it swept refunds or adjustments too); "
            "book the deposit by hand"
        )
    subsidiary_id = str(subsidiaries.pop())
    try:
        return netsuite_builders.deposit_payload(
            payout,
            account_id=map_value(value_maps, "netsuite_bank_account", subsidiary_id, "subsidiary"),
            fee_account_id=map_value(value_maps, "netsuite_fees_account", subsidiary_id, "subsidiary"),
            currency_id=map_value(value_maps, "netsuite_currency", payout.currency, "currency"),
            payment_ids=payment_ids,
        )
    except MappingError as exc:
        return str(exc)


def _payouts_to_netsuite(snapshot: Snapshot, value_maps: ValueMaps) -> FlowPlan:
    plan = FlowPlan()
    for payout in snapshot.records(Payout, "stripe").values():
        if payout.status != "paid" or not payout.payment_ids or snapshot.twin(payout, "netsuite") is not None:
            continue
        body = _deposit(snapshot, payout, value_maps)
        if isinstance(body, str):
            plan.skipped.append((payout.record_id, body))
            continue
        plan.intents.append(plan_intent("payouts_to_netsuite", "netsuite", "deposits", payout, body))
    return plan


# ---- customers -> NetSuite, Stripe, Metronome ---------------------------------------------------


def _accounts(snapshot: Snapshot) -> list[Customer]:
    return sorted(snapshot.records(Customer, "salesforce").values(), key=lambda account: account.native_id)


def _with_twins(snapshot: Snapshot, account: Customer) -> Customer:
    """The account with the ids of every twin it has, stated or found, as its links."""
    links = dict(account.links)
    for system in LINK_FIELDS:
        twin = snapshot.typed_twin(account, Customer, system)
        if twin is not None:
            links[system] = twin.native_id
    return account.model_copy(update={"links": links})


def _differs(payload: dict[str, Any], current: dict[str, Any]) -> bool:
    return any(current.get(name) != value for name, value in payload.items())


def _update(
    flow: str,
    target: str,
    account: Customer,
    twin: Customer,
    payload: dict[str, Any],
    current: dict[str, Any],
) -> PushIntent:
    """An update of `twin` to the account's values. Its key names the twin's version it starts from,
    so a name changed back and forth is pushed each time, never mistaken for the earlier push."""
    version = "|".join((jsonutil.content_hash(payload), jsonutil.content_hash(current), str(twin.updated_at)))
    key = idempotency_key(flow, target, account.record_id, version=version)
    return plan_intent(flow, target, "customers", account, payload, current=current, fixed_key=key)


def _transacting_customers(snapshot: Snapshot) -> set[str]:
    """NetSuite customers with invoices or payments: NetSuite no longer lets their currency change."""
    invoiced = {invoice.customer_id for invoice in snapshot.records(Invoice, "netsuite").values()}
    paying = {payment.customer_id for payment in snapshot.records(Payment, "netsuite").values()}
    return invoiced | {customer_id for customer_id in paying if customer_id is not None}


def _netsuite_update(
    account: Customer, twin: Customer, value_maps: ValueMaps, transacting: set[str], plan: FlowPlan
) -> PushIntent | None:
    currency = account.currency or twin.currency
    if twin.currency and currency != twin.currency and twin.native_id in transacting:
        plan.skipped.append(
            (
                account.record_id,
                f"the account is in {currency} but NetSuite customer {twin.native_id} has transactions "
                f"in {twin.currency}, and NetSuite keeps a customer's currency once it has any",
            )
        )
        currency = twin.currency
    if twin.subsidiary_id is None:
        return None

    def body(values: Customer, code: str | None) -> dict[str, Any]:
        currency_id = map_value(value_maps, "netsuite_currency", code, "currency") if code else None
        return netsuite_builders.customer_payload(
            values, subsidiary_id=str(twin.subsidiary_id), currency_id=currency_id
        )

    shown = account.model_copy(
        update={"legal_name": twin.legal_name, "email": twin.email, "is_active": twin.is_active}
    )
    try:
        payload, current = body(account, currency), body(shown, twin.currency)
    except MappingError as exc:
        plan.skipped.append((account.record_id, str(exc)))
        return None
    if not _differs(payload, current):
        return None
    return _update("customers_to_netsuite", "netsuite", account, twin, payload, current)


def _customers_to_netsuite(snapshot: Snapshot, value_maps: ValueMaps) -> FlowPlan:
    plan = FlowPlan()
    transacting = _transacting_customers(snapshot)
    for account in _accounts(snapshot):
        twin = snapshot.typed_twin(account, Customer, "netsuite")
        if twin is not None:
            update = _netsuite_update(account, twin, value_maps, transacting, plan)
            if update is not None:
                plan.intents.append(update)
            continue
        try:
            if account.subsidiary_id is None:
                raise MappingError("the account names no subsidiary", field_path="Subsidiary__c", value=None)
            subsidiary_id = map_value(value_maps, "netsuite_subsidiary", account.subsidiary_id, "subsidiary")
            currency_id = (
                map_value(value_maps, "netsuite_currency", account.currency, "currency")
                if account.currency
                else None
            )
            payload = netsuite_builders.customer_payload(
                account, subsidiary_id=subsidiary_id, currency_id=currency_id
            )
        except MappingError as exc:
            plan.skipped.append((account.record_id, str(exc)))
            continue
        plan.intents.append(plan_intent("customers_to_netsuite", "netsuite", "customers", account, payload))
    return plan


def _customers_to_stripe(snapshot: Snapshot, value_maps: ValueMaps) -> FlowPlan:
    plan = FlowPlan()
    for account in _accounts(snapshot):
        twin = snapshot.typed_twin(account, Customer, "stripe")
        if twin is not None:
            wanted: dict[str, Any] = {"id": twin.native_id, "name": account.legal_name}
            shown: dict[str, Any] = {"id": twin.native_id, "name": twin.legal_name}
            if account.email:
                wanted["email"], shown["email"] = account.email, twin.email
            if _differs(wanted, shown):
                plan.intents.append(_update("customers_to_stripe", "stripe", account, twin, wanted, shown))
            continue
        payload = stripe_builders.customer_payload(_with_twins(snapshot, account))
        plan.intents.append(plan_intent("customers_to_stripe", "stripe", "customers", account, payload))
    return plan


def _customers_to_metronome(snapshot: Snapshot, value_maps: ValueMaps) -> FlowPlan:
    plan = FlowPlan()
    for account in _accounts(snapshot):
        twin = snapshot.typed_twin(account, Customer, "metronome")
        if twin is not None:
            wanted = {"id": twin.native_id, "name": account.legal_name}
            shown = {"id": twin.native_id, "name": twin.legal_name}
            if _differs(wanted, shown):
                plan.intents.append(
                    _update("customers_to_metronome", "metronome", account, twin, wanted, shown)
                )
            continue
        try:
            payload = metronome_builders.customer_payload(_with_twins(snapshot, account))
        except MappingError as exc:
            plan.skipped.append((account.record_id, str(exc)))
            continue
        plan.intents.append(
            # Metronome takes the push key as the customer's first ingest alias: the Account Id.
            plan_intent(
                "customers_to_metronome",
                "metronome",
                "customers",
                account,
                payload,
                fixed_key=account.native_id,
            )
        )
    return plan


# ---- write-backs onto the Salesforce Account ----------------------------------------------------


def _open_invoices(snapshot: Snapshot) -> dict[str, list[Invoice]]:
    by_customer: dict[str, list[Invoice]] = defaultdict(list)
    for invoice in snapshot.records(Invoice, "netsuite").values():
        if invoice.status is InvoiceStatus.OPEN and not invoice.amount_remaining.is_zero():
            by_customer[invoice.customer_id].append(invoice)
    return by_customer


def _ar_as_of(snapshot: Snapshot) -> date | None:
    """The day NetSuite's receivables were last read: the AR figures are as of then."""
    days = [balance.as_of for balance in snapshot.records(LedgerBalance, "netsuite").values()]
    return max(days, default=None)


def _ar_payload(
    account: Customer, invoices: list[Invoice], as_of: date
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The AR write-back for `account` from its NetSuite open invoices, and what the Account shows now."""
    currency = account.currency or ""
    others = sorted({invoice.currency for invoice in invoices} - {currency.upper()})
    if others:
        raise MappingError(
            f"the customer has open invoices in {', '.join(others)}; the Account is kept in {currency}",
            field_path=salesforce_builders.AR_BALANCE_FIELD,
            value=others,
        )
    balance = sum_money([invoice.amount_remaining for invoice in invoices], currency.upper())
    due = [invoice.due_on for invoice in invoices if invoice.due_on is not None]
    days_past_due = max(0, (as_of - min(due)).days) if due else None
    payload = salesforce_builders.account_ar_payload(
        account.native_id, account_currency=currency, balance=balance, days_past_due=days_past_due
    )
    shown = account.ar_balance
    current = {
        "Id": payload["Id"],
        salesforce_builders.AR_BALANCE_FIELD: None if shown is None else float(shown.amount),
        salesforce_builders.DAYS_PAST_DUE_FIELD: account.days_past_due,
    }
    return payload, current


def _accounts_to_salesforce(snapshot: Snapshot, value_maps: ValueMaps) -> FlowPlan:
    plan = FlowPlan()
    open_invoices = _open_invoices(snapshot)
    as_of = _ar_as_of(snapshot)
    for account in _accounts(snapshot):
        found = _with_twins(snapshot, account).links
        missing = {
            system: found[system] for system in LINK_FIELDS if system in found and system not in account.links
        }
        if missing:
            payload = salesforce_builders.account_ids_payload(account.native_id, missing)
            current = {name: None for name in payload} | {"Id": payload["Id"]}
            plan.intents.append(
                plan_intent(
                    "accounts_to_salesforce", "salesforce", "accounts", account, payload, current=current
                )
            )
        customer = snapshot.typed_twin(account, Customer, "netsuite")
        if customer is None:
            continue
        if as_of is None:
            plan.skipped.append((account.record_id, "NetSuite's receivables have not been read yet"))
            continue
        try:
            payload, current = _ar_payload(account, open_invoices.get(customer.native_id, []), as_of)
        except MappingError as exc:
            plan.skipped.append((account.record_id, str(exc)))
            continue
        if payload != current:
            plan.intents.append(
                plan_intent(
                    "accounts_to_salesforce", "salesforce", "accounts", account, payload, current=current
                )
            )
    return plan


MORE_FLOWS: tuple[Flow, ...] = (
    Flow(
        "payouts_to_netsuite",
        "Stripe payouts -> NetSuite deposits",
        "stripe",
        "netsuite",
        _payouts_to_netsuite,
    ),
    Flow(
        "customers_to_netsuite",
        "Salesforce accounts -> NetSuite customers",
        "salesforce",
        "netsuite",
        _customers_to_netsuite,
    ),
    Flow(
        "customers_to_stripe",
        "Salesforce accounts -> Stripe customers",
        "salesforce",
        "stripe",
        _customers_to_stripe,
    ),
    Flow(
        "customers_to_metronome",
        "Salesforce accounts -> Metronome customers",
        "salesforce",
        "metronome",
        _customers_to_metronome,
    ),
    Flow(
        "accounts_to_salesforce",
        "Twin ids and AR figures -> Salesforce accounts",
        "netsuite",
        "salesforce",
        _accounts_to_salesforce,
    ),
)

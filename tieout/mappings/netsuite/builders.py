"""Reverse builders: canonical records (plus the NetSuite ids the flow resolved) to upsert bodies.

Each builder returns the body `NetSuiteConnector.push(stream, body, idempotency_key=...)` takes for
one stream; the connector sends it as `PUT /record/v1/{type}/eid:{externalId}` (the body's
`externalId` names the record; it is removed from the body, as the URL carries it). References are
`{"id": internal id}`, sublists `{"items": [...]}`, amounts `Decimal` (sent as JSON numbers), dates
ISO. Builders are pure: ids of customers, items, accounts and documents in NetSuite come in as
arguments, resolved by the flow from the crosswalk and field mappings.

| stream            | NetSuite record  | externalId                                  |
|-------------------|------------------|---------------------------------------------|
| customers         | customer         | Salesforce Account Id                       |
| invoices          | invoice          | Metronome invoice id                        |
| payments          | customerPayment  | Stripe charge id                            |
| refunds           | customerRefund   | Stripe refund id                            |
| credit_memos      | creditMemo       | Stripe credit note id                       |
| deposits          | deposit          | Stripe payout id                            |
| journal_entries   | journalEntry     | the source id (e.g. a Stripe balance txn)   |

`void_payload(internal_id)` is the body that voids a transaction instead (the connector sends it
to the account's void RESTlet): `{"id", "voided": true}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from tieout.errors import MappingError
from tieout.model import CreditNote, Customer, Invoice, JournalEntry, Payment, Payout, Refund
from tieout.money import Money


def ref(internal_id: str | int) -> dict[str, str]:
    value = str(internal_id)
    if not value.isdigit():
        raise MappingError("a NetSuite reference must be an internal id", field_path="id", value=internal_id)
    return {"id": value}


def _amount(value: Money) -> Decimal:
    return value.quantized().amount


def _external_id(record_links: Mapping[str, str], system: str, fallback: str | None, what: str) -> str:
    external_id = fallback or record_links.get(system)
    if not external_id:
        raise MappingError(
            f"no {system} id to use as the {what}'s externalId", field_path="links", value=system
        )
    return external_id


def _apply(applications: Sequence[tuple[str, Money]]) -> dict[str, Any]:
    return {
        "items": [
            {"doc": ref(doc_id), "apply": True, "amount": _amount(amount)} for doc_id, amount in applications
        ]
    }


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _compact(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}


def void_payload(internal_id: str) -> dict[str, Any]:
    return {"id": internal_id, "voided": True}


def customer_payload(
    customer: Customer,
    *,
    subsidiary_id: str,
    currency_id: str | None = None,
    terms_id: str | None = None,
    external_id: str | None = None,
) -> dict[str, Any]:
    """A `customer` upsert; externalId defaults to the customer's Salesforce Account Id."""
    return _compact(
        {
            "externalId": _external_id(
                customer.links if customer.system != "salesforce" else {"salesforce": customer.native_id},
                "salesforce",
                external_id,
                "customer",
            ),
            "companyName": customer.legal_name,
            "subsidiary": ref(subsidiary_id),
            "currency": None if currency_id is None else ref(currency_id),
            "terms": None if terms_id is None else ref(terms_id),
            "email": customer.email,
            "isInactive": not customer.is_active,
        }
    )


def invoice_payload(
    invoice: Invoice,
    *,
    customer_id: str,
    currency_id: str,
    item_ids: Mapping[str, str],
    subsidiary_id: str | None = None,
    terms_id: str | None = None,
    external_id: str | None = None,
    allow_overwrite: bool = False,
) -> dict[str, Any]:
    """An `invoice` upsert: one item line per canonical line (`item_ids` maps SKU -> item id), tax as taxTotal.

    externalId is the Metronome invoice id (the record's own id when it is Metronome's).
    `allow_overwrite` lets the push replace a posted invoice whose total differs; without it the
    connector raises ConflictError.
    """
    own = {"metronome": invoice.native_id} if invoice.system == "metronome" else invoice.links
    items = []
    for index, line in enumerate(invoice.lines):
        if line.product_id is None or line.product_id not in item_ids:
            raise MappingError(
                "no NetSuite item for this product",
                field_path=f"lines[{index}].product_id",
                value=line.product_id,
            )
        items.append(
            _compact(
                {
                    "item": ref(item_ids[line.product_id]),
                    "quantity": line.quantity,
                    "rate": None if line.unit_price is None else line.unit_price.amount,
                    "amount": _amount(line.amount),
                    "description": line.description,
                }
            )
        )
    if not items:
        raise MappingError("an invoice needs at least one line", field_path="lines", value=[])
    body = _compact(
        {
            "externalId": _external_id(own, "metronome", external_id, "invoice"),
            "entity": ref(customer_id),
            "subsidiary": None if subsidiary_id is None else ref(subsidiary_id),
            "currency": ref(currency_id),
            "terms": None if terms_id is None else ref(terms_id),
            "tranDate": _iso(invoice.issued_on),
            "dueDate": _iso(invoice.due_on),
            "startDate": _iso(invoice.period_start),
            "endDate": _iso(invoice.period_end),
            "tranId": invoice.number,
            "taxTotal": _amount(invoice.tax),
            "item": {"items": items},
        }
    )
    if allow_overwrite:
        body["allow_overwrite"] = True
    return body


def payment_payload(
    payment: Payment,
    *,
    customer_id: str,
    currency_id: str,
    invoice_ids: Mapping[str, str],
    external_id: str | None = None,
    account_id: str | None = None,
) -> dict[str, Any]:
    """A `customerPayment` applied to NetSuite invoices (`invoice_ids` maps the canonical invoice id -> internal id).

    The payment goes to Undeposited Funds unless `account_id` names a bank or clearing account.
    """
    applications = []
    for index, application in enumerate(payment.applications):
        if application.invoice_id not in invoice_ids:
            raise MappingError(
                "no NetSuite invoice for this application",
                field_path=f"applications[{index}].invoice_id",
                value=application.invoice_id,
            )
        applications.append((invoice_ids[application.invoice_id], application.amount))
    own = {"stripe": payment.native_id} if payment.system == "stripe" else payment.links
    return _compact(
        {
            "externalId": _external_id(own, "stripe", external_id, "payment"),
            "customer": ref(customer_id),
            "currency": ref(currency_id),
            "payment": _amount(payment.gross),
            "tranDate": payment.received_at.date().isoformat(),
            "undepFunds": account_id is None,
            "account": None if account_id is None else ref(account_id),
            "memo": payment.reference,
            "apply": _apply(applications),
        }
    )


def refund_payload(
    refund: Refund,
    *,
    customer_id: str,
    currency_id: str,
    account_id: str,
    applies: Sequence[tuple[str, Money]],
    external_id: str | None = None,
) -> dict[str, Any]:
    """A `customerRefund` paying out credit memos or unapplied payments: `applies` is [(internal id, amount)]."""
    own = {"stripe": refund.native_id} if refund.system == "stripe" else refund.links
    return _compact(
        {
            "externalId": _external_id(own, "stripe", external_id, "refund"),
            "customer": ref(customer_id),
            "currency": ref(currency_id),
            "account": ref(account_id),
            "tranDate": refund.refunded_at.date().isoformat(),
            "memo": refund.reason,
            "apply": _apply(applies),
        }
    )


def credit_memo_payload(
    credit_note: CreditNote,
    *,
    customer_id: str,
    currency_id: str,
    item_id: str,
    invoice_id: str | None = None,
    external_id: str | None = None,
) -> dict[str, Any]:
    """A `creditMemo` of one line on `item_id`, applied to the NetSuite invoice `invoice_id` when given."""
    own = {"stripe": credit_note.native_id} if credit_note.system == "stripe" else credit_note.links
    return _compact(
        {
            "externalId": _external_id(own, "stripe", external_id, "credit memo"),
            "entity": ref(customer_id),
            "currency": ref(currency_id),
            "tranDate": _iso(credit_note.issued_on),
            "memo": credit_note.reason,
            "item": {
                "items": [
                    _compact(
                        {
                            "item": ref(item_id),
                            "amount": _amount(credit_note.amount),
                            "description": credit_note.reason or credit_note.number,
                        }
                    )
                ]
            },
            "apply": None if invoice_id is None else _apply([(invoice_id, credit_note.amount)]),
        }
    )


def deposit_payload(
    payout: Payout,
    *,
    account_id: str,
    payment_ids: Sequence[str],
    fee_account_id: str,
    currency_id: str | None = None,
    external_id: str | None = None,
) -> dict[str, Any]:
    """A `deposit` of NetSuite payments into `account_id`, the payout's fees as one cash-back line."""
    own = {"stripe": payout.native_id} if payout.system == "stripe" else payout.links
    body: dict[str, Any] = _compact(
        {
            "externalId": _external_id(own, "stripe", external_id, "deposit"),
            "account": ref(account_id),
            "currency": None if currency_id is None else ref(currency_id),
            "tranDate": _iso(payout.arrival_on),
            "payment": {
                "items": [{"id": ref(payment_id)["id"], "deposit": True} for payment_id in payment_ids]
            },
        }
    )
    if payout.fees is not None and not payout.fees.is_zero():
        body["cashback"] = {
            "items": [
                {
                    "account": ref(fee_account_id),
                    "amount": _amount(abs(payout.fees)),
                    "memo": "Processing fees",
                }
            ]
        }
    return body


def journal_entry_payload(
    entry: JournalEntry,
    *,
    subsidiary_id: str,
    currency_id: str,
    account_ids: Mapping[str, str],
    entity_ids: Mapping[str, str] | None = None,
    external_id: str | None = None,
) -> dict[str, Any]:
    """A `journalEntry` (fees, write-offs): `account_ids` / `entity_ids` map canonical ids to internal ids."""
    entities = entity_ids or {}
    lines = []
    for index, line in enumerate(entry.lines):
        if line.account_id not in account_ids:
            raise MappingError(
                "no NetSuite account for this line",
                field_path=f"lines[{index}].account_id",
                value=line.account_id,
            )
        if line.entity_id is not None and line.entity_id not in entities:
            raise MappingError(
                "no NetSuite customer for this line",
                field_path=f"lines[{index}].entity_id",
                value=line.entity_id,
            )
        lines.append(
            _compact(
                {
                    "account": ref(account_ids[line.account_id]),
                    "debit": None if line.debit is None else _amount(line.debit),
                    "credit": None if line.credit is None else _amount(line.credit),
                    "entity": None if line.entity_id is None else ref(entities[line.entity_id]),
                    "memo": line.memo,
                }
            )
        )
    return _compact(
        {
            "externalId": external_id or entry.links.get("stripe") or f"{entry.system}-{entry.native_id}",
            "subsidiary": ref(subsidiary_id),
            "currency": ref(currency_id),
            "tranDate": entry.posted_on.isoformat(),
            "memo": entry.memo,
            "approved": True,
            "line": {"items": lines},
        }
    )

"""Stripe charges (`ch_`/`py_`) and refunds (`re_`) to canonical `Payment` and `Refund`.

A charge's fee and net come from its balance transaction, which the connector expands; they are
set only when that transaction settled in the charge's own currency (otherwise they are in the
settlement currency, and the canonical payment carries the exchange rate instead). A charge that
pays an invoice is applied to it for its full amount. Status: failed, pending, disputed,
refunded, partially_refunded or succeeded, in that order of precedence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tieout.errors import MappingError
from tieout.mappings.context import MappingContext
from tieout.mappings.stripe import common
from tieout.model import Payment, PaymentApplication, PaymentMethod, PaymentStatus, Refund
from tieout.money import Money, to_decimal

PAYMENT_LINKS: Mapping[str, str] = {"netsuite_payment_id": "netsuite"}

METHODS: Mapping[str, PaymentMethod] = {
    "card": PaymentMethod.CARD,
    "card_present": PaymentMethod.CARD,
    "interac_present": PaymentMethod.CARD,
    "us_bank_account": PaymentMethod.ACH,
    "ach_debit": PaymentMethod.ACH,
    "ach_credit_transfer": PaymentMethod.ACH,
    "sepa_debit": PaymentMethod.SEPA,
    "sepa_credit_transfer": PaymentMethod.SEPA,
    "customer_balance": PaymentMethod.WIRE,
}
"""`payment_method_details.type` to the canonical method; anything else is `other`."""


def _status(payload: Mapping[str, Any]) -> PaymentStatus:
    status = common.field(payload, "status", "status")
    if status == "failed":
        return PaymentStatus.FAILED
    if status == "pending":
        return PaymentStatus.PENDING
    if status != "succeeded":
        raise MappingError("unknown charge status", field_path="status", value=status)
    if payload.get("disputed") is True:
        return PaymentStatus.DISPUTED
    if payload.get("refunded") is True:
        return PaymentStatus.REFUNDED
    refunded = payload.get("amount_refunded")
    if refunded is not None and common.integer(refunded, "amount_refunded") > 0:
        return PaymentStatus.PARTIALLY_REFUNDED
    return PaymentStatus.SUCCEEDED


def _settlement(payload: Mapping[str, Any], code: str) -> tuple[Money | None, Money | None, Any]:
    """(fee, net, exchange rate) from the expanded balance transaction, where it says them."""
    txn = payload.get("balance_transaction")
    if not isinstance(txn, Mapping):
        return None, None, None
    rate = txn.get("exchange_rate")
    if rate is not None:
        try:
            rate = to_decimal(rate)
        except ValueError:
            raise MappingError(
                "expected a number", field_path="balance_transaction.exchange_rate", value=rate
            ) from None
    if common.currency(txn, "balance_transaction.currency") != code:
        return None, None, rate
    fee = common.money(common.field(txn, "fee", "balance_transaction.fee"), code, "balance_transaction.fee")
    net = common.money(common.field(txn, "net", "balance_transaction.net"), code, "balance_transaction.net")
    return fee, net, rate


def map_charge(payload: Mapping[str, Any], context: MappingContext) -> Payment:
    code = common.currency(payload)
    gross = common.money(common.field(payload, "amount", "amount"), code, "amount")
    fee, net, rate = _settlement(payload, code)
    status = _status(payload)
    invoice_id = common.optional_id(payload, "invoice", "invoice")
    applications = (
        (PaymentApplication(invoice_id=invoice_id, amount=gross),)
        if invoice_id is not None and status is not PaymentStatus.FAILED
        else ()
    )
    invoice = payload.get("invoice")
    number = common.optional_text(invoice, "number") if isinstance(invoice, Mapping) else None
    details = common.mapping(payload, "payment_method_details", "payment_method_details")
    method_type = details.get("type")
    payout_id = common.lookups(payload).get("payout_id")
    return Payment(
        system=context.system,
        native_id=common.text(payload, "id", "id"),
        links=common.links(payload, PAYMENT_LINKS),
        updated_at=common.updated_at(payload),
        customer_id=common.optional_id(payload, "customer", "customer"),
        currency=code,
        gross=gross,
        fee=fee,
        net=net,
        method=METHODS.get(method_type, PaymentMethod.OTHER)
        if isinstance(method_type, str)
        else PaymentMethod.OTHER,
        status=status,
        received_at=common.moment(common.field(payload, "created", "created"), "created"),
        applications=applications,
        reference=number or common.optional_text(payload, "description"),
        payout_id=payout_id if isinstance(payout_id, str) and payout_id else None,
        exchange_rate=rate,
    )


def map_refund(payload: Mapping[str, Any], context: MappingContext) -> Refund:
    """The customer is the refunded charge's, when the connector expanded `charge`."""
    code = common.currency(payload)
    charge = payload.get("charge")
    customer = charge.get("customer") if isinstance(charge, Mapping) else None
    status = common.text(payload, "status", "status")
    return Refund(
        system=context.system,
        native_id=common.text(payload, "id", "id"),
        updated_at=common.updated_at(payload),
        customer_id=None if customer is None else common.object_id(customer, "charge.customer"),
        payment_id=common.optional_id(payload, "charge", "charge"),
        currency=code,
        amount=common.money(common.field(payload, "amount", "amount"), code, "amount"),
        refunded_at=common.moment(common.field(payload, "created", "created"), "created"),
        status=status,
        reason=common.optional_text(payload, "reason"),
    )

"""Stripe payouts (`po_`) to canonical `Payout`.

For an automatic payout the connector adds the balance transactions it swept (from
`GET /v1/balance_transactions?payout=po_...`) under `tieout_lookups.balance_transactions`:
`fees` is the sum of their fees and `payment_ids` the charges among them (the payout's own
`payout` transaction is left out). A manual payout has no composition (Stripe will not list
one), so both stay empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tieout.mappings.context import MappingContext
from tieout.mappings.stripe import common
from tieout.model import Payout
from tieout.money import Money, sum_money

PAYMENT_SOURCES = frozenset({"charge", "payment"})
"""Balance transaction types whose source is a payment (card charges; `payment` for others)."""


def _composition(payload: Mapping[str, Any], code: str) -> tuple[Money | None, tuple[str, ...]]:
    path = f"{common.LOOKUPS}.balance_transactions"
    swept = common.lookups(payload).get("balance_transactions")
    if swept is None:
        return None, ()
    fees: list[Money] = []
    payments: list[str] = []
    for index, txn in enumerate(common.items(swept, path)):
        where = f"{path}[{index}]"
        if txn.get("type") == "payout":
            continue
        fees.append(common.money(common.field(txn, "fee", f"{where}.fee"), code, f"{where}.fee"))
        if txn.get("type") in PAYMENT_SOURCES and txn.get("source") is not None:
            payments.append(common.object_id(txn["source"], f"{where}.source"))
    return sum_money(fees, code), tuple(payments)


def map_payout(payload: Mapping[str, Any], context: MappingContext) -> Payout:
    code = common.currency(payload)
    fees, payment_ids = _composition(payload, code)
    return Payout(
        system=context.system,
        native_id=common.text(payload, "id", "id"),
        updated_at=common.updated_at(payload),
        currency=code,
        amount=common.money(common.field(payload, "amount", "amount"), code, "amount"),
        fees=fees,
        arrival_on=common.optional_day(payload, "arrival_date", "arrival_date"),
        status=common.text(payload, "status", "status"),
        payment_ids=payment_ids,
    )

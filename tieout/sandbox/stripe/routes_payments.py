"""HTTP routes for payment intents, charges, refunds, balance transactions, disputes and payouts."""

from __future__ import annotations

from typing import Any

from tieout.sandbox.stripe.errors import invalid, missing
from tieout.sandbox.stripe.listing import LIST_PARAMS, list_objects, parse_list, parse_range
from tieout.sandbox.stripe.payouts import PAYOUT_STATUSES
from tieout.sandbox.stripe.routing import ApiRequest, RouteTable, changes_from, expanded, retrieve
from tieout.sandbox.stripe.shapes import TEMPLATES
from tieout.sandbox.stripe.state import StripeState

routes = RouteTable()

_METADATA_ONLY = {"metadata": "metadata"}


# -- payment intents ----------------------------------------------------------------------------


@routes.post("/v1/payment_intents")
def create_payment_intent(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(
        "amount",
        "currency",
        "customer",
        "description",
        "payment_method",
        "confirm",
        "metadata",
        "payment_method_types",
        "automatic_payment_methods",
        "receipt_email",
        "capture_method",
        "off_session",
        "return_url",
    )
    if p.text("capture_method") not in (None, "automatic"):
        raise invalid("The emulator only supports capture_method=automatic.", param="capture_method")
    intent = state.create_payment_intent(
        p.integer("amount", required=True) or 0,
        p.currency(required=True) or "",
        customer_id=p.text("customer"),
        description=p.nullable_str("description"),
        payment_method=p.text("payment_method"),
        confirm=bool(p.boolean("confirm")),
        metadata=p.mapping("metadata"),
    )
    return expanded(state, "payment_intent", intent, p.expand())


@routes.get("/v1/payment_intents")
def list_payment_intents(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(*LIST_PARAMS, "customer")
    customer = p.text("customer")
    return list_objects(
        state,
        "payment_intent",
        "/v1/payment_intents",
        parse_list(p),
        index=None if customer is None else ("customer", customer),
    )


@routes.get("/v1/payment_intents/{id}")
def get_payment_intent(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    return retrieve(state, "payment_intent", req.arg(), req.params("client_secret").expand())


@routes.post("/v1/payment_intents/{id}")
def update_payment_intent(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    fields = {
        "amount": "integer",
        "description": "nullable",
        "metadata": "metadata",
        "payment_method": "nullable",
    }
    p = req.params(*fields)
    return expanded(
        state, "payment_intent", state.update_payment_intent(req.arg(), changes_from(p, fields)), p.expand()
    )


@routes.post("/v1/payment_intents/{id}/confirm")
def confirm_payment_intent(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params("payment_method", "return_url", "off_session")
    return expanded(
        state,
        "payment_intent",
        state.confirm_payment_intent(req.arg(), payment_method=p.text("payment_method")),
        p.expand(),
    )


@routes.post("/v1/payment_intents/{id}/cancel")
def cancel_payment_intent(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params("cancellation_reason")
    reason = p.enum("cancellation_reason", ("duplicate", "fraudulent", "requested_by_customer", "abandoned"))
    return expanded(state, "payment_intent", state.cancel_payment_intent(req.arg(), reason), p.expand())


# -- charges ------------------------------------------------------------------------------------


@routes.post("/v1/charges")
def create_charge(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(
        "amount",
        "currency",
        "customer",
        "description",
        "source",
        "metadata",
        "capture",
        "receipt_email",
        "statement_descriptor",
    )
    if p.boolean("capture") is False:
        raise invalid("The emulator only supports captured charges.", param="capture")
    charge = state.create_charge(
        p.integer("amount", required=True) or 0,
        p.currency(required=True) or "",
        customer_id=p.text("customer"),
        description=p.nullable_str("description"),
        source=p.text("source"),
        metadata=p.mapping("metadata"),
    )
    return expanded(state, "charge", charge, p.expand())


@routes.get("/v1/charges")
def list_charges(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(*LIST_PARAMS, "customer", "payment_intent", "transfer_group")
    customer, intent = p.text("customer"), p.text("payment_intent")
    transfer_group = p.text("transfer_group")
    index = ("payment_intent", intent) if intent else ("customer", customer) if customer else None
    return list_objects(
        state,
        "charge",
        "/v1/charges",
        parse_list(p),
        index=index,
        predicate=lambda r: (customer is None or r["customer"] == customer) and transfer_group is None,
    )


@routes.get("/v1/charges/{id}")
def get_charge(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    return retrieve(state, "charge", req.arg(), req.params().expand())


@routes.post("/v1/charges/{id}")
def update_charge(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    fields = {"description": "nullable", "metadata": "metadata", "receipt_email": "nullable"}
    p = req.params(*fields)
    return expanded(state, "charge", state.update_charge(req.arg(), changes_from(p, fields)), p.expand())


@routes.get("/v1/charges/{id}/refunds")
def list_charge_refunds(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(*LIST_PARAMS)
    with state.lock:
        state.find("charge", req.arg())
    return list_objects(
        state, "refund", f"/v1/charges/{req.arg()}/refunds", parse_list(p), index=("charge", req.arg())
    )


# -- refunds ------------------------------------------------------------------------------------


@routes.post("/v1/refunds")
def create_refund(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params("charge", "payment_intent", "amount", "reason", "metadata")
    reason = p.enum("reason", ("duplicate", "fraudulent", "requested_by_customer"))
    refund = state.create_refund(
        charge_id=p.text("charge"),
        payment_intent_id=p.text("payment_intent"),
        amount=p.integer("amount"),
        reason=reason,
        metadata=p.mapping("metadata"),
    )
    return expanded(state, "refund", refund, p.expand())


@routes.get("/v1/refunds")
def list_refunds(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(*LIST_PARAMS, "charge", "payment_intent")
    charge, intent = p.text("charge"), p.text("payment_intent")
    index = ("charge", charge) if charge else ("payment_intent", intent) if intent else None
    return list_objects(
        state,
        "refund",
        "/v1/refunds",
        parse_list(p),
        index=index,
        predicate=lambda r: intent is None or r["payment_intent"] == intent,
    )


@routes.get("/v1/refunds/{id}")
def get_refund(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    return retrieve(state, "refund", req.arg(), req.params().expand())


@routes.post("/v1/refunds/{id}")
def update_refund(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params("metadata")
    return expanded(
        state, "refund", state.update_refund(req.arg(), changes_from(p, _METADATA_ONLY)), p.expand()
    )


# -- balance transactions -----------------------------------------------------------------------


@routes.get("/v1/balance_transactions")
def list_balance_transactions(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(*LIST_PARAMS, "payout", "source", "type", "currency")
    payout, source, txn_type, currency = p.text("payout"), p.text("source"), p.text("type"), p.currency()
    if payout is not None:
        with state.lock:
            record = state.tables["payout"].get(payout)
            if record is None:
                raise missing("payout", payout, param="payout", status=400)
            if not record["automatic"]:
                raise invalid(
                    "Balance transaction history can only be filtered on automatic transfers, not manual.",
                    param="payout",
                )
    index = ("payout", payout) if payout else ("source", source) if source else None
    return list_objects(
        state,
        "balance_transaction",
        "/v1/balance_transactions",
        parse_list(p),
        index=index,
        predicate=lambda r: (
            (txn_type is None or r["type"] == txn_type)
            and (currency is None or r["currency"] == currency)
            and (source is None or r["source"] == source)
        ),
    )


@routes.get("/v1/balance_transactions/{id}")
def get_balance_transaction(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    return retrieve(state, "balance_transaction", req.arg(), req.params().expand())


# -- disputes -----------------------------------------------------------------------------------


@routes.get("/v1/disputes")
def list_disputes(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(*LIST_PARAMS, "charge", "payment_intent")
    charge, intent = p.text("charge"), p.text("payment_intent")
    index = ("charge", charge) if charge else ("payment_intent", intent) if intent else None
    return list_objects(
        state,
        "dispute",
        "/v1/disputes",
        parse_list(p),
        index=index,
        predicate=lambda r: intent is None or r["payment_intent"] == intent,
    )


@routes.get("/v1/disputes/{id}")
def get_dispute(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    return retrieve(state, "dispute", req.arg(), req.params().expand())


@routes.post("/v1/disputes/{id}")
def update_dispute(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params("metadata", "evidence", "submit")
    if p.raw("evidence") is not None or p.raw("submit") is not None:
        raise invalid("The emulator does not accept dispute evidence.", param="evidence")
    return expanded(
        state, "dispute", state.update_dispute(req.arg(), changes_from(p, _METADATA_ONLY)), p.expand()
    )


@routes.post("/v1/disputes/{id}/close")
def close_dispute(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params()
    return expanded(state, "dispute", state.close_dispute(req.arg(), won=False), p.expand())


# -- payouts ------------------------------------------------------------------------------------


@routes.post("/v1/payouts")
def create_payout(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(
        "amount",
        "currency",
        "description",
        "metadata",
        "method",
        "statement_descriptor",
        "destination",
        "source_type",
    )
    if p.text("method") not in (None, "standard"):
        raise invalid("The emulator only supports standard payouts.", param="method")
    payout = state.create_payout(
        p.currency(required=True) or "",
        amount=p.integer("amount", required=True),
        automatic=False,
        description=p.nullable_str("description"),
        metadata=p.mapping("metadata"),
    )
    return expanded(state, "payout", payout, p.expand())


@routes.get("/v1/payouts")
def list_payouts(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(*LIST_PARAMS, "status", "arrival_date", "destination")
    status = p.enum("status", PAYOUT_STATUSES)
    destination = p.text("destination")
    low, high = parse_range(p, "arrival_date")
    return list_objects(
        state,
        "payout",
        "/v1/payouts",
        parse_list(p),
        predicate=lambda r: (
            (status is None or r["status"] == status)
            and (low is None or r["arrival_date"] >= low)
            and (high is None or r["arrival_date"] <= high)
            and (destination is None or destination == TEMPLATES["payout"]["destination"])
        ),
    )


@routes.get("/v1/payouts/{id}")
def get_payout(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    return retrieve(state, "payout", req.arg(), req.params().expand())


@routes.post("/v1/payouts/{id}")
def update_payout(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params("metadata")
    return expanded(
        state, "payout", state.update_payout(req.arg(), changes_from(p, _METADATA_ONLY)), p.expand()
    )


@routes.post("/v1/payouts/{id}/cancel")
def cancel_payout(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params()
    return expanded(state, "payout", state.cancel_payout(req.arg()), p.expand())

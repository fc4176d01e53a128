"""HTTP routes for invoice items, invoices (+ lines and status actions) and credit notes."""

from __future__ import annotations

from typing import Any

from tieout.sandbox.stripe.errors import invalid
from tieout.sandbox.stripe.listing import LIST_PARAMS, list_objects, parse_list, parse_range
from tieout.sandbox.stripe.routing import ApiRequest, RouteTable, changes_from, expanded, retrieve
from tieout.sandbox.stripe.state import StripeState

routes = RouteTable()

INVOICE_STATUSES = ("draft", "open", "paid", "uncollectible", "void")


# -- invoice items ------------------------------------------------------------------------------


@routes.post("/v1/invoiceitems")
def create_invoice_item(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(
        "tax_rates",
        "customer",
        "amount",
        "currency",
        "price",
        "unit_amount",
        "quantity",
        "description",
        "invoice",
        "period",
        "metadata",
    )
    period = p.mapping("period") or {}
    item = state.create_invoice_item(
        p.text("customer", required=True) or "",
        amount=p.integer("amount"),
        currency=p.currency(),
        price_id=p.text("price"),
        unit_amount=p.integer("unit_amount"),
        quantity=p.integer("quantity", minimum=0) or 1,
        description=p.nullable_str("description"),
        invoice_id=p.text("invoice"),
        period_start=int(period["start"]) if period.get("start") else None,
        period_end=int(period["end"]) if period.get("end") else None,
        metadata=p.mapping("metadata"),
        tax_rate_ids=[str(rate) for rate in p.array("tax_rates") or []],
    )
    return expanded(state, "invoiceitem", item, p.expand())


@routes.get("/v1/invoiceitems")
def list_invoice_items(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(*LIST_PARAMS, "customer", "invoice", "pending")
    customer, invoice, pending = p.text("customer"), p.text("invoice"), p.boolean("pending")
    return list_objects(
        state,
        "invoiceitem",
        "/v1/invoiceitems",
        parse_list(p),
        index=None if customer is None else ("customer", customer),
        predicate=lambda r: (
            (invoice is None or r["invoice"] == invoice)
            and (pending is None or (r["invoice"] is None) == pending)
        ),
    )


@routes.get("/v1/invoiceitems/{id}")
def get_invoice_item(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    return retrieve(state, "invoiceitem", req.arg(), req.params().expand())


_ITEM_FIELDS = {
    "amount": "integer",
    "unit_amount": "integer",
    "quantity": "integer",
    "description": "nullable",
    "metadata": "metadata",
}


@routes.post("/v1/invoiceitems/{id}")
def update_invoice_item(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(*_ITEM_FIELDS)
    return expanded(
        state, "invoiceitem", state.update_invoice_item(req.arg(), changes_from(p, _ITEM_FIELDS)), p.expand()
    )


@routes.delete("/v1/invoiceitems/{id}")
def delete_invoice_item(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    req.params()
    return state.delete_invoice_item(req.arg())


# -- invoices -----------------------------------------------------------------------------------


@routes.post("/v1/invoices")
def create_invoice(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(
        "customer",
        "currency",
        "collection_method",
        "days_until_due",
        "due_date",
        "description",
        "auto_advance",
        "pending_invoice_items_behavior",
        "metadata",
    )
    behavior = p.enum("pending_invoice_items_behavior", ("exclude", "include"))
    invoice = state.create_invoice(
        p.text("customer", required=True) or "",
        currency=p.currency(),
        collection_method=p.enum("collection_method", ("charge_automatically", "send_invoice"))
        or "charge_automatically",
        days_until_due=p.integer("days_until_due", minimum=0),
        due_date=p.integer("due_date"),
        description=p.nullable_str("description"),
        auto_advance=p.boolean("auto_advance"),
        include_pending_items=behavior == "include",
        metadata=p.mapping("metadata"),
    )
    return expanded(state, "invoice", invoice, p.expand())


@routes.get("/v1/invoices")
def list_invoices(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(*LIST_PARAMS, "customer", "status", "collection_method", "due_date", "subscription")
    customer = p.text("customer")
    status = p.enum("status", INVOICE_STATUSES)
    method = p.enum("collection_method", ("charge_automatically", "send_invoice"))
    subscription = p.text("subscription")
    due_low, due_high = parse_range(p, "due_date")
    due_filtered = due_low is not None or due_high is not None

    def wanted(record: dict[str, Any]) -> bool:
        if status is not None and record["status"] != status:
            return False
        if method is not None and record["collection_method"] != method:
            return False
        if subscription is not None:
            return False  # the emulator has no subscriptions, so no invoice belongs to one
        if due_filtered:
            due = record["due_date"]
            if (
                due is None
                or (due_low is not None and due < due_low)
                or (due_high is not None and due > due_high)
            ):
                return False
        return True

    return list_objects(
        state,
        "invoice",
        "/v1/invoices",
        parse_list(p),
        index=None if customer is None else ("customer", customer),
        predicate=wanted,
    )


@routes.get("/v1/invoices/{id}")
def get_invoice(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    return retrieve(state, "invoice", req.arg(), req.params().expand())


_INVOICE_FIELDS = {
    "description": "nullable",
    "metadata": "metadata",
    "due_date": "integer",
    "days_until_due": "integer",
    "auto_advance": "boolean",
    "collection_method": "text",
    "footer": "nullable",
    "number": "nullable",
}


@routes.post("/v1/invoices/{id}")
def update_invoice(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(*_INVOICE_FIELDS)
    p.enum("collection_method", ("charge_automatically", "send_invoice"))
    return expanded(
        state, "invoice", state.update_invoice(req.arg(), changes_from(p, _INVOICE_FIELDS)), p.expand()
    )


@routes.delete("/v1/invoices/{id}")
def delete_invoice(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    req.params()
    return state.delete_invoice(req.arg())


@routes.post("/v1/invoices/{id}/finalize")
def finalize_invoice(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params("auto_advance")
    return expanded(
        state,
        "invoice",
        state.finalize_invoice(req.arg(), auto_advance=p.boolean("auto_advance")),
        p.expand(),
    )


@routes.post("/v1/invoices/{id}/pay")
def pay_invoice(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params("paid_out_of_band", "payment_method", "source", "forgive", "off_session", "mandate")
    invoice = state.pay_invoice(
        req.arg(),
        paid_out_of_band=bool(p.boolean("paid_out_of_band")),
        payment_method=p.text("payment_method") or p.text("source"),
    )
    return expanded(state, "invoice", invoice, p.expand())


@routes.post("/v1/invoices/{id}/void")
def void_invoice(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params()
    return expanded(state, "invoice", state.void_invoice(req.arg()), p.expand())


@routes.post("/v1/invoices/{id}/mark_uncollectible")
def mark_uncollectible(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params()
    return expanded(state, "invoice", state.mark_invoice_uncollectible(req.arg()), p.expand())


@routes.get("/v1/invoices/{id}/lines")
def list_invoice_lines(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params("limit", "starting_after", "ending_before")
    query = parse_list(p)
    data, has_more = state.invoice_line_page(
        req.arg(), limit=query.limit, starting_after=query.starting_after, ending_before=query.ending_before
    )
    return {"object": "list", "data": data, "has_more": has_more, "url": f"/v1/invoices/{req.arg()}/lines"}


# -- credit notes -------------------------------------------------------------------------------


@routes.post("/v1/credit_notes")
def create_credit_note(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(
        "invoice",
        "amount",
        "lines",
        "reason",
        "memo",
        "refund_amount",
        "credit_amount",
        "out_of_band_amount",
        "metadata",
    )
    lines = p.array("lines")
    if lines is not None and not all(isinstance(line, dict) for line in lines):
        raise invalid("Invalid array", param="lines")
    note = state.create_credit_note(
        p.text("invoice", required=True) or "",
        amount=p.integer("amount"),
        lines=lines,
        reason=p.nullable_str("reason"),
        memo=p.nullable_str("memo"),
        refund_amount=p.integer("refund_amount", minimum=0),
        credit_amount=p.integer("credit_amount", minimum=0),
        out_of_band_amount=p.integer("out_of_band_amount", minimum=0),
        metadata=p.mapping("metadata"),
    )
    return expanded(state, "credit_note", note, p.expand())


@routes.get("/v1/credit_notes")
def list_credit_notes(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params(*LIST_PARAMS, "customer", "invoice")
    customer, invoice = p.text("customer"), p.text("invoice")
    index = ("invoice", invoice) if invoice else ("customer", customer) if customer else None
    return list_objects(
        state,
        "credit_note",
        "/v1/credit_notes",
        parse_list(p),
        index=index,
        predicate=lambda r: customer is None or r["customer"] == customer,
    )


@routes.get("/v1/credit_notes/{id}")
def get_credit_note(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    return retrieve(state, "credit_note", req.arg(), req.params().expand())


@routes.post("/v1/credit_notes/{id}")
def update_credit_note(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params("memo", "metadata")
    fields = {"memo": "nullable", "metadata": "metadata"}
    return expanded(
        state, "credit_note", state.update_credit_note(req.arg(), changes_from(p, fields)), p.expand()
    )


@routes.post("/v1/credit_notes/{id}/void")
def void_credit_note(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params()
    return expanded(state, "credit_note", state.void_credit_note(req.arg()), p.expand())


@routes.get("/v1/credit_notes/{id}/lines")
def list_credit_note_lines(state: StripeState, req: ApiRequest) -> dict[str, Any]:
    p = req.params("limit", "starting_after", "ending_before")
    query = parse_list(p)
    lines = state.credit_note_line_records(req.arg())
    ids = [line["id"] for line in lines]
    start = ids.index(query.starting_after) + 1 if query.starting_after in ids else 0
    if query.ending_before in ids:
        end = ids.index(query.ending_before)
        start = max(0, end - query.limit)
        chosen, has_more = lines[start:end], start > 0
    else:
        chosen, has_more = lines[start : start + query.limit], start + query.limit < len(lines)
    return {
        "object": "list",
        "data": chosen,
        "has_more": has_more,
        "url": f"/v1/credit_notes/{req.arg()}/lines",
    }

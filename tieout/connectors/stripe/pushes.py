"""Writing to Stripe: customers, and invoices for collection (create, void, pay out of band).

Every POST carries an Idempotency-Key derived from the push's key and the step it takes
(`<key>:customer`, `<key>:invoice`, `<key>:item:<n>`, `<key>:finalize`, `<key>:void`,
`<key>:pay`), so a retried step replays Stripe's first answer instead of acting twice.

Creating an invoice takes several calls: a draft invoice (excluding the customer's other
pending items), one invoice item per line attached to it, then finalization. A push that
crashed part way must resume, never start a second invoice, even after Stripe forgot the keys
(24 hours): the draft carries `metadata.tieout_push_key`, each item `metadata.tieout_line`, so
the push first looks for its invoice among the customer's invoices and adds only the lines the
draft lacks. The same key with a different payload (`metadata.tieout_payload_hash`) is a
ConflictError, as Stripe's own idempotency keys treat it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from tieout import jsonutil
from tieout.connectors.base import PushResult
from tieout.connectors.stripe.api import SYSTEM, Answer, StripeApi
from tieout.errors import ConflictError, MalformedResponse, PushRejected

Operation = Literal["created", "updated", "unchanged"]
MAX_KEY_LENGTH = 255
PUSH_KEY = "tieout_push_key"
PAYLOAD_HASH = "tieout_payload_hash"
LINE_INDEX = "tieout_line"
_INVOICE_FIELDS = (
    "customer",
    "currency",
    "collection_method",
    "days_until_due",
    "description",
    "auto_advance",
)


def step_key(key: str, step: str) -> str:
    """The Idempotency-Key for one step of a push: stable, distinct per step, within Stripe's limit."""
    base = key if len(key) + len(step) < MAX_KEY_LENGTH - 1 else hashlib.sha256(key.encode()).hexdigest()
    return f"{base}:{step}"


def _object(answer: Answer | Any, object_type: str, what: str) -> dict[str, Any]:
    body = answer.body if isinstance(answer, Answer) else answer
    if not isinstance(body, dict) or body.get("object") != object_type or not isinstance(body.get("id"), str):
        raise MalformedResponse(f"{what} did not answer a {object_type}", system=SYSTEM)
    return body


def _refuse(stream: str, message: str, record_id: str = "") -> PushRejected:
    return PushRejected(message, system=SYSTEM, stream=stream, record_id=record_id)


def push_customer(api: StripeApi, payload: Mapping[str, Any], key: str) -> PushResult:
    if not isinstance(payload.get("name"), str) or not payload["name"]:
        raise _refuse("customers", "a Stripe customer needs a name")
    if isinstance(payload.get("id"), str):
        return _update_customer(api, payload, key)
    answer = api.post("/v1/customers", payload, idempotency_key=step_key(key, "customer"))
    customer = _object(answer, "customer", "POST /v1/customers")
    return PushResult(customer["id"], "unchanged" if answer.replayed else "created", {"id": customer["id"]})


def _update_customer(api: StripeApi, payload: Mapping[str, Any], key: str) -> PushResult:
    """An update of an existing customer (`{"id", "name", "email"?}`): only the fields that differ are sent."""
    customer_id = str(payload["id"])
    path = f"/v1/customers/{customer_id}"
    current = _object(api.get(path), "customer", f"GET {path}")
    changes = {name: value for name, value in payload.items() if name != "id" and current.get(name) != value}
    if not changes:
        return PushResult(customer_id, "unchanged", {"id": customer_id})
    answer = api.post(path, changes, idempotency_key=step_key(key, "update"))
    customer = _object(answer, "customer", f"POST {path}")
    return PushResult(customer["id"], "updated", {"id": customer["id"]})


def push_invoice(api: StripeApi, payload: Mapping[str, Any], key: str) -> PushResult:
    operation = payload.get("operation", "create")
    if operation == "create":
        return InvoicePush(api, payload, key).run()
    if operation in ("void", "pay"):
        return _change_status(api, payload, key, operation)
    raise _refuse("invoices", f"unknown invoice operation {operation!r} (create, void or pay)")


def _change_status(api: StripeApi, payload: Mapping[str, Any], key: str, operation: str) -> PushResult:
    invoice_id = payload.get("invoice")
    if not isinstance(invoice_id, str) or not invoice_id.startswith("in_"):
        raise _refuse("invoices", f"{operation} needs the Stripe invoice id (in_...)")
    path = f"/v1/invoices/{invoice_id}"
    done = "void" if operation == "void" else "paid"
    current = _object(api.get(path), "invoice", f"GET {path}")
    if current["status"] == done:
        return PushResult(invoice_id, "unchanged", {"status": done})
    params = {"paid_out_of_band": True} if operation == "pay" and payload.get("paid_out_of_band") else {}
    answer = api.post(f"{path}/{operation}", params, idempotency_key=step_key(key, operation))
    invoice = _object(answer, "invoice", f"POST {path}/{operation}")
    return PushResult(invoice_id, "updated", {"status": invoice.get("status")})


class InvoicePush:
    """One invoice create, resumable at every step (see the module docstring)."""

    def __init__(self, api: StripeApi, payload: Mapping[str, Any], key: str) -> None:
        self.api = api
        self.payload = payload
        self.key = key
        self.fingerprint = jsonutil.content_hash(dict(payload))
        self.lines = self._checked_lines()
        self.customer_id = str(payload["customer"])

    def _checked_lines(self) -> list[Mapping[str, Any]]:
        customer, lines = self.payload.get("customer"), self.payload.get("lines")
        if not isinstance(customer, str) or not customer.startswith("cus_"):
            raise _refuse("invoices", "an invoice needs the Stripe customer id (cus_...)")
        if not isinstance(self.payload.get("currency"), str):
            raise _refuse("invoices", "an invoice needs its currency")
        if not isinstance(lines, list) or not lines or not all(isinstance(line, Mapping) for line in lines):
            raise _refuse("invoices", "an invoice needs at least one line")
        for index, line in enumerate(lines):
            amount = line.get("amount")
            if isinstance(amount, bool) or not isinstance(amount, int):
                raise _refuse("invoices", f"lines[{index}].amount must be an integer in minor units")
        return list(lines)

    def run(self) -> PushResult:
        invoice = self._find()
        created = invoice is None
        if invoice is None:
            invoice = self._create_draft()
        elif invoice.get("metadata", {}).get(PAYLOAD_HASH) != self.fingerprint:
            raise ConflictError(
                f"invoice {invoice['id']} was pushed under this key with another payload", system=SYSTEM
            )
        changed = False
        if invoice["status"] == "draft":
            changed = self._add_missing_items(invoice)
            if self.payload.get("finalize", True):
                invoice = self._finalize(invoice["id"])
                changed = True
        operation: Operation = "created" if created else "updated" if changed else "unchanged"
        detail = {
            "number": invoice.get("number"),
            "status": invoice.get("status"),
            "total": invoice.get("total"),
        }
        return PushResult(invoice["id"], operation, detail)

    def _find(self) -> dict[str, Any] | None:
        """The invoice an earlier attempt of this push made, among the customer's invoices."""
        params: dict[str, Any] = {"customer": self.customer_id, "limit": 100}
        while True:
            body = self.api.get("/v1/invoices", params)
            page = body.get("data") if isinstance(body, dict) else None
            if not isinstance(page, list):
                raise MalformedResponse("GET /v1/invoices did not answer a list", system=SYSTEM)
            for invoice in page:
                if isinstance(invoice, dict) and (invoice.get("metadata") or {}).get(PUSH_KEY) == self.key:
                    return _object(invoice, "invoice", "GET /v1/invoices")
            if not body.get("has_more") or not page:
                return None
            params["starting_after"] = page[-1]["id"]

    def _create_draft(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            name: self.payload[name] for name in _INVOICE_FIELDS if name in self.payload
        }
        params["pending_invoice_items_behavior"] = "exclude"
        params["metadata"] = {
            **dict(self.payload.get("metadata") or {}),
            PUSH_KEY: self.key,
            PAYLOAD_HASH: self.fingerprint,
        }
        answer = self.api.post("/v1/invoices", params, idempotency_key=step_key(self.key, "invoice"))
        return _object(answer, "invoice", "POST /v1/invoices")

    def _line_indexes(self, invoice: Mapping[str, Any]) -> set[str]:
        return {
            str((line.get("metadata") or {}).get(LINE_INDEX))
            for line in self._draft_lines(invoice)
            if (line.get("metadata") or {}).get(LINE_INDEX) is not None
        }

    def _draft_lines(self, invoice: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
        lines = invoice.get("lines")
        if not isinstance(lines, dict):
            lines = {}
        page, has_more = list(lines.get("data") or []), bool(lines.get("has_more"))
        path = f"/v1/invoices/{invoice['id']}/lines"
        while True:
            yield from page
            if not has_more or not page:
                return
            body = self.api.get(path, {"limit": 100, "starting_after": page[-1]["id"]})
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise MalformedResponse(f"GET {path} did not answer a list", system=SYSTEM)
            page, has_more = body["data"], bool(body.get("has_more"))

    def _add_missing_items(self, invoice: Mapping[str, Any]) -> bool:
        present = self._line_indexes(invoice)
        added = False
        for index, line in enumerate(self.lines):
            if str(index) in present:
                continue
            params: dict[str, Any] = {
                "customer": self.customer_id,
                "invoice": invoice["id"],
                "currency": self.payload["currency"],
                "amount": line["amount"],
                "metadata": {**dict(line.get("metadata") or {}), LINE_INDEX: str(index)},
            }
            for name in ("description", "period", "tax_rates"):
                if line.get(name) is not None:
                    params[name] = line[name]
            answer = self.api.post(
                "/v1/invoiceitems", params, idempotency_key=step_key(self.key, f"item:{index}")
            )
            _object(answer, "invoiceitem", "POST /v1/invoiceitems")
            added = True
        return added

    def _finalize(self, invoice_id: str) -> dict[str, Any]:
        path = f"/v1/invoices/{invoice_id}/finalize"
        answer = self.api.post(path, {}, idempotency_key=step_key(self.key, "finalize"))
        return _object(answer, "invoice", f"POST {path}")

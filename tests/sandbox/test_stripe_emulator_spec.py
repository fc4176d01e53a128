"""Stripe emulator responses validated against Stripe's OpenAPI spec (API version 2024-04-10).

Every list and retrieve endpoint the emulator serves is requested over HTTP with a seeded
account behind it and checked with openapi-core; a tampered body must be rejected, so the
validation itself is shown able to fail.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_core.validation.response.exceptions import InvalidData

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stripe_fixtures import RunningStripe, running_stripe, spec_validator, validate_response


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[RunningStripe, dict[str, str]]]:
    with running_stripe(seed=5) as emu:
        state = emu.state
        ids: dict[str, str] = {}
        customer = state.create_customer(
            email="spec@example.com",
            name="Spec Co",
            currency="usd",
            metadata={"salesforce_account_id": "001xx000003DGb2AAG"},
        )
        ids["customer"] = customer["id"]
        product = state.create_product("Platform fee", description="Monthly platform fee")
        ids["product"] = product["id"]
        price = state.create_price(product["id"], "usd", 1200, recurring_interval="month")
        ids["price"] = price["id"]
        paid = state.create_invoice(
            customer["id"],
            lines=[{"amount": 1000, "description": "usage"}, {"price_id": price["id"], "quantity": 2}],
        )
        state.finalize_invoice(paid["id"])
        state.pay_invoice(paid["id"])
        ids["invoice"] = paid["id"]
        ids["credit_note"] = state.create_credit_note(
            paid["id"], amount=500, refund_amount=300, credit_amount=200
        )["id"]
        open_invoice = state.create_invoice(
            customer["id"], collection_method="send_invoice", days_until_due=30, lines=[{"amount": 700}]
        )
        state.finalize_invoice(open_invoice["id"])
        ids["credit_note_lines"] = state.create_credit_note(
            open_invoice["id"],
            lines=[{"type": "custom_line_item", "unit_amount": 100, "description": "goodwill"}],
        )["id"]
        vat = state.create_tax_rate("VAT", 19, country="DE", tax_type="vat", description="VAT Germany")
        ids["tax_rate"] = vat["id"]
        taxed = state.create_invoice(
            customer["id"], lines=[{"amount": 2_000, "tax_rate_ids": [vat["id"]]}, {"amount": 500}]
        )
        ids["taxed_invoice"] = state.finalize_invoice(taxed["id"])["id"]
        ids["invoiceitem"] = state.create_invoice_item(customer["id"], amount=50, description="pending")["id"]
        intent = state.create_payment_intent(900, "usd", customer_id=customer["id"], confirm=True)
        ids["payment_intent"] = intent["id"]
        ids["charge"] = intent["latest_charge"]
        ids["refund"] = state.create_refund(charge_id=intent["latest_charge"], amount=100)["id"]
        ids["dispute"] = state.create_dispute(intent["latest_charge"])["id"]
        emu.clock.advance(timedelta(days=3))
        payout = state.create_payout("usd", status="paid")
        ids["payout"] = payout["id"]
        ids["balance_transaction"] = payout["balance_transaction"]
        ids["webhook_endpoint"] = state.create_webhook_endpoint("http://127.0.0.1:9/unused")["id"]
        ids["cbtxn"] = state.adjust_customer_balance(customer["id"], -250, "usd", description="goodwill")[
            "id"
        ]
        with emu.raw() as http:
            ids["event"] = http.get("/v1/events", params={"limit": 1}).json()["data"][0]["id"]
        yield emu, ids


# (spec path template, concrete path builder, query)
ENDPOINTS: list[tuple[str, str, dict[str, Any]]] = [
    ("/v1/customers", "/v1/customers", {}),
    ("/v1/customers/{customer}", "/v1/customers/{customer}", {}),
    ("/v1/customers/{customer}/balance_transactions", "/v1/customers/{customer}/balance_transactions", {}),
    (
        "/v1/customers/{customer}/balance_transactions/{transaction}",
        "/v1/customers/{customer}/balance_transactions/{cbtxn}",
        {},
    ),
    ("/v1/products", "/v1/products", {}),
    ("/v1/products/{id}", "/v1/products/{product}", {}),
    ("/v1/prices", "/v1/prices", {}),
    ("/v1/prices/{price}", "/v1/prices/{price}", {}),
    ("/v1/invoices", "/v1/invoices", {"expand[]": "data.customer"}),
    ("/v1/invoices/{invoice}", "/v1/invoices/{invoice}", {"expand[]": "charge"}),
    ("/v1/invoices/{invoice}/lines", "/v1/invoices/{invoice}/lines", {}),
    ("/v1/invoices/{invoice}", "/v1/invoices/{taxed_invoice}", {}),
    ("/v1/invoices/{invoice}/lines", "/v1/invoices/{taxed_invoice}/lines", {}),
    ("/v1/tax_rates", "/v1/tax_rates", {}),
    ("/v1/tax_rates/{tax_rate}", "/v1/tax_rates/{tax_rate}", {}),
    ("/v1/invoiceitems", "/v1/invoiceitems", {}),
    ("/v1/invoiceitems/{invoiceitem}", "/v1/invoiceitems/{invoiceitem}", {}),
    ("/v1/payment_intents", "/v1/payment_intents", {}),
    ("/v1/payment_intents/{intent}", "/v1/payment_intents/{payment_intent}", {"expand[]": "latest_charge"}),
    ("/v1/charges", "/v1/charges", {}),
    ("/v1/charges/{charge}", "/v1/charges/{charge}", {"expand[]": "balance_transaction"}),
    ("/v1/charges/{charge}/refunds", "/v1/charges/{charge}/refunds", {}),
    ("/v1/refunds", "/v1/refunds", {}),
    ("/v1/refunds/{refund}", "/v1/refunds/{refund}", {}),
    ("/v1/credit_notes", "/v1/credit_notes", {}),
    ("/v1/credit_notes/{id}", "/v1/credit_notes/{credit_note}", {}),
    ("/v1/credit_notes/{credit_note}/lines", "/v1/credit_notes/{credit_note_lines}/lines", {}),
    ("/v1/balance_transactions", "/v1/balance_transactions", {}),
    ("/v1/balance_transactions", "/v1/balance_transactions", {"payout": "{payout}"}),
    ("/v1/balance_transactions/{id}", "/v1/balance_transactions/{balance_transaction}", {}),
    ("/v1/balance", "/v1/balance", {}),
    ("/v1/account", "/v1/account", {}),
    ("/v1/customers/search", "/v1/customers/search", {"query": "email:'spec@example.com'"}),
    ("/v1/invoices/search", "/v1/invoices/search", {"query": "total>0", "expand[]": "total_count"}),
    ("/v1/charges/search", "/v1/charges/search", {"query": "status:'succeeded'"}),
    ("/v1/payment_intents/search", "/v1/payment_intents/search", {"query": "amount>=900"}),
    ("/v1/prices/search", "/v1/prices/search", {"query": "active:'true'"}),
    ("/v1/products/search", "/v1/products/search", {"query": "name~'Platform'"}),
    ("/v1/payouts", "/v1/payouts", {}),
    ("/v1/payouts/{payout}", "/v1/payouts/{payout}", {}),
    ("/v1/disputes", "/v1/disputes", {}),
    ("/v1/disputes/{dispute}", "/v1/disputes/{dispute}", {}),
    ("/v1/events", "/v1/events", {}),
    ("/v1/events/{id}", "/v1/events/{event}", {}),
    ("/v1/webhook_endpoints", "/v1/webhook_endpoints", {}),
    ("/v1/webhook_endpoints/{webhook_endpoint}", "/v1/webhook_endpoints/{webhook_endpoint}", {}),
]


@pytest.mark.parametrize(
    ("spec_path", "template", "query"),
    ENDPOINTS,
    ids=[t + ("?" + "&".join(f"{k}={v}" for k, v in q.items()) if q else "") for _, t, q in ENDPOINTS],
)
def test_get_responses_match_the_spec(
    seeded: tuple[RunningStripe, dict[str, str]], spec_path: str, template: str, query: dict[str, Any]
) -> None:
    emu, ids = seeded
    path = template.format(**ids)
    args = {k: v.format(**ids) for k, v in query.items()}
    with emu.raw() as http:
        response = http.get(path, params=args)
    assert response.status_code == 200, response.text
    body = response.json()
    if body.get("object") in ("list", "search_result"):
        assert body["data"], f"{path} listed nothing, so its items were not validated"
    validate_response(spec_validator(emu.base_url), emu.base_url, "get", path, response, args)


def test_post_responses_and_error_bodies_match_the_spec(seeded: tuple[RunningStripe, dict[str, str]]) -> None:
    emu, ids = seeded
    openapi = spec_validator(emu.base_url)
    with emu.raw() as http:
        created = http.post("/v1/invoices", data={"customer": ids["customer"], "metadata[k]": "v"})
        validate_response(openapi, emu.base_url, "post", "/v1/invoices", created)
        invoice_id = created.json()["id"]
        http.post(
            "/v1/invoiceitems", data={"customer": ids["customer"], "invoice": invoice_id, "amount": "900"}
        )
        finalized = http.post(f"/v1/invoices/{invoice_id}/finalize")
        validate_response(openapi, emu.base_url, "post", f"/v1/invoices/{invoice_id}/finalize", finalized)
        assert finalized.json()["status"] == "open"
        voided = http.post(f"/v1/invoices/{invoice_id}/void")
        validate_response(openapi, emu.base_url, "post", f"/v1/invoices/{invoice_id}/void", voided)
        missing = http.get("/v1/customers/cus_missing")
        assert missing.status_code == 404
        validate_response(openapi, emu.base_url, "get", "/v1/customers/cus_missing", missing)


def test_tampered_bodies_are_rejected(seeded: tuple[RunningStripe, dict[str, str]]) -> None:
    emu, ids = seeded
    openapi = spec_validator(emu.base_url)
    path = f"/v1/invoices/{ids['invoice']}"
    with emu.raw() as http:
        genuine = http.get(path)
    validate_response(openapi, emu.base_url, "get", path, genuine)
    for tamper in (
        lambda body: body.update(amount_due="1000"),
        lambda body: body.pop("lines"),
        lambda body: body.update(status="settled"),
        lambda body: body["status_transitions"].update(paid_at="yesterday"),
    ):
        body = json.loads(genuine.content)
        tamper(body)
        forged = httpx.Response(
            200, content=json.dumps(body).encode(), headers={"content-type": "application/json"}
        )
        with pytest.raises(InvalidData):
            validate_response(openapi, emu.base_url, "get", path, forged)

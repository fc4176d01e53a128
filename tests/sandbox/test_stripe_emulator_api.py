"""The Stripe emulator driven through stripe-python 16 as a user would: CRUD, lists, errors,
idempotency, the invoice lifecycle, refunds, payouts, events, webhooks and injected faults."""

from __future__ import annotations

import http.server
import json
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stripe_fixtures import RunningStripe, running_stripe


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningStripe]:
    with running_stripe(seed=11) as running:
        yield running


@pytest.fixture
def client(emu: RunningStripe) -> stripe.StripeClient:
    return emu.client()


def _fresh_window(emu: RunningStripe) -> int:
    """Move the frozen clock a day on, so a test's records have `created` times of their own."""
    emu.clock.advance(timedelta(days=1))
    return emu.state.now()


# -- customers, metadata, retrieve/update --------------------------------------------------------


def test_customer_create_retrieve_update_with_metadata(client: stripe.StripeClient) -> None:
    created = client.v1.customers.create(
        params={"email": "ap@example.com", "name": "Acme", "metadata": {"sf_id": "001A", "tier": "gold"}}
    )
    assert created.id.startswith("cus_")
    assert created.object == "customer"
    assert created.metadata.to_dict() == {"sf_id": "001A", "tier": "gold"}

    updated = client.v1.customers.update(created.id, params={"metadata": {"tier": "", "ns_id": "42"}})
    assert updated.metadata.to_dict() == {"sf_id": "001A", "ns_id": "42"}

    fetched = client.v1.customers.retrieve(created.id)
    assert fetched.email == "ap@example.com"
    assert fetched.metadata.to_dict() == {"sf_id": "001A", "ns_id": "42"}

    cleared = client.v1.customers.update(created.id, params={"metadata": ""})  # type: ignore[typeddict-item]
    assert cleared.metadata.to_dict() == {}


def test_customer_update_emits_event_with_previous_attributes(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"email": "old@example.com"})
    client.v1.customers.update(customer.id, params={"email": "new@example.com"})
    events = client.v1.events.list(params={"type": "customer.updated", "limit": 100})
    mine = [e for e in events.data if e.data.object["id"] == customer.id]
    assert len(mine) == 1
    assert mine[0].data.previous_attributes["email"] == "old@example.com"
    assert mine[0].data.object["email"] == "new@example.com"
    assert mine[0].api_version == "2024-04-10"


def test_metadata_limits_are_enforced(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as too_long_key:
        client.v1.customers.create(params={"metadata": {"k" * 41: "v"}})
    assert too_long_key.value.param == f"metadata[{'k' * 41}]"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.create(params={"metadata": {"k": "v" * 501}})
    with pytest.raises(stripe.InvalidRequestError) as too_many:
        client.v1.customers.create(params={"metadata": {f"k{i}": "v" for i in range(51)}})
    assert too_many.value.param == "metadata"


def test_deleted_customer_answers_deleted(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"name": "Gone"})
    deleted = client.v1.customers.delete(customer.id)
    assert deleted.deleted is True
    assert client.v1.customers.retrieve(customer.id).deleted is True


# -- lists ---------------------------------------------------------------------------------------


def test_list_pages_newest_first_with_cursors_and_auto_paging(emu: RunningStripe) -> None:
    client = emu.client()
    start = _fresh_window(emu)
    ids = []
    for i in range(130):
        if i % 7 == 0:
            emu.clock.advance(timedelta(seconds=1))
        ids.append(client.v1.customers.create(params={"name": f"page-{i}"}).id)
    newest_first = list(reversed(ids))
    window = {"created": {"gte": start}}

    first = client.v1.customers.list(params={"limit": 3, **window})  # type: ignore[typeddict-item]
    assert [c.id for c in first.data] == newest_first[:3]
    assert first.has_more is True
    assert first.url == "/v1/customers"

    second = client.v1.customers.list(
        params={"limit": 3, "starting_after": first.data[-1].id, **window}  # type: ignore[typeddict-item]
    )
    assert [c.id for c in second.data] == newest_first[3:6]

    back = client.v1.customers.list(
        params={"limit": 3, "ending_before": second.data[0].id, **window}  # type: ignore[typeddict-item]
    )
    assert [c.id for c in back.data] == newest_first[:3]
    assert back.has_more is False

    default = client.v1.customers.list(params=window)  # type: ignore[typeddict-item]
    assert len(default.data) == 10

    walked = [c.id for c in client.v1.customers.list(params={"limit": 100, **window}).auto_paging_iter()]  # type: ignore[typeddict-item]
    assert walked == newest_first

    last = client.v1.customers.list(params={"limit": 100, "starting_after": newest_first[99], **window})  # type: ignore[typeddict-item]
    assert [c.id for c in last.data] == newest_first[100:]
    assert last.has_more is False


@pytest.mark.parametrize("limit", [0, 101])
def test_limit_out_of_range_is_invalid_request(client: stripe.StripeClient, limit: int) -> None:
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.customers.list(params={"limit": limit})
    assert error.value.http_status == 400
    assert error.value.param == "limit"
    assert error.value.error is not None and error.value.error.type == "invalid_request_error"


def test_created_filters(emu: RunningStripe) -> None:
    client = emu.client()
    t0 = _fresh_window(emu)
    a = client.v1.products.create(params={"name": "a"})
    emu.clock.advance(timedelta(seconds=10))
    b = client.v1.products.create(params={"name": "b"})
    emu.clock.advance(timedelta(seconds=10))
    c = client.v1.products.create(params={"name": "c"})

    def names(created: Any) -> list[str]:
        return [p.name for p in client.v1.products.list(params={"created": created, "limit": 100}).data]

    assert names({"gte": t0}) == ["c", "b", "a"]
    assert names({"gt": t0}) == ["c", "b"]
    assert names({"gte": t0, "lt": t0 + 20}) == ["b", "a"]
    assert names({"gte": t0, "lte": t0 + 20}) == ["c", "b", "a"]
    assert names(t0 + 10) == ["b"]
    assert {a.id, b.id, c.id} == {p.id for p in client.v1.products.list(params={"created": {"gte": t0}}).data}


def test_customer_and_status_filters_and_expand(emu: RunningStripe) -> None:
    client = emu.client()
    one = client.v1.customers.create(params={"name": "one"})
    two = client.v1.customers.create(params={"name": "two"})
    for customer in (one, two, one):
        emu.state.create_invoice(customer.id, lines=[{"amount": 1000}])
    drafts = client.v1.invoices.list(
        params={"customer": one.id, "status": "draft", "expand": ["data.customer"]}
    )
    assert len(drafts.data) == 2
    assert all(inv.customer.id == one.id and inv.customer.name == "one" for inv in drafts.data)
    assert client.v1.invoices.list(params={"customer": one.id, "status": "paid"}).data == []

    intent = client.v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "usd",
            "customer": one.id,
            "confirm": True,
            "payment_method": "pm_card_visa",
        }
    )
    fetched = client.v1.payment_intents.retrieve(
        intent.id, params={"expand": ["latest_charge.balance_transaction"]}
    )
    txn = fetched.latest_charge.balance_transaction
    assert txn.object == "balance_transaction"
    assert txn.net == txn.amount - txn.fee
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.retrieve(intent.id, params={"expand": ["no_such_field"]})


# -- errors --------------------------------------------------------------------------------------


def test_authentication_errors(emu: RunningStripe) -> None:
    wrong = stripe.StripeClient("sk_test_notavalidkey9876", base_addresses={"api": emu.base_url})
    with pytest.raises(stripe.AuthenticationError) as error:
        wrong.v1.customers.list()
    assert error.value.http_status == 401
    assert error.value.user_message == "Invalid API Key provided: sk_test_************9876"
    response = httpx.get(f"{emu.base_url}/v1/customers")
    assert response.status_code == 401
    assert response.json()["error"]["message"].startswith("You did not provide an API key.")
    assert response.headers["request-id"].startswith("req_")


def test_not_found_unknown_parameter_and_unknown_url(client: stripe.StripeClient, emu: RunningStripe) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.invoices.retrieve("in_doesnotexist")
    assert missing.value.http_status == 404
    assert missing.value.code == "resource_missing"
    assert missing.value.user_message == "No such invoice: 'in_doesnotexist'"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.customers.create(params={"nickname": "x"})  # type: ignore[typeddict-unknown-key]
    assert unknown.value.code == "parameter_unknown"
    assert unknown.value.param == "nickname"
    with emu.raw() as http:
        response = http.get("/v1/not_a_thing")
    assert response.status_code == 404
    assert response.json()["error"]["message"].startswith("Unrecognized request URL (GET: /v1/not_a_thing)")


def test_every_response_has_request_id_and_version(emu: RunningStripe) -> None:
    with emu.raw() as http:
        for response in (
            http.get("/v1/customers"),
            http.get("/v1/customers/cus_nope"),
            http.post("/v1/customers"),
        ):
            assert response.headers["request-id"].startswith("req_")
            assert response.headers["stripe-version"] == "2024-04-10"


def test_nested_form_encoding_from_raw_requests(emu: RunningStripe) -> None:
    with emu.raw() as http:
        customer = http.post(
            "/v1/customers", data={"name": "Form", "metadata[a]": "1", "metadata[b]": "2"}
        ).json()
        assert customer["metadata"] == {"a": "1", "b": "2"}
        invoice = http.post("/v1/invoices", data={"customer": customer["id"], "expand[]": "customer"}).json()
        assert invoice["customer"]["id"] == customer["id"]
        item = http.post(
            "/v1/invoiceitems",
            data={
                "customer": customer["id"],
                "invoice": invoice["id"],
                "amount": "250",
                "period[start]": "1700000000",
                "period[end]": "1700003600",
            },
        ).json()
        assert item["period"] == {"start": 1700000000, "end": 1700003600}
        bad = http.post("/v1/invoiceitems", data={"customer": customer["id"], "amount": "lots"})
        assert bad.status_code == 400
        assert bad.json()["error"]["param"] == "amount"


# -- idempotency ---------------------------------------------------------------------------------


def test_idempotent_replay_and_conflict(emu: RunningStripe, client: stripe.StripeClient) -> None:
    params: Any = {"email": "idem@example.com"}
    first = client.v1.customers.create(params=params, options={"idempotency_key": "key-1"})
    again = client.v1.customers.create(params=params, options={"idempotency_key": "key-1"})
    assert again.id == first.id
    assert again.last_response is not None
    assert again.last_response.headers["idempotent-replayed"] == "true"
    with pytest.raises(stripe.IdempotencyError) as conflict:
        client.v1.customers.create(
            params={"email": "other@example.com"}, options={"idempotency_key": "key-1"}
        )
    assert conflict.value.http_status == 400
    assert "key-1" in (conflict.value.user_message or "")

    emu.state.api_keys.add("sk_test_secondkeyforidempotency")
    other = stripe.StripeClient(
        "sk_test_secondkeyforidempotency", base_addresses={"api": emu.base_url}, max_network_retries=0
    )
    separate = other.v1.customers.create(params=params, options={"idempotency_key": "key-1"})
    assert separate.id != first.id


# -- invoices, payments, refunds -----------------------------------------------------------------


def test_invoice_lifecycle(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"name": "Lifecycle", "email": "l@example.com"})
    invoice = client.v1.invoices.create(
        params={"customer": customer.id, "collection_method": "send_invoice", "days_until_due": 30}
    )
    assert invoice.status == "draft" and invoice.number is None
    client.v1.invoice_items.create(params={"customer": customer.id, "invoice": invoice.id, "amount": 1200})
    client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": invoice.id, "unit_amount": 400, "quantity": 2}
    )
    draft = client.v1.invoices.retrieve(invoice.id)
    assert (draft.subtotal, draft.total, draft.amount_due) == (2000, 2000, 2000)
    assert len(draft.lines.data) == 2

    opened = client.v1.invoices.finalize_invoice(invoice.id)
    assert opened.status == "open"
    assert opened.number is not None and opened.number.endswith("-0001")
    assert opened.status_transitions.finalized_at is not None
    assert opened.payment_intent is not None and opened.amount_remaining == 2000
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.finalize_invoice(invoice.id)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.delete(invoice.id)

    paid = client.v1.invoices.pay(invoice.id)
    assert paid.status == "paid" and paid.paid is True
    assert (paid.amount_paid, paid.amount_remaining) == (2000, 0)
    assert paid.charge is not None
    charge = client.v1.charges.retrieve(paid.charge)
    assert charge.invoice == invoice.id and charge.amount == 2000
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.void_invoice(invoice.id)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.pay(invoice.id)

    second = client.v1.invoices.create(params={"customer": customer.id})
    client.v1.invoice_items.create(params={"customer": customer.id, "invoice": second.id, "amount": 500})
    assert client.v1.invoices.finalize_invoice(second.id).number.endswith("-0002")
    voided = client.v1.invoices.void_invoice(second.id)
    assert voided.status == "void" and voided.status_transitions.voided_at is not None

    third = client.v1.invoices.create(params={"customer": customer.id})
    client.v1.invoice_items.create(params={"customer": customer.id, "invoice": third.id, "amount": 700})
    client.v1.invoices.finalize_invoice(third.id)
    bad_debt = client.v1.invoices.mark_uncollectible(third.id)
    assert bad_debt.status == "uncollectible"
    recovered = client.v1.invoices.pay(third.id, params={"paid_out_of_band": True})
    assert recovered.status == "paid" and recovered.paid_out_of_band is True and recovered.charge is None

    draft_only = client.v1.invoices.create(params={"customer": customer.id})
    assert client.v1.invoices.delete(draft_only.id).deleted is True
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.retrieve(draft_only.id)

    types = [
        e.type for e in client.v1.events.list(params={"limit": 100}).data if e.data.object["id"] == invoice.id
    ]
    assert {"invoice.created", "invoice.finalized", "invoice.paid", "invoice.payment_succeeded"} <= set(types)


def test_card_decline_is_a_card_error(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.CardError) as declined:
        client.v1.payment_intents.create(
            params={
                "amount": 1000,
                "currency": "usd",
                "payment_method": "pm_card_chargeDeclined",
                "confirm": True,
            }
        )
    assert declined.value.http_status == 402
    assert declined.value.code == "card_declined"


def test_refunds(client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create(
        params={"amount": 5000, "currency": "usd", "confirm": True, "payment_method": "pm_card_visa"}
    )
    assert intent.status == "succeeded" and intent.latest_charge is not None
    partial = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1500})
    assert partial.status == "succeeded" and partial.charge == intent.latest_charge
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (1500, False)
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create(params={"charge": charge.id, "amount": 4000})
    assert too_much.value.param == "amount"
    rest = client.v1.refunds.create(params={"charge": charge.id})
    assert rest.amount == 3500
    assert client.v1.charges.retrieve(charge.id).refunded is True
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.refunds.create(params={"charge": charge.id})
    assert again.value.code == "charge_already_refunded"
    txn = client.v1.balance_transactions.retrieve(rest.balance_transaction)
    assert (txn.type, txn.amount, txn.source) == ("refund", -3500, rest.id)
    listed = client.v1.refunds.list(params={"charge": charge.id})
    assert [r.id for r in listed.data] == [rest.id, partial.id]


def test_payout_composition(emu: RunningStripe, client: stripe.StripeClient) -> None:
    state = emu.state
    _fresh_window(emu)
    # Sweep whatever earlier tests left, so this payout holds exactly this test's charges.
    emu.clock.advance(timedelta(days=3))
    if state.unswept.get("eur"):
        state.create_payout("eur", status="paid")
    charges = [state.create_charge(amount, "eur") for amount in (10_000, 2_500, 799)]
    refund = state.create_refund(charge_id=charges[0]["id"], amount=1_000)
    emu.clock.advance(timedelta(days=3))
    pending = state.create_payout("eur")
    assert (pending["status"], pending["reconciliation_status"]) == ("pending", "in_progress")
    state.set_payout_status(pending["id"], "in_transit")
    payout = state.set_payout_status(pending["id"], "paid")
    assert payout["automatic"] is True and payout["status"] == "paid"
    assert payout["reconciliation_status"] == "completed"

    listed = client.v1.balance_transactions.list(params={"payout": payout["id"], "limit": 100})
    by_type: dict[str, list[Any]] = {}
    for txn in listed.data:
        by_type.setdefault(txn.type, []).append(txn)
    assert {t.source for t in by_type["charge"]} == {c["id"] for c in charges}
    assert [t.source for t in by_type["refund"]] == [refund["id"]]
    assert [t.source for t in by_type["payout"]] == [payout["id"]]
    members = by_type["charge"] + by_type["refund"]
    assert sum(t.net for t in members) == payout["amount"]
    assert by_type["payout"][0].amount == -payout["amount"]
    for txn in by_type["charge"]:
        assert txn.fee > 0 and txn.net == txn.amount - txn.fee
        assert txn.fee_details[0].type == "stripe_fee"

    manual = client.v1.payouts.create(params={"amount": 100, "currency": "usd"})
    assert manual.automatic is False
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.balance_transactions.list(params={"payout": manual.id})
    assert error.value.param == "payout"


# -- events --------------------------------------------------------------------------------------


def test_events_created_filters_and_retention(emu: RunningStripe, client: stripe.StripeClient) -> None:
    t0 = _fresh_window(emu)
    old = client.v1.customers.create(params={"name": "old news"})
    emu.clock.advance(timedelta(days=10))
    newer = client.v1.customers.create(params={"name": "fresh"})
    recent = client.v1.events.list(params={"created": {"gte": t0 + 1}, "type": "customer.created"})
    assert [e.data.object["id"] for e in recent.data] == [newer.id]
    both = client.v1.events.list(params={"created": {"gte": t0}, "type": "customer.*"})
    assert [e.data.object["id"] for e in both.data] == [newer.id, old.id]
    old_event_id = both.data[1].id

    emu.clock.advance(timedelta(days=25))  # the first event is now 35 days old, the second 25
    kept = client.v1.events.list(params={"created": {"gte": t0}, "limit": 100})
    assert [e.data.object["id"] for e in kept.data] == [newer.id]
    with pytest.raises(stripe.InvalidRequestError) as gone:
        client.v1.events.retrieve(old_event_id)
    assert gone.value.http_status == 404


# -- webhooks ------------------------------------------------------------------------------------


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list[tuple[bytes, str]] = []
    fail_first: int = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Receiver.fail_first > 0:
            _Receiver.fail_first -= 1
            self.send_response(500)
        else:
            _Receiver.received.append((body, self.headers["Stripe-Signature"]))
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def test_signed_webhooks_are_delivered_and_verify(emu: RunningStripe, client: stripe.StripeClient) -> None:
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    emu.state.webhooks.retry_delays = (0.05, 0.05)
    _Receiver.received.clear()
    _Receiver.fail_first = 1  # the first attempt fails; the bounded retry delivers it
    try:
        endpoint = client.v1.webhook_endpoints.create(
            params={
                "url": f"http://127.0.0.1:{receiver.server_address[1]}/hook",
                "enabled_events": ["invoice.*"],
            }
        )
        assert endpoint.secret is not None and endpoint.secret.startswith("whsec_")
        customer = client.v1.customers.create(params={"name": "Hooked"})
        invoice = client.v1.invoices.create(params={"customer": customer.id})
        client.v1.invoice_items.create(params={"customer": customer.id, "invoice": invoice.id, "amount": 300})
        client.v1.invoices.finalize_invoice(invoice.id)
        assert emu.state.webhooks.wait_idle(10)
        client.v1.webhook_endpoints.delete(endpoint.id)
    finally:
        receiver.shutdown()
        receiver.server_close()

    types = []
    for body, signature in _Receiver.received:
        event = stripe.Webhook.construct_event(body, signature, endpoint.secret)
        types.append(event.type)
        assert event.data.object["id"] == invoice.id
    assert sorted(types) == ["invoice.created", "invoice.finalized"]
    attempts = [d for d in emu.state.webhooks.deliveries if d.endpoint_id == endpoint.id]
    assert any(not d.succeeded for d in attempts) and sum(d.succeeded for d in attempts) == 2
    body, signature = _Receiver.received[0]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body.replace(b"invoice", b"invoicf", 1), signature, endpoint.secret)


# -- faults and the legacy global style ----------------------------------------------------------


def test_injected_faults_are_stripe_shaped(emu: RunningStripe, client: stripe.StripeClient) -> None:
    admin = f"{emu.base_url}/__sandbox/faults"
    try:
        assert httpx.put(admin, json={"rate_limit_rate": 1.0, "retry_after_seconds": 2}).status_code == 200
        with pytest.raises(stripe.RateLimitError) as limited:
            client.v1.customers.list()
        assert limited.value.http_status == 429
        assert limited.value.error is not None and limited.value.error.code == "rate_limit"
        assert limited.value.headers is not None
        assert limited.value.headers["stripe-should-retry"] == "true"
        assert limited.value.headers["retry-after"] == "2"
        assert httpx.put(admin, json={"server_error_rate": 1.0}).status_code == 200
        with pytest.raises(stripe.APIError) as failed:
            client.v1.customers.list()
        assert failed.value.http_status == 500
        assert json.loads(failed.value.http_body or "{}")["error"]["type"] == "api_error"
    finally:
        httpx.put(admin, json={"profile": "none"})
    assert client.v1.customers.list(params={"limit": 1}).object == "list"


def test_legacy_global_configuration(emu: RunningStripe) -> None:
    saved = (stripe.api_key, stripe.api_base, stripe.max_network_retries)
    stripe.api_key, stripe.api_base, stripe.max_network_retries = emu.state.api_key, emu.base_url, 0
    try:
        customer = stripe.Customer.create(email="legacy@example.com")
        assert stripe.Customer.retrieve(customer.id).email == "legacy@example.com"
        seen = [c.id for c in stripe.Customer.list(limit=5).auto_paging_iter()]
        assert customer.id in seen
        modified = stripe.Customer.modify(customer.id, metadata={"k": "v"})
        assert modified.metadata["k"] == "v"
    finally:
        stripe.api_key, stripe.api_base, stripe.max_network_retries = saved


def test_tax_rates_on_invoice_lines(client: stripe.StripeClient) -> None:
    vat = client.v1.tax_rates.create(
        params={
            "display_name": "VAT",
            "percentage": 19,
            "inclusive": False,
            "country": "DE",
            "tax_type": "vat",
        }
    )
    gst = client.v1.tax_rates.create(params={"display_name": "GST", "percentage": 10, "inclusive": True})
    assert vat.id.startswith("txr_") and vat.percentage == 19
    customer = client.v1.customers.create(params={"name": "Taxed GmbH"})
    invoice = client.v1.invoices.create(params={"customer": customer.id})
    client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": invoice.id, "amount": 10_000, "tax_rates": [vat.id]}
    )
    client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": invoice.id, "amount": 1_100, "tax_rates": [gst.id]}
    )
    taxed = client.v1.invoices.finalize_invoice(invoice.id)
    assert (taxed.subtotal, taxed.tax, taxed.total) == (11_100, 1_900 + 100, 13_000)
    assert (taxed.subtotal_excluding_tax, taxed.total_excluding_tax) == (11_000, 11_000)
    assert taxed.amount_due == 13_000
    by_rate = {t.tax_rate: (t.amount, t.inclusive, t.taxable_amount) for t in taxed.total_tax_amounts}
    assert by_rate == {vat.id: (1_900, False, 10_000), gst.id: (100, True, 1_000)}
    lines = {line.amount: line for line in taxed.lines.data}
    assert lines[1_100].amount_excluding_tax == 1_000
    assert lines[10_000].tax_rates[0].id == vat.id
    listed = client.v1.tax_rates.list(params={"inclusive": True, "limit": 100})
    assert gst.id in {r.id for r in listed.data} and vat.id not in {r.id for r in listed.data}


def test_setting_a_customer_balance_records_an_adjustment(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"name": "Prepaid", "email": "p@example.com"})
    client.v1.customers.update(customer.id, params={"balance": -2_500})
    adjustments = client.v1.customers.balance_transactions.list(customer.id)
    assert [(t.type, t.amount, t.ending_balance) for t in adjustments.data] == [
        ("adjustment", -2_500, -2_500)
    ]
    assert client.v1.customers.retrieve(customer.id).balance == -2_500


def test_search_by_metadata_fields_and_numbers(emu: RunningStripe, client: stripe.StripeClient) -> None:
    tag = "search-" + emu.state.ids.token(6)
    acme = client.v1.customers.create(
        params={"name": "Acme Search", "email": f"ap@{tag}.com", "metadata": {"tag": tag}}
    )
    other = client.v1.customers.create(
        params={"name": "Other Search", "metadata": {"tag": tag, "tier": "gold"}}
    )
    found = client.v1.customers.search(params={"query": f"metadata['tag']:'{tag}'"})
    assert found.object == "search_result" and {c.id for c in found.data} == {acme.id, other.id}
    only_gold = client.v1.customers.search(
        params={"query": f"metadata['tag']:'{tag}' AND metadata['tier']:'gold'"}
    )
    assert [c.id for c in only_gold.data] == [other.id]
    not_gold = client.v1.customers.search(
        params={"query": f"metadata['tag']:'{tag}' -metadata['tier']:'gold'"}
    )
    assert [c.id for c in not_gold.data] == [acme.id]
    by_email = client.v1.customers.search(params={"query": f'email~"{tag}"'})
    assert [c.id for c in by_email.data] == [acme.id]

    for amount in (100, 200, 300):
        emu.state.create_invoice(acme.id, lines=[{"amount": amount}])
    big = client.v1.invoices.search(params={"query": f'customer:"{acme.id}" AND total>150'})
    assert sorted(i.total for i in big.data) == [200, 300]
    paged = client.v1.invoices.search(params={"query": f'customer:"{acme.id}"', "limit": 1})
    assert paged.has_more is True and paged.next_page is not None
    assert len(list(paged.auto_paging_iter())) == 3
    counted = client.v1.invoices.search(params={"query": f'customer:"{acme.id}"', "expand": ["total_count"]})
    assert counted.total_count == 3

    with pytest.raises(stripe.InvalidRequestError) as unsupported:
        client.v1.invoices.search(params={"query": 'colour:"red"'})
    assert unsupported.value.param == "query"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.search(params={"query": "name:'a' AND email:'b' OR phone:'c'"})

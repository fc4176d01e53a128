"""The Stripe emulator's seeding API and building blocks: money rules, ordering, determinism."""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import stripe
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stripe_fixtures import START, running_stripe

from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.server import EmulatorServer, SandboxCA
from tieout.sandbox.stripe import StripeState, build_app
from tieout.sandbox.stripe.collection import Collection
from tieout.sandbox.stripe.errors import StripeError
from tieout.sandbox.stripe.forms import decode_query
from tieout.sandbox.stripe.ids import processing_fee


def _state(seed: int = 1) -> StripeState:
    return StripeState(SandboxClock(frozen_at=START), seed=seed)


# -- building blocks ----------------------------------------------------------------------------


def test_form_decoding_nests_like_stripe() -> None:
    decoded = decode_query(
        "metadata[a]=1&metadata[b]=&expand[]=x&expand[]=y&lines[0][type]=custom_line_item"
        "&lines[0][unit_amount]=5&lines[1][type]=invoice_line_item&created[gte]=10&limit=3"
    )
    assert decoded == {
        "metadata": {"a": "1", "b": ""},
        "expand": ["x", "y"],
        "lines": [{"type": "custom_line_item", "unit_amount": "5"}, {"type": "invoice_line_item"}],
        "created": {"gte": "10"},
        "limit": "3",
    }
    assert decode_query("expand[0]=a&expand[1]=b") == {"expand": ["a", "b"]}
    with pytest.raises(StripeError):
        decode_query("a]b=1")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=60), st.integers(1, 7))
def test_collection_pages_walk_newest_first(created_times: list[int], limit: int) -> None:
    table = Collection("thing")
    for sequence, created in enumerate(created_times, start=1):
        table.add({"id": f"t_{sequence}", "created": created}, sequence)
    expected = [f"t_{s}" for s, _ in sorted(enumerate(created_times, start=1), key=lambda p: (p[1], p[0]))][
        ::-1
    ]
    walked: list[str] = []
    cursor = None
    while True:
        page = table.page(limit=limit, starting_after=cursor)
        walked += [r["id"] for r in page.records]
        if not page.has_more:
            break
        cursor = walked[-1]
    assert walked == expected
    back = table.page(limit=limit, ending_before=expected[-1])
    assert [r["id"] for r in back.records] == expected[max(0, len(expected) - 1 - limit) : -1]
    assert back.has_more == (len(expected) - 1 > limit)
    window = table.page(limit=100, created_gte=5, created_lte=9)
    assert [r["id"] for r in window.records] == [
        i for i in expected if 5 <= created_times[int(i[2:]) - 1] <= 9
    ]


def test_fees_follow_currency_exponents() -> None:
    assert processing_fee(10_000, "usd") == 320  # 2.9% + 30 cents
    assert processing_fee(10_000, "jpy") == 290  # no fixed fee on zero-decimal currencies
    assert processing_fee(10_000, "kwd") % 10 == 0  # three-decimal amounts end in 0


def test_ids_are_prefixed_and_deterministic_per_seed() -> None:
    def run(seed: int) -> list[str]:
        state = _state(seed)
        customer = state.create_customer(name="x")
        invoice = state.create_invoice(customer["id"], lines=[{"amount": 100}])
        paid = state.pay_invoice(invoice["id"])
        return [
            customer["id"],
            invoice["id"],
            paid["charge"],
            paid["payment_intent"],
            paid["lines"]["data"][0]["id"],
        ]

    first = run(3)
    assert first == run(3)
    assert first != run(4)
    assert [i.split("_")[0] for i in first] == ["cus", "in", "ch", "pi", "il"]


# -- money rules ---------------------------------------------------------------------------------


def test_zero_decimal_currency_invoice_and_fee() -> None:
    state = _state()
    customer = state.create_customer(name="Tokyo KK", currency="jpy")
    invoice = state.create_invoice(customer["id"], lines=[{"amount": 50_000, "description": "plan"}])
    assert invoice["currency"] == "jpy"
    paid = state.pay_invoice(invoice["id"])
    assert (paid["total"], paid["amount_paid"]) == (50_000, 50_000)
    charge = state.tables["charge"].records[paid["charge"]]
    txn = state.render(
        "balance_transaction", state.tables["balance_transaction"].records[charge["balance_transaction"]]
    )
    assert (txn["currency"], txn["amount"], txn["fee"], txn["net"]) == ("jpy", 50_000, 1450, 48_550)


def test_partial_payments_keep_amount_remaining_right() -> None:
    state = _state()
    customer = state.create_customer(name="Slow payer")
    invoice = state.create_invoice(customer["id"], lines=[{"amount": 1_000}])
    state.finalize_invoice(invoice["id"])
    part = state.pay_invoice(invoice["id"], amount=400)
    assert (part["status"], part["amount_paid"], part["amount_remaining"]) == ("open", 400, 600)
    with pytest.raises(StripeError):
        state.pay_invoice(invoice["id"], amount=700)
    done = state.pay_invoice(invoice["id"], amount=600)
    assert (done["status"], done["amount_paid"], done["amount_remaining"]) == ("paid", 1_000, 0)
    charges = [c for c in state.tables["charge"].records.values() if c["invoice"] == invoice["id"]]
    assert sorted(c["amount"] for c in charges) == [400, 600]


def test_customer_credit_is_applied_at_finalization() -> None:
    state = _state()
    customer = state.create_customer(name="Has credit", currency="usd")
    state.adjust_customer_balance(customer["id"], -300, "usd", description="goodwill")
    invoice = state.create_invoice(customer["id"], lines=[{"amount": 1_000}])
    opened = state.finalize_invoice(invoice["id"])
    assert (opened["total"], opened["starting_balance"], opened["ending_balance"]) == (1_000, -300, 0)
    assert (opened["amount_due"], opened["amount_remaining"]) == (700, 700)
    assert state.tables["customer"].records[customer["id"]]["balance"] == 0
    small = state.create_invoice(customer["id"], lines=[{"amount": 200}])
    state.adjust_customer_balance(customer["id"], -500, "usd")
    covered = state.finalize_invoice(small["id"])
    assert (covered["status"], covered["amount_due"], covered["ending_balance"]) == ("paid", 0, -300)


def test_credit_notes_before_and_after_payment() -> None:
    state = _state()
    customer = state.create_customer(name="Credited", currency="usd")
    invoice = state.create_invoice(customer["id"], lines=[{"amount": 1_000}])
    state.finalize_invoice(invoice["id"])
    pre = state.create_credit_note(invoice["id"], amount=250, reason="order_change")
    assert pre["type"] == "pre_payment" and pre["number"].endswith("-CN-01")
    reduced = state.render("invoice", state.tables["invoice"].records[invoice["id"]])
    assert (reduced["total"], reduced["amount_due"], reduced["pre_payment_credit_notes_amount"]) == (
        1_000,
        750,
        250,
    )
    state.void_credit_note(pre["id"])
    assert state.tables["invoice"].records[invoice["id"]]["amount_due"] == 1_000

    paid = state.pay_invoice(invoice["id"])
    post = state.create_credit_note(invoice["id"], amount=600, refund_amount=400, credit_amount=200)
    assert post["type"] == "post_payment" and post["refund"] is not None
    assert state.tables["refund"].records[post["refund"]]["charge"] == paid["charge"]
    assert state.tables["customer"].records[customer["id"]]["balance"] == -200
    with pytest.raises(StripeError):
        state.create_credit_note(invoice["id"], amount=500)  # only 400 left uncredited
    with pytest.raises(StripeError):
        state.create_credit_note(invoice["id"], amount=100, refund_amount=50)  # parts must sum up


def test_dispute_withdraws_amount_and_fee_then_reinstates() -> None:
    state = _state()
    charge = state.create_charge(5_000, "usd")
    dispute = state.create_dispute(charge["id"], reason="fraudulent")
    [withdrawal] = dispute["balance_transactions"]
    assert (withdrawal["amount"], withdrawal["fee"], withdrawal["net"]) == (-5_000, 1_500, -6_500)
    assert withdrawal["reporting_category"] == "dispute"
    assert state.tables["charge"].records[charge["id"]]["disputed"] is True
    won = state.close_dispute(dispute["id"], won=True)
    assert won["status"] == "won"
    assert [t["reporting_category"] for t in won["balance_transactions"]] == ["dispute", "dispute_reversal"]
    with pytest.raises(StripeError):
        state.close_dispute(dispute["id"])


def test_payout_can_fail_after_paid_and_manual_payouts_need_funds() -> None:
    state = _state()
    state.create_charge(10_000, "usd")
    state.clock.advance(timedelta(days=3))
    payout = state.create_payout("usd", status="paid")
    failed = state.set_payout_status(payout["id"], "failed")
    assert failed["status"] == "failed" and failed["failure_balance_transaction"] is not None
    failure = state.tables["balance_transaction"].records[failed["failure_balance_transaction"]]
    assert (failure["type"], failure["amount"]) == ("payout_failure", payout["amount"])
    types = [e["type"] for e in state.tables["event"].newest_first()]
    assert types[:2] == ["payout.failed", "payout.updated"]
    with pytest.raises(StripeError) as short:
        state.create_payout("usd", amount=10**9, automatic=False)
    assert short.value.code == "balance_insufficient"


def test_invoice_with_many_lines_pages_its_lines() -> None:
    state = _state()
    customer = state.create_customer(name="Many lines")
    invoice = state.create_invoice(customer["id"], lines=[{"amount": 100 + i} for i in range(13)])
    assert invoice["lines"]["has_more"] is True and len(invoice["lines"]["data"]) == 10
    first, more = state.invoice_line_page(invoice["id"], limit=10, starting_after=None, ending_before=None)
    rest, more_after = state.invoice_line_page(
        invoice["id"], limit=10, starting_after=first[-1]["id"], ending_before=None
    )
    assert more is True and more_after is False
    assert [line["amount"] for line in first + rest] == [100 + i for i in range(13)]
    assert invoice["total"] == sum(100 + i for i in range(13))


def test_pending_items_join_an_invoice_only_when_asked() -> None:
    state = _state()
    customer = state.create_customer(name="Pending", currency="usd")
    state.create_invoice_item(customer["id"], amount=300)
    excluded = state.create_invoice(customer["id"])
    assert excluded["total"] == 0
    included = state.create_invoice(customer["id"], include_pending_items=True)
    assert included["total"] == 300 and len(included["lines"]["data"]) == 1


# -- events, threads, idempotency expiry ---------------------------------------------------------


def test_events_carry_the_request_that_caused_them() -> None:
    with running_stripe(seed=2) as emu:
        seeded = emu.state.create_customer(name="seeded")
        client = emu.client()
        made = client.v1.customers.create(params={"name": "via api"}, options={"idempotency_key": "evt-key"})
        events = {
            e.data.object["id"]: e for e in client.v1.events.list(params={"type": "customer.created"}).data
        }
        assert events[seeded["id"]].request.id is None
        assert events[made.id].request.id is not None and events[made.id].request.id.startswith("req_")
        assert events[made.id].request.idempotency_key == "evt-key"


def test_idempotency_keys_expire_after_24_hours() -> None:
    with running_stripe(seed=3) as emu:
        client = emu.client()
        first = client.v1.customers.create(params={"name": "a"}, options={"idempotency_key": "day-key"})
        emu.clock.advance(timedelta(hours=25))
        fresh = client.v1.customers.create(params={"name": "b"}, options={"idempotency_key": "day-key"})
        assert fresh.id != first.id


def test_seeding_from_another_thread_while_serving() -> None:
    with running_stripe(seed=4) as emu:
        state = emu.state
        customer = state.create_customer(name="Busy")
        errors: list[BaseException] = []

        def seed() -> None:
            try:
                with state.bulk_seeding():
                    for i in range(1_500):
                        invoice = state.create_invoice(customer["id"], lines=[{"amount": 100 + i}])
                        state.pay_invoice(invoice["id"])
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)

        seeder = threading.Thread(target=seed)
        seeder.start()
        client = emu.client()
        reads = 0
        while seeder.is_alive() or reads == 0:
            page = client.v1.invoices.list(params={"customer": customer["id"], "limit": 100})
            assert all(i.customer == customer["id"] for i in page.data)
            reads += 1
        seeder.join()
        assert errors == []
        walked = list(
            client.v1.invoices.list(params={"customer": customer["id"], "limit": 100}).auto_paging_iter()
        )
        assert len(walked) == 1_500 and len({i.id for i in walked}) == 1_500
        assert all(i.status == "paid" for i in walked)


def test_invoice_events_show_the_lines_of_their_moment() -> None:
    state = _state()
    customer = state.create_customer(name="Growing")
    invoice = state.create_invoice(customer["id"])
    state.create_invoice_item(customer["id"], invoice_id=invoice["id"], amount=100)
    state.create_invoice_item(customer["id"], invoice_id=invoice["id"], amount=200)
    state.finalize_invoice(invoice["id"])
    events = {e["type"]: state.render("event", e) for e in state.tables["event"].newest_first()}
    assert events["invoice.created"]["data"]["object"]["lines"]["data"] == []
    finalized = events["invoice.finalized"]["data"]["object"]
    assert [line["amount"] for line in finalized["lines"]["data"]] == [100, 200]
    assert "event_line_ids" not in finalized


def test_clock_controls_created_times() -> None:
    clock = SandboxClock(frozen_at=datetime(2024, 5, 1, tzinfo=UTC))
    state = StripeState(clock, seed=9)
    may = state.create_customer(name="may")
    clock.freeze(datetime(2024, 6, 1, tzinfo=UTC))
    june = state.create_customer(name="june")
    assert may["created"] == int(datetime(2024, 5, 1, tzinfo=UTC).timestamp())
    assert june["created"] - may["created"] == 31 * 86_400


def test_served_over_tls_with_the_sandbox_ca(tmp_path: Path) -> None:
    state = _state(seed=12)
    server = EmulatorServer(build_app(state), tls=SandboxCA(tmp_path / "tls"), name="stripe-tls").start()
    saved = stripe.ca_bundle_path
    stripe.ca_bundle_path = str(tmp_path / "tls" / "sandbox-ca.pem")
    try:
        client = stripe.StripeClient(
            state.api_key, base_addresses={"api": server.base_url}, max_network_retries=0
        )
        assert server.base_url.startswith("https://")
        created = client.v1.customers.create(params={"name": "Over TLS"})
        assert client.v1.customers.retrieve(created.id).name == "Over TLS"
    finally:
        stripe.ca_bundle_path = saved
        server.stop()

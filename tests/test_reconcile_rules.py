"""Reconcile rules, table-driven: a healthy world gives no finding; each break gives exactly one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from tieout.model import (
    CanonicalRecord,
    Contract,
    ContractLine,
    ContractStatus,
    Customer,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LedgerBalance,
    Payment,
    PaymentApplication,
    Payout,
    PricingModel,
    Refund,
    UsageSummary,
)
from tieout.money import Money
from tieout.reconcile.engine import Reconciler
from tieout.reconcile.rules.customers import normalize_name
from tieout.reconcile.snapshot import Snapshot
from tieout.store import Store

T = datetime(2026, 3, 2, tzinfo=UTC)
SF_ID = "001000000000001AAA"


def eur(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="EUR")


def invoice(
    system: str,
    native_id: str,
    *,
    subtotal: str = "100.00",
    tax: str = "19.00",
    paid: str = "0",
    status: InvoiceStatus = InvoiceStatus.OPEN,
    links: dict[str, str] | None = None,
    customer: str = "c",
    currency: str = "EUR",
    quantity: str = "1000",
    **extra: Any,
) -> Invoice:
    total = Decimal(subtotal) + Decimal(tax)
    money = lambda value: Money(amount=Decimal(value), currency=currency)  # noqa: E731
    return Invoice(
        system=system,
        native_id=native_id,
        customer_id=customer,
        currency=currency,
        status=status,
        number="INV-1",
        issued_on=date(2026, 3, 1),
        due_on=date(2026, 3, 31),
        period_start=date(2026, 2, 1),
        period_end=date(2026, 2, 28),
        contract_id="mc-1",
        subtotal=money(subtotal),
        tax=money(tax),
        total=money(str(total)),
        amount_due=money(str(total)),
        amount_paid=money(paid),
        amount_remaining=money(str(total - Decimal(paid))),
        links=links or {},
        lines=(
            InvoiceLine(
                line_id="l1",
                description="API calls",
                product_id="API_CALLS",
                quantity=Decimal(quantity),
                unit_price=money("0.10"),
                amount=money(subtotal),
            ),
        ),
        **extra,
    )


def healthy() -> dict[str, CanonicalRecord]:
    """One customer, deal, invoice, payment, refund and payout, agreeing everywhere."""
    line = dict(
        line_id="1",
        product_id="API_CALLS",
        product_name="API",
        pricing_model=PricingModel.PER_UNIT,
        unit_price=eur("0.10"),
    )
    seats = dict(
        line_id="2",
        product_id="PLATFORM",
        product_name="Seats",
        pricing_model=PricingModel.SUBSCRIPTION,
        unit_price=eur("40.00"),
        quantity=Decimal(10),
    )
    return {
        "sf_account": Customer(
            system="salesforce",
            native_id=SF_ID,
            legal_name="Acme Analytics GmbH",
            currency="EUR",
            subsidiary_id="DE",
        ),
        "ns_customer": Customer(
            system="netsuite",
            native_id="n-c",
            legal_name="ACME Analytics, GmbH",
            currency="EUR",
            subsidiary_id="3",
            links={"salesforce": SF_ID},
        ),
        "mt_customer": Customer(
            system="metronome", native_id="c", legal_name="Acme", links={"salesforce": SF_ID}
        ),
        "sf_deal": Contract(
            system="salesforce",
            native_id="006A",
            customer_id=SF_ID,
            status=ContractStatus.ACTIVE,
            currency="EUR",
            starts_on=date(2026, 1, 1),
            lines=(ContractLine(**line), ContractLine(**seats)),
        ),  # type: ignore[arg-type]
        "mt_contract": Contract(
            system="metronome",
            native_id="mc-1",
            customer_id="c",
            status=ContractStatus.ACTIVE,
            currency="EUR",
            starts_on=date(2026, 1, 1),
            links={"salesforce": "006A"},
            lines=(ContractLine(**line), ContractLine(**seats)),
        ),  # type: ignore[arg-type]
        "mt_invoice": invoice("metronome", "m-1", tax="0", links={"stripe": "in_1"}),
        "st_invoice": invoice(
            "stripe",
            "in_1",
            paid="119.00",
            status=InvoiceStatus.PAID,
            links={"metronome": "m-1"},
            customer="cus_1",
        ),
        "ns_invoice": invoice(
            "netsuite",
            "77",
            paid="119.00",
            status=InvoiceStatus.PAID,
            links={"metronome": "m-1"},
            customer="n-c",
            subsidiary_id="3",
        ),
        "usage": UsageSummary(
            system="metronome",
            native_id="u",
            customer_id="c",
            metric="api",
            product_id="API_CALLS",
            period_start=datetime(2026, 2, 1, tzinfo=UTC),
            period_end=datetime(2026, 3, 1, tzinfo=UTC),
            quantity=Decimal(1000),
        ),
        "charge": Payment(
            system="stripe",
            native_id="ch_1",
            customer_id="cus_1",
            currency="EUR",
            gross=eur("119.00"),
            fee=eur("2.00"),
            net=eur("117.00"),
            received_at=T,
            applications=(PaymentApplication(invoice_id="in_1", amount=eur("119.00")),),
        ),
        "ns_payment": Payment(
            system="netsuite",
            native_id="p-9",
            customer_id="n-c",
            currency="EUR",
            gross=eur("119.00"),
            received_at=T,
            links={"stripe": "ch_1"},
            subsidiary_id="3",
            unapplied=eur("0"),
            applications=(PaymentApplication(invoice_id="77", amount=eur("119.00")),),
        ),
        "refund": Refund(
            system="stripe", native_id="re_1", currency="EUR", amount=eur("10.00"), refunded_at=T
        ),
        "ns_refund": Refund(
            system="netsuite",
            native_id="r-1",
            currency="EUR",
            amount=eur("10.00"),
            refunded_at=T,
            links={"stripe": "re_1"},
        ),
        "payout": Payout(
            system="stripe", native_id="po_1", currency="EUR", amount=eur("117.00"), fees=eur("2.00")
        ),
        "deposit": Payout(
            system="netsuite",
            native_id="d-1",
            currency="EUR",
            amount=eur("117.00"),
            fees=eur("2.00"),
            links={"stripe": "po_1"},
        ),
        "ar": LedgerBalance(
            system="netsuite",
            native_id="1200|sub-3|EUR|2026-03-02",
            account_id="1200",
            subsidiary_id="3",
            currency="EUR",
            as_of=date(2026, 3, 2),
            balance=eur("0"),
        ),
    }


def change(world: dict[str, CanonicalRecord], name: str, **values: Any) -> None:
    world[name] = world[name].model_copy(update=values)


def findings(world: dict[str, CanonicalRecord]) -> list[tuple[str, tuple[str, ...], str | None]]:
    reconciler = Reconciler(None, value_maps={"netsuite_subsidiary": {"DE": "3"}})  # type: ignore[arg-type]
    found = reconciler.findings(Snapshot(world.values()), sorted(reconciler.rules))
    return [
        (f.rule_code, f.record_ids, str(f.amount_at_risk.amount) if f.amount_at_risk else None) for f in found
    ]


def test_a_healthy_world_has_no_findings() -> None:
    assert findings(healthy()) == []


Break = Callable[[dict[str, CanonicalRecord]], None]


def _price(world: dict[str, CanonicalRecord]) -> None:
    contract = world["mt_contract"]
    assert isinstance(contract, Contract)
    lines = (contract.lines[0], contract.lines[1].model_copy(update={"unit_price": eur("45.00")}))
    change(world, "mt_contract", lines=lines)
    change(
        world,
        "mt_invoice",
        lines=(
            *world["mt_invoice"].lines,  # type: ignore[attr-defined]
            InvoiceLine(
                line_id="l2",
                description="Seats",
                product_id="PLATFORM",
                quantity=Decimal(10),
                unit_price=eur("45"),
                amount=eur("450"),
            ),
        ),
    )


def _missing_contract(world: dict[str, CanonicalRecord]) -> None:
    del world["mt_contract"]


def _usage(world: dict[str, CanonicalRecord]) -> None:
    change(world, "usage", quantity=Decimal(900))


def _missing_in(name: str) -> Break:
    def breaks(world: dict[str, CanonicalRecord]) -> None:
        del world[name]
        if name == "ns_invoice":
            # Unpaid, as the missing invoices of a real stack are: no payment can be recorded for it.
            del world["ns_payment"], world["charge"]
            change(
                world,
                "st_invoice",
                status=InvoiceStatus.OPEN,
                amount_paid=eur("0"),
                amount_remaining=eur("119.00"),
            )
        if name == "st_invoice":
            change(world, "charge", applications=())

    return breaks


def _total(world: dict[str, CanonicalRecord]) -> None:
    world["ns_invoice"] = invoice(
        "netsuite",
        "77",
        subtotal="112.50",
        paid="119.00",
        status=InvoiceStatus.OPEN,
        links={"metronome": "m-1"},
        customer="n-c",
        subsidiary_id="3",
    )
    change(world, "ar", balance=eur("12.50"))


def _duplicate(world: dict[str, CanonicalRecord]) -> None:
    world["dup"] = invoice("netsuite", "78", customer="n-c", subsidiary_id="3")
    change(world, "ar", balance=eur("119.00"))


def _payment_missing(world: dict[str, CanonicalRecord]) -> None:
    del world["ns_payment"]
    change(
        world, "ns_invoice", status=InvoiceStatus.OPEN, amount_paid=eur("0"), amount_remaining=eur("119.00")
    )
    change(world, "ar", balance=eur("119.00"))


def _wrong_invoice(world: dict[str, CanonicalRecord]) -> None:
    change(world, "ns_payment", applications=(PaymentApplication(invoice_id="79", amount=eur("119.00")),))
    change(
        world, "ns_invoice", status=InvoiceStatus.OPEN, amount_paid=eur("0"), amount_remaining=eur("119.00")
    )
    world["other"] = invoice(
        "netsuite",
        "79",
        paid="119.00",
        status=InvoiceStatus.PAID,
        customer="n-c",
        subsidiary_id="3",
        links={"metronome": "m-2"},
    )
    world["other_source"] = invoice("metronome", "m-2", tax="0", links={"stripe": "in_2"})
    world["other_stripe"] = invoice("stripe", "in_2", links={"metronome": "m-2"}, customer="cus_1")
    change(world, "ar", balance=eur("119.00"))


def _partial(world: dict[str, CanonicalRecord]) -> None:
    for name in ("st_invoice", "ns_invoice"):
        change(
            world, name, status=InvoiceStatus.OPEN, amount_paid=eur("70.00"), amount_remaining=eur("49.00")
        )
    change(world, "ar", balance=eur("49.00"))


def _paid_but_open(world: dict[str, CanonicalRecord]) -> None:
    del world["ns_payment"], world["charge"]
    change(
        world, "ns_invoice", status=InvoiceStatus.OPEN, amount_paid=eur("0"), amount_remaining=eur("119.00")
    )
    change(world, "ar", balance=eur("119.00"))


def _refund(world: dict[str, CanonicalRecord]) -> None:
    del world["ns_refund"]


def _deposit(world: dict[str, CanonicalRecord]) -> None:
    change(world, "deposit", amount=eur("119.00"), fees=None)


def _control(world: dict[str, CanonicalRecord]) -> None:
    change(world, "ar", balance=eur("1250.00"))


def _name(world: dict[str, CanonicalRecord]) -> None:
    change(world, "ns_customer", legal_name="Acme Analytics Holdings GmbH")


def _subsidiary(world: dict[str, CanonicalRecord]) -> None:
    change(world, "sf_account", subsidiary_id="UK")


def _currency(world: dict[str, CanonicalRecord]) -> None:
    change(world, "sf_account", currency="USD")


def _invoice_currency(world: dict[str, CanonicalRecord]) -> None:
    world["ns_invoice"] = invoice(
        "netsuite",
        "77",
        paid="119.00",
        status=InvoiceStatus.PAID,
        links={"metronome": "m-1"},
        customer="n-c",
        subsidiary_id="3",
        currency="USD",
    )


CASES: list[tuple[str, Break, tuple[str, ...], str]] = [
    ("CRM_PRICE_MISMATCH", _price, ("salesforce:contract:006A", "metronome:contract:mc-1"), "50.00"),
    ("CONTRACT_MISSING_IN_BILLING", _missing_contract, ("salesforce:contract:006A",), "400.00"),
    ("USAGE_BILLED_NOT_METERED", _usage, ("metronome:invoice:m-1",), "10.00"),
    ("INVOICE_MISSING_IN_NETSUITE", _missing_in("ns_invoice"), ("metronome:invoice:m-1",), "119.00"),
    ("INVOICE_MISSING_IN_STRIPE", _missing_in("st_invoice"), ("metronome:invoice:m-1",), "119.00"),
    ("INVOICE_TOTAL_DIFFERS", _total, ("metronome:invoice:m-1", "netsuite:invoice:77"), "12.50"),
    ("DUPLICATE_INVOICE_IN_NETSUITE", _duplicate, ("metronome:invoice:m-1", "netsuite:invoice:78"), "119.00"),
    ("PAYMENT_MISSING_IN_NETSUITE", _payment_missing, ("stripe:payment:ch_1",), "119.00"),
    (
        "PAYMENT_APPLIED_TO_WRONG_INVOICE",
        _wrong_invoice,
        ("stripe:payment:ch_1", "netsuite:payment:p-9"),
        "119.00",
    ),
    ("PARTIAL_PAYMENT_LEFT_OPEN", _partial, ("stripe:invoice:in_1", "netsuite:invoice:77"), "49.00"),
    (
        "PAID_IN_STRIPE_OPEN_IN_NETSUITE",
        _paid_but_open,
        ("stripe:invoice:in_1", "netsuite:invoice:77"),
        "119.00",
    ),
    ("REFUND_MISSING_IN_NETSUITE", _refund, ("stripe:refund:re_1",), "10.00"),
    ("PAYOUT_DEPOSIT_MISMATCH", _deposit, ("stripe:payout:po_1", "netsuite:payout:d-1"), "2.00"),
    ("AR_CONTROL_MISMATCH", _control, ("netsuite:ar_control:3",), "1250.00"),
    ("CUSTOMER_NAME_MISMATCH", _name, (f"salesforce:customer:{SF_ID}", "netsuite:customer:n-c"), "0"),
    (
        "CUSTOMER_SUBSIDIARY_MISMATCH",
        _subsidiary,
        (f"salesforce:customer:{SF_ID}", "netsuite:customer:n-c"),
        "0",
    ),
    ("CUSTOMER_CURRENCY_MISMATCH", _currency, (f"salesforce:customer:{SF_ID}", "netsuite:customer:n-c"), "0"),
    (
        "INVOICE_CURRENCY_MISMATCH",
        _invoice_currency,
        ("metronome:invoice:m-1", "netsuite:invoice:77"),
        "119.00",
    ),
]


@pytest.mark.parametrize(("rule", "breaks", "records", "amount"), CASES, ids=[case[0] for case in CASES])
def test_each_break_gives_exactly_its_finding(
    rule: str, breaks: Break, records: tuple[str, ...], amount: str
) -> None:
    world = healthy()
    breaks(world)
    assert findings(world) == [(rule, records, amount)]


def test_names_are_compared_after_normalising() -> None:
    assert (
        normalize_name("ACME Analytics, GmbH") == normalize_name("Acme  Analytics gmbh") == "acme analytics"
    )
    assert normalize_name("Müller KG") == "muller"


def test_reconcile_is_stable_and_closes_what_was_fixed(store: Store) -> None:
    world = healthy()
    _refund(world)
    _deposit(world)
    with store.transaction() as tx:
        tx.upsert_canonical([(record, "s") for record in world.values()], stored_at=T)
    reconciler = Reconciler(store, value_maps={"netsuite_subsidiary": {"DE": "3"}})
    first = reconciler.run()
    assert (first.opened, sum(first.found.values())) == (2, 2)
    again = reconciler.run()
    assert (again.opened, again.resolved, again.open_total) == (0, 0, 2)
    full = reconciler.run(full=True)
    assert (full.opened, full.refreshed, full.resolved, full.incremental) == (0, 2, 0, False)
    with store.transaction() as tx:
        tx.upsert_canonical([(healthy()["deposit"], "s")], stored_at=T)
    fixed = reconciler.run()
    assert (fixed.resolved, fixed.open_total) == (1, 1)
    assert reconciler.run(full=True).found == {"REFUND_MISSING_IN_NETSUITE": 1}
    only = reconciler.run(["refund_missing_in_netsuite"])
    assert only.rules == ["REFUND_MISSING_IN_NETSUITE"] and only.resolved == 0


def _unapplied_world(reference: str | None, *open_amounts: str) -> dict[str, CanonicalRecord]:
    world = healthy()
    for number, amount in enumerate(open_amounts, start=1):
        world[f"open{number}"] = invoice(
            "netsuite",
            f"9{number}",
            subtotal=amount,
            tax="0",
            customer="n-c",
            subsidiary_id="3",
            links={"metronome": f"m-x{number}"},
        ).model_copy(update={"number": f"INV-{number:06d}"})
        world[f"open{number}_source"] = invoice(
            "metronome",
            f"m-x{number}",
            subtotal=amount,
            tax="0",
            links={"stripe": f"in_x{number}", "netsuite": f"9{number}"},
        )
        world[f"open{number}_stripe"] = invoice(
            "stripe",
            f"in_x{number}",
            subtotal=amount,
            tax="0",
            customer="cus_1",
            links={"metronome": f"m-x{number}"},
        )
    world["wire"] = Payment(
        system="netsuite",
        native_id="p-wire",
        customer_id="n-c",
        currency="EUR",
        gross=eur("130.00"),
        received_at=T,
        unapplied=eur("130.00"),
        reference=reference,
        subsidiary_id="3",
    )
    return world


def _cash_findings(world: dict[str, CanonicalRecord]) -> list[tuple[str, str, list[list[str]]]]:
    reconciler = Reconciler(None, value_maps={"netsuite_subsidiary": {"DE": "3"}})  # type: ignore[arg-type]
    found = reconciler.findings(Snapshot(world.values()), ["UNAPPLIED_CASH", "AMBIGUOUS_CASH_MATCH"])
    return [(f.rule_code, f.details["tier"], [c["numbers"] for c in f.details["candidates"]]) for f in found]


def test_unapplied_cash_is_matched_by_reference_first() -> None:
    world = _unapplied_world("Remittance for inv 000002", "130.00", "130.00")
    assert _cash_findings(world) == [("UNAPPLIED_CASH", "reference", [["INV-000002"]])]


def test_two_equal_invoices_make_an_ambiguous_match() -> None:
    world = _unapplied_world(None, "130.00", "130.00")
    assert _cash_findings(world) == [("AMBIGUOUS_CASH_MATCH", "amount", [["INV-000001"], ["INV-000002"]])]


def test_one_payment_can_cover_several_invoices() -> None:
    world = _unapplied_world(None, "100.00", "50.00", "30.00")
    assert _cash_findings(world) == [("UNAPPLIED_CASH", "several invoices", [["INV-000001", "INV-000003"]])]


def test_cash_that_matches_nothing_stays_unapplied() -> None:
    world = _unapplied_world("wire 7781", "99.00")
    assert _cash_findings(world) == [("UNAPPLIED_CASH", "none", [])]

"""A synthetic order-to-cash ledger at any scale, written straight into the store, with planted defects.

Used by the reconcile bench (a million invoices) and by the engine's equivalence tests (a few
thousand). Every billing invoice is mirrored in Stripe and NetSuite, and paid by one Stripe
charge recorded as a NetSuite payment (a few invoices are paid in two instalments, a few are
still open), so the clean records give no finding. Then a fixed share of each defect kind is
planted, and `Ledger.expected` holds the fingerprint of the one exception each should raise.

Payloads are built as the canonical JSON the mappings would store (not through pydantic, which
would take minutes at this scale) and inserted in batches through SQLAlchemy Core.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tieout import jsonutil
from tieout.findings import fingerprint_for
from tieout.model import record_id_for
from tieout.money import currency_exponent
from tieout.store import Store

CURRENCIES = (("USD", "1"), ("EUR", "2"), ("GBP", "3"), ("JPY", "4"))
"""Each currency with the NetSuite subsidiary that books it."""
BATCH = 5000

DEFECT_KINDS = (
    "INVOICE_MISSING_IN_NETSUITE",
    "INVOICE_MISSING_IN_STRIPE",
    "INVOICE_TOTAL_DIFFERS",
    "INVOICE_CURRENCY_MISMATCH",
    "DUPLICATE_INVOICE_IN_NETSUITE",
    "INVOICE_WITHOUT_SOURCE",
    "PAYMENT_MISSING_IN_NETSUITE",
    "PAYMENT_APPLIED_TO_WRONG_INVOICE",
    "PAID_IN_STRIPE_OPEN_IN_NETSUITE",
    "PARTIAL_PAYMENT_LEFT_OPEN",
    "REFUND_MISSING_IN_NETSUITE",
    "UNAPPLIED_CASH",
)


@dataclass
class Ledger:
    """What was generated: counts per kind and system, and the planted defects' fingerprints."""

    invoices: int
    counts: dict[str, int] = field(default_factory=dict)
    expected: dict[str, str] = field(default_factory=dict)
    """fingerprint -> rule code of every planted defect."""
    invoice_ids: list[str] = field(default_factory=list)
    """Billing invoice ids of clean invoices, which a change can be made to."""
    total_differences: dict[str, str] = field(default_factory=dict)
    """fingerprint -> NetSuite invoice record id of each planted total difference (a change corrects them)."""


_EXPONENTS = {currency: currency_exponent(currency) for currency, _ in CURRENCIES}


def _money(minor: int, currency: str) -> dict[str, str]:
    """The canonical JSON of a Money (what `str(Decimal)` prints), from non-negative minor units."""
    places = _EXPONENTS[currency]
    whole, fraction = divmod(minor, 10**places)
    return {"amount": f"{whole}.{fraction:0{places}d}" if places else str(whole), "currency": currency}


def _row(kind: str, payload: dict[str, Any], at: datetime) -> dict[str, Any]:
    text = json.dumps(
        payload, sort_keys=True, separators=(",", ":")
    )  # what jsonutil.dumps gives for plain JSON
    total = payload.get("total") or payload.get("gross") or payload.get("amount")
    return {
        "record_id": record_id_for(payload["system"], kind, payload["native_id"]),
        "kind": kind,
        "system": payload["system"],
        "native_id": payload["native_id"],
        "source_stream": kind + "s",
        "customer_native_id": payload.get("customer_id"),
        "currency": payload.get("currency"),
        "total_minor": None
        if total is None
        else int(Decimal(total["amount"]).scaleb(_EXPONENTS[total["currency"]])),
        "payload": text,
        "content_hash": jsonutil.text_hash(text),
        "deleted": False,
        "updated_at": at,
        "stored_at": at,
    }


@dataclass(frozen=True)
class Terms:
    """What the three systems' copies of one invoice share (a defect changes one copy's)."""

    customer_id: str
    currency: str
    subtotal: int
    tax: int
    period: date
    number: str


def invoice_payload(
    system: str,
    native_id: str,
    terms: Terms,
    *,
    paid: int,
    status: str,
    links: dict[str, str],
    subsidiary_id: str | None = None,
) -> dict[str, Any]:
    customer_id, currency, period, number = terms.customer_id, terms.currency, terms.period, terms.number
    subtotal, tax = terms.subtotal, terms.tax
    total = subtotal + tax
    return {
        "system": system,
        "native_id": native_id,
        "links": links,
        "customer_id": customer_id,
        "number": number,
        "currency": currency,
        "status": status,
        "issued_on": (period + timedelta(days=31)).replace(day=1).isoformat(),
        "due_on": (period + timedelta(days=61)).replace(day=1).isoformat(),
        "period_start": period.isoformat(),
        "period_end": ((period + timedelta(days=31)).replace(day=1) - timedelta(days=1)).isoformat(),
        "subtotal": _money(subtotal, currency),
        "tax": _money(tax, currency),
        "total": _money(total, currency),
        "amount_due": _money(total, currency),
        "amount_paid": _money(paid, currency),
        "amount_remaining": _money(total - paid, currency),
        "subsidiary_id": subsidiary_id,
        "lines": [
            {"line_id": "1", "description": "Platform", "amount": _money(subtotal, currency), "tax": None}
        ],
    }


def payment_payload(
    system: str,
    native_id: str,
    *,
    customer_id: str,
    currency: str,
    gross: int,
    applied: list[tuple[str, int]],
    received_at: datetime,
    links: dict[str, str],
    subsidiary_id: str | None = None,
    reference: str | None = None,
) -> dict[str, Any]:
    unapplied = gross - sum(amount for _, amount in applied)
    return {
        "system": system,
        "native_id": native_id,
        "links": links,
        "customer_id": customer_id,
        "currency": currency,
        "gross": _money(gross, currency),
        "method": "card" if system == "stripe" else "other",
        "status": "succeeded",
        "received_at": received_at.isoformat().replace("+00:00", "Z"),
        "applications": [
            {"invoice_id": invoice_id, "amount": _money(amount, currency)} for invoice_id, amount in applied
        ],
        "unapplied": _money(unapplied, currency) if system == "netsuite" else None,
        "reference": reference,
        "subsidiary_id": subsidiary_id,
    }


class _Writer:
    def __init__(self, store: Store, ledger: Ledger, at: datetime) -> None:
        self.store = store
        self.ledger = ledger
        self.at = at
        self.rows: list[dict[str, Any]] = []

    def add(self, kind: str, payload: dict[str, Any]) -> str:
        row = _row(kind, payload, self.at)
        self.rows.append(row)
        key = f"{payload['system']} {kind}"
        self.ledger.counts[key] = self.ledger.counts.get(key, 0) + 1
        if len(self.rows) >= BATCH:
            self.flush()
        return str(row["record_id"])

    def flush(self) -> None:
        with self.store.transaction() as tx:
            tx.insert_canonical_rows(self.rows)
        self.rows = []


def _plan(invoices: int, defect_rate: float, rng: random.Random) -> dict[int, str]:
    """Which invoice index carries which defect (at least two of each kind)."""
    per_kind = max(2, int(invoices * defect_rate))
    chosen = rng.sample(range(invoices), min(invoices, per_kind * len(DEFECT_KINDS)))
    return {index: DEFECT_KINDS[position % len(DEFECT_KINDS)] for position, index in enumerate(chosen)}


def generate(store: Store, invoices: int, *, seed: int = 7, defect_rate: float = 0.0002) -> Ledger:
    """Write `invoices` billing invoices, their twins, customers, payments and defects into `store`."""
    rng = random.Random(seed)
    at = datetime(2026, 11, 1, tzinfo=UTC)
    ledger = Ledger(invoices=invoices)
    writer = _Writer(store, ledger, at)
    customer_count = max(20, invoices // 100)
    customers = []
    for number in range(customer_count):
        currency, subsidiary = CURRENCIES[number % len(CURRENCIES)]
        account = f"001{number:015d}"
        ids = {"salesforce": account, "metronome": f"mc_{number}", "stripe": f"cus_{number}"}
        ids["netsuite"] = str(10_000 + number)
        name = f"Customer {number} Ltd"
        writer.add(
            "customer",
            {"system": "salesforce", "native_id": account, "legal_name": name, "currency": currency},
        )
        for system in ("metronome", "stripe", "netsuite"):
            writer.add(
                "customer",
                {
                    "system": system,
                    "native_id": ids[system],
                    "links": {"salesforce": account},
                    "legal_name": name,
                    "currency": currency,
                    "subsidiary_id": subsidiary if system == "netsuite" else None,
                },
            )
        customers.append((ids, currency, subsidiary))
    plan = _plan(invoices, defect_rate, rng)
    for index in range(invoices):
        _invoice(writer, index, customers[index % customer_count], plan.get(index), rng)
    writer.flush()
    return ledger


def _invoice(
    writer: _Writer,
    index: int,
    customer: tuple[dict[str, str], str, str],
    defect: str | None,
    rng: random.Random,
) -> None:
    ids, currency, subsidiary = customer
    ledger = writer.ledger
    scale = 1 if currency == "JPY" else 100
    subtotal = rng.randint(50, 5000) * scale + (0 if scale == 1 else rng.randint(0, 99))
    tax = subtotal // 10
    total = subtotal + tax
    period = date(2024 + (index // 12) % 3, index % 12 + 1, 1)
    billing_id, stripe_id, netsuite_id = f"inv_{index:08d}", f"in_{index:08d}", f"ns_{index:08d}"
    number = f"INV-{index:08d}"
    shape = "open" if defect in _OPEN_DEFECTS or index % 50 == 0 else "split" if index % 50 == 1 else "paid"
    status = "open" if shape == "open" else "paid"
    paid = 0 if shape == "open" else total
    common = Terms("", currency, subtotal, tax, period, number)
    billing = writer.add(
        "invoice",
        invoice_payload(
            "metronome",
            billing_id,
            replace(common, customer_id=ids["metronome"]),
            paid=paid,
            status=status,
            links={},
        ),
    )
    stripe_status, stripe_paid = status, paid
    if defect == "PAID_IN_STRIPE_OPEN_IN_NETSUITE":
        stripe_status, stripe_paid = "paid", total
    if defect == "PARTIAL_PAYMENT_LEFT_OPEN":
        stripe_paid = total // 2
    stripe = None
    if defect != "INVOICE_MISSING_IN_STRIPE":
        stripe = writer.add(
            "invoice",
            invoice_payload(
                "stripe",
                stripe_id,
                replace(common, customer_id=ids["stripe"]),
                paid=stripe_paid,
                status=stripe_status,
                links={"metronome": billing_id},
            ),
        )
    netsuite = None
    if defect != "INVOICE_MISSING_IN_NETSUITE":
        ns_common = replace(common, customer_id=ids["netsuite"])
        if defect == "INVOICE_TOTAL_DIFFERS":
            ns_common = replace(ns_common, subtotal=subtotal + scale)
        if defect == "INVOICE_CURRENCY_MISMATCH":
            ns_common = replace(ns_common, currency="USD" if currency != "USD" else "EUR")
        ns_paid = stripe_paid if defect == "PARTIAL_PAYMENT_LEFT_OPEN" else paid
        if defect == "PAYMENT_MISSING_IN_NETSUITE":
            ns_paid = 0
        netsuite = writer.add(
            "invoice",
            invoice_payload(
                "netsuite",
                netsuite_id,
                ns_common,
                paid=ns_paid,
                status="paid" if ns_paid == total else "open",
                links={"metronome": billing_id},
                subsidiary_id=subsidiary,
            ),
        )
    expected_records = {
        "INVOICE_MISSING_IN_NETSUITE": (billing,),
        "INVOICE_MISSING_IN_STRIPE": (billing,),
        "INVOICE_TOTAL_DIFFERS": (billing, netsuite),
        "INVOICE_CURRENCY_MISMATCH": (billing, netsuite),
        "PAID_IN_STRIPE_OPEN_IN_NETSUITE": (stripe, netsuite),
        "PARTIAL_PAYMENT_LEFT_OPEN": (stripe, netsuite),
    }
    if defect in expected_records:
        fingerprint = fingerprint_for(defect, *(r for r in expected_records[defect] if r))
        ledger.expected[fingerprint] = defect
        if defect == "INVOICE_TOTAL_DIFFERS" and netsuite is not None:
            ledger.total_differences[fingerprint] = netsuite
    if defect is None and shape == "paid":
        ledger.invoice_ids.append(billing_id)
    if defect == "DUPLICATE_INVOICE_IN_NETSUITE":
        duplicate = writer.add(
            "invoice",
            invoice_payload(
                "netsuite",
                f"ns_{index:08d}_dup",
                replace(common, customer_id=ids["netsuite"]),
                paid=0,
                status="open",
                links={},
                subsidiary_id=subsidiary,
            ),
        )
        ledger.expected[fingerprint_for(defect, billing, duplicate)] = defect
    if defect == "INVOICE_WITHOUT_SOURCE":
        orphan = writer.add(
            "invoice",
            invoice_payload(
                "netsuite",
                f"ns_{index:08d}_manual",
                replace(common, customer_id=ids["netsuite"], subtotal=subtotal + 7 * scale),
                paid=0,
                status="open",
                links={},
                subsidiary_id=subsidiary,
            ),
        )
        ledger.expected[fingerprint_for(defect, orphan)] = defect
    _payments(writer, index, ids, currency, subsidiary, total, shape, defect, stripe_paid)


_OPEN_DEFECTS = {
    "INVOICE_MISSING_IN_NETSUITE",
    "INVOICE_MISSING_IN_STRIPE",
    "INVOICE_TOTAL_DIFFERS",
    "INVOICE_CURRENCY_MISMATCH",
    "PAID_IN_STRIPE_OPEN_IN_NETSUITE",
    "PARTIAL_PAYMENT_LEFT_OPEN",
}


def _payments(
    writer: _Writer,
    index: int,
    ids: dict[str, str],
    currency: str,
    subsidiary: str,
    total: int,
    shape: str,
    defect: str | None,
    stripe_paid: int,
) -> None:
    ledger = writer.ledger
    received = datetime(2026, 10, 1, tzinfo=UTC) + timedelta(minutes=index)
    instalments: list[int] = []
    if shape == "paid":
        instalments = [total]
    elif shape == "split":
        instalments = [total // 3, total - total // 3]
    elif defect == "PARTIAL_PAYMENT_LEFT_OPEN":
        instalments = [stripe_paid]
    stripe_invoice, netsuite_invoice = f"in_{index:08d}", f"ns_{index:08d}"
    for part, amount in enumerate(instalments):
        charge_id = f"ch_{index:08d}_{part}"
        charge = writer.add(
            "payment",
            payment_payload(
                "stripe",
                charge_id,
                customer_id=ids["stripe"],
                currency=currency,
                gross=amount,
                applied=[(stripe_invoice, amount)],
                received_at=received,
                links={},
            ),
        )
        if defect == "PAYMENT_MISSING_IN_NETSUITE":
            ledger.expected[fingerprint_for(defect, charge)] = defect
            continue
        target = netsuite_invoice
        if defect == "PAYMENT_APPLIED_TO_WRONG_INVOICE":
            target = f"ns_{max(0, index - 1):08d}" if index else "ns_00000001"
        recorded = writer.add(
            "payment",
            payment_payload(
                "netsuite",
                f"pay_{index:08d}_{part}",
                customer_id=ids["netsuite"],
                currency=currency,
                gross=amount,
                applied=[(target, amount)],
                received_at=received,
                links={"stripe": charge_id},
                subsidiary_id=subsidiary,
            ),
        )
        if defect == "PAYMENT_APPLIED_TO_WRONG_INVOICE":
            ledger.expected[fingerprint_for(defect, charge, recorded)] = defect
    if defect == "REFUND_MISSING_IN_NETSUITE":
        refund = writer.add(
            "refund",
            {
                "system": "stripe",
                "native_id": f"re_{index:08d}",
                "customer_id": ids["stripe"],
                "payment_id": f"ch_{index:08d}_0",
                "currency": currency,
                "amount": _money(max(1, total // 4), currency),
                "refunded_at": (received + timedelta(days=3)).isoformat().replace("+00:00", "Z"),
                "status": "succeeded",
            },
        )
        ledger.expected[fingerprint_for(defect, refund)] = defect
    if defect == "UNAPPLIED_CASH":
        # An odd amount no open invoice (or set of them) adds up to: cash with nothing to propose.
        wire = writer.add(
            "payment",
            payment_payload(
                "netsuite",
                f"wire_{index:08d}",
                customer_id=ids["netsuite"],
                currency=currency,
                gross=total * 7 + 3,
                applied=[],
                received_at=received,
                links={},
                subsidiary_id=subsidiary,
                reference=f"WIRE {index}",
            ),
        )
        ledger.expected[fingerprint_for(defect, wire)] = defect


def changed_invoices(ledger: Ledger, share: float, *, seed: int = 11) -> Iterator[str]:
    """Billing invoice ids of clean, paid invoices to change, `share` of all invoices."""
    rng = random.Random(seed)
    count = min(len(ledger.invoice_ids), max(1, int(ledger.invoices * share)))
    yield from rng.sample(ledger.invoice_ids, count)


def change(store: Store, ledger: Ledger, share: float, *, seed: int = 11) -> int:
    """Rewrite `share` of the clean invoices' NetSuite twins (a new number), one in fifty with a new
    subtotal (a new INVOICE_TOTAL_DIFFERS), apply the NetSuite payment of another one in fifty to the
    previous invoice (a new PAYMENT_APPLIED_TO_WRONG_INVOICE), and correct every planted total
    difference (which closes those exceptions); `ledger.expected` is updated to match. Returns the
    records written."""
    billing_ids = list(changed_invoices(ledger, share, seed=seed))
    wanted = {
        record_id_for("netsuite", "invoice", "ns_" + billing_id.removeprefix("inv_")): billing_id
        for billing_id in billing_ids
    }
    misapply = {
        record_id_for("netsuite", "payment", "pay_" + billing_id.removeprefix("inv_") + "_0"): billing_id
        for billing_id in billing_ids[25::50]
    }
    fixes = {record_id: fingerprint for fingerprint, record_id in ledger.total_differences.items()}
    at = datetime(2026, 11, 2, tzinfo=UTC)
    updates = []
    with store.transaction() as tx:
        rows = tx.canonical_rows([*wanted, *fixes, *misapply])
        for position, (record_id, _, _, text, _, _, _) in enumerate(sorted(rows)):
            payload = jsonutil.loads(text)
            if record_id in misapply:
                number = int(misapply[record_id].removeprefix("inv_"))
                payload["applications"][0]["invoice_id"] = (
                    f"ns_{max(0, number - 1):08d}" if number else "ns_00000001"
                )
                charge = record_id_for("stripe", "payment", f"ch_{number:08d}_0")
                ledger.expected[fingerprint_for("PAYMENT_APPLIED_TO_WRONG_INVOICE", charge, record_id)] = (
                    "PAYMENT_APPLIED_TO_WRONG_INVOICE"
                )
            elif record_id in fixes:
                payload = _with_subtotal(payload, -1)
                del ledger.expected[fixes[record_id]]
            else:
                payload["number"] = f"{payload['number']}-R"
                if position % 50 == 0:
                    payload = _with_subtotal(payload, 1)
                    billing = record_id_for("metronome", "invoice", wanted[record_id])
                    ledger.expected[fingerprint_for("INVOICE_TOTAL_DIFFERS", billing, record_id)] = (
                        "INVOICE_TOTAL_DIFFERS"
                    )
            text = jsonutil.dumps(payload)
            updates.append(
                {
                    "record_id": record_id,
                    "payload": text,
                    "content_hash": jsonutil.text_hash(text),
                    "stored_at": at,
                }
            )
        tx.rewrite_canonical_payloads(updates)
    ledger.total_differences = {}
    return len(updates)


def _with_subtotal(payload: dict[str, Any], units: int) -> dict[str, Any]:
    """The invoice with its subtotal (and so total and remaining) moved by `units` major units."""
    currency = payload["currency"]
    subtotal = Decimal(payload["subtotal"]["amount"]) + units
    total = subtotal + Decimal(payload["tax"]["amount"])
    remaining = total - Decimal(payload["amount_paid"]["amount"])
    return {
        **payload,
        "subtotal": {"amount": str(subtotal), "currency": currency},
        "total": {"amount": str(total), "currency": currency},
        "amount_due": {"amount": str(total), "currency": currency},
        "amount_remaining": {"amount": str(remaining), "currency": currency},
    }

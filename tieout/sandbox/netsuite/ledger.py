"""Transactions as documents, and how one is written to (and read back from) the SuiteQL tables.

A `TxnDoc` is one transaction with its lines and the documents it applies to. `persist` writes its
`transaction` row, its `transactionline` rows and the `transactionaccountingline` rows its posting
implies (base amounts at its exchange rate, debits positive), and `load` reads it back. Links between
documents (a payment applied to an invoice, a deposit of a payment) live in
`nexttransactionlinelink`; `link` and `unlink` keep the amounts and statuses of the linked document
in step, so the record API and SuiteQL always see the same balances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tieout.sandbox.netsuite.errors import invalid_content, not_found
from tieout.sandbox.netsuite.store import Store, flag, ns_date, round_money

RECORD_TYPES = {
    "CustInvc": "invoice",
    "CustPymt": "customerpayment",
    "CustCred": "creditmemo",
    "CustRfnd": "customerrefund",
    "Deposit": "deposit",
    "Journal": "journalentry",
}
LINK_TYPES = {"CustPymt": "Payment", "CustCred": "Payment", "CustRfnd": "Refund", "Deposit": "Deposit"}


@dataclass
class Line:
    """One body line: an item line, a tax line, a journal line, a deposit 'other' or 'cashback' line."""

    sublist: str
    amount: float
    item_id: int | None = None
    quantity: float | None = None
    rate: float | None = None
    memo: str | None = None
    account_id: int | None = None
    entity_id: int | None = None
    debit: bool = False


@dataclass
class Application:
    doc_id: int
    amount: float


@dataclass
class TxnDoc:
    type: str
    subsidiary_id: int
    currency_id: int
    exchange_rate: float
    tran_date: date
    entity_id: int | None = None
    id: int = 0
    tran_id: str | None = None
    due_date: date | None = None
    total: float = 0.0
    tax_total: float | None = None
    consumed: float = 0.0
    status: str | None = None
    posting_period_id: int | None = None
    terms_id: int | None = None
    external_id: str | None = None
    memo: str | None = None
    other_ref_num: str | None = None
    start_date: date | None = None
    end_date: date | None = None
    created: str = ""
    modified: str = ""
    account_id: int | None = None
    ar_account_id: int | None = None
    undeposited: bool = False
    voided: bool = False
    lines: list[Line] = field(default_factory=list)
    applies: list[Application] = field(default_factory=list)

    @property
    def remaining(self) -> float:
        return self.total - self.consumed


def status_for(
    doc_type: str, total: float, consumed: float, current: str | None, *, voided: bool = False
) -> str | None:
    if voided:
        return "V" if doc_type in ("CustInvc", "CustRfnd") else current
    if doc_type == "CustInvc":
        return "B" if consumed >= total and total > 0 else "A"
    if doc_type == "CustCred":
        return "B" if consumed >= total else "A"
    return current


def _to_date(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text[:10])


def special_account(store: Store, subsidiary_id: int, special: str) -> int:
    key = ("special", subsidiary_id, special)
    if key in store._cache:
        return int(store._cache[key])
    found = store.db.execute(
        "SELECT id FROM account WHERE subsidiary = ? AND sspecacct = ? ORDER BY id LIMIT 1",
        (subsidiary_id, special),
    ).fetchone()
    if found is None:
        raise invalid_content(
            f"The subsidiary {subsidiary_id} has no account of special type {special}; create one first."
        )
    store._cache[key] = int(found["id"])
    return int(found["id"])


def _posting(store: Store, doc: TxnDoc) -> list[tuple[int, int, float]]:
    """(line id, account, signed amount in transaction currency; debit positive) per posting line."""
    kind = doc.type
    if kind in ("CustInvc", "CustCred"):
        sign = 1 if kind == "CustInvc" else -1
        rows = [(0, _ar_account(store, doc), sign * doc.total)]
        for number, line in enumerate(doc.lines, start=1):
            if line.sublist == "tax":
                account = special_account(store, doc.subsidiary_id, "SalesTaxPay")
            else:
                account = int(store.cached_value("item", line.item_id or 0, "incomeaccount"))
            rows.append((number, account, -sign * line.amount))
        return rows
    if kind == "CustPymt":
        return [(0, doc.account_id or 0, doc.total), (1, _ar_account(store, doc), -doc.total)]
    if kind == "CustRfnd":
        return [(0, doc.account_id or 0, -doc.total), (1, _ar_account(store, doc), doc.total)]
    if kind == "Deposit":
        rows = [(0, doc.account_id or 0, doc.total)]
        for number, line in enumerate(doc.lines, start=1):
            signed = line.amount if line.sublist == "cashback" else -line.amount
            rows.append((number, line.account_id or 0, signed))
        return rows
    return [
        (number, line.account_id or 0, line.amount if line.debit else -line.amount)
        for number, line in enumerate(doc.lines)
    ]


def _ar_account(store: Store, doc: TxnDoc) -> int:
    if doc.ar_account_id is None:
        doc.ar_account_id = special_account(store, doc.subsidiary_id, "AcctRec")
    return doc.ar_account_id


def base_amount(store: Store, doc: TxnDoc, amount: float) -> float:
    base_currency = int(store.cached_value("subsidiary", doc.subsidiary_id, "currency"))
    return round_money(amount * doc.exchange_rate, store.precision(base_currency))


def persist(store: Store, doc: TxnDoc) -> None:
    """Insert every row for `doc` (call `erase` first when rewriting one)."""
    doc.status = status_for(doc.type, doc.total, doc.consumed, doc.status, voided=doc.voided)
    is_invoice = doc.type == "CustInvc"
    uses_credit = doc.type in ("CustPymt", "CustCred")
    posting = _posting(store, doc)
    store.insert(
        "transaction",
        {
            "id": doc.id,
            "tranid": doc.tran_id,
            "type": doc.type,
            "recordtype": RECORD_TYPES[doc.type],
            "status": doc.status,
            "trandate": ns_date(doc.tran_date),
            "duedate": ns_date(doc.due_date) if doc.due_date else None,
            "entity": doc.entity_id,
            "currency": doc.currency_id,
            "exchangerate": doc.exchange_rate,
            "foreigntotal": doc.total,
            "foreignamountpaid": doc.consumed if is_invoice else None,
            "foreignamountunpaid": doc.remaining if is_invoice else None,
            "foreignpaymentamountused": doc.consumed if uses_credit else None,
            "foreignpaymentamountunused": doc.remaining if uses_credit else None,
            "taxtotal": doc.tax_total,
            "postingperiod": doc.posting_period_id,
            "terms": doc.terms_id,
            "externalid": doc.external_id,
            "memo": doc.memo,
            "otherrefnum": doc.other_ref_num,
            "startdate": ns_date(doc.start_date) if doc.start_date else None,
            "enddate": ns_date(doc.end_date) if doc.end_date else None,
            "posting": flag(doc.status != "A" or doc.type not in ("Journal", "CustPymt")),
            "voided": flag(doc.voided),
            "createddate": doc.created,
            "lastmodifieddate": doc.modified,
            "ns_account": doc.account_id,
            "ns_aracct": doc.ar_account_id,
            "ns_undepfunds": flag(doc.undeposited),
        },
    )
    body_lines: list[Line | None] = [None] if doc.type != "Journal" else []
    body_lines += doc.lines
    if doc.type in ("CustPymt", "CustRfnd"):
        body_lines.append(None)
    for (number, account, signed), line in zip(posting, body_lines, strict=True):
        base = base_amount(store, doc, signed)
        store.insert(
            "transactionline",
            {
                "uniquekey": store.next_id("transactionline"),
                "transaction": doc.id,
                "id": number,
                "linesequencenumber": number,
                "mainline": flag(number == 0),
                "taxline": flag(line is not None and line.sublist == "tax"),
                "subsidiary": doc.subsidiary_id,
                "entity": (line.entity_id if line is not None and line.entity_id else doc.entity_id),
                "item": line.item_id if line is not None else None,
                "quantity": line.quantity if line is not None else None,
                "rate": line.rate if line is not None else None,
                "foreignamount": signed,
                "netamount": base,
                "memo": (line.memo if line is not None else doc.memo),
                "ns_sublist": line.sublist if line is not None else ("main" if number == 0 else "ar"),
                "ns_account": account,
            },
        )
        ar_line = number == 0 and doc.type in ("CustInvc", "CustCred")
        store.insert(
            "transactionaccountingline",
            {
                "transaction": doc.id,
                "transactionline": number,
                "accountingbook": 1,
                "account": account,
                "amount": base,
                "debit": base if base > 0 else None,
                "credit": -base if base < 0 else None,
                "netamount": base,
                "amountpaid": base_amount(store, doc, doc.consumed) if ar_line else None,
                "amountunpaid": base_amount(store, doc, doc.remaining) if ar_line else None,
                "posting": flag(doc.status != "A" or doc.type != "Journal"),
            },
        )


def erase(store: Store, doc_id: int) -> None:
    for table, column in (
        ("transaction", "id"),
        ("transactionline", "transaction"),
        ("transactionaccountingline", "transaction"),
    ):
        store.db.execute(f'DELETE FROM "{table}" WHERE "{column}" = ?', (doc_id,))  # noqa: S608


def load(store: Store, doc_id: int, *, doc_type: str | None = None) -> TxnDoc:
    row = store.row("transaction", doc_id)
    if doc_type is not None and row["type"] != doc_type:
        raise not_found()
    is_invoice = row["type"] == "CustInvc"
    doc = TxnDoc(
        type=row["type"],
        subsidiary_id=0,
        currency_id=int(row["currency"]),
        exchange_rate=float(row["exchangerate"]),
        tran_date=_to_date(row["trandate"]) or date.min,
        entity_id=row["entity"],
        id=int(row["id"]),
        tran_id=row["tranid"],
        due_date=_to_date(row["duedate"]),
        total=float(row["foreigntotal"]),
        tax_total=row["taxtotal"],
        consumed=float((row["foreignamountpaid"] if is_invoice else row["foreignpaymentamountused"]) or 0.0),
        status=row["status"],
        posting_period_id=row["postingperiod"],
        terms_id=row["terms"],
        external_id=row["externalid"],
        memo=row["memo"],
        other_ref_num=row["otherrefnum"],
        start_date=_to_date(row["startdate"]),
        end_date=_to_date(row["enddate"]),
        created=row["createddate"],
        modified=row["lastmodifieddate"],
        account_id=row["ns_account"],
        ar_account_id=row["ns_aracct"],
        undeposited=row["ns_undepfunds"] == "T",
        voided=row["voided"] == "T",
    )
    for line in store.db.execute(
        'SELECT * FROM transactionline WHERE "transaction" = ? ORDER BY id', (doc_id,)
    ).fetchall():
        if line["id"] == 0:
            doc.subsidiary_id = int(line["subsidiary"])
        sublist = line["ns_sublist"]
        if sublist in ("main", "ar"):
            continue
        signed = float(line["foreignamount"])
        doc.lines.append(
            Line(
                sublist=sublist,
                amount=abs(signed),
                item_id=line["item"],
                quantity=line["quantity"],
                rate=line["rate"],
                memo=line["memo"],
                account_id=line["ns_account"],
                entity_id=line["entity"] if sublist in ("line", "other", "payment") else None,
                debit=signed > 0,
            )
        )
    for link in store.db.execute(
        "SELECT previousdoc, foreignamount FROM nexttransactionlinelink WHERE nextdoc = ? ORDER BY rowid",
        (doc_id,),
    ).fetchall():
        doc.applies.append(Application(int(link["previousdoc"]), float(link["foreignamount"])))
    return doc


def linked_from(store: Store, doc_id: int) -> list[dict[str, Any]]:
    """Documents applied to `doc_id` (payments and credits on an invoice, refunds on a credit)."""
    rows = store.db.execute(
        "SELECT nextdoc, nexttype, foreignamount, linkdate FROM nexttransactionlinelink "
        "WHERE previousdoc = ? ORDER BY rowid",
        (doc_id,),
    ).fetchall()
    return [dict(row) for row in rows]


def link(store: Store, doc: TxnDoc, target_id: int, amount: float) -> None:
    target = store.row("transaction", target_id)
    store.insert(
        "nexttransactionlinelink",
        {
            "previousdoc": target_id,
            "previousline": 0,
            "previoustype": target["type"],
            "nextdoc": doc.id,
            "nextline": 0,
            "nexttype": doc.type,
            "linktype": LINK_TYPES[doc.type],
            "foreignamount": amount,
            "amount": base_amount(store, doc, amount),
            "linkdate": ns_date(doc.tran_date),
            "lastmodifieddate": doc.modified,
        },
    )
    _consume(store, target_id, amount, doc.modified, depositing=doc.type == "Deposit")


def unlink_all(store: Store, doc: TxnDoc) -> None:
    """Remove every link from `doc` and give the linked documents their amounts back."""
    for application in doc.applies:
        _consume(
            store, application.doc_id, -application.amount, doc.modified, depositing=doc.type == "Deposit"
        )
    store.db.execute("DELETE FROM nexttransactionlinelink WHERE nextdoc = ?", (doc.id,))


def _consume(store: Store, target_id: int, delta: float, modified: str, *, depositing: bool) -> None:
    target = store.row("transaction", target_id)
    kind = target["type"]
    if depositing:
        status = "C" if delta > 0 else "B"
        store.update_row("transaction", target_id, {"status": status, "lastmodifieddate": modified})
        return
    precision = store.precision(int(target["currency"]))
    total = float(target["foreigntotal"])
    column = "foreignamountpaid" if kind == "CustInvc" else "foreignpaymentamountused"
    consumed = round_money(float(target[column] or 0.0) + delta, precision)
    remaining = round_money(total - consumed, precision)
    values: dict[str, Any] = {"status": status_for(kind, total, consumed, target["status"])}
    values["lastmodifieddate"] = modified
    if kind == "CustInvc":
        values.update(foreignamountpaid=consumed, foreignamountunpaid=remaining)
    else:
        values.update(foreignpaymentamountused=consumed, foreignpaymentamountunused=remaining)
    store.update_row("transaction", target_id, values)
    if kind in ("CustInvc", "CustCred"):
        rate = float(target["exchangerate"])
        sub = store.db.execute(
            "SELECT s.currency FROM transactionline l JOIN subsidiary s ON s.id = l.subsidiary "
            'WHERE l."transaction" = ? AND l.id = 0',
            (target_id,),
        ).fetchone()
        base_precision = store.precision(int(sub["currency"]))
        store.db.execute(
            "UPDATE transactionaccountingline SET amountpaid = ?, amountunpaid = ? "
            'WHERE "transaction" = ? AND transactionline = 0',
            (
                round_money(consumed * rate, base_precision),
                round_money(remaining * rate, base_precision),
                target_id,
            ),
        )

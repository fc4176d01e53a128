"""Writing transactions with NetSuite's rules: invoices, payments, credit memos, refunds, deposits, journals.

Each `create_*` method is part of the seeding API and is also what the record API calls. Building a
document checks the header (customer, subsidiary, currency the customer may use, exchange rate,
accounting period) and its lines; `_save` then checks the applications against the current
balances of the documents they apply to, writes everything inside a SAVEPOINT (so a refused write
leaves nothing behind) and stamps the clock's time. `replace_transaction` rewrites a document in
place, which is how the record API's PATCH and upsert work.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

from tieout.sandbox.netsuite import ledger
from tieout.sandbox.netsuite.errors import NetSuiteError, invalid_content, invalid_field
from tieout.sandbox.netsuite.ledger import Application, Line, TxnDoc
from tieout.sandbox.netsuite.store import Store, round_money

TRAN_PREFIX = {
    "CustInvc": "INV",
    "CustPymt": "PYMT",
    "CustCred": "CM",
    "CustRfnd": "RFND",
    "Deposit": "DEP",
    "Journal": "JE",
}
ApplyInput = tuple[int, float | None]


class Transactions(Store):
    """Transaction writes on top of the master data."""

    @contextmanager
    def _atomic(self) -> Iterator[None]:
        with self.lock:
            self.db.execute("SAVEPOINT ns_write")
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK TO ns_write")
                self.db.execute("RELEASE ns_write")
                raise
            self.db.execute("RELEASE ns_write")

    # -- headers ----------------------------------------------------------------------------------

    def _customer_header(
        self,
        doc_type: str,
        customer_id: int,
        currency_id: int | None,
        exchange_rate: float | None,
        tran_date: date | None,
    ) -> TxnDoc:
        found = self.db.execute("SELECT * FROM customer WHERE id = ?", (customer_id,)).fetchone()
        if found is None:
            field = "entity" if doc_type in ("CustInvc", "CustCred") else "customer"
            raise invalid_field(customer_id, field)
        currency = int(found["currency"]) if currency_id is None else currency_id
        if currency not in self.customer_currencies(customer_id):
            raise invalid_field(currency, "currency")
        doc = self._header(doc_type, int(found["subsidiary"]), currency, exchange_rate, tran_date)
        doc.entity_id = customer_id
        doc.ar_account_id = found["receivablesaccount"]
        return doc

    def _header(
        self,
        doc_type: str,
        subsidiary_id: int,
        currency_id: int,
        exchange_rate: float | None,
        tran_date: date | None,
    ) -> TxnDoc:
        sub = self.db.execute("SELECT currency FROM subsidiary WHERE id = ?", (subsidiary_id,)).fetchone()
        if sub is None:
            raise invalid_field(subsidiary_id, "subsidiary")
        self.check_ref("currency", currency_id, "currency")
        day = tran_date or self.today()
        if exchange_rate is None:
            exchange_rate = self._rate(currency_id, int(sub["currency"]))
        elif exchange_rate <= 0:
            raise invalid_field(exchange_rate, "exchangeRate")
        period = self.period_for(day)
        if period is not None and period["arlocked"] == "T" and doc_type != "Journal":
            raise invalid_content(
                f"The accounting period {period['periodname']} is closed for A/R.", "tranDate"
            )
        if period is not None and period["closed"] == "T":
            raise invalid_content(f"The accounting period {period['periodname']} is closed.", "tranDate")
        return TxnDoc(
            type=doc_type,
            subsidiary_id=subsidiary_id,
            currency_id=currency_id,
            exchange_rate=exchange_rate,
            tran_date=day,
            posting_period_id=None if period is None else int(period["id"]),
        )

    def _rate(self, currency_id: int, base_currency_id: int) -> float:
        if currency_id == base_currency_id:
            return 1.0
        rates = {
            int(row["id"]): float(row["exchangerate"])
            for row in self.db.execute(
                "SELECT id, exchangerate FROM currency WHERE id IN (?, ?)", (currency_id, base_currency_id)
            )
        }
        return round(rates[currency_id] / rates[base_currency_id], 8)

    def _item_lines(self, doc: TxnDoc, lines: Sequence[Mapping[str, Any]], tax_total: float) -> None:
        precision = self.precision(doc.currency_id)
        if not lines:
            raise invalid_content("You must enter at least one line item for this transaction.", "item")
        for index, spec in enumerate(lines):
            item_id = spec.get("item")
            if item_id is None or not self.exists("item", int(item_id)):
                raise invalid_field(item_id, "item", f"item.items[{index}].item")
            quantity = spec.get("quantity")
            rate = spec.get("rate")
            amount = spec.get("amount")
            if amount is None:
                if rate is None:
                    raise invalid_content("Please enter a value for amount.", f"item.items[{index}].amount")
                amount = float(rate) * float(1 if quantity is None else quantity)
            doc.lines.append(
                Line(
                    sublist="item",
                    amount=round_money(float(amount), precision),
                    item_id=int(item_id),
                    quantity=None if quantity is None else float(quantity),
                    rate=None if rate is None else float(rate),
                    memo=spec.get("description"),
                )
            )
        subtotal = round_money(sum(line.amount for line in doc.lines), precision)
        doc.tax_total = round_money(tax_total, precision)
        if doc.tax_total:
            doc.lines.append(Line(sublist="tax", amount=doc.tax_total))
        doc.total = round_money(subtotal + doc.tax_total, precision)

    def _apply_inputs(self, applies: Sequence[ApplyInput] | Mapping[int, float | None]) -> list[ApplyInput]:
        if isinstance(applies, Mapping):
            return [(int(doc_id), amount) for doc_id, amount in applies.items()]
        return [(int(doc_id), amount) for doc_id, amount in applies]

    # -- documents ------------------------------------------------------------------------------

    def _invoice_doc(
        self,
        doc_type: str,
        customer_id: int,
        lines: Sequence[Mapping[str, Any]],
        *,
        tran_date: date | None = None,
        due_date: date | None = None,
        currency_id: int | None = None,
        exchange_rate: float | None = None,
        tax_total: float = 0.0,
        memo: str | None = None,
        external_id: str | None = None,
        tran_id: str | None = None,
        other_ref_num: str | None = None,
        terms_id: int | None = None,
        start_date: date | None = None,
        end_date: date | None = None,
    ) -> TxnDoc:
        doc = self._customer_header(doc_type, customer_id, currency_id, exchange_rate, tran_date)
        self._item_lines(doc, lines, tax_total)
        if terms_id is None and doc_type == "CustInvc":
            terms_id = self.db.execute("SELECT terms FROM customer WHERE id = ?", (customer_id,)).fetchone()[
                0
            ]
        self.check_ref("term", terms_id, "terms")
        if doc_type == "CustInvc" and due_date is None:
            days = 0
            if terms_id is not None:
                days = int(self.row("term", terms_id)["daysuntilnetdue"])
            due_date = doc.tran_date + timedelta(days=days)
        doc.due_date = due_date
        doc.terms_id = terms_id
        doc.memo, doc.external_id, doc.tran_id = memo, external_id, tran_id
        doc.other_ref_num, doc.start_date, doc.end_date = other_ref_num, start_date, end_date
        return doc

    def create_invoice(
        self, customer_id: int, lines: Sequence[Mapping[str, Any]], **fields: Any
    ) -> dict[str, Any]:
        """An invoice; `lines` are {item, quantity, rate, amount, description}; see `_invoice_doc`."""
        return self._save(self._invoice_doc("CustInvc", customer_id, lines, **fields), [])

    def create_credit_memo(
        self,
        customer_id: int,
        lines: Sequence[Mapping[str, Any]],
        *,
        applies: Sequence[ApplyInput] | Mapping[int, float | None] = (),
        **fields: Any,
    ) -> dict[str, Any]:
        """A credit memo, optionally applied to the customer's open invoices."""
        doc = self._invoice_doc("CustCred", customer_id, lines, **fields)
        return self._save(doc, self._apply_inputs(applies))

    def _payment_doc(
        self,
        customer_id: int,
        *,
        amount: float | None = None,
        tran_date: date | None = None,
        currency_id: int | None = None,
        exchange_rate: float | None = None,
        undeposited: bool = True,
        account_id: int | None = None,
        ar_account_id: int | None = None,
        memo: str | None = None,
        external_id: str | None = None,
        check_num: str | None = None,
        tran_id: str | None = None,
    ) -> TxnDoc:
        doc = self._customer_header("CustPymt", customer_id, currency_id, exchange_rate, tran_date)
        if account_id is not None:
            self.check_ref("account", account_id, "account")
            doc.account_id, doc.undeposited = account_id, False
        elif undeposited:
            doc.account_id = ledger.special_account(self, doc.subsidiary_id, "UndepFunds")
            doc.undeposited = True
        else:
            raise invalid_content("Please enter a value for account.", "account")
        if ar_account_id is not None:
            doc.ar_account_id = self.check_ref("account", ar_account_id, "arAcct", accttype="AcctRec")
        doc.status = "B" if doc.undeposited else "C"
        doc.total = -1.0 if amount is None else round_money(amount, self.precision(doc.currency_id))
        doc.memo, doc.external_id, doc.other_ref_num, doc.tran_id = memo, external_id, check_num, tran_id
        return doc

    def create_customer_payment(
        self,
        customer_id: int,
        *,
        applies: Sequence[ApplyInput] | Mapping[int, float | None] = (),
        **fields: Any,
    ) -> dict[str, Any]:
        """A payment; `applies` is [(invoice id, amount or None for as much as is due)]."""
        return self._save(self._payment_doc(customer_id, **fields), self._apply_inputs(applies))

    def _refund_doc(
        self,
        customer_id: int,
        *,
        account_id: int,
        tran_date: date | None = None,
        currency_id: int | None = None,
        exchange_rate: float | None = None,
        memo: str | None = None,
        external_id: str | None = None,
        tran_id: str | None = None,
    ) -> TxnDoc:
        doc = self._customer_header("CustRfnd", customer_id, currency_id, exchange_rate, tran_date)
        doc.account_id = self.check_ref("account", account_id, "account")
        doc.total = -1.0
        doc.memo, doc.external_id, doc.tran_id = memo, external_id, tran_id
        return doc

    def create_customer_refund(
        self,
        customer_id: int,
        *,
        applies: Sequence[ApplyInput] | Mapping[int, float | None],
        **fields: Any,
    ) -> dict[str, Any]:
        """A refund paying out credit memos' or payments' unapplied amounts."""
        return self._save(self._refund_doc(customer_id, **fields), self._apply_inputs(applies))

    def _deposit_doc(
        self,
        account_id: int,
        *,
        other: Sequence[Mapping[str, Any]] = (),
        cashback: Sequence[Mapping[str, Any]] = (),
        tran_date: date | None = None,
        currency_id: int | None = None,
        exchange_rate: float | None = None,
        memo: str | None = None,
        external_id: str | None = None,
        tran_id: str | None = None,
    ) -> TxnDoc:
        account = self.db.execute("SELECT * FROM account WHERE id = ?", (account_id,)).fetchone()
        if account is None or account["accttype"] != "Bank":
            raise invalid_field(account_id, "account")
        if account["subsidiary"] is None:
            raise invalid_content("The deposit account must belong to a subsidiary.", "account")
        subsidiary_id = int(account["subsidiary"])
        if currency_id is None:
            currency_id = int(account["currency"] or self.row("subsidiary", subsidiary_id)["currency"])
        doc = self._header("Deposit", subsidiary_id, currency_id, exchange_rate, tran_date)
        doc.account_id = account_id
        precision = self.precision(currency_id)
        for sublist, specs in (("other", other), ("cashback", cashback)):
            for index, spec in enumerate(specs):
                path = f"{sublist}.items[{index}]"
                line_account = spec.get("account")
                if line_account is None or not self.exists("account", int(line_account)):
                    raise invalid_field(line_account, "account", f"{path}.account")
                entity = spec.get("entity")
                self.check_ref("customer", None if entity is None else int(entity), f"{path}.entity")
                amount = round_money(float(spec.get("amount") or 0), precision)
                if amount <= 0:
                    raise invalid_field(spec.get("amount"), "amount", f"{path}.amount")
                doc.lines.append(
                    Line(
                        sublist,
                        amount,
                        memo=spec.get("memo"),
                        account_id=int(line_account),
                        entity_id=None if entity is None else int(entity),
                    )
                )
        doc.memo, doc.external_id, doc.tran_id = memo, external_id, tran_id
        return doc

    def create_deposit(
        self, account_id: int, *, payment_ids: Sequence[int] = (), **fields: Any
    ) -> dict[str, Any]:
        """A bank deposit of undeposited payments, plus 'other' receipts and 'cashback' (fees) lines."""
        doc = self._deposit_doc(account_id, **fields)
        return self._save(doc, [(int(payment_id), None) for payment_id in payment_ids])

    def _journal_doc(
        self,
        subsidiary_id: int,
        lines: Sequence[Mapping[str, Any]],
        *,
        tran_date: date | None = None,
        currency_id: int | None = None,
        exchange_rate: float | None = None,
        approved: bool = True,
        memo: str | None = None,
        external_id: str | None = None,
        tran_id: str | None = None,
    ) -> TxnDoc:
        sub = self.db.execute("SELECT currency FROM subsidiary WHERE id = ?", (subsidiary_id,)).fetchone()
        if sub is None:
            raise invalid_field(subsidiary_id, "subsidiary")
        currency = int(sub["currency"]) if currency_id is None else currency_id
        doc = self._header("Journal", subsidiary_id, currency, exchange_rate, tran_date)
        precision = self.precision(currency)
        debits = credits = 0.0
        for index, spec in enumerate(lines):
            path = f"line.items[{index}]"
            account = spec.get("account")
            if account is None or not self.exists("account", int(account)):
                raise invalid_field(account, "account", f"{path}.account")
            debit = round_money(float(spec.get("debit") or 0), precision)
            credit = round_money(float(spec.get("credit") or 0), precision)
            if (debit > 0) == (credit > 0) or debit < 0 or credit < 0:
                raise invalid_content("Each line must have either a debit or a credit amount.", path)
            entity = spec.get("entity")
            self.check_ref("customer", None if entity is None else int(entity), f"{path}.entity")
            debits += debit
            credits += credit
            doc.lines.append(
                Line(
                    "line",
                    debit or credit,
                    memo=spec.get("memo"),
                    account_id=int(account),
                    entity_id=None if entity is None else int(entity),
                    debit=debit > 0,
                )
            )
        if len(doc.lines) < 2:
            raise invalid_content("A journal entry needs at least two lines.", "line")
        if round_money(debits, precision) != round_money(credits, precision):
            raise invalid_content(
                "This transaction is not in balance. Please make sure the debits equal the credits.", "line"
            )
        doc.total = round_money(debits, precision)
        doc.status = "B" if approved else "A"
        doc.memo, doc.external_id, doc.tran_id = memo, external_id, tran_id
        return doc

    def create_journal_entry(
        self, subsidiary_id: int, lines: Sequence[Mapping[str, Any]], **fields: Any
    ) -> dict[str, Any]:
        """A journal entry; `lines` are {account, debit | credit, entity, memo}; debits must equal credits."""
        return self._save(self._journal_doc(subsidiary_id, lines, **fields), [])

    # -- saving -----------------------------------------------------------------------------------

    def _save(self, doc: TxnDoc, applies: list[ApplyInput], existing_id: int | None = None) -> dict[str, Any]:
        # A new document is checked in full before its first row is written, so only a rewrite
        # (which unlinks the old version first) needs a savepoint to be undone on refusal.
        guard = self._atomic() if existing_id is not None or applies else self.lock
        with guard:
            now = self.now_text()
            doc.modified = now
            consumed_by_others = 0.0
            if existing_id is not None:
                old = ledger.load(self, existing_id, doc_type=doc.type)
                own = sum(application.amount for application in old.applies) if doc.type != "Deposit" else 0
                consumed_by_others = old.consumed - own
                old.modified = now
                ledger.unlink_all(self, old)
                ledger.erase(self, existing_id)
                doc.id, doc.created = old.id, old.created
                doc.tran_id = doc.tran_id or old.tran_id
            else:
                doc.id = self.next_id("transaction")
                doc.created = now
                doc.tran_id = doc.tran_id or f"{TRAN_PREFIX[doc.type]}{doc.id}"
            self.check_external_id(
                "transaction", doc.external_id, own_id=doc.id, recordtype=ledger.RECORD_TYPES[doc.type]
            )
            if doc.type in ("CustInvc", "CustPymt", "CustCred"):
                doc.consumed = consumed_by_others
            self._resolve_applies(doc, applies)
            own_applied = sum(application.amount for application in doc.applies)
            if doc.type in ("CustPymt", "CustCred"):
                doc.consumed = round_money(consumed_by_others + own_applied, self.precision(doc.currency_id))
            if doc.consumed > doc.total:
                raise invalid_content(
                    f"The amount applied ({doc.consumed}) exceeds the total of the transaction ({doc.total}).",
                    "apply",
                )
            ledger.persist(self, doc)
            for application in doc.applies:
                ledger.link(self, doc, application.doc_id, application.amount)
            from tieout.sandbox.netsuite.render import render_transaction

            return render_transaction(self, doc)

    def _resolve_applies(self, doc: TxnDoc, applies: list[ApplyInput]) -> None:
        precision = self.precision(doc.currency_id)
        targets = {
            "CustPymt": ("CustInvc",),
            "CustCred": ("CustInvc",),
            "CustRfnd": ("CustCred", "CustPymt"),
            "Deposit": ("CustPymt",),
        }.get(doc.type, ())
        if applies and not targets:
            raise invalid_content("This transaction cannot be applied to other transactions.", "apply")
        budget = doc.total - doc.consumed if doc.total >= 0 else float("inf")
        seen: set[int] = set()
        for index, (target_id, requested) in enumerate(applies):
            path = f"apply.items[{index}].doc" if doc.type != "Deposit" else f"payment.items[{index}].id"
            target = self.db.execute('SELECT * FROM "transaction" WHERE id = ?', (target_id,)).fetchone()
            if target is None or target["type"] not in targets or target_id in seen:
                raise invalid_field(target_id, "doc", path)
            seen.add(target_id)
            if doc.type == "Deposit":
                if target["ns_undepfunds"] != "T" or target["status"] != "B":
                    raise invalid_content(f"Payment {target_id} is not in Undeposited Funds.", path)
                if int(target["currency"]) != doc.currency_id:
                    raise invalid_field(target_id, "id", path)
                amount = float(target["foreigntotal"])
                doc.applies.append(Application(target_id, amount))
                doc.lines.insert(
                    len(doc.applies) - 1,
                    Line(
                        "payment",
                        amount,
                        entity_id=target["entity"],
                        account_id=ledger.special_account(self, doc.subsidiary_id, "UndepFunds"),
                    ),
                )
                continue
            if target["entity"] != doc.entity_id or int(target["currency"]) != doc.currency_id:
                raise invalid_field(target_id, "doc", path)
            column = "foreignamountunpaid" if target["type"] == "CustInvc" else "foreignpaymentamountunused"
            due = float(target[column] or 0.0)
            amount = min(due, budget) if requested is None else round_money(requested, precision)
            amount = round_money(amount, precision)
            if amount <= 0 and requested is None:
                continue
            if amount <= 0 or amount > due:
                raise invalid_field(requested, "amount", f"apply.items[{index}].amount")
            budget -= amount
            if budget < -(10**-precision) / 2:
                raise invalid_content("The total amount applied exceeds the amount of the payment.", "apply")
            doc.applies.append(Application(target_id, amount))
        applied = round_money(sum(application.amount for application in doc.applies), precision)
        if doc.type in ("CustPymt", "CustRfnd") and doc.total < 0:
            doc.total = applied
        if doc.type == "Deposit":
            others = sum(
                line.amount if line.sublist == "other" else -line.amount
                for line in doc.lines
                if line.sublist in ("other", "cashback")
            )
            doc.total = round_money(applied + others, precision)
        if doc.type in ("CustPymt", "CustRfnd", "Deposit") and doc.total <= 0:
            raise invalid_content("The amount of the transaction must be greater than zero.", "total")
        if doc.type == "CustRfnd" and applied != doc.total:
            raise invalid_content("The refund total must equal the amount applied.", "apply")

    def replace_transaction(self, doc_id: int, doc_type: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Rewrite an existing transaction from a full set of create arguments (PATCH and upsert)."""
        with self.lock:
            ledger.load(self, doc_id, doc_type=doc_type)
            doc, applies = self.build_transaction(doc_type, fields)
            return self._save(doc, applies, existing_id=doc_id)

    def build_transaction(self, doc_type: str, fields: dict[str, Any]) -> tuple[TxnDoc, list[ApplyInput]]:
        fields = dict(fields)
        applies = self._apply_inputs(fields.pop("applies", ()))
        if doc_type in ("CustInvc", "CustCred"):
            customer, lines = fields.pop("customer_id"), fields.pop("lines")
            return self._invoice_doc(doc_type, customer, lines, **fields), applies
        if doc_type == "CustPymt":
            return self._payment_doc(fields.pop("customer_id"), **fields), applies
        if doc_type == "CustRfnd":
            return self._refund_doc(fields.pop("customer_id"), **fields), applies
        if doc_type == "Deposit":
            payments: list[ApplyInput] = [
                (int(payment_id), None) for payment_id in fields.pop("payment_ids", ())
            ]
            return self._deposit_doc(fields.pop("account_id"), **fields), payments
        if doc_type == "Journal":
            subsidiary, lines = fields.pop("subsidiary_id"), fields.pop("lines")
            return self._journal_doc(subsidiary, lines, **fields), applies
        raise NetSuiteError(400, "INVALID_PARAMETER", f"Unknown transaction type {doc_type}.")

    def create_transaction(self, doc_type: str, fields: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            doc, applies = self.build_transaction(doc_type, fields)
            return self._save(doc, applies)

    def delete_transaction(self, doc_id: int, doc_type: str) -> None:
        with self._atomic():
            doc = ledger.load(self, doc_id, doc_type=doc_type)
            if ledger.linked_from(self, doc_id):
                raise invalid_content("This record cannot be deleted because it has dependent records.")
            doc.modified = self.now_text()
            ledger.unlink_all(self, doc)
            ledger.erase(self, doc_id)

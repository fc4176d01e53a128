"""Building transaction documents: the header rules and the lines of each transaction type.

A builder checks what a document needs before anything is written: the customer and the
currencies it may use, the subsidiary and its base currency, the exchange rate (from the
currencies' rates when not given), the accounting period (closed or A/R-locked periods refuse
postings), items and accounts on lines, and a journal's balance. `transactions.py` saves them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

from tieout.sandbox.netsuite import ledger
from tieout.sandbox.netsuite.errors import NetSuiteError, invalid_content, invalid_field
from tieout.sandbox.netsuite.ledger import Line, TxnDoc
from tieout.sandbox.netsuite.masterdata import MasterData
from tieout.sandbox.netsuite.store import round_money

ApplyInput = tuple[int, float | None]


class Documents(MasterData):
    """Document builders; every method leaves the database untouched."""

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
        try:
            subsidiary = int(self.cached_value("customer", customer_id, "subsidiary"))
        except NetSuiteError:
            field = "entity" if doc_type in ("CustInvc", "CustCred") else "customer"
            raise invalid_field(customer_id, field) from None
        primary = int(self.cached_value("customer", customer_id, "currency"))
        currency = primary if currency_id is None else currency_id
        if currency != primary and currency not in self.customer_currencies(customer_id):
            raise invalid_field(currency, "currency")
        doc = self._header(doc_type, subsidiary, currency, exchange_rate, tran_date)
        doc.entity_id = customer_id
        doc.ar_account_id = self.cached_value("customer", customer_id, "receivablesaccount")
        return doc

    def _header(
        self,
        doc_type: str,
        subsidiary_id: int,
        currency_id: int,
        exchange_rate: float | None,
        tran_date: date | None,
    ) -> TxnDoc:
        try:
            base_currency = int(self.cached_value("subsidiary", subsidiary_id, "currency"))
        except NetSuiteError:
            raise invalid_field(subsidiary_id, "subsidiary") from None
        if currency_id not in self._currency_precision:
            raise invalid_field(currency_id, "currency")
        day = tran_date or self.today()
        if exchange_rate is None:
            exchange_rate = self._rate(currency_id, base_currency)
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
            raw_item = spec.get("item")
            try:
                item_id = int(raw_item)  # type: ignore[arg-type]
                self.cached_value("item", item_id, "incomeaccount")
            except (NetSuiteError, TypeError, ValueError):
                raise invalid_field(raw_item, "item", f"item.items[{index}].item") from None
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
                    item_id=item_id,
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
            terms_id = self.cached_value("customer", customer_id, "terms")
        days = 0
        if terms_id is not None:
            try:
                days = int(self.cached_value("term", terms_id, "daysuntilnetdue"))
            except NetSuiteError:
                raise invalid_field(terms_id, "terms") from None
        if doc_type == "CustInvc" and due_date is None:
            due_date = doc.tran_date + timedelta(days=days)
        doc.due_date = due_date
        doc.terms_id = terms_id
        doc.memo, doc.external_id, doc.tran_id = memo, external_id, tran_id
        doc.other_ref_num, doc.start_date, doc.end_date = other_ref_num, start_date, end_date
        return doc

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

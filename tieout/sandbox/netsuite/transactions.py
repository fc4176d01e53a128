"""Saving transactions with NetSuite's rules: invoices, payments, credit memos, refunds, deposits, journals.

Each `create_*` method is part of the seeding API and is also what the record API calls. The
document is built and checked by `documents.py`; `_save` then checks its applications against the
current balances of the documents they apply to, writes its rows (a rewrite inside a SAVEPOINT, so
a refused write leaves nothing behind) and stamps the clock's time. `replace_transaction` rewrites a
document in place, which is how the record API's PATCH and upsert work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tieout.sandbox.netsuite import ledger
from tieout.sandbox.netsuite.documents import ApplyInput, Documents
from tieout.sandbox.netsuite.errors import NetSuiteError, invalid_content, invalid_field
from tieout.sandbox.netsuite.ledger import Application, Line, TxnDoc
from tieout.sandbox.netsuite.store import round_money

TRAN_PREFIX = {
    "CustInvc": "INV",
    "CustPymt": "PYMT",
    "CustCred": "CM",
    "CustRfnd": "RFND",
    "Deposit": "DEP",
    "Journal": "JE",
}


class Transactions(Documents):
    """Saving, rewriting and deleting transactions, with their applications."""

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

    def create_customer_payment(
        self,
        customer_id: int,
        *,
        applies: Sequence[ApplyInput] | Mapping[int, float | None] = (),
        **fields: Any,
    ) -> dict[str, Any]:
        """A payment; `applies` is [(invoice id, amount or None for as much as is due)]."""
        return self._save(self._payment_doc(customer_id, **fields), self._apply_inputs(applies))

    def create_customer_refund(
        self,
        customer_id: int,
        *,
        applies: Sequence[ApplyInput] | Mapping[int, float | None],
        **fields: Any,
    ) -> dict[str, Any]:
        """A refund paying out credit memos' or payments' unapplied amounts."""
        return self._save(self._refund_doc(customer_id, **fields), self._apply_inputs(applies))

    def create_deposit(
        self, account_id: int, *, payment_ids: Sequence[int] = (), **fields: Any
    ) -> dict[str, Any]:
        """A bank deposit of undeposited payments, plus 'other' receipts and 'cashback' (fees) lines."""
        doc = self._deposit_doc(account_id, **fields)
        return self._save(doc, [(int(payment_id), None) for payment_id in payment_ids])

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
            deposited_total: float | None = None
            if existing_id is not None:
                old = ledger.load(self, existing_id, doc_type=doc.type)
                if old.voided:
                    raise invalid_content("A voided transaction cannot be changed.")
                own = sum(application.amount for application in old.applies) if doc.type != "Deposit" else 0
                consumed_by_others = old.consumed - own
                if consumed_by_others and (doc.entity_id, doc.currency_id) != (
                    old.entity_id,
                    old.currency_id,
                ):
                    raise invalid_content(
                        "The customer or currency of a transaction that has been applied cannot be changed."
                    )
                if old.type == "CustPymt" and old.status == "C" and old.undeposited:
                    deposited_total = old.total
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
            if deposited_total is not None:
                if doc.total != deposited_total or not doc.undeposited:
                    raise invalid_content(
                        "This payment has been deposited; its amount and account cannot change."
                    )
                doc.status = "C"
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

    def void_transaction(self, doc_id: int, doc_type: str) -> dict[str, Any]:
        """Void in place, as NetSuite's direct void does (SuiteScript `transaction.void`).

        The document stays, with status Voided (invoices and refunds), `voided` set, its total and
        every line set to zero and its memo `VOID`; what it was applied to is freed. A document
        others are applied to (an invoice with a payment) is refused until they are unapplied.
        Voiding a voided document changes nothing, so a repeated request is harmless.
        """
        with self._atomic():
            doc = ledger.load(self, doc_id, doc_type=doc_type)
            if not doc.voided:
                if ledger.linked_from(self, doc_id):
                    raise invalid_content(
                        "This transaction cannot be voided because other transactions are applied to it."
                    )
                doc.modified = self.now_text()
                ledger.unlink_all(self, doc)
                ledger.erase(self, doc_id)
                doc.voided, doc.memo, doc.applies = True, "VOID", []
                doc.total, doc.consumed = 0.0, 0.0
                doc.tax_total = None if doc.tax_total is None else 0.0
                for line in doc.lines:
                    line.amount = 0.0
                ledger.persist(self, doc)
            from tieout.sandbox.netsuite.render import render_transaction

            return render_transaction(self, doc)

    def delete_transaction(self, doc_id: int, doc_type: str) -> None:
        with self._atomic():
            doc = ledger.load(self, doc_id, doc_type=doc_type)
            if ledger.linked_from(self, doc_id):
                raise invalid_content("This record cannot be deleted because it has dependent records.")
            doc.modified = self.now_text()
            ledger.unlink_all(self, doc)
            ledger.erase(self, doc_id)
            self.record_deletion(doc_id, ledger.RECORD_TYPES[doc.type], doc.tran_id)

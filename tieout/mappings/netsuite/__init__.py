"""Pure mappings between NetSuite's SuiteQL rows / REST record bodies and the canonical model.

`customers`, `invoices` (invoices, credit memos), `cash` (payments, refunds, deposits) and
`ledger` (journal entries, AR balances) read what the connector pulls; `builders` write the upsert
bodies its `push` takes; `values` holds the shared readers.
"""

from __future__ import annotations

from tieout.mappings.netsuite.builders import (
    credit_memo_payload,
    customer_payload,
    deposit_payload,
    invoice_payload,
    journal_entry_payload,
    payment_payload,
    refund_payload,
)
from tieout.mappings.netsuite.cash import map_deposit, map_payment, map_refund
from tieout.mappings.netsuite.customers import map_customer
from tieout.mappings.netsuite.invoices import map_credit_memo, map_invoice
from tieout.mappings.netsuite.ledger import ar_balance_id, map_ar_balance, map_journal_entry

__all__ = [
    "ar_balance_id",
    "credit_memo_payload",
    "customer_payload",
    "deposit_payload",
    "invoice_payload",
    "journal_entry_payload",
    "map_ar_balance",
    "map_credit_memo",
    "map_customer",
    "map_deposit",
    "map_invoice",
    "map_journal_entry",
    "map_payment",
    "map_refund",
    "payment_payload",
    "refund_payload",
]

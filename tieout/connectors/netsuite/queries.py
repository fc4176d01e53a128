"""The SuiteQL each stream runs: one header query per stream and the per-page detail queries.

Header queries order by `(lastmodifieddate, id)`, unique, so pages arrive oldest-first and page by
key set. Detail queries (lines, document links) take the ids of one header page in a single
`IN (...)` list, so a page of 1,000 invoices costs one lines query (paged itself if it passes
1,000 rows), never one per invoice. Dates are asked for with TO_CHAR so that the account's date
format preference does not matter.
"""

from __future__ import annotations

from collections.abc import Iterable

from tieout.connectors.netsuite.suiteql import OrderKey, Query, date_of, id_list, quote, stamp_of, timestamp

MODIFIED = "lastmodified"
"""Output column of the account-local modification time, replaced by `lastmodifieddate` (UTC ISO)."""

TRANSACTION_TYPES = {
    "invoices": "CustInvc",
    "payments": "CustPymt",
    "credit_memos": "CustCred",
    "refunds": "CustRfnd",
    "deposits": "Deposit",
    "journal_entries": "Journal",
}

_BY_MODIFIED = (
    OrderKey("t.lastmodifieddate", MODIFIED, "timestamp"),
    OrderKey("t.id", "id"),
)

CUSTOMERS = Query(
    select=(
        "t.id AS id",
        "t.entityid",
        "t.companyname",
        "t.isperson",
        "t.firstname",
        "t.lastname",
        "t.email",
        "t.subsidiary",
        "cur.symbol AS currencycode",
        "tm.daysuntilnetdue AS termsdays",
        "t.parent",
        "t.isinactive",
        "t.externalid",
        stamp_of("t.lastmodifieddate", MODIFIED),
    ),
    source="customer t LEFT JOIN currency cur ON cur.id = t.currency LEFT JOIN term tm ON tm.id = t.terms",
    order=_BY_MODIFIED,
)


def transactions(doc_type: str) -> Query:
    """The header rows of one transaction type, with its currency code and (main line) subsidiary."""
    return Query(
        select=(
            "t.id AS id",
            "t.tranid",
            "t.type",
            date_of("t.trandate", "trandate"),
            date_of("t.duedate", "duedate"),
            date_of("t.startdate", "startdate"),
            date_of("t.enddate", "enddate"),
            "t.status",
            "t.voided",
            "t.entity",
            "cur.symbol AS currencycode",
            "ml.subsidiary AS subsidiary",
            "t.exchangerate",
            "t.foreigntotal",
            "t.taxtotal",
            "t.foreignamountpaid",
            "t.foreignamountunpaid",
            "t.foreignpaymentamountused",
            "t.foreignpaymentamountunused",
            "t.externalid",
            "t.memo",
            "t.otherrefnum",
            stamp_of("t.lastmodifieddate", MODIFIED),
        ),
        source=(
            "transaction t JOIN currency cur ON cur.id = t.currency JOIN transactionline ml ON ml.transaction = t.id "
            "AND ml.mainline = 'T'"
        ),
        where=(f"t.type = {quote(doc_type)}",),
        order=_BY_MODIFIED,
    )


def item_lines(transaction_ids: Iterable[str]) -> Query:
    """Item and tax lines (not the main line) of invoices and credit memos, with the item's SKU."""
    return Query(
        select=(
            "l.transaction AS transaction",
            "l.id AS id",
            "l.mainline",
            "l.taxline",
            "l.item",
            "i.itemid",
            "l.quantity",
            "l.rate",
            "l.foreignamount",
            "l.memo",
        ),
        source="transactionline l LEFT JOIN item i ON i.id = l.item",
        where=(f"l.transaction IN {id_list(transaction_ids)}", "l.mainline = 'F'"),
        order=(OrderKey("l.transaction", "transaction"), OrderKey("l.id", "id")),
    )


def deposit_lines(transaction_ids: Iterable[str]) -> Query:
    """Payment, other and cash-back lines of deposits (cash back posts as a debit, so positive)."""
    return Query(
        select=("l.transaction AS transaction", "l.id AS id", "l.mainline", "l.foreignamount", "l.memo"),
        source="transactionline l",
        where=(f"l.transaction IN {id_list(transaction_ids)}", "l.mainline = 'F'"),
        order=(OrderKey("l.transaction", "transaction"), OrderKey("l.id", "id")),
    )


def journal_lines(transaction_ids: Iterable[str]) -> Query:
    """Journal lines with their GL account (from the accounting line of the same line id)."""
    return Query(
        select=(
            "l.transaction AS transaction",
            "l.id AS id",
            "tal.account AS account",
            "l.foreignamount",
            "l.entity",
            "l.memo",
        ),
        source=(
            "transactionline l JOIN transactionaccountingline tal ON tal.transaction = l.transaction "
            "AND tal.transactionline = l.id"
        ),
        where=(f"l.transaction IN {id_list(transaction_ids)}",),
        order=(OrderKey("l.transaction", "transaction"), OrderKey("l.id", "id")),
    )


_LINK_COLUMNS = (
    "k.previousdoc AS previousdoc",
    "k.previousline AS previousline",
    "k.previoustype",
    "k.nextdoc AS nextdoc",
    "k.nextline AS nextline",
    "k.nexttype",
    "k.linktype",
    "k.foreignamount",
)


def applied_to(transaction_ids: Iterable[str]) -> Query:
    """What these documents were applied to (payments and credits -> invoices, deposits -> payments)."""
    return Query(
        select=_LINK_COLUMNS,
        source="nexttransactionlinelink k",
        where=(f"k.nextdoc IN {id_list(transaction_ids)}",),
        order=(
            OrderKey("k.nextdoc", "nextdoc"),
            OrderKey("k.previousdoc", "previousdoc"),
            OrderKey("k.previousline", "previousline"),
            OrderKey("k.nextline", "nextline"),
        ),
    )


def deposited_in(payment_ids: Iterable[str]) -> Query:
    """The deposits that carry these payments."""
    return Query(
        select=_LINK_COLUMNS,
        source="nexttransactionlinelink k",
        where=(f"k.previousdoc IN {id_list(payment_ids)}", f"k.nexttype = {quote('Deposit')}"),
        order=(
            OrderKey("k.previousdoc", "previousdoc"),
            OrderKey("k.nextdoc", "nextdoc"),
            OrderKey("k.previousline", "previousline"),
            OrderKey("k.nextline", "nextline"),
        ),
    )


def ar_balances(before_day: str) -> Query:
    """Σ base-currency amount of posting lines on AR accounts dated before `before_day`, per account and subsidiary."""
    return Query(
        select=(
            "tal.account AS account",
            "a.acctnumber AS acctnumber",
            "a.fullname AS accountname",
            "tl.subsidiary AS subsidiary",
            "cur.symbol AS currencycode",
            "ROUND(SUM(tal.amount), 8) AS balance",
        ),
        source=(
            "transactionaccountingline tal JOIN account a ON a.id = tal.account "
            "JOIN transaction t ON t.id = tal.transaction "
            "JOIN transactionline tl ON tl.transaction = tal.transaction AND tl.id = tal.transactionline "
            "JOIN subsidiary s ON s.id = tl.subsidiary JOIN currency cur ON cur.id = s.currency"
        ),
        where=(
            f"a.accttype = {quote('AcctRec')}",
            "tal.posting = 'T'",
            f"t.trandate < {timestamp(before_day + ' 00:00:00')}",
        ),
        group_by=("tal.account", "a.acctnumber", "a.fullname", "tl.subsidiary", "cur.symbol"),
        order=(OrderKey("tal.account", "account"), OrderKey("tl.subsidiary", "subsidiary")),
    )

"""The SQLite tables behind the NetSuite emulator, and the SuiteQL catalog of what a query may touch.

The record API and SuiteQL read the same tables, so they always agree. Table and column names
mirror SuiteQL's (lowercase). Columns prefixed `ns_` hold what the record API needs but SuiteQL
does not expose; the catalog below lists only the public columns, and the SuiteQL checker refuses
anything not in it. Dates and datetimes are stored as 'YYYY-MM-DD HH:MM:SS' text (UTC), so that a
date and a timestamp compare correctly as text; booleans as 'T'/'F', as SuiteQL shows them.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

ColumnType = Literal["int", "float", "text", "date", "datetime", "bool"]

# table -> column -> type. Only these are visible to SuiteQL.
CATALOG: dict[str, dict[str, ColumnType]] = {
    "currency": {
        "id": "int",
        "name": "text",
        "symbol": "text",
        "displaysymbol": "text",
        "exchangerate": "float",
        "isbasecurrency": "bool",
        "isinactive": "bool",
        "currencyprecision": "int",
        "externalid": "text",
        "lastmodifieddate": "datetime",
    },
    "subsidiary": {
        "id": "int",
        "name": "text",
        "legalname": "text",
        "fullname": "text",
        "currency": "int",
        "country": "text",
        "parent": "int",
        "iselimination": "bool",
        "isinactive": "bool",
        "externalid": "text",
        "lastmodifieddate": "datetime",
    },
    "account": {
        "id": "int",
        "acctnumber": "text",
        "accountsearchdisplayname": "text",
        "fullname": "text",
        "accttype": "text",
        "sspecacct": "text",
        "currency": "int",
        "subsidiary": "int",
        "description": "text",
        "isinactive": "bool",
        "externalid": "text",
        "lastmodifieddate": "datetime",
    },
    "item": {
        "id": "int",
        "itemid": "text",
        "displayname": "text",
        "fullname": "text",
        "itemtype": "text",
        "description": "text",
        "incomeaccount": "int",
        "subsidiary": "int",
        "isinactive": "bool",
        "externalid": "text",
        "createddate": "datetime",
        "lastmodifieddate": "datetime",
    },
    "term": {"id": "int", "name": "text", "daysuntilnetdue": "int", "isinactive": "bool"},
    "accountingperiod": {
        "id": "int",
        "periodname": "text",
        "startdate": "date",
        "enddate": "date",
        "closed": "bool",
        "arlocked": "bool",
        "aplocked": "bool",
        "alllocked": "bool",
        "isadjust": "bool",
        "isquarter": "bool",
        "isyear": "bool",
        "isposting": "bool",
        "lastmodifieddate": "datetime",
    },
    "customer": {
        "id": "int",
        "entityid": "text",
        "companyname": "text",
        "altname": "text",
        "isperson": "bool",
        "firstname": "text",
        "lastname": "text",
        "email": "text",
        "phone": "text",
        "subsidiary": "int",
        "currency": "int",
        "terms": "int",
        "parent": "int",
        "receivablesaccount": "int",
        "creditlimit": "float",
        "isinactive": "bool",
        "externalid": "text",
        "datecreated": "datetime",
        "lastmodifieddate": "datetime",
    },
    "transaction": {
        "id": "int",
        "tranid": "text",
        "type": "text",
        "recordtype": "text",
        "status": "text",
        "trandate": "date",
        "duedate": "date",
        "entity": "int",
        "currency": "int",
        "exchangerate": "float",
        "foreigntotal": "float",
        "foreignamountpaid": "float",
        "foreignamountunpaid": "float",
        "foreignpaymentamountused": "float",
        "foreignpaymentamountunused": "float",
        "taxtotal": "float",
        "postingperiod": "int",
        "terms": "int",
        "externalid": "text",
        "memo": "text",
        "otherrefnum": "text",
        "startdate": "date",
        "enddate": "date",
        "posting": "bool",
        "voided": "bool",
        "createddate": "datetime",
        "lastmodifieddate": "datetime",
    },
    "transactionline": {
        "uniquekey": "int",
        "transaction": "int",
        "id": "int",
        "linesequencenumber": "int",
        "mainline": "bool",
        "taxline": "bool",
        "subsidiary": "int",
        "entity": "int",
        "item": "int",
        "quantity": "float",
        "rate": "float",
        "foreignamount": "float",
        "netamount": "float",
        "memo": "text",
    },
    "transactionaccountingline": {
        "transaction": "int",
        "transactionline": "int",
        "accountingbook": "int",
        "account": "int",
        "amount": "float",
        "debit": "float",
        "credit": "float",
        "netamount": "float",
        "amountpaid": "float",
        "amountunpaid": "float",
        "posting": "bool",
    },
    "nexttransactionlinelink": {
        "previousdoc": "int",
        "previousline": "int",
        "previoustype": "text",
        "nextdoc": "int",
        "nextline": "int",
        "nexttype": "text",
        "linktype": "text",
        "foreignamount": "float",
        "amount": "float",
        "linkdate": "date",
        "lastmodifieddate": "datetime",
    },
}
CATALOG["previoustransactionlinelink"] = dict(CATALOG["nexttransactionlinelink"])
# What a sync reads to learn of deletions (type is the lowercase record type, e.g. 'invoice').
CATALOG["deletedrecord"] = {"recordid": "int", "type": "text", "name": "text", "deleteddate": "datetime"}

# Reference columns: which table BUILTIN.DF looks a column's display name up in.
REFERENCES: dict[str, str] = {
    "currency": "currency",
    "subsidiary": "subsidiary",
    "account": "account",
    "incomeaccount": "account",
    "receivablesaccount": "account",
    "entity": "customer",
    "item": "item",
    "terms": "term",
    "postingperiod": "accountingperiod",
    "transaction": "transaction",
    "previousdoc": "transaction",
    "nextdoc": "transaction",
}
SELF_REFERENCES = {"parent"}

# The column holding a record's display name, per table (what BUILTIN.DF shows).
DISPLAY_COLUMN: dict[str, str] = {
    "currency": "name",
    "subsidiary": "name",
    "account": "fullname",
    "customer": "altname",
    "item": "itemid",
    "term": "name",
    "accountingperiod": "periodname",
    "transaction": "tranid",
}

# (transaction type, status letter) -> display text, as the UI and BUILTIN.DF show it.
STATUS_NAMES: dict[tuple[str, str], str] = {
    ("CustInvc", "A"): "Open",
    ("CustInvc", "B"): "Paid In Full",
    ("CustInvc", "V"): "Voided",
    ("CustPymt", "A"): "Unapproved Payment",
    ("CustPymt", "B"): "Not Deposited",
    ("CustPymt", "C"): "Deposited",
    ("CustCred", "A"): "Open",
    ("CustCred", "B"): "Fully Applied",
    ("Journal", "A"): "Pending Approval",
    ("Journal", "B"): "Approved for Posting",
}
TYPE_NAMES: dict[str, str] = {
    "CustInvc": "Invoice",
    "CustPymt": "Payment",
    "CustCred": "Credit Memo",
    "CustRfnd": "Customer Refund",
    "Deposit": "Deposit",
    "Journal": "Journal",
}

_COLUMN_SQL: dict[ColumnType, str] = {
    "int": "INTEGER",
    "float": "REAL",
    "text": "TEXT",
    "date": "TEXT",
    "datetime": "TEXT",
    "bool": "TEXT",
}

# Columns the record API needs that SuiteQL does not show.
_HIDDEN: dict[str, dict[str, str]] = {
    "transaction": {"ns_account": "INTEGER", "ns_aracct": "INTEGER", "ns_undepfunds": "TEXT"},
    "transactionline": {"ns_sublist": "TEXT", "ns_account": "INTEGER"},
}

_INDEXES = (
    "CREATE UNIQUE INDEX ix_currency_symbol ON currency(symbol)",
    "CREATE UNIQUE INDEX ix_currency_eid ON currency(externalid)",
    "CREATE UNIQUE INDEX ix_subsidiary_eid ON subsidiary(externalid)",
    "CREATE UNIQUE INDEX ix_account_eid ON account(externalid)",
    "CREATE UNIQUE INDEX ix_item_eid ON item(itemtype, externalid)",
    "CREATE UNIQUE INDEX ix_customer_eid ON customer(externalid)",
    "CREATE INDEX ix_customer_modified ON customer(lastmodifieddate, id)",
    'CREATE UNIQUE INDEX ix_transaction_eid ON "transaction"(recordtype, externalid)',
    'CREATE INDEX ix_transaction_type ON "transaction"(type, id)',
    'CREATE INDEX ix_transaction_recordtype ON "transaction"(recordtype, id)',
    'CREATE INDEX ix_transaction_modified ON "transaction"(lastmodifieddate, id)',
    'CREATE INDEX ix_transaction_trandate ON "transaction"(trandate, id)',
    'CREATE INDEX ix_transaction_entity ON "transaction"(entity, type)',
    'CREATE INDEX ix_transactionline_txn ON transactionline("transaction", id)',
    'CREATE INDEX ix_tal_txn ON transactionaccountingline("transaction", transactionline)',
    "CREATE INDEX ix_tal_account ON transactionaccountingline(account)",
    "CREATE INDEX ix_link_previous ON nexttransactionlinelink(previousdoc)",
    "CREATE INDEX ix_link_next ON nexttransactionlinelink(nextdoc)",
    "CREATE INDEX ix_deleted ON deletedrecord(deleteddate)",
)


def ddl() -> list[str]:
    """CREATE statements for every table, view and index, in order."""
    statements = []
    for table, columns in CATALOG.items():
        if table == "previoustransactionlinelink":
            continue
        defs = []
        for column, kind in columns.items():
            primary = " PRIMARY KEY" if column == _primary_key(table) else ""
            defs.append(f'"{column}" {_COLUMN_SQL[kind]}{primary}')
        defs += [f"{column} {sql_type}" for column, sql_type in _HIDDEN.get(table, {}).items()]
        statements.append(f'CREATE TABLE "{table}" ({", ".join(defs)})')
    # Both link tables are one relation seen from either side, so one is a view of the other.
    statements.append("CREATE VIEW previoustransactionlinelink AS SELECT * FROM nexttransactionlinelink")
    statements.append("CREATE TABLE ns_customercurrency (customer INTEGER, currency INTEGER)")
    statements.append("CREATE INDEX ix_customercurrency ON ns_customercurrency(customer)")
    statements.extend(_INDEXES)
    return statements


def _primary_key(table: str) -> str | None:
    if table == "transactionline":
        return "uniquekey"
    if table in ("transactionaccountingline", "nexttransactionlinelink", "deletedrecord"):
        return None
    return "id"


@cache
def insert_sql(table: str) -> str:
    """An INSERT with one positional parameter per column of `table`, in `all_columns` order."""
    columns = all_columns(table)
    names = ", ".join(f'"{column}"' for column in columns)
    params = ", ".join("?" for _ in columns)
    return f'INSERT INTO "{table}" ({names}) VALUES ({params})'  # noqa: S608


@cache
def all_columns(table: str) -> tuple[str, ...]:
    return (*CATALOG[table], *_HIDDEN.get(table, {}))

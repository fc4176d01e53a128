"""Records as the REST record service shows them: camelCase fields, `{links, id, refName}` references.

Ids are strings, money is a JSON number, dates are 'YYYY-MM-DD' and datetimes ISO 8601 in UTC
('2024-01-15T10:30:00Z'). Sublists (item, apply, line, payment, other, cashback, currencyList) are
shown as NetSuite shows them: by default a link to the sublist resource only, and expanded to
`{links, items, totalResults, count, hasMore, offset}` with `expandSubResources=true` (and always in
the records the seeding API returns). A select field such as `status` is `{"id", "refName"}`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from tieout.sandbox.netsuite import ledger
from tieout.sandbox.netsuite.ledger import TxnDoc
from tieout.sandbox.netsuite.masterdata import MasterData
from tieout.sandbox.netsuite.schema import STATUS_NAMES, TYPE_NAMES
from tieout.sandbox.netsuite.store import Store

RECORD_PATH = "/services/rest/record/v1"
REST_TYPE_OF_TABLE = {
    "customer": "customer",
    "currency": "currency",
    "subsidiary": "subsidiary",
    "account": "account",
    "term": "term",
    "accountingperiod": "accountingPeriod",
}
REST_TYPE_OF_TXN = {
    "CustInvc": "invoice",
    "CustPymt": "customerPayment",
    "CustCred": "creditMemo",
    "CustRfnd": "customerRefund",
    "Deposit": "deposit",
    "Journal": "journalEntry",
}
REST_TYPE_OF_ITEM = {"NonInvtPart": "nonInventorySaleItem", "Service": "serviceSaleItem"}


def self_link(href: str) -> list[dict[str, str]]:
    return [{"rel": "self", "href": href}]


def record_url(base_url: str, rest_type: str, record_id: int | str) -> str:
    return f"{base_url}{RECORD_PATH}/{rest_type}/{record_id}"


def ref(store: Store, base_url: str, table: str, record_id: int | None) -> dict[str, Any] | None:
    if record_id is None:
        return None
    rest_type = REST_TYPE_OF_TABLE.get(table)
    if table == "item":
        rest_type = REST_TYPE_OF_ITEM.get(store.cached_value("item", record_id, "itemtype"))
    if table == "transaction":
        found = store.db.execute(
            'SELECT type, tranid FROM "transaction" WHERE id = ?', (record_id,)
        ).fetchone()
        rest_type = REST_TYPE_OF_TXN.get(found["type"]) if found else None
        name = None if found is None else f"{TYPE_NAMES[found['type']]} #{found['tranid']}"
    else:
        name = store.name_of(table, record_id)
    value: dict[str, Any] = {"id": str(record_id)}
    if rest_type:
        value = {"links": self_link(record_url(base_url, rest_type, record_id)), **value}
    if name is not None:
        value["refName"] = name
    return value


def iso_date(text: str | None) -> str | None:
    return None if text is None else text[:10]


def iso_datetime(text: str | None) -> str | None:
    return None if text is None else f"{text[:10]}T{text[11:19]}Z"


def day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def sublist(href: str, items: list[dict[str, Any]], expand: bool) -> dict[str, Any]:
    if not expand:
        return {"links": self_link(href)}
    return {
        "links": self_link(href),
        "items": items,
        "totalResults": len(items),
        "count": len(items),
        "hasMore": False,
        "offset": 0,
    }


def compact(record: dict[str, Any]) -> dict[str, Any]:
    """NetSuite leaves empty fields out of a record."""
    return {key: value for key, value in record.items() if value is not None}


def render_master(
    store: MasterData, table: str, record_id: int, base_url: str = "", expand: bool = True
) -> dict[str, Any]:
    row = store.row(table, record_id)
    rest_type = REST_TYPE_OF_ITEM[row["itemtype"]] if table == "item" else REST_TYPE_OF_TABLE[table]
    url = record_url(base_url, rest_type, record_id)
    out: dict[str, Any] = {"links": self_link(url), "id": str(record_id)}
    if row.keys().count("externalid") and row["externalid"] is not None:
        out["externalId"] = row["externalid"]
    for rest_field, column, kind in MASTER_FIELDS[table]:
        value = row[column]
        if value is None:
            continue
        if kind == "bool":
            out[rest_field] = value == "T"
        elif kind == "date":
            out[rest_field] = iso_date(value)
        elif kind == "datetime":
            out[rest_field] = iso_datetime(value)
        elif kind.startswith("ref:"):
            out[rest_field] = ref(store, base_url, kind[4:], int(value))
        else:
            out[rest_field] = value
    if table == "customer":
        out.update(_customer_balances(store, record_id))
        items = [
            {"currency": ref(store, base_url, "currency", currency_id)}
            for currency_id in store.customer_currencies(record_id)
        ]
        out["currencyList"] = sublist(f"{url}/currencyList", items, expand)
    return out


MASTER_FIELDS: dict[str, list[tuple[str, str, str]]] = {
    "currency": [
        ("name", "name", "text"),
        ("symbol", "symbol", "text"),
        ("displaySymbol", "displaysymbol", "text"),
        ("exchangeRate", "exchangerate", "float"),
        ("isBaseCurrency", "isbasecurrency", "bool"),
        ("isInactive", "isinactive", "bool"),
        ("currencyPrecision", "currencyprecision", "int"),
        ("lastModifiedDate", "lastmodifieddate", "datetime"),
    ],
    "subsidiary": [
        ("name", "name", "text"),
        ("legalName", "legalname", "text"),
        ("currency", "currency", "ref:currency"),
        ("country", "country", "text"),
        ("parent", "parent", "ref:subsidiary"),
        ("isElimination", "iselimination", "bool"),
        ("isInactive", "isinactive", "bool"),
        ("lastModifiedDate", "lastmodifieddate", "datetime"),
    ],
    "account": [
        ("acctName", "fullname", "text"),
        ("acctNumber", "acctnumber", "text"),
        ("acctType", "accttype", "text"),
        ("currency", "currency", "ref:currency"),
        ("subsidiary", "subsidiary", "ref:subsidiary"),
        ("description", "description", "text"),
        ("isInactive", "isinactive", "bool"),
        ("lastModifiedDate", "lastmodifieddate", "datetime"),
    ],
    "item": [
        ("itemId", "itemid", "text"),
        ("displayName", "displayname", "text"),
        ("salesDescription", "description", "text"),
        ("incomeAccount", "incomeaccount", "ref:account"),
        ("subsidiary", "subsidiary", "ref:subsidiary"),
        ("isInactive", "isinactive", "bool"),
        ("createdDate", "createddate", "datetime"),
        ("lastModifiedDate", "lastmodifieddate", "datetime"),
    ],
    "term": [
        ("name", "name", "text"),
        ("daysUntilNetDue", "daysuntilnetdue", "int"),
        ("isInactive", "isinactive", "bool"),
    ],
    "accountingperiod": [
        ("periodName", "periodname", "text"),
        ("startDate", "startdate", "date"),
        ("endDate", "enddate", "date"),
        ("closed", "closed", "bool"),
        ("arLocked", "arlocked", "bool"),
        ("apLocked", "aplocked", "bool"),
        ("allLocked", "alllocked", "bool"),
        ("isAdjust", "isadjust", "bool"),
        ("isQuarter", "isquarter", "bool"),
        ("isYear", "isyear", "bool"),
        ("lastModifiedDate", "lastmodifieddate", "datetime"),
    ],
    "customer": [
        ("entityId", "entityid", "text"),
        ("companyName", "companyname", "text"),
        ("isPerson", "isperson", "bool"),
        ("firstName", "firstname", "text"),
        ("lastName", "lastname", "text"),
        ("email", "email", "text"),
        ("phone", "phone", "text"),
        ("subsidiary", "subsidiary", "ref:subsidiary"),
        ("currency", "currency", "ref:currency"),
        ("terms", "terms", "ref:term"),
        ("parent", "parent", "ref:customer"),
        ("receivablesAccount", "receivablesaccount", "ref:account"),
        ("creditLimit", "creditlimit", "float"),
        ("isInactive", "isinactive", "bool"),
        ("dateCreated", "datecreated", "datetime"),
        ("lastModifiedDate", "lastmodifieddate", "datetime"),
    ],
}


def _customer_balances(store: Store, customer_id: int) -> dict[str, float]:
    """Open balance and overdue balance in the customer's primary currency terms (base amounts)."""
    today = store.today().strftime("%Y-%m-%d 00:00:00")
    row = store.db.execute(
        "SELECT "
        " COALESCE(SUM(CASE WHEN type = 'CustInvc' THEN foreignamountunpaid * exchangerate END), 0) "
        " - COALESCE(SUM(CASE WHEN type IN ('CustCred', 'CustPymt') "
        "   THEN foreignpaymentamountunused * exchangerate END), 0) AS balance, "
        " COALESCE(SUM(CASE WHEN type = 'CustInvc' AND duedate < ? "
        "   THEN foreignamountunpaid * exchangerate END), 0) AS overdue "
        'FROM "transaction" WHERE entity = ?',
        (today, customer_id),
    ).fetchone()
    return {"balance": round(float(row["balance"]), 2), "overdueBalance": round(float(row["overdue"]), 2)}


def render_transaction(store: Store, doc: TxnDoc, base_url: str = "", expand: bool = True) -> dict[str, Any]:
    rest_type = REST_TYPE_OF_TXN[doc.type]
    url = record_url(base_url, rest_type, doc.id)
    status = None
    if doc.status is not None:
        status = {"id": doc.status, "refName": STATUS_NAMES.get((doc.type, doc.status), doc.status)}
    out: dict[str, Any] = {
        "links": self_link(url),
        "id": str(doc.id),
        "tranId": doc.tran_id,
        "tranDate": day(doc.tran_date),
        "subsidiary": ref(store, base_url, "subsidiary", doc.subsidiary_id),
        "currency": ref(store, base_url, "currency", doc.currency_id),
        "exchangeRate": doc.exchange_rate,
        "postingPeriod": ref(store, base_url, "accountingperiod", doc.posting_period_id),
        "status": status,
        "externalId": doc.external_id,
        "memo": doc.memo,
        "total": doc.total,
        "createdDate": iso_datetime(doc.created),
        "lastModifiedDate": iso_datetime(doc.modified),
    }
    customer = ref(store, base_url, "customer", doc.entity_id)
    if doc.type in ("CustInvc", "CustCred"):
        subtotal = sum(line.amount for line in doc.lines if line.sublist == "item")
        out.update(
            entity=customer,
            dueDate=day(doc.due_date),
            terms=ref(store, base_url, "term", doc.terms_id),
            otherRefNum=doc.other_ref_num,
            startDate=day(doc.start_date),
            endDate=day(doc.end_date),
            subtotal=subtotal,
            taxTotal=doc.tax_total,
            account=ref(store, base_url, "account", _ar(store, doc)),
        )
        items = [
            compact(
                {
                    "links": self_link(f"{url}/item/{number}"),
                    "line": number,
                    "item": ref(store, base_url, "item", line.item_id),
                    "quantity": line.quantity,
                    "rate": line.rate,
                    "amount": line.amount,
                    "description": line.memo,
                }
            )
            for number, line in enumerate(doc.lines, start=1)
            if line.sublist == "item"
        ]
        out["item"] = sublist(f"{url}/item", items, expand)
        if doc.type == "CustInvc":
            out.update(amountPaid=doc.consumed, amountRemaining=doc.remaining)
    if doc.type in ("CustPymt", "CustCred", "CustRfnd"):
        applied = sum(application.amount for application in doc.applies)
        if doc.type != "CustRfnd":
            out.update(applied=applied, unapplied=doc.remaining)
        if doc.type == "CustPymt":
            out.update(
                customer=customer,
                payment=doc.total,
                checkNum=doc.other_ref_num,
                undepFunds=doc.undeposited,
                arAcct=ref(store, base_url, "account", _ar(store, doc)),
            )
        if doc.type == "CustRfnd":
            out["customer"] = customer
        if doc.type != "CustCred":
            out["account"] = ref(store, base_url, "account", doc.account_id)
        out["apply"] = sublist(f"{url}/apply", _apply_items(store, doc, base_url, url), expand)
    if doc.type == "Deposit":
        out["account"] = ref(store, base_url, "account", doc.account_id)
        for name in ("payment", "other", "cashback"):
            lines = [line for line in doc.lines if line.sublist == name]
            out[name] = sublist(
                f"{url}/{name}", _deposit_items(store, doc, name, lines, base_url, url), expand
            )
    if doc.type == "Journal":
        out["approved"] = doc.status == "B"
        items = [
            compact(
                {
                    "links": self_link(f"{url}/line/{number}"),
                    "line": number,
                    "account": ref(store, base_url, "account", line.account_id),
                    "debit": line.amount if line.debit else None,
                    "credit": None if line.debit else line.amount,
                    "entity": ref(store, base_url, "customer", line.entity_id),
                    "memo": line.memo,
                }
            )
            for number, line in enumerate(doc.lines)
        ]
        out["line"] = sublist(f"{url}/line", items, expand)
    return compact(out)


def _ar(store: Store, doc: TxnDoc) -> int | None:
    if doc.ar_account_id is not None:
        return doc.ar_account_id
    return ledger.special_account(store, doc.subsidiary_id, "AcctRec")


def _apply_items(store: Store, doc: TxnDoc, base_url: str, url: str) -> list[dict[str, Any]]:
    items = []
    for number, application in enumerate(doc.applies, start=1):
        target = store.row("transaction", application.doc_id)
        due_column = "foreignamountunpaid" if target["type"] == "CustInvc" else "foreignpaymentamountunused"
        items.append(
            compact(
                {
                    "links": self_link(f"{url}/apply/{number}"),
                    "line": number,
                    "doc": ref(store, base_url, "transaction", application.doc_id),
                    "apply": True,
                    "amount": application.amount,
                    "total": target["foreigntotal"],
                    "due": target[due_column],
                    "refNum": target["tranid"],
                    "type": TYPE_NAMES[target["type"]],
                    "applyDate": iso_date(target["trandate"]),
                    "currency": ref(store, base_url, "currency", target["currency"]),
                }
            )
        )
    return items


def _deposit_items(
    store: Store, doc: TxnDoc, name: str, lines: list[ledger.Line], base_url: str, url: str
) -> list[dict[str, Any]]:
    items = []
    if name == "payment":
        for number, application in enumerate(doc.applies, start=1):
            target = store.row("transaction", application.doc_id)
            items.append(
                compact(
                    {
                        "links": self_link(f"{url}/payment/{number}"),
                        "deposit": True,
                        "id": str(application.doc_id),
                        "docNumber": target["tranid"],
                        "paymentAmount": application.amount,
                        "entity": ref(store, base_url, "customer", target["entity"]),
                        "currency": ref(store, base_url, "currency", target["currency"]),
                        "tranDate": iso_date(target["trandate"]),
                        "type": "Payment",
                    }
                )
            )
        return items
    for number, line in enumerate(lines, start=1):
        items.append(
            compact(
                {
                    "links": self_link(f"{url}/{name}/{number}"),
                    "line": number,
                    "amount": line.amount,
                    "account": ref(store, base_url, "account", line.account_id),
                    "entity": ref(store, base_url, "customer", line.entity_id),
                    "memo": line.memo,
                }
            )
        )
    return items

"""Record API writes: request bodies turned into seeding-API calls for POST, PATCH, upsert PUT and DELETE.

References are read from `{"id": ...}` objects (or `{"externalId": ...}`), sublists from
`{"items": [...]}`. PATCH merges the body into the record as it stands: a sublist named in the
`replace` query parameter is replaced; otherwise lines are matched by `line` (apply lines by `doc`,
deposit payment lines by `id`) and updated, and lines without a match are added; an apply line with
`apply: false` or `amount: 0` is removed. Unknown fields are refused, read-only fields ignored.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from tieout.sandbox.netsuite import ledger
from tieout.sandbox.netsuite.errors import invalid_content, invalid_field
from tieout.sandbox.netsuite.records import RecordType
from tieout.sandbox.netsuite.render import render_master, render_transaction
from tieout.sandbox.netsuite.state import NetSuiteState

_READ_ONLY = {
    "links",
    "id",
    "refName",
    "total",
    "subtotal",
    "amountPaid",
    "amountRemaining",
    "status",
    "applied",
    "unapplied",
    "createdDate",
    "dateCreated",
    "lastModifiedDate",
    "balance",
    "overdueBalance",
    "postingPeriod",
    "isBaseCurrency",
    "fullName",
}
_HEADER = {
    "tranDate": "tran_date",
    "exchangeRate": "exchange_rate",
    "memo": "memo",
    "externalId": "external_id",
    "tranId": "tran_id",
}
_TXN_FIELDS: dict[str, dict[str, str]] = {
    "CustInvc": {
        "entity": "customer_id",
        "dueDate": "due_date",
        "currency": "currency_id",
        "taxTotal": "tax_total",
        "otherRefNum": "other_ref_num",
        "terms": "terms_id",
        "startDate": "start_date",
        "endDate": "end_date",
        "item": "lines",
        "subsidiary": "",
        "account": "",
    },
    "CustPymt": {
        "customer": "customer_id",
        "currency": "currency_id",
        "payment": "amount",
        "undepFunds": "undeposited",
        "account": "account_id",
        "arAcct": "ar_account_id",
        "checkNum": "check_num",
        "apply": "applies",
        "subsidiary": "",
    },
    "CustRfnd": {
        "customer": "customer_id",
        "currency": "currency_id",
        "account": "account_id",
        "apply": "applies",
        "subsidiary": "",
    },
    "Deposit": {
        "account": "account_id",
        "currency": "currency_id",
        "payment": "payment_ids",
        "other": "other",
        "cashback": "cashback",
        "subsidiary": "",
    },
    "Journal": {
        "subsidiary": "subsidiary_id",
        "currency": "currency_id",
        "approved": "approved",
        "line": "lines",
    },
}
_TXN_FIELDS["CustCred"] = {**_TXN_FIELDS["CustInvc"], "apply": "applies"}
_DATES = {"tran_date", "due_date", "start_date", "end_date"}
_REFS = {"customer_id", "currency_id", "terms_id", "account_id", "ar_account_id", "subsidiary_id"}
_SUBLIST_KEYS = {"apply": "doc", "payment": "id"}


def ref_id(value: Any, field: str) -> int:
    if isinstance(value, dict):
        value = value.get("id")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid_field(value, field) from None


def _day(value: Any, field: str) -> date:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise invalid_field(value, field) from None


def _items(value: Any, field: str) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        value = value.get("items", [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise invalid_field(value, field)
    return value


def _line(item: dict[str, Any]) -> dict[str, Any]:
    out = {key: value for key, value in item.items() if key not in ("links", "line")}
    for key in ("item", "account", "entity"):
        if isinstance(out.get(key), dict):
            out[key] = ref_id(out[key], key)
    return out


def transaction_fields(doc_type: str, body: dict[str, Any]) -> dict[str, Any]:
    mapping = {**_HEADER, **_TXN_FIELDS[doc_type]}
    fields: dict[str, Any] = {}
    for key, value in body.items():
        if key in _READ_ONLY or mapping.get(key) == "":
            continue
        target = mapping.get(key)
        if target is None:
            raise invalid_content(f"Invalid property name: {key}.", key)
        if value is None:
            continue
        if target in _DATES:
            fields[target] = _day(value, key)
        elif target in _REFS:
            fields[target] = ref_id(value, key)
        elif target == "lines" or target in ("other", "cashback"):
            fields[target] = [_line(item) for item in _items(value, key)]
        elif target == "applies":
            fields[target] = [
                (ref_id(item.get("doc"), "doc"), item.get("amount"))
                for item in _items(value, key)
                if item.get("apply", True) and item.get("amount") != 0
            ]
        elif target == "payment_ids":
            fields[target] = [
                ref_id(item.get("id", item.get("doc")), "id")
                for item in _items(value, key)
                if item.get("deposit", True)
            ]
        elif target in ("exchange_rate", "tax_total", "amount"):
            fields[target] = float(value)
        else:
            fields[target] = value
    if doc_type == "CustPymt" and fields.get("undeposited") is True:
        fields.pop("account_id", None)
    if doc_type in ("CustPymt", "CustRfnd", "CustInvc", "CustCred") and "customer_id" not in fields:
        raise invalid_content("Please enter value(s) for: Customer", "entity")
    if doc_type in ("CustInvc", "CustCred", "Journal") and "lines" not in fields:
        fields["lines"] = []
    if doc_type == "Deposit" and "account_id" not in fields:
        raise invalid_content("Please enter value(s) for: Account", "account")
    if doc_type == "Journal" and "subsidiary_id" not in fields:
        raise invalid_content("Please enter value(s) for: Subsidiary", "subsidiary")
    return fields


def merge(current: dict[str, Any], patch: dict[str, Any], replace: set[str]) -> dict[str, Any]:
    merged = dict(current)
    for key, value in patch.items():
        if not (isinstance(value, dict) and "items" in value) or key in replace:
            merged[key] = value
            continue
        lines = [dict(item) for item in _items(current.get(key, {}), key)]
        match = _SUBLIST_KEYS.get(key, "line")
        for item in _items(value, key):
            wanted = item.get(match)
            wanted_id = ref_id(wanted, match) if isinstance(wanted, dict | str | int) else None
            found = next(
                (line for line in lines if wanted_id is not None and _key_of(line.get(match)) == wanted_id),
                None,
            )
            if found is None:
                lines.append(dict(item))
                continue
            if key == "item" and ({"quantity", "rate"} & item.keys()) and "amount" not in item:
                found.pop("amount", None)  # NetSuite recomputes the amount from quantity x rate
            found.update(item)
        merged[key] = {"items": lines}
    return merged


def _key_of(value: Any) -> int | None:
    try:
        return int(value["id"] if isinstance(value, dict) else value)
    except (KeyError, TypeError, ValueError):
        return None


def create(state: NetSuiteState, record: RecordType, body: dict[str, Any]) -> int:
    if record.txn_type is not None:
        fields = transaction_fields(record.txn_type, body)
        return int(state.create_transaction(record.txn_type, fields)["id"])
    return state.create_master(record.table, record.item_type, body)


def update(
    state: NetSuiteState, record: RecordType, record_id: int, body: dict[str, Any], replace: set[str]
) -> None:
    if record.txn_type is None:
        state.update_master(record.table, record.item_type, record_id, body)
        return
    if record.txn_type == "CustPymt" and "account" in body and "undepFunds" not in body:
        body = {**body, "undepFunds": False}
    with state.lock:
        doc = ledger.load(state, record_id, doc_type=record.txn_type)
        current = render_transaction(state, doc)
        fields = transaction_fields(record.txn_type, merge(current, body, replace))
        state.replace_transaction(record_id, record.txn_type, fields)


def upsert(
    state: NetSuiteState, record: RecordType, external_id: str, body: dict[str, Any], replace: set[str]
) -> int:
    body = {**body, "externalId": external_id}
    with state.lock:
        record_id = state.find_external(record, external_id)
        if record_id is None:
            return create(state, record, body)
        update(state, record, record_id, body, replace)
        return record_id


def delete(state: NetSuiteState, record: RecordType, record_id: int) -> None:
    if record.txn_type is not None:
        state.delete_transaction(record_id, record.txn_type)
    else:
        state.delete_master(record.table, record.item_type, record_id)


def read(
    state: NetSuiteState, record: RecordType, record_id: int, base_url: str, expand: bool
) -> dict[str, Any]:
    with state.lock:
        if record.txn_type is not None:
            doc = ledger.load(state, record_id, doc_type=record.txn_type)
            return render_transaction(state, doc, base_url, expand)
        state.check_kind(record.table, record.item_type, record_id)
        return render_master(state, record.table, record_id, base_url, expand)

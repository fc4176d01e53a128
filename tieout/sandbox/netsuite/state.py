"""The NetSuite emulator's state: the account's records, its integration credentials and its limits.

`NetSuiteState` is what a scenario generator seeds (see `store.Store` for master data and
`transactions.Transactions` for transactions: every `create_*` method returns the record as the REST
service shows it) and what `app.build_app` serves. `concurrency_limit` is the account's limit on
requests in flight (NetSuite's governance; default 5); `authority` holds the OAuth clients.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.netsuite.auth import Authority
from tieout.sandbox.netsuite.errors import invalid_content, invalid_field, not_found
from tieout.sandbox.netsuite.suiteql import install_functions
from tieout.sandbox.netsuite.transactions import Transactions

if TYPE_CHECKING:
    from tieout.sandbox.netsuite.records import RecordType

# REST field -> (create keyword, column, kind) for the master-data record types.
_MASTER_FIELDS: dict[str, dict[str, tuple[str, str, str]]] = {
    "customer": {
        "companyName": ("company_name", "companyname", "text"),
        "subsidiary": ("subsidiary_id", "subsidiary", "ref:subsidiary"),
        "currency": ("currency_id", "currency", "ref:currency"),
        "entityId": ("entity_id", "entityid", "text"),
        "email": ("email", "email", "text"),
        "phone": ("phone", "phone", "text"),
        "externalId": ("external_id", "externalid", "text"),
        "terms": ("terms_id", "terms", "ref:term"),
        "creditLimit": ("credit_limit", "creditlimit", "float"),
        "parent": ("parent_id", "parent", "ref:customer"),
        "receivablesAccount": ("receivables_account_id", "receivablesaccount", "ref:account"),
        "isPerson": ("is_person", "isperson", "bool"),
        "firstName": ("first_name", "firstname", "text"),
        "lastName": ("last_name", "lastname", "text"),
        "isInactive": ("", "isinactive", "bool"),
    },
    "subsidiary": {
        "name": ("name", "name", "text"),
        "currency": ("currency_id", "currency", "ref:currency"),
        "country": ("country", "country", "text"),
        "legalName": ("legal_name", "legalname", "text"),
        "parent": ("parent_id", "parent", "ref:subsidiary"),
        "externalId": ("external_id", "externalid", "text"),
        "isInactive": ("", "isinactive", "bool"),
    },
    "currency": {
        "symbol": ("symbol", "symbol", "text"),
        "name": ("name", "name", "text"),
        "exchangeRate": ("exchange_rate", "exchangerate", "float"),
        "currencyPrecision": ("precision", "currencyprecision", "int"),
        "externalId": ("external_id", "externalid", "text"),
        "isInactive": ("", "isinactive", "bool"),
    },
    "account": {
        "acctName": ("name", "fullname", "text"),
        "acctType": ("acct_type", "accttype", "text"),
        "acctNumber": ("number", "acctnumber", "text"),
        "subsidiary": ("subsidiary_id", "subsidiary", "ref:subsidiary"),
        "currency": ("currency_id", "currency", "ref:currency"),
        "description": ("description", "description", "text"),
        "externalId": ("external_id", "externalid", "text"),
        "isInactive": ("", "isinactive", "bool"),
    },
    "item": {
        "itemId": ("name", "itemid", "text"),
        "displayName": ("display_name", "displayname", "text"),
        "salesDescription": ("description", "description", "text"),
        "incomeAccount": ("income_account_id", "incomeaccount", "ref:account"),
        "subsidiary": ("subsidiary_id", "subsidiary", "ref:subsidiary"),
        "externalId": ("external_id", "externalid", "text"),
        "isInactive": ("", "isinactive", "bool"),
    },
    "term": {
        "name": ("name", "name", "text"),
        "daysUntilNetDue": ("days_until_net_due", "daysuntilnetdue", "int"),
        "isInactive": ("", "isinactive", "bool"),
    },
    "accountingperiod": {
        "periodName": ("name", "periodname", "text"),
        "startDate": ("start", "startdate", "date"),
        "endDate": ("end", "enddate", "date"),
        "closed": ("closed", "closed", "bool"),
        "arLocked": ("ar_locked", "arlocked", "bool"),
    },
}
_IGNORED = {
    "links",
    "id",
    "refName",
    "lastModifiedDate",
    "dateCreated",
    "createdDate",
    "balance",
    "overdueBalance",
    "currencyList",
    "isBaseCurrency",
    "displaySymbol",
    "allLocked",
    "apLocked",
    "isAdjust",
    "isQuarter",
    "isYear",
}
# What refers to a master record, so that deleting it in use is refused.
_USED_BY = {
    "customer": (
        'SELECT 1 FROM "transaction" WHERE entity = ? UNION ALL '
        "SELECT 1 FROM customer WHERE parent = ? LIMIT 1"
    ),
    "item": "SELECT 1 FROM transactionline WHERE item = ? UNION ALL SELECT 1 FROM transactionline WHERE -1 = ? LIMIT 1",
    "account": (
        "SELECT 1 FROM transactionaccountingline WHERE account = ? UNION ALL "
        "SELECT 1 FROM item WHERE incomeaccount = ? LIMIT 1"
    ),
    "currency": (
        'SELECT 1 FROM "transaction" WHERE currency = ? UNION ALL '
        "SELECT 1 FROM ns_customercurrency WHERE currency = ? LIMIT 1"
    ),
    "subsidiary": (
        "SELECT 1 FROM customer WHERE subsidiary = ? UNION ALL "
        "SELECT 1 FROM account WHERE subsidiary = ? LIMIT 1"
    ),
    "term": (
        'SELECT 1 FROM customer WHERE terms = ? UNION ALL SELECT 1 FROM "transaction" WHERE terms = ? LIMIT 1'
    ),
    "accountingperiod": (
        'SELECT 1 FROM "transaction" WHERE postingperiod = ? UNION ALL '
        'SELECT 1 FROM "transaction" WHERE -1 = ? LIMIT 1'
    ),
}


class NetSuiteState(Transactions):
    """One emulated NetSuite account."""

    def __init__(
        self,
        clock: SandboxClock | None = None,
        *,
        account_id: str = "TSTDRV0000001",
        concurrency_limit: int = 5,
        token_lifetime_seconds: int = 3600,
    ) -> None:
        super().__init__(clock)
        install_functions(self.db)
        self.account_id = account_id
        self.concurrency_limit = concurrency_limit
        self.authority = Authority(self.clock, token_lifetime=token_lifetime_seconds)

    # -- master data through the record API ------------------------------------------------------

    def _values(self, table: str, body: dict[str, Any], *, for_create: bool) -> dict[str, Any]:
        fields = _MASTER_FIELDS[table]
        out: dict[str, Any] = {}
        for key, value in body.items():
            if key in _IGNORED:
                continue
            if key not in fields:
                raise invalid_content(f"Invalid property name: {key}.", key)
            keyword, column, kind = fields[key]
            if for_create and not keyword:
                continue
            out[keyword if for_create else column] = self._convert(value, kind, key, for_create)
        return out

    def _convert(self, value: Any, kind: str, field: str, for_create: bool) -> Any:
        if value is None:
            return None
        try:
            if kind.startswith("ref:"):
                return int(value["id"] if isinstance(value, dict) else value)
            if kind == "bool":
                if not isinstance(value, bool):
                    raise ValueError(value)
                return value if for_create else ("T" if value else "F")
            if kind == "float":
                return float(value)
            if kind == "int":
                return int(value)
            if kind == "date":
                day = date.fromisoformat(str(value)[:10])
                return day if for_create else day.strftime("%Y-%m-%d 00:00:00")
            if isinstance(value, dict):
                value = value.get("id")
            return str(value)
        except (TypeError, ValueError, AttributeError):
            raise invalid_field(value, field) from None

    def create_master(self, table: str, item_type: str | None, body: dict[str, Any]) -> int:
        values = self._values(table, body, for_create=True)
        currency_list = (
            [
                int(entry["currency"]["id"])
                for entry in body.get("currencyList", {}).get("items", [])
                if isinstance(entry.get("currency"), dict)
            ]
            if table == "customer"
            else []
        )
        required = {
            "customer": ["subsidiary_id"],
            "subsidiary": ["name", "currency_id"],
            "currency": ["symbol"],
            "account": ["name", "acct_type"],
            "item": ["name", "income_account_id"],
            "term": ["name"],
            "accountingperiod": ["name", "start", "end"],
        }[table]
        if table == "customer" and not values.get("is_person"):
            required = [*required, "company_name"]
        if table == "customer" and values.get("is_person") and "company_name" not in values:
            values["company_name"] = " ".join(
                filter(None, [values.get("first_name"), values.get("last_name")])
            )
        missing = [name for name in required if values.get(name) is None]
        if missing:
            raise invalid_content(f"Please enter value(s) for: {', '.join(missing)}")
        with self.lock:
            if table == "customer":
                values["currency_ids"] = currency_list
                record = self.create_customer(**values)
            elif table == "subsidiary":
                values.setdefault("country", "US")
                record = self.create_subsidiary(**values)
            elif table == "currency":
                record = self.create_currency(**values)
            elif table == "account":
                record = self.create_account(**values)
            elif table == "item":
                record = self.create_item(**values, item_type=item_type or "NonInvtPart")
            elif table == "term":
                record = self.create_term(values["name"], int(values.get("days_until_net_due") or 0))
            else:
                record = self.create_accounting_period(**values)
            return int(record["id"])

    def update_master(self, table: str, item_type: str | None, record_id: int, body: dict[str, Any]) -> None:
        with self._atomic():
            self.check_kind(table, item_type, record_id)
            values = self._values(table, body, for_create=False)
            for key, (_, column, kind) in _MASTER_FIELDS[table].items():
                if column in values and kind.startswith("ref:"):
                    self.check_ref(kind[4:], values[column], key)
            if "externalid" in values:
                where = {"itemtype": item_type} if table == "item" else {}
                self.check_external_id(table, values["externalid"], own_id=record_id, **where)
            if table == "customer" and ({"subsidiary", "currency"} & values.keys()):
                current = self.row("customer", record_id)
                changed = any(values[c] != current[c] for c in ("subsidiary", "currency") if c in values)
                used = self.db.execute(
                    'SELECT 1 FROM "transaction" WHERE entity = ? LIMIT 1', (record_id,)
                ).fetchone()
                if changed and used:
                    raise invalid_content(
                        "You cannot change the subsidiary or currency of a customer with transactions.",
                        "subsidiary",
                    )
            if table != "term":
                values["lastmodifieddate"] = self.now_text()
            if table == "customer" and "companyname" in values:
                values["altname"] = values["companyname"]
            self.update_row(table, record_id, values)
            if table == "customer" and ("currency" in values or "currencyList" in body):
                items = body.get("currencyList", {}).get("items", [])
                extra = [
                    int(entry["currency"]["id"]) for entry in items if isinstance(entry.get("currency"), dict)
                ]
                keep = extra if "currencyList" in body else self.customer_currencies(record_id)
                self.set_customer_currencies(record_id, keep)
            self.refresh_name(table, record_id)
            self.forget_cached()

    def delete_master(self, table: str, item_type: str | None, record_id: int) -> None:
        with self._atomic():
            self.check_kind(table, item_type, record_id)
            if self.db.execute(_USED_BY[table], (record_id, record_id)).fetchone() is not None:
                raise invalid_content("This record cannot be deleted because it has dependent records.")
            rest_type = table
            if table == "item":
                rest_type = "noninventorysaleitem" if item_type == "NonInvtPart" else "servicesaleitem"
            self.record_deletion(record_id, rest_type, self.name_of(table, record_id))
            self.db.execute(f'DELETE FROM "{table}" WHERE id = ?', (record_id,))  # noqa: S608
            if table == "customer":
                self.db.execute("DELETE FROM ns_customercurrency WHERE customer = ?", (record_id,))
            self.forget_cached()

    def check_kind(self, table: str, item_type: str | None, record_id: int) -> None:
        if item_type is not None:
            if not self.exists(table, record_id, itemtype=item_type):
                raise not_found()
        else:
            self.row(table, record_id)

    def find_external(self, record: RecordType, external_id: str) -> int | None:
        with self.lock:
            if record.txn_type is not None:
                from tieout.sandbox.netsuite.ledger import RECORD_TYPES

                return self.id_for_external(
                    "transaction", external_id, recordtype=RECORD_TYPES[record.txn_type]
                )
            if record.item_type is not None:
                return self.id_for_external("item", external_id, itemtype=record.item_type)
            if record.table in ("term", "accountingperiod"):
                return None
            return self.id_for_external(record.table, external_id)

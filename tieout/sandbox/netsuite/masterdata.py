"""Master data of the emulated account: currencies, subsidiaries, accounts, terms, periods, items, customers.

Each `create_*` method is part of the seeding API and returns the record as the REST service
shows it; the record API's POST for these types calls the same methods. Names for `refName` are
cached as records are written.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import date
from typing import Any

from tieout.sandbox.netsuite import schema
from tieout.sandbox.netsuite.errors import invalid_content, invalid_field
from tieout.sandbox.netsuite.store import Store, flag, ns_date

# Currencies whose minor unit is not the cent (ISO 4217 exponents).
_PRECISION = {"JPY": 0, "KRW": 0, "CLP": 0, "VND": 0, "ISK": 0, "KWD": 3, "BHD": 3, "JOD": 3, "OMR": 3}

STANDARD_ACCOUNTS: dict[str, tuple[str, str, str, str | None]] = {
    # role: (number, name, accttype, special account)
    "bank": ("1000", "Operating Bank", "Bank", None),
    "undeposited": ("1190", "Undeposited Funds", "OthCurrAsset", "UndepFunds"),
    "receivables": ("1200", "Accounts Receivable", "AcctRec", "AcctRec"),
    "tax": ("2200", "Sales Tax Payable", "OthCurrLiab", "SalesTaxPay"),
    "revenue": ("4000", "Subscription Revenue", "Income", None),
    "fees": ("6100", "Merchant Processing Fees", "Expense", None),
}


class MasterData(Store):
    """Master-data writes on top of the storage core."""

    def create_currency(
        self,
        symbol: str,
        *,
        name: str | None = None,
        exchange_rate: float = 1.0,
        precision: int | None = None,
        is_base: bool = False,
        external_id: str | None = None,
    ) -> dict[str, Any]:
        """A currency; `exchange_rate` is its value in the root subsidiary's base currency."""
        with self.lock:
            if self.db.execute("SELECT 1 FROM currency WHERE symbol = ?", (symbol,)).fetchone():
                raise invalid_content("This record already exists.", "symbol")
            self.check_external_id("currency", external_id)
            currency_id = self.next_id("currency")
            digits = _PRECISION.get(symbol.upper(), 2) if precision is None else precision
            label = name or symbol
            self.insert(
                "currency",
                {
                    "id": currency_id,
                    "name": label,
                    "symbol": symbol,
                    "displaysymbol": symbol,
                    "exchangerate": exchange_rate,
                    "isbasecurrency": flag(is_base),
                    "isinactive": "F",
                    "currencyprecision": digits,
                    "externalid": external_id,
                    "lastmodifieddate": self.now_text(),
                },
            )
            self._names[("currency", currency_id)] = label
            self._currency_precision[currency_id] = digits
            return self._record("currency", currency_id)

    def create_subsidiary(
        self,
        name: str,
        *,
        currency_id: int,
        country: str,
        legal_name: str | None = None,
        parent_id: int | None = None,
        external_id: str | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            self.check_ref("currency", currency_id, "currency")
            self.check_ref("subsidiary", parent_id, "parent")
            self.check_external_id("subsidiary", external_id)
            subsidiary_id = self.next_id("subsidiary")
            parent_name = self.name_of("subsidiary", parent_id)
            self.insert(
                "subsidiary",
                {
                    "id": subsidiary_id,
                    "name": name,
                    "legalname": legal_name or name,
                    "fullname": f"{parent_name} : {name}" if parent_name else name,
                    "currency": currency_id,
                    "country": country,
                    "parent": parent_id,
                    "iselimination": "F",
                    "isinactive": "F",
                    "externalid": external_id,
                    "lastmodifieddate": self.now_text(),
                },
            )
            self._names[("subsidiary", subsidiary_id)] = name
            return self._record("subsidiary", subsidiary_id)

    def create_account(
        self,
        name: str,
        *,
        acct_type: str,
        subsidiary_id: int | None = None,
        number: str | None = None,
        currency_id: int | None = None,
        special: str | None = None,
        description: str | None = None,
        external_id: str | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            self.check_ref("subsidiary", subsidiary_id, "subsidiary")
            self.check_ref("currency", currency_id, "currency")
            self.check_external_id("account", external_id)
            account_id = self.next_id("account")
            display = f"{number} {name}" if number else name
            self.insert(
                "account",
                {
                    "id": account_id,
                    "acctnumber": number,
                    "accountsearchdisplayname": display,
                    "fullname": name,
                    "accttype": acct_type,
                    "sspecacct": special,
                    "currency": currency_id,
                    "subsidiary": subsidiary_id,
                    "description": description,
                    "isinactive": "F",
                    "externalid": external_id,
                    "lastmodifieddate": self.now_text(),
                },
            )
            self._names[("account", account_id)] = display
            return self._record("account", account_id)

    def create_standard_accounts(self, subsidiary_id: int) -> dict[str, dict[str, Any]]:
        """Bank, undeposited funds, AR control, tax payable, revenue and fees accounts for one subsidiary."""
        with self.lock:
            sub = self.row("subsidiary", subsidiary_id)
            created = {}
            for role, (number, name, acct_type, special) in STANDARD_ACCOUNTS.items():
                created[role] = self.create_account(
                    f"{name} ({sub['name']})",
                    acct_type=acct_type,
                    subsidiary_id=subsidiary_id,
                    number=f"{number}-{subsidiary_id}",
                    currency_id=int(sub["currency"]),
                    special=special,
                )
            return created

    def create_term(self, name: str, days_until_net_due: int) -> dict[str, Any]:
        with self.lock:
            term_id = self.next_id("term")
            self.insert(
                "term",
                {"id": term_id, "name": name, "daysuntilnetdue": days_until_net_due, "isinactive": "F"},
            )
            self._names[("term", term_id)] = name
            return self._record("term", term_id)

    def create_accounting_period(
        self, name: str, start: date, end: date, *, closed: bool = False, ar_locked: bool = False
    ) -> dict[str, Any]:
        with self.lock:
            period_id = self.next_id("accountingperiod")
            self.insert(
                "accountingperiod",
                {
                    "id": period_id,
                    "periodname": name,
                    "startdate": ns_date(start),
                    "enddate": ns_date(end),
                    "closed": flag(closed),
                    "arlocked": flag(ar_locked or closed),
                    "aplocked": flag(closed),
                    "alllocked": flag(closed),
                    "isadjust": "F",
                    "isquarter": "F",
                    "isyear": "F",
                    "isposting": "T",
                    "lastmodifieddate": self.now_text(),
                },
            )
            self._names[("accountingperiod", period_id)] = name
            self.forget_cached()
            return self._record("accountingperiod", period_id)

    def period_for(self, day: date) -> sqlite3.Row | None:
        key = ("period", day.toordinal(), "")
        if key not in self._cache:
            text = ns_date(day)
            self._cache[key] = self.db.execute(
                "SELECT * FROM accountingperiod WHERE isposting = 'T' AND startdate <= ? AND enddate >= ? "
                "ORDER BY id LIMIT 1",
                (text, text),
            ).fetchone()
        return self._cache[key]  # type: ignore[no-any-return]

    def create_item(
        self,
        name: str,
        *,
        income_account_id: int,
        item_type: str = "NonInvtPart",
        display_name: str | None = None,
        description: str | None = None,
        subsidiary_id: int | None = None,
        external_id: str | None = None,
    ) -> dict[str, Any]:
        """A sale item; `item_type` is SuiteQL's itemtype ('NonInvtPart' or 'Service')."""
        with self.lock:
            self.check_ref("account", income_account_id, "incomeAccount")
            self.check_ref("subsidiary", subsidiary_id, "subsidiary")
            self.check_external_id("item", external_id, itemtype=item_type)
            item_id = self.next_id("item")
            now = self.now_text()
            self.insert(
                "item",
                {
                    "id": item_id,
                    "itemid": name,
                    "displayname": display_name or name,
                    "fullname": name,
                    "itemtype": item_type,
                    "description": description,
                    "incomeaccount": income_account_id,
                    "subsidiary": subsidiary_id,
                    "isinactive": "F",
                    "externalid": external_id,
                    "createddate": now,
                    "lastmodifieddate": now,
                },
            )
            self._names[("item", item_id)] = name
            return self._record("item", item_id)

    def create_customer(
        self,
        company_name: str,
        *,
        subsidiary_id: int,
        currency_id: int | None = None,
        currency_ids: Sequence[int] = (),
        entity_id: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        external_id: str | None = None,
        terms_id: int | None = None,
        credit_limit: float | None = None,
        parent_id: int | None = None,
        receivables_account_id: int | None = None,
        is_person: bool = False,
        first_name: str | None = None,
        last_name: str | None = None,
    ) -> dict[str, Any]:
        """A customer of one subsidiary; it may transact in its primary currency and `currency_ids`."""
        with self.lock:
            sub = self.db.execute("SELECT currency FROM subsidiary WHERE id = ?", (subsidiary_id,)).fetchone()
            if sub is None:
                raise invalid_field(subsidiary_id, "subsidiary")
            primary = currency_id if currency_id is not None else int(sub["currency"])
            self.check_ref("currency", primary, "currency")
            for extra in currency_ids:
                self.check_ref("currency", extra, "currencyList")
            self.check_ref("term", terms_id, "terms")
            self.check_ref("customer", parent_id, "parent")
            self.check_ref("account", receivables_account_id, "receivablesAccount", accttype="AcctRec")
            self.check_external_id("customer", external_id)
            customer_id = self.next_id("customer")
            now = self.now_text()
            entity = entity_id or f"CUS{customer_id:05d}"
            display = f"{entity} {company_name}"
            self.insert(
                "customer",
                {
                    "id": customer_id,
                    "entityid": entity,
                    "companyname": company_name,
                    "altname": company_name,
                    "isperson": flag(is_person),
                    "firstname": first_name,
                    "lastname": last_name,
                    "email": email,
                    "phone": phone,
                    "subsidiary": subsidiary_id,
                    "currency": primary,
                    "terms": terms_id,
                    "parent": parent_id,
                    "receivablesaccount": receivables_account_id,
                    "creditlimit": credit_limit,
                    "isinactive": "F",
                    "externalid": external_id,
                    "datecreated": now,
                    "lastmodifieddate": now,
                },
            )
            self.db.execute("INSERT INTO ns_customercurrency VALUES (?, ?)", (customer_id, primary))
            for extra in set(currency_ids) - {primary}:
                self.db.execute("INSERT INTO ns_customercurrency VALUES (?, ?)", (customer_id, extra))
            self._names[("customer", customer_id)] = display
            return self._record("customer", customer_id)

    def customer_currencies(self, customer_id: int) -> list[int]:
        rows = self.db.execute(
            "SELECT currency FROM ns_customercurrency WHERE customer = ? ORDER BY rowid", (customer_id,)
        ).fetchall()
        return [int(row["currency"]) for row in rows]

    def set_customer_currencies(self, customer_id: int, currency_ids: Sequence[int]) -> None:
        primary = int(self.row("customer", customer_id)["currency"])
        self.db.execute("DELETE FROM ns_customercurrency WHERE customer = ?", (customer_id,))
        for currency_id in dict.fromkeys([primary, *currency_ids]):
            self.check_ref("currency", currency_id, "currencyList")
            self.db.execute("INSERT INTO ns_customercurrency VALUES (?, ?)", (customer_id, currency_id))

    def _record(self, table: str, record_id: int) -> dict[str, Any]:
        from tieout.sandbox.netsuite.render import render_master

        return render_master(self, table, record_id)

    def refresh_name(self, table: str, record_id: int) -> None:
        row = self.row(table, record_id)
        if table == "customer":
            self._names[(table, record_id)] = f"{row['entityid']} {row['companyname']}"
        elif table == "account":
            self._names[(table, record_id)] = row["accountsearchdisplayname"]
        else:
            self._names[(table, record_id)] = row[schema.DISPLAY_COLUMN[table]]

"""An independent checker of a generated sandbox: every cross-system disagreement it can find.

It reads the four emulator states directly (no generator code, no answer key) and walks the
crosswalk conventions: Salesforce accounts to NetSuite customers by externalId, opportunities
to Metronome contracts by uniqueness_key, Metronome invoices to Stripe (external_invoice,
metadata) and NetSuite (externalId), Stripe charges, refunds, credit notes and payouts to
NetSuite payments, refunds, credit memos and deposits by externalId. Each disagreement is one
finding: (kind, {system: ids}), named as the answer key names it. One root cause is reported
once: the invoices a misapplied or missing payment leaves out of step are part of that finding.
Findings of kinds the answer key never uses (a broken link, an unexplained status) mean the
generator wrote something it did not plan.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tieout.money import currency_exponent
from tieout.sandbox.clock import SandboxClock
from tieout.sandbox.metronome import MetronomeState
from tieout.sandbox.metronome.wire import CREDIT_TYPE_ID_BY_CURRENCY, parse_time
from tieout.sandbox.netsuite import NetSuiteState
from tieout.sandbox.salesforce import SalesforceState
from tieout.sandbox.scenario.context import States
from tieout.sandbox.stripe import StripeState

NOW = datetime(2026, 11, 22, 17, 42, 10, tzinfo=UTC)
Records = tuple[tuple[str, tuple[str, ...]], ...]
Finding = tuple[str, Records]

_CURRENCY_BY_CREDIT_TYPE = {credit: code for code, credit in CREDIT_TYPE_ID_BY_CURRENCY.items()}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_LEGAL_SUFFIXES = {
    "inc",
    "llc",
    "corp",
    "corporation",
    "ltd",
    "limited",
    "plc",
    "gmbh",
    "ag",
    "kk",
    "gk",
    "co",
}


def fresh_states(emulator_seed: int = 42) -> States:
    """Empty emulator states on one clock frozen at `NOW`, as a test generates into them."""
    clock = SandboxClock(NOW)
    return States(
        clock,
        SalesforceState(clock, session_id="scenario-test"),
        MetronomeState(clock, seed=emulator_seed),
        StripeState(clock, seed=emulator_seed, api_key="sk_test_scenario"),
        NetSuiteState(clock),
    )


def finding(kind: str, **records: str) -> Finding:
    return kind, tuple(sorted((system, (native_id,)) for system, native_id in records.items()))


def answer_findings(answer_key: dict[str, Any]) -> set[Finding]:
    """The answer key's defects in the oracle's terms."""
    return {
        (
            defect["kind"],
            tuple(sorted((system, tuple(sorted(ids))) for system, ids in defect["records"].items())),
        )
        for defect in answer_key["defects"]
    }


def normalized_name(name: str) -> str:
    words = re.sub(r"[^\w\s]", " ", name.casefold()).split()
    return " ".join(word for word in words if word not in _LEGAL_SUFFIXES)


def _minor(amount: float | Decimal, currency: str) -> int:
    return int((Decimal(str(amount)).scaleb(currency_exponent(currency))).to_integral_value())


class Oracle:
    """Reads the states once, then `findings()` lists every disagreement."""

    def __init__(self, states: States) -> None:
        self.states = states
        self.found: set[Finding] = set()
        self._load_salesforce()
        self._load_metronome()
        self._load_stripe()
        self._load_netsuite()

    # -- reading ------------------------------------------------------------------------------

    def _load_salesforce(self) -> None:
        tables = self.states.salesforce.tables
        self.sf_accounts = [r for r in tables["Account"].values() if not r["IsDeleted"]]
        self.sf_opportunities = [r for r in tables["Opportunity"].values() if not r["IsDeleted"]]
        self.sf_lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for line in tables["OpportunityLineItem"].values():
            if not line["IsDeleted"]:
                self.sf_lines[line["OpportunityId"]].append(line)
        self.sf_sku = {r["Id"]: r["ProductCode"] for r in tables["Product2"].values()}

    def _load_metronome(self) -> None:
        mt = self.states.metronome
        self.mt_customers = dict(mt.customers)
        self.mt_by_account = {c["customer_config"]["salesforce_account_id"]: c for c in mt.customers.values()}
        self.mt_contract_by_key = {c.get("uniqueness_key"): c for c in mt.contracts.values()}
        self.mt_product_sku = {p["id"]: p["custom_fields"].get("sku") for p in mt.products.values()}
        self.mt_product_by_sku = {sku: pid for pid, sku in self.mt_product_sku.items()}
        self.mt_metric_of_product = {
            p["id"]: mt.metrics[p["initial"]["billable_metric_id"]]
            for p in mt.products.values()
            if p["initial"].get("billable_metric_id")
        }

    def _load_stripe(self) -> None:
        tables = self.states.stripe.tables
        self.st_customers = tables["customer"].records
        self.st_invoices = tables["invoice"].records
        self.st_charges = tables["charge"].records
        self.st_refunds = tables["refund"].records
        self.st_credit_notes = tables["credit_note"].records
        self.st_payouts = tables["payout"].records
        self.st_txns = tables["balance_transaction"].records
        self.st_invoice_by_metronome = {
            inv["metadata"].get("metronome_invoice_id"): inv for inv in self.st_invoices.values()
        }

    def _load_netsuite(self) -> None:
        db = self.states.netsuite.db
        self.ns_customers = {
            row["externalid"]: dict(row)
            for row in db.execute(
                "SELECT c.id, c.companyname, c.externalid, s.name AS subsidiary, cur.symbol AS currency "
                "FROM customer c JOIN subsidiary s ON s.id = c.subsidiary "
                "JOIN currency cur ON cur.id = c.currency"
            )
        }
        rows = db.execute(
            'SELECT t.*, cur.symbol AS currency_code FROM "transaction" t JOIN currency cur ON cur.id = t.currency'
        ).fetchall()
        self.ns_txns = {int(row["id"]): dict(row) for row in rows}
        self.ns_by_external: dict[tuple[str, str], dict[str, Any]] = {
            (t["type"], t["externalid"]): t for t in self.ns_txns.values() if t["externalid"]
        }
        self.ns_unlinked_invoices: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
        for txn in self.ns_txns.values():
            if txn["type"] == "CustInvc" and txn["externalid"] is None:
                named = _UUID.search(txn["memo"] or "")
                self.ns_unlinked_invoices[named.group(0) if named else None].append(txn)
        self.ns_links: dict[int, list[tuple[int, float]]] = defaultdict(list)
        for row in db.execute("SELECT previousdoc, nextdoc, foreignamount FROM nexttransactionlinelink"):
            self.ns_links[int(row["nextdoc"])].append((int(row["previousdoc"]), float(row["foreignamount"])))
        self.ns_ar_journal_lines = db.execute(
            'SELECT DISTINCT tal."transaction" FROM transactionaccountingline tal '
            'JOIN "transaction" t ON t.id = tal."transaction" '
            "JOIN account a ON a.id = tal.account "
            'JOIN transactionline tl ON tl."transaction" = tal."transaction" AND tl.id = tal.transactionline '
            "WHERE t.type = 'Journal' AND a.accttype = 'AcctRec' AND tl.entity IS NULL"
        ).fetchall()

    def _ns(self, doc_type: str, external_id: str | None) -> dict[str, Any] | None:
        return None if external_id is None else self.ns_by_external.get((doc_type, external_id))

    # -- checks -------------------------------------------------------------------------------

    def findings(self) -> set[Finding]:
        self.found = set()
        self.explained_stripe: set[str] = set()
        self.explained_netsuite: set[int] = set()
        self._check_customers()
        self._check_deals()
        for invoice in self.states.metronome.invoices.values():
            if invoice["status"] == "FINALIZED":
                self._check_invoice(invoice)
        self._check_orphans()
        self._check_charges()
        self._check_payment_status()
        self._check_refunds()
        self._check_payouts()
        for row in self.ns_ar_journal_lines:
            self.found.add(finding("ar_control_mismatch", netsuite=str(row[0])))
        return self.found

    def _check_customers(self) -> None:
        for account in self.sf_accounts:
            account_id = account["Id"]
            ns = self.ns_customers.get(account_id)
            mt = self.mt_by_account.get(account_id)
            if ns is None or mt is None:
                self.found.add(finding("customer_missing", salesforce=account_id))
                continue
            ns_id = str(ns["id"])
            if normalized_name(account["Name"]) != normalized_name(ns["companyname"]):
                self.found.add(finding("customer_name_mismatch", salesforce=account_id, netsuite=ns_id))
            if account["Subsidiary__c"] != ns["subsidiary"]:
                self.found.add(finding("customer_subsidiary_mismatch", salesforce=account_id, netsuite=ns_id))
            if account["CurrencyIsoCode"] != ns["currency"]:
                self.found.add(finding("customer_currency_mismatch", salesforce=account_id, netsuite=ns_id))
            stripe = self.st_customers.get(account["Stripe_Customer_Id__c"] or "")
            configs = {
                c["billing_provider"]: c["configuration"]
                for c in self.states.metronome.billing_configs.get(mt["id"], [])
            }
            links_agree = (
                stripe is not None
                and account["NetSuite_Id__c"] == ns_id
                and account["Metronome_Customer_Id__c"] == mt["id"]
                and stripe["metadata"]
                == {
                    "salesforce_account_id": account_id,
                    "metronome_customer_id": mt["id"],
                    "netsuite_customer_id": ns_id,
                }
                and configs.get("stripe", {}).get("stripe_customer_id") == stripe["id"]
                and configs.get("netsuite", {}).get("netsuite_customer_id") == ns_id
            )
            if not links_agree:
                self.found.add(finding("customer_link_broken", salesforce=account_id))
                continue
            assert stripe is not None
            if mt["name"] != account["Name"] or stripe["name"] != account["Name"]:
                self.found.add(finding("customer_name_mismatch", salesforce=account_id, metronome=mt["id"]))
            if (stripe["currency"] or "").upper() != ns["currency"]:
                self.found.add(finding("customer_currency_mismatch", stripe=stripe["id"], netsuite=ns_id))

    def _check_deals(self) -> None:
        mt = self.states.metronome
        for opportunity in self.sf_opportunities:
            if opportunity["StageName"] != "Closed Won":
                continue
            opportunity_id = opportunity["Id"]
            contract = self.mt_contract_by_key.get(opportunity_id)
            if contract is None:
                self.found.add(finding("contract_missing_in_billing", salesforce=opportunity_id))
                continue
            customer = self.mt_customers[contract["customer_id"]]
            if (
                opportunity["Metronome_Contract_Id__c"] != contract["id"]
                or contract.get("salesforce_opportunity_id") != opportunity_id
                or customer["customer_config"]["salesforce_account_id"] != opportunity["AccountId"]
            ):
                self.found.add(finding("contract_link_broken", salesforce=opportunity_id))
                continue
            card = mt.rate_cards[contract["rate_card_id"]]
            currency = _CURRENCY_BY_CREDIT_TYPE[card["fiat_credit_type"]["id"]]
            list_prices = {entry.product_id: entry.rate["price"] for entry in mt.rates[card["id"]]}
            overrides = {
                o["product"]["id"]: o["overwrite_rate"]["price"]
                for o in sorted(contract["overrides"], key=lambda o: o["starting_at"])
                if "product" in o and "overwrite_rate" in o
            }
            differs = currency != opportunity["CurrencyIsoCode"]
            for line in self.sf_lines[opportunity_id]:
                product_id = self.mt_product_by_sku.get(self.sf_sku.get(line["Product2Id"]))
                billed = overrides.get(product_id or "", list_prices.get(product_id or ""))
                if billed is None or billed != _minor(line["UnitPrice"], currency):
                    differs = True
            if differs:
                self.found.add(
                    finding("crm_price_mismatch", salesforce=opportunity_id, metronome=contract["id"])
                )

    def _check_invoice(self, invoice: dict[str, Any]) -> None:
        invoice_id = invoice["id"]
        currency = _CURRENCY_BY_CREDIT_TYPE[invoice["credit_type"]["id"]]
        external = invoice.get("external_invoice") or {}
        stripe = self.st_invoices.get(external.get("invoice_id") or "")
        back = self.st_invoice_by_metronome.get(invoice_id)
        ns = self._ns("CustInvc", invoice_id)
        if stripe is None and back is None:
            self.found.add(finding("invoice_missing_in_stripe", metronome=invoice_id))
        elif stripe is None or stripe is not back:
            self.found.add(finding("invoice_link_broken", metronome=invoice_id))
            stripe = None
        revenue = [
            e["revenue_system_external_entity_id"] for e in invoice.get("revenue_system_invoices") or []
        ]
        if ns is None:
            self.found.add(finding("invoice_missing_in_netsuite", metronome=invoice_id))
            if revenue:
                self.found.add(finding("invoice_link_broken", metronome=invoice_id))
        elif revenue != [str(ns["id"])] or (
            stripe is not None and stripe["metadata"].get("netsuite_invoice_id") != str(ns["id"])
        ):
            self.found.add(finding("invoice_link_broken", metronome=invoice_id))
        for twin in self.ns_unlinked_invoices.get(invoice_id, []):
            self.found.add(
                finding("duplicate_invoice_in_netsuite", netsuite=str(twin["id"]), metronome=invoice_id)
            )
        if stripe is not None:
            tax = stripe["tax"] or 0
            if stripe["currency"].upper() != currency or stripe["total"] - tax != invoice["total"]:
                self.found.add(finding("invoice_total_differs", metronome=invoice_id, stripe=stripe["id"]))
        if ns is not None:
            ns_id = str(ns["id"])
            if ns["currency_code"] != currency:
                self.found.add(finding("invoice_currency_mismatch", metronome=invoice_id, netsuite=ns_id))
            else:
                pre_tax = _minor(ns["foreigntotal"] - (ns["taxtotal"] or 0), currency)
                ns_tax = _minor(ns["taxtotal"] or 0, currency)
                if pre_tax != invoice["total"] or (stripe is not None and ns_tax != (stripe["tax"] or 0)):
                    self.found.add(finding("invoice_total_differs", metronome=invoice_id, netsuite=ns_id))
        if self._usage_differs(invoice):
            self.found.add(finding("usage_billed_not_metered", metronome=invoice_id))

    def _usage_differs(self, invoice: dict[str, Any]) -> bool:
        start = parse_time(invoice["start_timestamp"], "start")
        end = parse_time(invoice["end_timestamp"], "end")
        events = self.states.metronome.customer_events(invoice["customer_id"], start, end)
        if not events:
            return False  # usage is kept for recent periods only
        metered: dict[str, float] = defaultdict(float)
        for event in events:
            metered[event.event_type] += float(event.properties.get("value", 0))
        for line in invoice["line_items"]:
            metric = self.mt_metric_of_product.get(line.get("product_id", ""))
            if metric is None:
                continue
            event_type = metric["event_type_filter"]["in_values"][0]
            if metered.get(event_type, 0.0) != line["quantity"]:
                return True
        return False

    def _check_orphans(self) -> None:
        metronome_ids = set(self.states.metronome.invoices)
        for invoice in self.st_invoices.values():
            if invoice["metadata"].get("metronome_invoice_id") not in metronome_ids:
                self.found.add(finding("invoice_without_source", stripe=invoice["id"]))
        for txn in self.ns_txns.values():
            if (
                txn["type"] == "CustInvc"
                and txn["externalid"] is not None
                and txn["externalid"] not in metronome_ids
            ):
                self.found.add(finding("invoice_without_source", netsuite=str(txn["id"])))
        for source, twins in self.ns_unlinked_invoices.items():
            if source not in metronome_ids:
                for twin in twins:
                    self.found.add(finding("invoice_without_source", netsuite=str(twin["id"])))

    def _ns_invoice_for(self, stripe_invoice: dict[str, Any]) -> dict[str, Any] | None:
        return self._ns("CustInvc", stripe_invoice["metadata"].get("metronome_invoice_id"))

    def _check_charges(self) -> None:
        charged = set()
        for charge in self.st_charges.values():
            if charge["status"] != "succeeded":
                continue
            charged.add(charge["id"])
            stripe_invoice = self.st_invoices.get(charge["invoice"] or "")
            payment = self._ns("CustPymt", charge["id"])
            if payment is None:
                self.found.add(finding("payment_missing_in_netsuite", stripe=charge["id"]))
                if stripe_invoice is not None:
                    self.explained_stripe.add(stripe_invoice["id"])
                continue
            if _minor(payment["foreigntotal"], charge["currency"].upper()) != charge["amount"]:
                self.found.add(
                    finding("payment_amount_differs", stripe=charge["id"], netsuite=str(payment["id"]))
                )
            applied = {doc for doc, _ in self.ns_links[int(payment["id"])]}
            expected = self._ns_invoice_for(stripe_invoice) if stripe_invoice is not None else None
            if expected is None or applied != {int(expected["id"])}:
                self.found.add(
                    finding(
                        "payment_applied_to_wrong_invoice", stripe=charge["id"], netsuite=str(payment["id"])
                    )
                )
                if stripe_invoice is not None:
                    self.explained_stripe.add(stripe_invoice["id"])
                self.explained_netsuite.update(applied)
        for txn in self.ns_txns.values():
            if (
                txn["type"] == "CustPymt"
                and txn["externalid"] is not None
                and txn["externalid"] not in charged
            ):
                self.found.add(finding("payment_without_source", netsuite=str(txn["id"])))

    def _check_payment_status(self) -> None:
        metronome = self.states.metronome.invoices
        for stripe_invoice in self.st_invoices.values():
            ns = self._ns_invoice_for(stripe_invoice)
            if ns is None or stripe_invoice["id"] in self.explained_stripe:
                continue
            ns_id = int(ns["id"])
            if ns_id in self.explained_netsuite:
                continue
            currency = ns["currency_code"]
            ns_paid = _minor(ns["foreigntotal"] - ns["foreignamountunpaid"], currency)
            stripe_paid = stripe_invoice["amount_paid"]
            pair = {"stripe": stripe_invoice["id"], "netsuite": str(ns_id)}
            if ns_paid == stripe_paid:
                if stripe_invoice["status"] == "open" and stripe_paid > 0:
                    remaining = stripe_invoice["amount_due"] - stripe_paid
                    kind = "partial_payment_left_open"
                    if _minor(ns["foreignamountunpaid"], currency) != remaining:
                        kind = "payment_status_mismatch"
                    self.found.add(finding(kind, **pair))
            elif stripe_invoice["status"] == "paid" and stripe_invoice["paid_out_of_band"] and ns_paid == 0:
                self.found.add(finding("paid_in_stripe_open_in_netsuite", **pair))
            else:
                self.found.add(finding("payment_status_mismatch", **pair))
            source = metronome.get(stripe_invoice["metadata"].get("metronome_invoice_id", ""))
            status = (source or {}).get("external_invoice", {}) or {}
            mirrored = {"paid": "PAID", "open": "PARTIALLY_PAID" if stripe_paid else "FINALIZED"}
            if status.get("external_status") != mirrored.get(stripe_invoice["status"]):
                self.found.add(finding("external_status_stale", stripe=stripe_invoice["id"]))

    def _check_refunds(self) -> None:
        note_by_refund = {n.get("refund"): n for n in self.st_credit_notes.values()}
        for refund in self.st_refunds.values():
            ns_refund = self._ns("CustRfnd", refund["id"])
            note = note_by_refund.get(refund["id"])
            memo = self._ns("CustCred", note["id"]) if note is not None else None
            if ns_refund is None:
                if memo is None:
                    self.found.add(finding("refund_missing_in_netsuite", stripe=refund["id"]))
                else:
                    self.found.add(finding("refund_link_broken", stripe=refund["id"]))
                continue
            applied = {doc for doc, _ in self.ns_links[int(ns_refund["id"])]}
            currency = refund["currency"].upper()
            if (
                memo is None
                or applied != {int(memo["id"])}
                or _minor(ns_refund["foreigntotal"], currency) != refund["amount"]
                or _minor(memo["foreigntotal"], currency) != note["amount"]  # type: ignore[index]
            ):
                self.found.add(finding("refund_link_broken", stripe=refund["id"]))

    def _check_payouts(self) -> None:
        members = self.states.stripe.payout_members
        deposits = set()
        for payout in self.st_payouts.values():
            deposit = self._ns("Deposit", payout["id"])
            if deposit is None:
                if payout["status"] == "paid":
                    self.found.add(finding("deposit_missing", stripe=payout["id"]))
                continue
            deposits.add(int(deposit["id"]))
            pair = {"stripe": payout["id"], "netsuite": str(deposit["id"])}
            if _minor(deposit["foreigntotal"], payout["currency"].upper()) != payout["amount"]:
                self.found.add(finding("payout_deposit_mismatch", **pair))
            charges = {
                self.st_txns[txn]["source"]
                for txn in members.get(payout["id"], [])
                if self.st_txns[txn]["type"] == "charge"
            }
            deposited = {self.ns_txns[doc]["externalid"] for doc, _ in self.ns_links[int(deposit["id"])]}
            if deposited != charges:
                self.found.add(finding("deposit_payments_differ", **pair))
        for txn in self.ns_txns.values():
            if txn["type"] == "Deposit" and int(txn["id"]) not in deposits:
                self.found.add(finding("deposit_without_payout", netsuite=str(txn["id"])))


def cross_system_findings(states: States) -> set[Finding]:
    return Oracle(states).findings()


_CUSTOMER_KINDS = {"customer_name_mismatch", "customer_subsidiary_mismatch", "customer_currency_mismatch"}


def missing_records(states: States, answer_key: dict[str, Any]) -> list[tuple[str, str]]:
    """Record ids in the answer key that do not exist in their emulator."""
    sf, mt, st, ns = states.salesforce, states.metronome, states.stripe, states.netsuite
    missing = []
    for defect in answer_key["defects"]:
        for system, ids in defect["records"].items():
            for native_id in ids:
                if system == "salesforce":
                    found = any(sf.live(table, native_id) for table in ("Account", "Opportunity"))
                elif system == "metronome":
                    found = native_id in mt.invoices or native_id in mt.contracts
                elif system == "stripe":
                    found = st.lookup(native_id) is not None
                else:
                    table = "customer" if defect["kind"] in _CUSTOMER_KINDS else "transaction"
                    found = ns.exists(table, int(native_id))
                if not found:
                    missing.append((system, native_id))
    return missing

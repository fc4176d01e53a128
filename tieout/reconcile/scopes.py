"""Screens: set-based SQL over the columnar projection that says which records each check must see.

A check's findings depend on a few records each: an invoice and its twins, a payment and the
invoices it pays, a customer's open invoices. A screen selects, set-based in DuckDB, the
*candidates* (records that are not a clean mirror: a twin missing or not linked directly,
amounts or currencies that differ, money left unapplied, ...) and closes them over what the
check reads (their twin groups, the customers named, the invoices a payment pays, the sources
sharing a fallback key). The check then runs, unchanged, over those records only. Screens are
conservative: a clean record can be selected (the check finds nothing on it), a record the check
would report never left out; `tests/test_reconcile_columnar.py` holds them to the full run.
"""

# The SQL here is composed from constant fragments only; values are bound or registered as tables.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Mapping

from tieout.money import currency_exponent
from tieout.reconcile.changes import NOWHERE, Change
from tieout.reconcile.closure import (
    Scope,
    Screen,
    applications_of,
    base_of,
    closed,
    closed_groups,
    ids,
    settled_region,
)
from tieout.reconcile.columnar import Facts, rows_where
from tieout.reconcile.scopes_crm import contract_screen, customer_screen
from tieout.reconcile.summaries import invoice_groups_of

_BILLABLE = "m.kind = 'invoice' AND m.system = 'metronome' AND m.status IN ('open', 'paid', 'uncollectible') AND m.total > 0"
_COLLECTED = "('succeeded', 'refunded', 'partially_refunded', 'disputed')"


def _invoice_groups(change: Change | None) -> str:
    """The per-group invoice summary (`summaries.py`), current with the projection; for a change,
    summarized on the fly from the groups it reached."""
    return "invoice_groups" if change is None else f"({invoice_groups_of('reached')})"


def _unclean_invoices(facts: Facts, change: Change | None) -> Scope:
    """Billing invoices not mirrored cleanly: one direct twin each in Stripe and NetSuite, equal amounts."""
    groups = f"""
        SELECT grp FROM {_invoice_groups(change)} WHERE billable AND NOT coalesce(
            m_count = 1 AND s_count = 1 AND n_count = 1
            AND (s_link_metronome = m_native_id OR m_link_stripe = s_native_id)
            AND (n_link_metronome = m_native_id OR m_link_netsuite = n_native_id)
            AND s_currency = m_currency AND n_currency = m_currency
            AND s_subtotal = m_subtotal AND n_subtotal = m_subtotal
            AND s_tax = n_tax AND s_total = n_total, false)
    """
    return Scope(ids(facts, closed_groups(groups, base=base_of(change))), settled_region(change))


_USAGE_KEYS = """
    SELECT DISTINCT customer_id, period_start, period_end FROM touched
    WHERE system = 'metronome' AND kind IN ('invoice', 'usage')
"""


def _usage(facts: Facts, change: Change | None) -> Scope:
    """Billing invoices of a customer and period with usage on record, that usage, and the customer.

    A change reaches the customers and periods of the billing invoices and usage it touched."""
    if not facts.db.execute("SELECT count(*) FROM facts WHERE kind = 'usage'").fetchall()[0][0]:
        return Scope(set(), settled_region(change))  # no usage on record: nothing billed can differ from it
    keyed = (
        ""
        if change is None
        else "AND (m.customer_id, m.period_start, m.period_end) IN (SELECT * FROM usage_keys)"
    )
    if change is not None:
        facts.db.execute(f"CREATE OR REPLACE TEMP TABLE usage_keys AS {_USAGE_KEYS}")
    anchor = f"""
        SELECT m.record_id FROM facts m WHERE {_BILLABLE} {keyed} AND EXISTS (
            SELECT 1 FROM facts u WHERE u.kind = 'usage' AND u.system = 'metronome'
            AND u.customer_id = m.customer_id AND u.period_start = m.period_start AND u.period_end = m.period_end)
        UNION SELECT u.record_id FROM facts u JOIN facts m ON {_BILLABLE}
            AND u.kind = 'usage' AND u.system = 'metronome' AND u.customer_id = m.customer_id
            AND u.period_start = m.period_start AND u.period_end = m.period_end {keyed}
    """
    region = None
    if change is not None:
        region = (
            "SELECT record_id FROM facts WHERE system = 'metronome' AND kind IN ('invoice', 'usage') "
            "AND (customer_id, period_start, period_end) IN (SELECT * FROM usage_keys)"
        )
    return Scope(ids(facts, closed(anchor, groups=False)), region)


_ORPHAN = """
    kind = 'invoice' AND system = 'netsuite' AND status <> 'void' AND grp IN (
        SELECT grp FROM invoice_groups WHERE n_count > 0 AND NOT coalesce(
            m_count = 1 AND n_count = 1 AND (n_link_metronome = m_native_id OR m_link_netsuite = n_native_id), false))
"""
"""NetSuite invoices no billing invoice links directly (alone in its group)."""

_TOUCHED_KEYS = """
    SELECT c.link_salesforce AS account, t.currency, t.subtotal, t.period_start, t.period_end
    FROM touched t JOIN facts c
        ON t.kind = 'invoice' AND c.kind = 'customer' AND c.system = t.system AND c.native_id = t.customer_id
"""
"""The fallback keys (account, currency, subtotal, period) of the invoices touched, before and after."""

_REACHED_ORPHANS = """
    WHERE comp IN (SELECT comp FROM dirty)
    OR account IN (SELECT link_salesforce FROM touched WHERE kind = 'customer')
    OR EXISTS (SELECT 1 FROM touched_keys k WHERE k.account = keyed.account AND k.currency = keyed.currency
        AND k.subtotal = keyed.subtotal AND k.period_start IS NOT DISTINCT FROM keyed.period_start
        AND k.period_end IS NOT DISTINCT FROM keyed.period_end)
"""
"""Orphans a change reaches: touched, of a touched customer's account, or sharing a touched invoice's key."""


_BILLING_INVOICES_OF = rows_where(
    "kind = 'invoice' AND system = 'metronome' AND customer_id IN (SELECT native_id FROM billing_customers)"
)
"""The billing invoices of the customers of the orphans' accounts, found on their customer column first:
scanning every column of every billing invoice costs more than fetching these few."""


def _orphans(facts: Facts, change: Change | None) -> Scope:
    """NetSuite invoices no billing invoice links directly, with every source sharing their fallback key.

    A change reaches the orphans it touched, those of a touched customer's account, and those whose
    fallback key a touched invoice has or had (a billing invoice may have come to share, or stopped
    sharing, an orphan's key)."""
    reached = ""
    if change is not None:
        facts.db.execute(f"CREATE OR REPLACE TEMP TABLE touched_keys AS {_TOUCHED_KEYS}")
        reached = _REACHED_ORPHANS
    facts.db.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE orphans AS
        WITH candidates AS ({rows_where(_ORPHAN)}),
        keyed AS (
            SELECT o.*, c.link_salesforce AS account FROM candidates o LEFT JOIN facts c
            ON c.kind = 'customer' AND c.system = o.system AND c.native_id = o.customer_id)
        SELECT * FROM keyed {reached}
        """
    )
    if not facts.db.execute("SELECT count(*) FROM orphans").fetchall()[0][0]:
        return Scope(set(), settled_region(change, "SELECT record_id FROM orphans"))
    groups = f"""
        WITH keyed AS (SELECT * FROM orphans),
        billing_customers AS (
            SELECT native_id, link_salesforce AS account FROM facts
            WHERE kind = 'customer' AND system = 'metronome' AND link_salesforce IN (SELECT account FROM keyed))
        SELECT grp FROM keyed
        UNION SELECT m.grp FROM ({_BILLING_INVOICES_OF}) m JOIN billing_customers b ON m.customer_id = b.native_id
            JOIN keyed o ON o.account = b.account AND m.currency = o.currency AND m.subtotal = o.subtotal
            AND m.period_start IS NOT DISTINCT FROM o.period_start
            AND m.period_end IS NOT DISTINCT FROM o.period_end
            WHERE {_BILLABLE}
    """
    return Scope(ids(facts, closed_groups(groups)), settled_region(change, "SELECT record_id FROM orphans"))


def _payments_missing(facts: Facts, change: Change | None) -> Scope:
    anchor = f"""
        SELECT c.record_id FROM {base_of(change)} c WHERE c.kind = 'payment' AND c.system = 'stripe'
        AND c.status IN {_COLLECTED} AND NOT EXISTS (
            SELECT 1 FROM {base_of(change)} n WHERE n.kind = 'payment' AND n.system = 'netsuite' AND n.grp = c.grp
            AND (n.link_stripe = c.native_id OR c.link_netsuite = n.native_id))
    """
    return Scope(ids(facts, closed(anchor, base=base_of(change))), settled_region(change))


def _misapplied(facts: Facts, change: Change | None) -> Scope:
    """Charges whose NetSuite payment is applied outside the NetSuite twins of the invoices they paid."""
    charges = "SELECT record_id FROM misapplied_charges"
    if change is not None:
        charges += " WHERE record_id IN (SELECT record_id FROM reached WHERE kind = 'payment')"
    anchor = _with_paid_invoices(charges, change)
    return Scope(ids(facts, closed(anchor, base=base_of(change))), settled_region(change))


def _with_paid_invoices(charges: str, change: Change | None) -> str:
    """The charges, and the Stripe invoices they paid (their groups are closed over too)."""
    base = base_of(change)
    return f"""
        WITH chosen AS ({charges})
        SELECT record_id FROM chosen
        UNION SELECT si.record_id FROM chosen c JOIN {applications_of(change)} a ON a.record_id = c.record_id
            JOIN {base} si ON si.kind = 'invoice' AND si.system = 'stripe' AND si.native_id = a.invoice_id
    """


def _partials(facts: Facts, change: Change | None) -> Scope:
    anchor = f"""
        SELECT record_id FROM {base_of(change)} WHERE kind = 'invoice' AND system = 'stripe' AND status = 'open'
        AND paid > 0 AND remaining > 0
    """
    return Scope(ids(facts, closed(anchor, base=base_of(change))), settled_region(change))


def _paid_but_open(facts: Facts, change: Change | None) -> Scope:
    """Stripe invoices paid whose NetSuite group mate is open, with every charge that paid them."""
    invoices = f"""
        SELECT s.record_id, s.native_id FROM {base_of(change)} s WHERE s.kind = 'invoice' AND s.system = 'stripe'
        AND s.status = 'paid' AND s.grp IN (
            SELECT grp FROM {_invoice_groups(change)} WHERE stripe_paid AND netsuite_open)
    """
    charges = f"""
        SELECT DISTINCT a.record_id FROM {applications_of(change)} a JOIN ({invoices}) s ON a.invoice_id = s.native_id
        JOIN {base_of(change)} c ON c.record_id = a.record_id AND c.system = 'stripe'
    """
    paid = _with_paid_invoices(charges, change)
    anchor = f"SELECT record_id FROM ({invoices}) UNION SELECT record_id FROM ({paid})"
    return Scope(ids(facts, closed(anchor, base=base_of(change))), settled_region(change))


def _refunds(facts: Facts, change: Change | None) -> Scope:
    anchor = f"""
        SELECT r.record_id FROM {base_of(change)} r WHERE r.kind = 'refund' AND r.system = 'stripe'
        AND r.status = 'succeeded' AND NOT EXISTS (
            SELECT 1 FROM {base_of(change)} n WHERE n.kind = 'refund' AND n.system = 'netsuite' AND n.grp = r.grp
            AND (n.link_stripe = r.native_id OR r.link_netsuite = n.native_id))
    """
    return Scope(ids(facts, closed(anchor, base=base_of(change))), settled_region(change))


def _payouts(facts: Facts, change: Change | None) -> Scope:
    """Every payout and deposit: few, and compared whole whenever one of them changed."""
    if change is not None and not (
        change.reaches("stripe", "payout") or change.reaches("netsuite", "payout")
    ):
        return Scope(set(), NOWHERE)
    return Scope(ids(facts, "SELECT record_id FROM facts WHERE kind = 'payout'"))


_CASH_KEYS = """
    SELECT DISTINCT customer_id, currency FROM touched
    WHERE system = 'netsuite' AND kind IN ('payment', 'invoice')
"""


def _unapplied(facts: Facts, change: Change | None) -> Scope:
    """NetSuite payments with money unapplied, and their customer's open invoices in that currency.

    A change reaches the NetSuite customers and currencies of the payments and invoices it touched."""
    keyed = ""
    if change is not None:
        facts.db.execute(f"CREATE OR REPLACE TEMP TABLE cash_keys AS {_CASH_KEYS}")
        keyed = "AND (customer_id, currency) IN (SELECT * FROM cash_keys)"
    facts.db.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE cash AS SELECT * FROM facts WHERE kind = 'payment' AND system = 'netsuite'
        AND unapplied > 0 AND coalesce(status, '') <> 'failed' {keyed}
        """
    )
    anchor = """
        SELECT record_id FROM cash
        UNION SELECT i.record_id FROM facts i JOIN cash p ON i.kind = 'invoice' AND i.system = 'netsuite'
            AND i.customer_id = p.customer_id AND i.currency = p.currency AND i.status = 'open' AND i.remaining > 0
    """
    # Both rules name the payment: one of them now reached has money unapplied, or was touched.
    return Scope(
        ids(facts, closed(anchor, groups=False)), settled_region(change, "SELECT record_id FROM cash")
    )


def _ar_control(facts: Facts, change: Change | None) -> Scope:
    """The AR balances and open items of the subsidiaries whose ledger and open items disagree.

    Compared whole whenever a NetSuite AR balance, invoice or payment changed."""
    if change is not None and not change.reaches("netsuite", "ledger_balance", "invoice", "payment"):
        return Scope(set(), NOWHERE)
    return Scope(_ar_control_records(facts))


def _ar_control_records(facts: Facts) -> set[str]:
    currencies = [
        row[0]
        for row in facts.db.execute(
            "SELECT DISTINCT currency FROM facts WHERE kind = 'ledger_balance' AND currency IS NOT NULL"
        ).fetchall()
    ]
    if not currencies:
        return set()  # no AR balance pulled: nothing to compare the open items with
    facts.temp_table(
        "exponents",
        {"currency": currencies, "places": [currency_exponent(code) for code in currencies]},
        {"places": "INTEGER"},
    )
    rounded = " ".join(f"WHEN {places} THEN round(amount * rate, {places})" for places in range(5))
    return ids(
        facts,
        f"""
        WITH gl AS (
            SELECT subsidiary_id, sum(total) AS balance, arg_min(currency, record_id) AS base
            FROM facts WHERE kind = 'ledger_balance' AND system = 'netsuite' AND subsidiary_id IS NOT NULL
            GROUP BY subsidiary_id),
        items AS (
            SELECT record_id, subsidiary_id, currency, remaining AS amount, exchange_rate AS rate
            FROM facts WHERE kind = 'invoice' AND system = 'netsuite' AND status = 'open'
            UNION ALL
            SELECT record_id, subsidiary_id, currency, -unapplied, exchange_rate FROM facts
            WHERE kind = 'payment' AND system = 'netsuite' AND unapplied IS NOT NULL AND unapplied <> 0),
        converted AS (
            SELECT i.*, CASE WHEN i.currency = gl.base THEN amount ELSE CASE e.places {rounded} END END AS base
            FROM items i JOIN gl USING (subsidiary_id) LEFT JOIN exponents e ON e.currency = gl.base),
        differing AS (
            SELECT gl.subsidiary_id FROM gl LEFT JOIN (
                SELECT subsidiary_id, sum(base) AS total FROM converted GROUP BY subsidiary_id) s
            USING (subsidiary_id) WHERE gl.balance <> coalesce(s.total, 0))
        SELECT record_id FROM facts WHERE kind = 'ledger_balance' AND system = 'netsuite'
            AND subsidiary_id IN (SELECT subsidiary_id FROM differing)
        UNION SELECT record_id FROM converted WHERE subsidiary_id IN (SELECT subsidiary_id FROM differing)
        """,
    )


def screens(subsidiary_map: Mapping[str, str]) -> dict[frozenset[str], Screen]:
    """The screen of each check, by the rule codes the check reports."""
    customers = customer_screen(subsidiary_map)
    return {
        frozenset({"USAGE_BILLED_NOT_METERED"}): _usage,
        frozenset({"INVOICE_MISSING_IN_NETSUITE"}): _unclean_invoices,
        frozenset({"INVOICE_MISSING_IN_STRIPE"}): _unclean_invoices,
        frozenset({"INVOICE_TOTAL_DIFFERS", "INVOICE_CURRENCY_MISMATCH"}): _unclean_invoices,
        frozenset({"DUPLICATE_INVOICE_IN_NETSUITE", "INVOICE_WITHOUT_SOURCE"}): _orphans,
        frozenset({"PAYMENT_MISSING_IN_NETSUITE"}): _payments_missing,
        frozenset({"PAYMENT_APPLIED_TO_WRONG_INVOICE"}): _misapplied,
        frozenset({"PARTIAL_PAYMENT_LEFT_OPEN"}): _partials,
        frozenset({"PAID_IN_STRIPE_OPEN_IN_NETSUITE"}): _paid_but_open,
        frozenset({"REFUND_MISSING_IN_NETSUITE"}): _refunds,
        frozenset({"PAYOUT_DEPOSIT_MISMATCH"}): _payouts,
        frozenset({"UNAPPLIED_CASH", "AMBIGUOUS_CASH_MATCH"}): _unapplied,
        frozenset({"AR_CONTROL_MISMATCH"}): _ar_control,
        frozenset({"CRM_PRICE_MISMATCH"}): contract_screen,
        frozenset({"CONTRACT_MISSING_IN_BILLING"}): contract_screen,
        frozenset({"CUSTOMER_NAME_MISMATCH"}): customers,
        frozenset({"CUSTOMER_CURRENCY_MISMATCH"}): customers,
        frozenset({"CUSTOMER_SUBSIDIARY_MISMATCH"}): customers,
    }

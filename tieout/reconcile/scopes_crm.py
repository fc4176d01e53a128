"""Screens of the CRM side: deals against billing contracts, accounts against their NetSuite customers.

Each selects the accounts or deals that are not a clean mirror and closes them over their groups,
the invoices a billing contract bills and the open invoices of a NetSuite customer (the amount at
risk), as the checks in `rules/contracts.py` and `rules/customers.py` read them.
"""

# The SQL here is composed from constant fragments only; values are bound or registered as tables.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Mapping

from tieout.reconcile.changes import Change
from tieout.reconcile.closure import Scope, Screen, base_of, closed, ids, settled_region
from tieout.reconcile.columnar import Facts


def contract_screen(facts: Facts, change: Change | None) -> Scope:
    """Active deals without a directly linked billing contract, or at another price; their billed invoices."""
    anchor = f"""
        WITH deals AS (
            SELECT * FROM {base_of(change)} WHERE kind = 'contract' AND system = 'salesforce' AND status = 'active'),
        billing AS (SELECT b.*, d.record_id AS deal FROM deals d
            JOIN {base_of(change)} b ON b.kind = 'contract' AND b.system = 'metronome' AND b.grp = d.grp)
        SELECT d.record_id FROM deals d WHERE NOT EXISTS (
            SELECT 1 FROM billing b WHERE b.deal = d.record_id
            AND (b.link_salesforce = d.native_id OR d.link_metronome = b.native_id))
        UNION SELECT deal FROM billing GROUP BY deal HAVING count(*) > 1
        UNION SELECT b.deal FROM billing b JOIN prices bp ON bp.record_id = b.record_id
            JOIN prices dp ON dp.record_id = b.deal AND dp.product_id = bp.product_id
            AND dp.currency = bp.currency AND dp.unit_price <> bp.unit_price
    """
    grouped = ids(facts, closed(anchor, base=base_of(change)))
    billed = _invoices_of(facts, grouped, "contract", "metronome", "i.contract_id = b.native_id")
    return Scope(grouped | billed, settled_region(change))


def _invoices_of(facts: Facts, chosen: set[str], kind: str, system: str, match: str) -> set[str]:
    """The invoices (`i`) of the chosen records of this kind and system (`b`) that `match` pairs."""
    if not chosen:
        return set()
    facts.temp_table("chosen", {"record_id": sorted(chosen)})
    return ids(
        facts,
        f"""
        SELECT i.record_id FROM facts i JOIN facts b ON b.record_id IN (SELECT record_id FROM chosen)
            AND b.kind = '{kind}' AND b.system = '{system}'
            AND i.kind = 'invoice' AND i.system = b.system AND {match}
        """,
    )


def customer_screen(subsidiary_map: Mapping[str, str]) -> Screen:
    """CRM accounts whose NetSuite twin differs (name, currency, mapped subsidiary), with its open invoices."""

    def screen(facts: Facts, change: Change | None) -> Scope:
        facts.temp_table(
            "subsidiary_map", {"code": list(subsidiary_map), "internal_id": list(subsidiary_map.values())}
        )
        anchor = f"""
            WITH accounts AS (SELECT * FROM {base_of(change)} WHERE kind = 'customer' AND system = 'salesforce'),
            twins AS (SELECT a.record_id AS account, n.* FROM accounts a
                JOIN {base_of(change)} n ON n.kind = 'customer' AND n.system = 'netsuite' AND n.grp = a.grp)
            SELECT a.record_id FROM accounts a JOIN twins t ON t.account = a.record_id
            LEFT JOIN subsidiary_map m ON m.code = a.subsidiary_id
            WHERE NOT coalesce(
                (t.link_salesforce = a.native_id OR a.link_netsuite = t.native_id)
                AND a.name_key = t.name_key
                AND (a.currency IS NULL OR t.currency IS NULL OR a.currency = t.currency)
                AND (a.subsidiary_id IS NULL OR t.subsidiary_id IS NULL
                     OR coalesce(m.internal_id, a.subsidiary_id) = t.subsidiary_id), false)
            UNION SELECT account FROM twins GROUP BY account HAVING count(*) > 1
        """
        customers = ids(facts, closed(anchor, base=base_of(change)))
        invoices = _invoices_of(
            facts, customers, "customer", "netsuite", "i.customer_id = b.native_id AND i.status = 'open'"
        )
        return Scope(customers | invoices, settled_region(change))

    return screen

"""The field mappings a tieout config needs for a generated company: the codes its systems don't share.

NetSuite's currencies, items and subsidiaries and Metronome's products and rate cards are known
by internal ids; the flows and the subsidiary check translate to them through value maps, which
a user writes once for their own accounts and the sandbox writes for the company it generated.
"""

from __future__ import annotations

from tieout.sandbox.scenario.company import SUBSIDIARIES
from tieout.sandbox.scenario.context import Registry


def value_maps(ids: Registry) -> dict[str, dict[str, str]]:
    return {
        "netsuite_currency": {code: str(internal) for code, internal in sorted(ids.ns_currency.items())},
        "netsuite_item": {sku: str(internal) for sku, internal in sorted(ids.ns_item.items())},
        # The CRM names a subsidiary the way the writer put it on the account: by its name.
        "netsuite_subsidiary": {
            subsidiary.name: str(ids.ns_subsidiary[subsidiary.key])
            for subsidiary in SUBSIDIARIES
            if subsidiary.key in ids.ns_subsidiary
        },
        "netsuite_refund_account": {
            str(ids.ns_subsidiary[key]): str(accounts["undeposited"])
            for key, accounts in sorted(ids.ns_accounts.items())
        },
        # A payout's deposit goes to its subsidiary's bank account, its fees to the fees account.
        "netsuite_bank_account": {
            str(ids.ns_subsidiary[key]): str(accounts["bank"])
            for key, accounts in sorted(ids.ns_accounts.items())
        },
        "netsuite_fees_account": {
            str(ids.ns_subsidiary[key]): str(accounts["fees"])
            for key, accounts in sorted(ids.ns_accounts.items())
        },
        "stripe_tax_rate": dict(sorted(ids.stripe_tax_rate.items())),
        "metronome_product": dict(sorted(ids.mt_product.items())),
        "metronome_rate_card": dict(sorted(ids.mt_rate_card.items())),
    }

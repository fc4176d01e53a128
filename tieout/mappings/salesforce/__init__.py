"""Salesforce <-> canonical: pure mappers for Accounts and Opportunities, and the Account push payloads.

- `map_account`: Account -> Customer (`accounts.py`).
- `map_opportunity`: Opportunity with embedded line items -> Contract (`opportunities.py`).
- `account_payload`, `account_ids_payload`, `account_ar_payload`: canonical -> Account push
  payloads (`builders.py`).

No I/O and no clock: every problem is a MappingError naming the field path and value.
"""

from __future__ import annotations

from .accounts import map_account
from .builders import account_ar_payload, account_ids_payload, account_payload, wire_amount
from .opportunities import DEFAULT_FAMILY_PRICING, FAMILY_PRICING_MAP, map_opportunity
from .values import id18

__all__ = [
    "DEFAULT_FAMILY_PRICING",
    "FAMILY_PRICING_MAP",
    "account_ar_payload",
    "account_ids_payload",
    "account_payload",
    "id18",
    "map_account",
    "map_opportunity",
    "wire_amount",
]

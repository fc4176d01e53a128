"""Every reconcile rule, grouped by what it compares: customers, contracts, invoices, cash, cash application, ledger."""

from __future__ import annotations

from collections.abc import Mapping

from tieout.reconcile.rules import cash, cash_application, contracts, customers, invoices, ledger
from tieout.reconcile.rules.base import Check, Rule


def all_checks(value_maps: Mapping[str, Mapping[str, str]]) -> list[Check]:
    """The checks, configured from the field mappings (the CRM -> NetSuite subsidiary map)."""
    return [
        *contracts.CHECKS,
        *customers.CHECKS,
        customers.subsidiary_check(value_maps.get("netsuite_subsidiary", {})),
        *invoices.CHECKS,
        *cash.CHECKS,
        *cash_application.CHECKS,
        *ledger.CHECKS,
    ]


def all_rules(checks: list[Check]) -> list[Rule]:
    seen: dict[str, Rule] = {}
    for check in checks:
        for rule in check.rules:
            seen.setdefault(rule.code, rule)
    return list(seen.values())

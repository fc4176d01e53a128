"""The effective price of a product on a Metronome contract at the contract's start.

Pure arithmetic over what the connector fetched: the rate card's rates in effect at
`starting_at` (rows of `getRates`) overlaid by the contract's overrides in effect at that
moment. An override applies to a rate when it names the product (`product`, or a specifier's
`product_id`, with matching pricing group values) or shares one of its `applicable_product_tags`.
Of several that apply, an OVERWRITE wins over multipliers (lowest `priority` first, then the
latest `starting_at`); among MULTIPLIER and TIERED overrides the lowest `priority` wins under
`EXPLICIT` prioritization, else the lowest multiplier (Metronome's `LOWEST_MULTIPLIER` default).
Rates stay in the credit type's minor units here; the caller turns them into Money.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from tieout.mappings.metronome.common import items, mapping, number, optional_timestamp, timestamp


@dataclass(frozen=True)
class Tier:
    """`size` units (None: the rest) at `price` minor units each."""

    price: Decimal
    size: Decimal | None


@dataclass(frozen=True)
class EffectiveRate:
    rate_type: str
    credit_type: Mapping[str, Any]
    price: Decimal | None
    tiers: tuple[Tier, ...]
    override_id: str | None


def _tiers(raw: list[Mapping[str, Any]], path: str, factor: Decimal = Decimal(1)) -> tuple[Tier, ...]:
    return tuple(
        Tier(
            price=number(tier.get("price"), f"{path}[{index}].price") * factor,
            size=None if tier.get("size") is None else number(tier["size"], f"{path}[{index}].size"),
        )
        for index, tier in enumerate(raw)
    )


def base_rate(row: Mapping[str, Any], path: str, default_credit: Mapping[str, Any]) -> EffectiveRate:
    rate = mapping(row, "rate", f"{path}.rate")
    rate_type = str(rate.get("rate_type") or "")
    price = rate.get("price")
    return EffectiveRate(
        rate_type=rate_type,
        credit_type=mapping(rate, "credit_type", f"{path}.rate.credit_type") or default_credit,
        price=None if price is None else number(price, f"{path}.rate.price"),
        tiers=_tiers(items(rate, "tiers", f"{path}.rate.tiers"), f"{path}.rate.tiers"),
        override_id=None,
    )


def _in_effect(override: Mapping[str, Any], at: datetime, path: str) -> bool:
    starts = timestamp(override.get("starting_at"), f"{path}.starting_at")
    ends = optional_timestamp(override, "ending_before", f"{path}.ending_before")
    return starts <= at and (ends is None or at < ends)


def _names_product(override: Mapping[str, Any], row: Mapping[str, Any], path: str) -> bool:
    product_id = row.get("product_id")
    product = mapping(override, "product", f"{path}.product")
    if product and product.get("id") == product_id:
        return True
    groups = row.get("pricing_group_values") or {}
    for specifier in items(override, "override_specifiers", f"{path}.override_specifiers"):
        wanted = specifier.get("pricing_group_values") or {}
        if specifier.get("product_id") == product_id and all(groups.get(k) == v for k, v in wanted.items()):
            return True
    tags = set(row.get("product_tags") or [])
    return bool(tags & set(override.get("applicable_product_tags") or []))


def applicable_overrides(
    overrides: Sequence[Mapping[str, Any]], row: Mapping[str, Any], at: datetime
) -> list[tuple[int, Mapping[str, Any]]]:
    """(index, override) of every override in effect at `at` that reaches this rate row."""
    return [
        (index, override)
        for index, override in enumerate(overrides)
        if _in_effect(override, at, f"overrides[{index}]")
        and _names_product(override, row, f"overrides[{index}]")
    ]


def _priority(override: Mapping[str, Any]) -> Decimal:
    value = override.get("priority")
    return Decimal("Infinity") if value is None else number(value, "priority")


def effective_rate(
    base: EffectiveRate,
    overrides: list[tuple[int, Mapping[str, Any]]],
    *,
    explicit_priority: bool,
) -> EffectiveRate:
    """The rate after the winning override (see the module docstring for which one wins)."""
    overwrites = [(i, o) for i, o in overrides if o.get("type") == "OVERWRITE"]
    if overwrites:
        index, chosen = min(overwrites, key=lambda pair: (_priority(pair[1]), -_start_key(pair[1])))
        path = f"overrides[{index}].overwrite_rate"
        rate = mapping(chosen, "overwrite_rate", path)
        price = rate.get("price")
        return EffectiveRate(
            rate_type=str(rate.get("rate_type") or ""),
            credit_type=mapping(rate, "credit_type", f"{path}.credit_type") or base.credit_type,
            price=None if price is None else number(price, f"{path}.price"),
            tiers=_tiers(items(rate, "tiers", f"{path}.tiers"), f"{path}.tiers"),
            override_id=str(chosen.get("id")),
        )
    scaling = [(i, o) for i, o in overrides if o.get("type") in ("MULTIPLIER", "TIERED")]
    if not scaling:
        return base
    if explicit_priority:
        index, chosen = min(scaling, key=lambda pair: _priority(pair[1]))
    else:
        index, chosen = min(scaling, key=lambda pair: _lowest_multiplier(pair[1], pair[0]))
    if chosen.get("type") == "TIERED" and base.price is not None:
        raw = items(chosen, "override_tiers", f"overrides[{index}].override_tiers")
        tiers = tuple(
            Tier(
                price=base.price
                * number(tier.get("multiplier"), f"overrides[{index}].override_tiers[{n}].multiplier"),
                size=None
                if tier.get("size") is None
                else number(tier["size"], f"overrides[{index}].override_tiers[{n}].size"),
            )
            for n, tier in enumerate(raw)
        )
        return EffectiveRate("TIERED", base.credit_type, None, tiers, str(chosen.get("id")))
    factor = number(chosen.get("multiplier"), f"overrides[{index}].multiplier")
    return EffectiveRate(
        rate_type=base.rate_type,
        credit_type=base.credit_type,
        price=None if base.price is None else base.price * factor,
        tiers=tuple(Tier(tier.price * factor, tier.size) for tier in base.tiers),
        override_id=str(chosen.get("id")),
    )


def _start_key(override: Mapping[str, Any]) -> float:
    return timestamp(override.get("starting_at"), "starting_at").timestamp()


def _lowest_multiplier(override: Mapping[str, Any], index: int) -> Decimal:
    if override.get("type") == "MULTIPLIER":
        return number(override.get("multiplier"), f"overrides[{index}].multiplier")
    tiers = items(override, "override_tiers", f"overrides[{index}].override_tiers")
    return min(
        (number(t.get("multiplier"), f"overrides[{index}].override_tiers") for t in tiers), default=Decimal(1)
    )

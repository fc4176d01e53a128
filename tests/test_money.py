"""Money: exponents per currency, exact minor units, no floats, no cross-currency arithmetic."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tieout.money import CURRENCY_EXPONENTS, CurrencyMismatch, Money, sum_money, to_decimal


@pytest.mark.parametrize(
    ("minor", "currency", "expected"),
    [
        (14392, "usd", "143.92"),
        (500, "JPY", "500"),
        (5124, "KWD", "5.124"),
        (12345, "CLF", "1.2345"),
        (-250, "EUR", "-2.50"),
    ],
)
def test_minor_units_use_each_currency_exponent(minor: int, currency: str, expected: str) -> None:
    money = Money.from_minor(minor, currency)
    assert money.amount == Decimal(expected)
    assert money.to_minor() == minor


def test_vendor_exponent_override() -> None:
    # Stripe treats ISK as two-decimal on the wire although ISO gives it none.
    assert Money.from_minor(10000, "ISK", exponent=2).amount == Decimal(100)


def test_floats_are_refused_unless_asked_for_explicitly() -> None:
    with pytest.raises(ValidationError, match="float"):
        Money(amount=0.1, currency="USD")  # type: ignore[arg-type]
    assert Money.of(0.1, "USD").amount == Decimal("0.1")


@pytest.mark.parametrize("bad", ["XYZ", "usdollar", "", 840])
def test_unknown_currencies_are_refused(bad: object) -> None:
    with pytest.raises(ValidationError):
        Money(amount=Decimal(1), currency=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "12,3x", True])
def test_non_numbers_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        to_decimal(bad)


def test_inexact_minor_units_need_a_rounding_mode() -> None:
    money = Money(amount=Decimal("1.005"), currency="USD")
    with pytest.raises(ValueError, match="precision"):
        money.to_minor()
    assert money.to_minor(rounding="ROUND_HALF_UP") == 101
    assert money.quantized().amount == Decimal("1.00")


def test_arithmetic_stays_in_one_currency() -> None:
    assert Money.of("10.10", "EUR") + Money.of("0.90", "EUR") == Money.of("11", "EUR")
    with pytest.raises(CurrencyMismatch):
        Money.of(1, "EUR") + Money.of(1, "USD")
    with pytest.raises(CurrencyMismatch):
        _ = Money.of(1, "EUR") < Money.of(1, "USD")
    assert sum_money([], "JPY") == Money.zero("JPY")
    assert -Money.of("5", "GBP") == Money.of("-5", "GBP")
    assert Money.of("2.50", "GBP") * 3 == Money.of("7.5", "GBP")


def test_str_shows_currency_precision() -> None:
    assert str(Money.of("1234.5", "USD")) == "1,234.50 USD"
    assert str(Money.of("1500", "JPY")) == "1,500 JPY"
    assert str(Money.of("0.0001", "USD")) == "0.0001 USD"


def test_equal_amounts_hash_alike() -> None:
    assert hash(Money.of("10.5", "USD")) == hash(Money.of("10.50", "USD"))


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(sorted(CURRENCY_EXPONENTS)))
def test_minor_units_round_trip(minor: int, currency: str) -> None:
    assert Money.from_minor(minor, currency).to_minor() == minor


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-(10**9), max_value=10**9))
def test_decimal_strings_parse_exactly(value: Decimal) -> None:
    assert Money(amount=str(value), currency="USD").amount == value  # type: ignore[arg-type]

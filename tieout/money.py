"""Money: a Decimal amount with an ISO 4217 currency, and the currency exponent table.

Amounts are never floats. Minor units are converted with each currency's own exponent (JPY 0,
USD 2, KWD 3, CLF 4), never by dividing by 100. Arithmetic across currencies is an error, not a
silent sum. Rounding happens only where a caller asks for it and names the rounding mode.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

_EXPONENT_0 = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_EXPONENT_3 = "BHD IQD JOD KWD LYD OMR TND"
_EXPONENT_4 = "CLF UYW"
_EXPONENT_2 = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD "
    "CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS "
    "GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL "
    "MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK "
    "PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS "
    "TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG ZAR ZMW ZWG"
)

CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(_EXPONENT_2.split(), 2),
    **dict.fromkeys(_EXPONENT_0.split(), 0),
    **dict.fromkeys(_EXPONENT_3.split(), 3),
    **dict.fromkeys(_EXPONENT_4.split(), 4),
}
"""ISO 4217 active codes and their minor-unit exponents."""


_set_attribute = object.__setattr__
_BOTH_FIELDS = {"amount", "currency"}


class CurrencyMismatch(ValueError):
    """Two amounts in different currencies were combined."""


def normalize_currency(code: object) -> str:
    """Upper-case a currency code and check it is an active ISO 4217 code."""
    if type(code) is str and code in CURRENCY_EXPONENTS:
        return code  # already a code as the table holds it: the common case, checked first
    if not isinstance(code, str):
        raise ValueError(f"currency must be a string ISO 4217 code, got {type(code).__name__}")
    normalized = code.strip().upper()
    if normalized not in CURRENCY_EXPONENTS:
        raise ValueError(f"unknown currency code {code!r}")
    return normalized


def currency_exponent(currency: str) -> int:
    return CURRENCY_EXPONENTS[normalize_currency(currency)]


AMOUNT_LIMIT = Decimal(10) ** 15
"""No real amount comes near it; above it, minor units (three decimals at most) would overflow the
store's 64-bit integer columns, so an absurd amount fails its own record instead of the whole run."""


def to_decimal(value: object) -> Decimal:
    """A Decimal from a str, int or Decimal; floats only through their shortest repr.

    JSON numbers decoded as floats by a vendor SDK (Metronome's totals, for one) come through
    `repr`, which gives back the digits the vendor sent, never the binary approximation.
    """
    if type(value) is int:
        return Decimal(value)  # exact and finite: the common case of minor units, checked first
    if type(value) is str:
        result = _decimal_text(value)
    elif type(value) is Decimal:
        result = value
    elif isinstance(value, bool):
        raise ValueError("amount must be a number, got a boolean")
    elif isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        result = _decimal_text(value)
    else:
        raise ValueError(f"amount must be a number or numeric string, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"amount must be finite, got {value!r}")
    return result


def _decimal_text(value: str) -> Decimal:
    try:
        return Decimal(value)  # strips the whitespace itself; only a grouped amount needs more
    except InvalidOperation:
        try:
            return Decimal(value.strip().replace(",", ""))
        except InvalidOperation:
            raise ValueError(f"not a number: {value!r}") from None


def _in_range(amount: Decimal, value: object) -> Decimal:
    if abs(amount) > AMOUNT_LIMIT:
        raise ValueError(f"amount {value!r} is out of range: tieout handles amounts up to 10^15")
    return amount


class Money(BaseModel):
    """An amount in one currency. Immutable; hashable; compares only within a currency."""

    model_config = ConfigDict(frozen=True)

    amount: Decimal
    currency: str

    @field_validator("amount", mode="before")
    @classmethod
    def _parse_amount(cls, value: object) -> Decimal:
        if isinstance(value, float):
            raise ValueError("amount must not be a float; pass a Decimal, int or numeric string")
        return _in_range(to_decimal(value), value)

    @field_validator("currency", mode="before")
    @classmethod
    def _parse_currency(cls, value: object) -> str:
        return normalize_currency(value)

    @classmethod
    def _checked(cls, amount: Decimal, currency: str) -> Money:
        """Built from parts already checked: skips pydantic's validation, which mapping pays per amount.

        The instance is filled in the way `model_construct` fills it, without its generic field
        loop: mapping builds several of these per invoice line.
        """
        money = cls.__new__(cls)
        _set_attribute(money, "__dict__", {"amount": amount, "currency": currency})
        # One set for them all: a frozen model never changes its own, and a copy gets a copy.
        _set_attribute(money, "__pydantic_fields_set__", _BOTH_FIELDS)
        _set_attribute(money, "__pydantic_extra__", None)
        _set_attribute(money, "__pydantic_private__", None)
        return money

    @classmethod
    def of(cls, amount: object, currency: str) -> Money:
        """Money from any numeric input, floats included (through their repr)."""
        return cls._checked(_in_range(to_decimal(amount), amount), normalize_currency(currency))

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls._checked(Decimal(0), normalize_currency(currency))

    @classmethod
    def from_minor(
        cls, minor_units: int | str | Decimal, currency: str, *, exponent: int | None = None
    ) -> Money:
        """From integer minor units; `exponent` overrides ISO's where a vendor differs (Stripe's ISK)."""
        code = normalize_currency(currency)
        places = CURRENCY_EXPONENTS[code] if exponent is None else exponent
        units = to_decimal(minor_units)
        return cls._checked(_in_range(units.scaleb(-places), minor_units), code)

    @property
    def exponent(self) -> int:
        return CURRENCY_EXPONENTS[self.currency]

    def to_minor(self, *, exponent: int | None = None, rounding: str | None = None) -> int:
        """Integer minor units; inexact amounts raise unless a rounding mode is named."""
        places = self.exponent if exponent is None else exponent
        scaled = self.amount.scaleb(places)
        whole = scaled.to_integral_value(rounding=rounding or ROUND_HALF_EVEN)
        if rounding is None and whole != scaled:
            raise ValueError(f"{self} has more precision than {self.currency} minor units allow")
        return int(whole)

    def quantized(self, rounding: str = ROUND_HALF_EVEN) -> Money:
        """Rounded to the currency's minor unit."""
        quantum = Decimal(1).scaleb(-self.exponent)
        return Money._checked(self.amount.quantize(quantum, rounding=rounding), self.currency)

    def _same_currency(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money._checked(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money._checked(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money._checked(-self.amount, self.currency)

    def __abs__(self) -> Money:
        return Money._checked(abs(self.amount), self.currency)

    def __mul__(self, factor: int | Decimal) -> Money:
        if isinstance(factor, float | Money):
            raise TypeError("multiply Money by an int or Decimal only")
        return Money._checked(self.amount * factor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount >= other.amount

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        # 10.5 and 10.50 are the same money; Decimal equality already says so.
        return self.currency == other.currency and self.amount == other.amount

    def __hash__(self) -> int:
        return hash((self.currency, self.amount.normalize()))

    def is_zero(self) -> bool:
        return self.amount == 0

    def __str__(self) -> str:
        digits_exponent = self.amount.as_tuple().exponent
        places = max(self.exponent, -digits_exponent if isinstance(digits_exponent, int) else 0)
        return f"{self.amount:,.{places}f} {self.currency}"

    def __repr__(self) -> str:
        return f"Money({str(self.amount)!r}, {self.currency!r})"


def sum_money(amounts: list[Money], currency: str) -> Money:
    """Sum in one currency; the currency is given so an empty list still has one."""
    total = Money.zero(currency)
    for amount in amounts:
        total = total + amount
    return total

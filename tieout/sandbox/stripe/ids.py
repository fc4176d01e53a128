"""Stripe-style identifiers, currency exponents and the processing-fee schedule.

Ids carry Stripe's prefixes (`cus_`, `in_`, `txn_` ...) and a base62 body drawn from a seeded
generator, so a scenario built twice with the same seed gets the same ids.
"""

from __future__ import annotations

import random
import secrets
import string
import threading

_ALPHABET = string.ascii_letters + string.digits

# Body lengths as Stripe prints them: short bodies for customers and products, 24 characters
# (starting with a version digit) for most transactional objects.
_SHORT = {"cus", "prod", "acct"}

ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])


def exponent(currency: str) -> int:
    """Minor-unit exponent: 0 for JPY and friends, 3 for KWD and friends, else 2."""
    code = currency.lower()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def processing_fee(amount: int, currency: str) -> int:
    """Stripe's standard card pricing: 2.9% plus a fixed fee of 30 minor units (none for 0-decimal)."""
    places = exponent(currency)
    fixed = {0: 0, 2: 30, 3: 300}[places]
    percent_fee = (abs(amount) * 29 + 500) // 1000
    fee = percent_fee + fixed
    if places == 3:
        fee = (fee + 5) // 10 * 10  # three-decimal currencies need a trailing zero
    return fee


def dispute_fee(currency: str) -> int:
    return {0: 1500, 2: 1500, 3: 15000}[exponent(currency)]


class IdFactory:
    """Thread-safe, seeded id generator.

    Bodies are a counter scrambled by an odd multiplier and a seeded offset (a bijection modulo a
    power of two, so ids never collide) printed in hex: random-looking, repeatable, and cheap
    enough for millions of seeded objects.
    """

    _MULTIPLIER = 0x9E3779B97F4A7C15F39CC06  # odd, so multiplication is a bijection

    def __init__(self, seed: int = 0) -> None:
        self._random = random.Random(seed)
        self._offset = self._random.getrandbits(92)
        self._counter = 0
        self._lock = threading.Lock()

    def new(self, prefix: str) -> str:
        with self._lock:
            self._counter += 1
            scrambled = (self._counter * self._MULTIPLIER + self._offset) & _MASK_92
        if prefix in _SHORT:
            return f"{prefix}_{scrambled & _MASK_56:014x}"
        return f"{prefix}_1{scrambled:023x}"

    def token(self, length: int) -> str:
        with self._lock:
            return "".join(self._random.choices(_ALPHABET, k=length))


_MASK_92 = (1 << 92) - 1
_MASK_56 = (1 << 56) - 1


def request_id() -> str:
    """Request ids are per HTTP request, not part of the seeded scenario, so they come from `secrets`."""
    return "req_" + "".join(secrets.choice(_ALPHABET) for _ in range(14))

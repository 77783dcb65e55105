"""Exact money: amounts are integers of micro-points, shown as canonical decimals.

A point is the unit of account and 1 yuan is 1000 points. Every amount the engine
computes is an integer number of micro-points (1e-6 point), so sums are exact and
there is no binary floating point anywhere. On the wire an amount is a canonical
decimal string: no exponent, no trailing zeros ("0.3702", "113.125", "0").
"""

from __future__ import annotations

import re
from decimal import Decimal
from math import gcd
from typing import TYPE_CHECKING, TypeVar

from rating_server.ids import shown

if TYPE_CHECKING:
    import numpy as np

MICROS_PER_POINT = 1_000_000


def format_scaled(value: int, places: int) -> str:
    """Format the integer ``value`` x 10^-places as a canonical decimal string."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**places)
    if frac == 0:
        return f"{sign}{whole}"
    digits = f"{frac:0{places}d}".rstrip("0")
    return f"{sign}{whole}.{digits}"


def format_points(micros: int) -> str:
    """Micro-points as a canonical decimal string of points."""
    return format_scaled(micros, 6)


def format_yuan(micros: int) -> str:
    """Micro-points as a canonical decimal string of yuan (exact: points / 1000)."""
    return format_scaled(micros, 9)


def canonical(value: Decimal) -> str:
    """A finite Decimal as a canonical decimal string."""
    if not value.is_finite():
        raise ValueError(f"not a finite number: {value}")
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    unscaled = int("".join(map(str, digits)) or "0")
    if exponent >= 0:
        return format_scaled((-1 if sign else 1) * unscaled * 10**exponent, 0)
    return format_scaled((-1 if sign else 1) * unscaled, -exponent)


#: The one decimal syntax accepted wherever a decimal is read (a request's points, a
#: catalog file's prices): ASCII digits, an optional "-", an optional point with digits
#: on both sides. No spaces, "+", "_" (which Decimal() takes: "1_000"), exponent, NaN or
#: Infinity, so a value has one spelling up to leading and trailing zeros. At most
#: MAX_DECIMAL_LENGTH characters, far more than any amount needs, so a caller's huge
#: string costs nothing to refuse.
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
MAX_DECIMAL_LENGTH = 100


def parse_decimal(text: str) -> Decimal:
    """Parse a plain decimal string ("0.8", "252", "-1.50"); anything else is ValueError."""
    if len(text) > MAX_DECIMAL_LENGTH or not _PLAIN_DECIMAL.fullmatch(text):
        raise ValueError(f"not a plain decimal number: {shown(text)}")
    return Decimal(text)


def exact_micros(value: Decimal) -> int:
    """``value`` points as an integer of micro-points; ValueError past 6 decimals.

    Exact whatever the digits (no decimal context rounds anything); values of 10^18
    points or more, beyond any amount the service keeps, are ValueError too.
    """
    sign, digit_tuple, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        raise ValueError(f"not a finite number: {value}")
    digits = "".join(map(str, digit_tuple)).lstrip("0")  # string work: linear in the digits
    if exponent < -6:
        kept = digits.rstrip("0")
        dropped = min(len(digits) - len(kept), -6 - exponent)
        digits, exponent = digits[: len(digits) - dropped], exponent + dropped
        if exponent < -6 and digits:
            raise ValueError("has more than 6 decimals (a micro-point is the smallest amount)")
    if len(digits) + exponent > 18:
        raise ValueError("is too large")
    micros = int(digits or "0") * 10 ** (exponent + 6) if digits else 0
    return -micros if sign else micros


class Rate:
    """A price per price-unit, ready to rate base-unit quantities exactly.

    ``micros(q)`` is q x price / price_unit in micro-points, rounded once, half-up.
    The price is kept as the reduced fraction mul/div so one line costs two integer
    multiplications and a division.
    """

    __slots__ = ("_div", "_mul")

    def __init__(self, price: Decimal, price_unit: int) -> None:
        if price < 0:
            raise ValueError("a price cannot be negative")
        if price_unit <= 0:
            raise ValueError("a price unit must be positive")
        numerator, denominator = price.as_integer_ratio()
        mul = numerator * MICROS_PER_POINT
        div = denominator * price_unit
        common = gcd(mul, div) or 1
        self._mul = mul // common
        self._div = div // common

    def micros(self, quantity: int) -> int:
        """The amount of ``quantity`` base units (never negative), in micro-points."""
        return amount(quantity, 2 * self._mul, self._div, 2 * self._div)

    def terms(self) -> tuple[int, int, int]:
        """``(a, b, c)`` such that ``micros(q) == amount(q, a, b, c)``: for a loop (or a
        column) that rates many items without a call to the rate per item."""
        return 2 * self._mul, self._div, 2 * self._div


Amounts = TypeVar("Amounts", int, "np.ndarray")


def amount(quantity: Amounts, a: Amounts | int, b: Amounts | int, c: Amounts | int) -> Amounts:
    """A line's amount in micro-points, ``(quantity * a + b) // c`` with a rate's
    ``terms``: quantity x price / price unit, rounded once, half-up. The one formula for
    every path: an item's integers, or a column's int64 arrays (which the caller keeps
    from overflowing)."""
    return (quantity * a + b) // c

"""money.py: exact amounts, and the yuan and fen they are shown in (1 yuan = 1000 points,
1 fen = a hundredth of a yuan)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rating_server.money import (
    MICROS_PER_FEN,
    MICROS_PER_POINT,
    MICROS_PER_YUAN,
    POINTS_PER_YUAN,
    Rate,
    amount,
    exact_micros,
    fen_half_up,
    format_points,
    format_yuan,
    format_yuan_in_fen,
    parse_decimal,
)

MICROS = st.integers(min_value=0, max_value=10**18)


def test_a_yuan_is_a_thousand_points_and_a_fen_ten() -> None:
    assert POINTS_PER_YUAN == 1000
    assert MICROS_PER_YUAN == 1000 * MICROS_PER_POINT
    assert MICROS_PER_FEN == 10 * MICROS_PER_POINT


@given(MICROS)
def test_an_amount_in_yuan_is_its_points_over_a_thousand_exactly(micros: int) -> None:
    points = Decimal(format_points(micros))
    assert Decimal(format_yuan(micros)) == points / POINTS_PER_YUAN
    assert points == Decimal(micros).scaleb(-6)


@given(MICROS)
def test_an_amount_due_is_rounded_half_up_to_the_fen(micros: int) -> None:
    exact = Decimal(micros) / MICROS_PER_YUAN
    expected = exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert Decimal(format_yuan_in_fen(micros)) == expected
    assert fen_half_up(micros) == int(expected * 100)


def test_half_a_fen_rounds_up_and_less_rounds_down() -> None:
    half = MICROS_PER_FEN // 2
    assert [fen_half_up(m) for m in (half - 1, half, MICROS_PER_FEN + half - 1)] == [0, 1, 1]
    assert format_yuan_in_fen(12_345 * MICROS_PER_POINT) == "12.35"  # 12.345 yuan
    assert format_yuan_in_fen(12_344_999_999) == "12.34"
    assert format_yuan_in_fen(0) == "0"


@given(
    st.integers(min_value=0, max_value=10**15),
    st.decimals(min_value=0, max_value=10**6, places=6, allow_nan=False, allow_infinity=False),
    st.integers(min_value=1, max_value=10**16),
)
def test_a_lines_amount_is_quantity_times_price_over_unit_rounded_half_up_once(
    quantity: int, price: Decimal, price_unit: int
) -> None:
    rate = Rate(price, price_unit)
    # Exact, as a fraction (a Decimal division would round), then rounded half-up once.
    numerator, denominator = (Decimal(quantity) * price * MICROS_PER_POINT).as_integer_ratio()
    denominator *= price_unit
    assert rate.micros(quantity) == (2 * numerator + denominator) // (2 * denominator)
    assert rate.micros(quantity) == amount(quantity, *rate.terms())


def test_points_are_read_exactly_to_the_micro_point_and_no_further() -> None:
    assert exact_micros(parse_decimal("0.000001")) == 1
    assert exact_micros(parse_decimal("12.5000000")) == 12_500_000  # zeros past 6 are exact
    assert exact_micros(parse_decimal("-3")) == -3_000_000
    for text in ("0.0000001", "1.0000005"):
        with pytest.raises(ValueError):
            exact_micros(parse_decimal(text))
    for text in ("1e3", "1_000", " 1", "+1", "NaN", "1."):
        with pytest.raises(ValueError):
            parse_decimal(text)

"""Exact money (``money.py``): amounts as integers of micro-points, written as canonical
decimals, read from the one plain decimal syntax, and a price's rate rounded once,
half-up. Every expectation here is worked out with ``Fraction`` or ``Decimal`` apart
from the code under test."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from rating_server.money import (
    MAX_DECIMAL_LENGTH,
    MICROS_PER_FEN,
    MICROS_PER_POINT,
    MICROS_PER_YUAN,
    POINTS_PER_YUAN,
    Rate,
    amount,
    canonical,
    exact_micros,
    fen_half_up,
    format_points,
    format_scaled,
    format_yuan,
    format_yuan_in_fen,
    parse_decimal,
)

CANONICAL = r"-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?"


@pytest.mark.parametrize(
    ("micros", "points", "yuan"),
    [
        (0, "0", "0"),
        (370_200, "0.3702", "0.0003702"),
        (113_125_000, "113.125", "0.113125"),
        (1_000_000_000, "1000", "1"),
        (1, "0.000001", "0.000000001"),
        (-1_500_000, "-1.5", "-0.0015"),
        (10**15, "1000000000", "1000000"),
    ],
)
def test_micro_points_are_written_as_points_and_as_yuan_at_a_thousand_points_each(
    micros: int, points: str, yuan: str
) -> None:
    assert (format_points(micros), format_yuan(micros)) == (points, yuan)


@given(st.integers(-(2**80), 2**80), st.integers(0, 12))
def test_a_scaled_integer_is_written_exactly_without_exponent_or_trailing_zeros(
    value: int, places: int
) -> None:
    written = format_scaled(value, places)
    assert Fraction(Decimal(written)) == Fraction(value, 10**places)
    assert re.fullmatch(CANONICAL, written), written
    assert written != "-0"


@given(st.integers(-(2**70), 2**70))
def test_yuan_are_exactly_the_points_divided_by_a_thousand(micros: int) -> None:
    assert Decimal(format_yuan(micros)) * 1000 == Decimal(format_points(micros))


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("1.500", "1.5"),
        ("1E+3", "1000"),
        ("-0.00", "0"),
        ("0.000001", "0.000001"),
        ("-2.50E-3", "-0.0025"),
        ("252", "252"),
    ],
)
def test_a_decimal_is_written_in_its_one_canonical_spelling(value: str, written: str) -> None:
    assert canonical(Decimal(value)) == written


@given(st.decimals(allow_nan=False, allow_infinity=False, places=None))
def test_any_finite_decimal_is_written_as_the_same_number_canonically(value: Decimal) -> None:
    written = canonical(value)
    assert Decimal(written) == value
    assert re.fullmatch(CANONICAL, written), written


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "sNaN"])
def test_a_number_that_is_not_finite_has_no_canonical_spelling(value: str) -> None:
    with pytest.raises(ValueError, match="not a finite number"):
        canonical(Decimal(value))


@pytest.mark.parametrize(
    ("text", "value"),
    [("0.8", "0.8"), ("252", "252"), ("-1.50", "-1.5"), ("007", "7"), ("0", "0")],
)
def test_a_plain_decimal_is_read_as_written(text: str, value: str) -> None:
    assert parse_decimal(text) == Decimal(value)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1e3",
        "+1",
        "1_000",
        " 1",
        "1 ",
        "1.",
        ".5",
        "--1",
        "NaN",
        "Infinity",
        "0x10",
        "١",  # a digit, but not an ASCII one
        "1" * (MAX_DECIMAL_LENGTH + 1),
    ],
)
def test_anything_but_the_plain_decimal_syntax_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a plain decimal number"):
        parse_decimal(text)


def test_a_plain_decimal_may_be_as_long_as_the_bound_and_no_longer() -> None:
    longest = "1." + "0" * (MAX_DECIMAL_LENGTH - 2)
    assert parse_decimal(longest) == 1
    with pytest.raises(ValueError):
        parse_decimal(longest + "0")


@pytest.mark.parametrize(
    ("value", "micros"),
    [
        ("0.3702", 370_200),
        ("-2.5", -2_500_000),
        ("1.000000000", 1_000_000),  # zeros past the sixth decimal are no decimals
        ("0", 0),
        ("-0.000", 0),
        ("1E+17", 10**23),
        ("0.000001" + "0" * 1000, 1),
    ],
)
def test_points_are_read_as_an_exact_integer_of_micro_points(value: str, micros: int) -> None:
    assert exact_micros(Decimal(value)) == micros


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("0.0000001", "more than 6 decimals"),
        ("1.0000005", "more than 6 decimals"),
        ("1E+18", "too large"),
        ("-1E+18", "too large"),
        ("NaN", "not a finite number"),
        ("Infinity", "not a finite number"),
    ],
)
def test_points_finer_than_a_micro_point_or_of_a_billion_billion_are_refused(
    value: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        exact_micros(Decimal(value))


@given(st.integers(-(10**24) + 1, 10**24 - 1), st.integers(0, 5))
def test_any_amount_of_micro_points_is_read_back_exactly_however_it_is_spelled(
    micros: int, extra_zeros: int
) -> None:
    spelled = Decimal(format_points(micros) + ("" if micros % 10**6 == 0 else "0" * extra_zeros))
    assert exact_micros(spelled) == micros


prices = st.decimals(min_value=0, max_value=100_000, places=6, allow_nan=False)
price_units = st.sampled_from([1, 7, 1000, 60_000, 3_600_000, 2**30 * 3600 * 1000])


def half_up(value: Fraction) -> int:
    floor = value.numerator // value.denominator
    return floor + (1 if value - floor >= Fraction(1, 2) else 0)


@given(prices, price_units, st.integers(0, 2**63 - 1))
def test_a_rate_is_the_exact_amount_rounded_half_up_once(
    price: Decimal, price_unit: int, quantity: int
) -> None:
    rate = Rate(price, price_unit)
    expected = half_up(Fraction(quantity) * Fraction(price) * 10**6 / price_unit)
    assert rate.micros(quantity) == expected
    assert amount(quantity, *rate.terms()) == expected


def test_half_a_micro_point_rounds_up_and_less_rounds_down() -> None:
    per_two_units = Rate(Decimal("0.000001"), 2)  # half a micro-point a unit
    assert [per_two_units.micros(q) for q in (0, 1, 2, 3)] == [0, 1, 1, 2]
    just_under = Rate(Decimal("0.000001"), 3)  # a third of a micro-point a unit
    assert [just_under.micros(q) for q in (1, 2, 3)] == [0, 1, 1]


@pytest.mark.parametrize(
    ("price", "price_unit", "problem"),
    [
        ("-0.000001", 1, "a price cannot be negative"),
        ("1", 0, "a price unit must be positive"),
        ("1", -1000, "a price unit must be positive"),
    ],
)
def test_a_rate_refuses_a_negative_price_or_a_price_unit_that_is_not_positive(
    price: str, price_unit: int, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        Rate(Decimal(price), price_unit)


@given(prices, price_units, st.lists(st.integers(0, 10**9), min_size=1, max_size=50))
def test_the_amounts_of_a_column_are_the_amounts_of_its_items(
    price: Decimal, price_unit: int, quantities: list[int]
) -> None:
    a, b, c = Rate(price, price_unit).terms()
    assume(max(quantities) * a + b < 2**63)  # the caller keeps a column inside int64
    column = amount(np.array(quantities, dtype=np.int64), a, b, c)
    assert column.dtype == np.int64
    assert column.tolist() == [amount(q, a, b, c) for q in quantities]


# Yuan and fen: 1 yuan = 1000 points, 1 fen = a hundredth of a yuan.

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

"""engine.py's rule functions, each on its own: the bounds ``Limits`` checks (the same
for one value and for a column), the increment, storage's quantity, a batch's size, the
SKU a plain item names, and the memo of good attribute keys, which changes no answer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import NOON

from rating_server.catalog.model import CatalogSnapshot
from rating_server.engine import (
    MAX_BATCH_ITEMS,
    MAX_GOOD_KEYS,
    InvalidUsageError,
    Limits,
    Usage,
    count_problems,
    plain_rater,
    plain_sku,
    rate_batch,
    rounded_up,
    storage_quantity,
)
from rating_server.units import NANOS_PER_MILLI, NANOS_PER_SECOND

NOON_NS = int(NOON.timestamp()) * NANOS_PER_SECOND
LIMITS = Limits()
BIG = st.integers(min_value=-(2**62), max_value=2**62)


@given(st.lists(BIG, min_size=1, max_size=20))
def test_a_quantity_is_in_bounds_from_zero_to_the_largest(quantities: list[int]) -> None:
    column = np.array(quantities, dtype=np.int64)
    each = [LIMITS.quantity_ok(q) for q in quantities]
    assert each == [0 <= q <= LIMITS.max_quantity for q in quantities]
    assert LIMITS.quantity_ok(column).tolist() == each


@given(st.lists(BIG, min_size=1, max_size=20), BIG)
def test_an_instant_is_in_bounds_from_the_earliest_to_the_latest(
    instants: list[int], latest: int
) -> None:
    column = np.array(instants, dtype=np.int64)
    each = [LIMITS.instant_ok(at, latest) for at in instants]
    assert each == [LIMITS.earliest_ns <= at <= latest for at in instants]
    assert LIMITS.instant_ok(column, latest).tolist() == each


def test_the_latest_instant_is_now_plus_the_clock_skew_allowed() -> None:
    assert LIMITS.latest_ns(NOON_NS) == NOON_NS + 300 * NANOS_PER_SECOND
    assert Limits(max_future_ns=0).latest_ns(NOON_NS) == NOON_NS


def test_a_line_and_a_batch_are_bounded_by_their_largest_amounts() -> None:
    limits = Limits(max_line_micros=10, max_batch_micros=20)
    assert [limits.line_ok(m) for m in (0, 10, 11)] == [True, True, False]
    assert limits.line_ok(np.array([10, 11], dtype=np.int64)).tolist() == [True, False]
    assert [limits.batch_ok(m) for m in (20, 21)] == [True, False]


@given(st.integers(0, 10**15), st.integers(0, 10**6))
def test_a_quantity_is_rounded_up_to_a_multiple_of_the_increment(
    quantity: int, increment: int
) -> None:
    rated = rounded_up(quantity, increment)
    if increment <= 1:
        assert rated == quantity
    else:
        assert rated % increment == 0 and quantity <= rated < quantity + increment
    column = rounded_up(np.array([quantity], dtype=np.int64), np.array([max(increment, 1)]))
    assert column.tolist() == [rated]


def test_storage_is_the_bytes_beyond_the_free_quota_times_the_whole_milliseconds() -> None:
    assert storage_quantity(15, 10, 3 * NANOS_PER_MILLI) == 15
    assert storage_quantity(5, 10, 3 * NANOS_PER_MILLI) == 0
    assert storage_quantity(11, 10, 2 * NANOS_PER_MILLI + 999_999) == 2


def test_a_batch_holds_one_to_ten_thousand_items() -> None:
    assert [v.reason for v in count_problems(0)] == ["ITEMS_EMPTY"]
    assert count_problems(1) == count_problems(MAX_BATCH_ITEMS) == []
    (too_many,) = count_problems(MAX_BATCH_ITEMS + 1, "columns")
    assert (too_many.field, too_many.reason) == ("columns", "ITEMS_TOO_MANY")


def test_a_plain_item_names_a_priced_sku_metered_by_quantity(seed: CatalogSnapshot) -> None:
    found = plain_sku(seed, "Doubao-lite-32k.input")
    assert found is not None and found.id == "model.doubao-lite-32k.input"
    assert plain_sku(seed, "knowledge.storage") is None  # storage: every rule applies
    assert plain_sku(seed, "plugin.any") is None  # no price
    assert plain_sku(seed, "no.such") is None
    assert plain_sku(seed, "") is None


def test_a_key_is_good_when_short_printable_and_without_spaces() -> None:
    limits = Limits(max_attribute_key=8)
    assert limits.attribute_key_ok("agent_id")
    assert not limits.attribute_key_ok("agent_ids")  # 9 characters
    assert not limits.attribute_key_ok("a b")
    assert not limits.attribute_key_ok("")
    assert not limits.attribute_key_ok("a\nb")


def test_each_limits_remembers_the_keys_found_good_under_it_and_no_more() -> None:
    limits = Limits()
    for n in range(MAX_GOOD_KEYS + 10):
        assert limits.attribute_key_ok(f"key-{n}")
    assert len(limits._good_keys) == MAX_GOOD_KEYS
    assert limits.attribute_key_ok(f"key-{MAX_GOOD_KEYS + 5}")  # checked, not remembered
    assert not Limits()._good_keys  # another Limits starts with none


def test_a_key_found_good_under_lenient_limits_is_judged_afresh_by_strict_ones(
    seed: CatalogSnapshot,
) -> None:
    key = "k" * 80
    item = Usage("u-1", "acct-1", "agent.call", 1, NOON_NS, None, {key: "v"})
    lenient, strict = Limits(max_attribute_key=100), Limits()
    rate_batch(seed, [item], limits=lenient, now_ns=NOON_NS)
    assert lenient.attribute_key_ok(key)
    with pytest.raises(InvalidUsageError) as caught:
        rate_batch(seed, [item], limits=strict, now_ns=NOON_NS)
    assert caught.value.violations[0].reason == "ATTRIBUTE_KEY_INVALID"


@pytest.mark.parametrize("first", ["nothing", "good keys", "bad keys", "many keys"])
def test_the_same_item_is_rated_the_same_whatever_was_rated_before(
    seed: CatalogSnapshot, first: str
) -> None:
    limits = Limits()
    before = {
        "nothing": [],
        "good keys": [{"agent_id": "a", "api": "b"}],
        "bad keys": [{"a b": "c"}, {"k" * 65: "v"}],
        "many keys": [{f"key-{n}": "v"} for n in range(MAX_GOOD_KEYS + 1)],
    }[first]
    rate = plain_rater(seed, limits, NOON_NS)
    for attributes in before:
        rate("agent.call", 1, NOON_NS, attributes)
    for attributes, plain in (({"agent_id": "x", "api": "y"}, True), ({"a b": "c"}, False)):
        rated = rate("agent.call", 3, NOON_NS, attributes)
        assert (rated is not None) == plain
        if rated is not None:
            assert rated[2:] == (3, 6_000_000)

"""The crossing rule (ledger/alerts.py): an alert when a threshold's condition turns
from false to true, exactly once per crossing."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from rating_server.ledger.alerts import (
    FREE_POINTS_BELOW,
    KINDS,
    PACK_PERCENT_BELOW,
    PACK_POINTS_BELOW,
    PAY_AS_YOU_GO_BUDGET_PERCENT_ABOVE,
    PAY_AS_YOU_GO_POINTS_ABOVE,
    Alert,
    BalanceLevels,
    PackLevel,
    crossed,
)
from rating_server.ledger.model import AlertThresholds

POINT = 10**6
DAY, MONTH = "2025-03-14", "2025-03"


def levels(
    free: int | None = None,
    pack: tuple[int, int] | None = None,
    bill: int | None = None,
    budget: int | None = None,
) -> BalanceLevels:
    return BalanceLevels(
        "acme",
        free_left={} if free is None else {DAY: free},
        packs={} if pack is None else {"pk-1": PackLevel(*pack)},
        payg={} if bill is None else {MONTH: bill},
        budget_micros=budget,
    )


def test_free_points_falling_below_the_threshold_alert_once_with_the_day_and_the_value() -> None:
    thresholds = AlertThresholds("acme", free_below_micros=100 * POINT)
    assert crossed(thresholds, levels(free=150 * POINT), levels(free=90 * POINT)) == [
        Alert(
            FREE_POINTS_BELOW,
            "acme",
            day=DAY,
            threshold_micros=100 * POINT,
            value_micros=90 * POINT,
        )
    ]
    # Still below: nothing more.
    assert crossed(thresholds, levels(free=90 * POINT), levels(free=10 * POINT)) == []


def test_exactly_at_a_threshold_is_neither_below_nor_above_it() -> None:
    thresholds = AlertThresholds(
        "acme",
        free_below_micros=100 * POINT,
        pack_below_micros=50 * POINT,
        pack_percent_below=10,
        payg_above_micros=200 * POINT,
        payg_budget_percent_above=80,
    )
    before = levels(free=500 * POINT, pack=(900 * POINT, 1000 * POINT), bill=0, budget=1000 * POINT)
    at = levels(
        free=100 * POINT, pack=(100 * POINT, 1000 * POINT), bill=200 * POINT, budget=1000 * POINT
    )
    assert crossed(thresholds, before, at) == []
    # 800 of 1000 is exactly 80%: only the points threshold is passed.
    at_budget = levels(bill=800 * POINT, budget=1000 * POINT)
    assert crossed(thresholds, levels(bill=0, budget=1000 * POINT), at_budget) == [
        Alert(
            PAY_AS_YOU_GO_POINTS_ABOVE,
            "acme",
            month=MONTH,
            threshold_micros=200 * POINT,
            value_micros=800 * POINT,
        )
    ]
    # One micro-point past each.
    past = levels(
        free=100 * POINT - 1,
        pack=(100 * POINT - 1, 1000 * POINT),
        bill=800 * POINT + 1,
        budget=1000 * POINT,
    )
    kinds = [alert.kind for alert in crossed(thresholds, at, past)]
    assert kinds == [
        FREE_POINTS_BELOW,
        PACK_PERCENT_BELOW,
        PAY_AS_YOU_GO_POINTS_ABOVE,
        PAY_AS_YOU_GO_BUDGET_PERCENT_ABOVE,
    ]
    low = levels(pack=(50 * POINT - 1, 1000 * POINT))
    assert [a.kind for a in crossed(thresholds, levels(pack=(50 * POINT, 1000 * POINT)), low)] == [
        PACK_POINTS_BELOW
    ]


def test_a_condition_that_becomes_false_and_true_again_alerts_again() -> None:
    thresholds = AlertThresholds("acme", payg_above_micros=10 * POINT)
    bills = [0, 11 * POINT, 12 * POINT, 5 * POINT, 10 * POINT, 10 * POINT + 1, 20 * POINT]
    fired = [
        len(crossed(thresholds, levels(bill=a), levels(bill=b)))
        for a, b in itertools.pairwise(bills)
    ]
    assert fired == [1, 0, 0, 0, 1, 0]


def test_a_pack_percent_is_of_its_own_points_exactly() -> None:
    thresholds = AlertThresholds("acme", pack_percent_below=25)
    # 25% of 3 points is 0.75 points: 750,000 micro-points is not below it, 749,999 is.
    before = levels(pack=(750_000, 3 * POINT))
    after = levels(pack=(749_999, 3 * POINT))
    assert crossed(thresholds, before, after) == [
        Alert(
            PACK_PERCENT_BELOW, "acme", pack_id="pk-1", threshold_percent=25, value_micros=749_999
        )
    ]


def test_a_day_pack_or_month_the_balance_before_lacked_counts_as_false_before() -> None:
    thresholds = AlertThresholds(
        "acme",
        free_below_micros=100 * POINT,
        pack_below_micros=5 * POINT,
        payg_above_micros=POINT,
    )
    after = levels(free=50 * POINT, pack=(POINT, 2 * POINT), bill=2 * POINT)
    kinds = [alert.kind for alert in crossed(thresholds, levels(), after)]
    assert kinds == [FREE_POINTS_BELOW, PACK_POINTS_BELOW, PAY_AS_YOU_GO_POINTS_ABOVE]


def test_the_budget_percent_never_crosses_without_a_budget_and_crosses_when_one_is_lowered() -> (
    None
):
    thresholds = AlertThresholds("acme", payg_budget_percent_above=50)
    assert crossed(thresholds, levels(bill=0), levels(bill=10**9 * POINT)) == []
    # The bill does not move, the budget does: 60 of 100 is above 50%.
    lowered = crossed(
        thresholds,
        levels(bill=60 * POINT, budget=1000 * POINT),
        levels(bill=60 * POINT, budget=100 * POINT),
    )
    assert [(a.kind, a.threshold_percent, a.value_micros) for a in lowered] == [
        (PAY_AS_YOU_GO_BUDGET_PERCENT_ABOVE, 50, 60 * POINT)
    ]


def test_no_thresholds_no_alerts() -> None:
    assert crossed(AlertThresholds("acme"), levels(free=POINT), levels(free=0)) == []


# -- every crossing exactly once, over a random walk ----------------------------------------

_THRESHOLDS = st.builds(
    AlertThresholds,
    st.just("acme"),
    free_below_micros=st.none() | st.integers(1, 1000),
    pack_below_micros=st.none() | st.integers(1, 1000),
    pack_percent_below=st.integers(0, 100),
    payg_above_micros=st.none() | st.integers(1, 1000),
    payg_budget_percent_above=st.integers(0, 100),
)
_LEVELS = st.builds(
    levels,
    free=st.integers(0, 1000),
    pack=st.tuples(st.integers(0, 1000), st.just(1000)),
    bill=st.integers(0, 1000),
    budget=st.none() | st.integers(1, 1000),
)


def _conditions(thresholds: AlertThresholds, state: BalanceLevels) -> dict[str, bool]:
    """Each kind's condition, said the plain way (floats are exact at these sizes)."""
    pack = state.packs["pk-1"]
    bill, budget = state.payg[MONTH], state.budget_micros
    t = thresholds
    return {
        FREE_POINTS_BELOW: t.free_below_micros is not None
        and state.free_left[DAY] < t.free_below_micros,
        PACK_POINTS_BELOW: t.pack_below_micros is not None
        and pack.remaining_micros < t.pack_below_micros,
        PACK_PERCENT_BELOW: bool(t.pack_percent_below)
        and pack.remaining_micros / pack.granted_micros < t.pack_percent_below / 100,
        PAY_AS_YOU_GO_POINTS_ABOVE: t.payg_above_micros is not None and bill > t.payg_above_micros,
        PAY_AS_YOU_GO_BUDGET_PERCENT_ABOVE: bool(t.payg_budget_percent_above)
        and budget is not None
        and bill / budget > t.payg_budget_percent_above / 100,
    }


@given(_THRESHOLDS, st.lists(_LEVELS, min_size=2, max_size=30))
def test_over_any_walk_each_kind_alerts_once_for_each_turn_from_false_to_true(
    thresholds: AlertThresholds, walk: list[BalanceLevels]
) -> None:
    # The walk starts from an empty balance (every condition false before it).
    states = [BalanceLevels("acme"), *walk]
    expected = {kind: 0 for kind in KINDS}
    was = {kind: False for kind in KINDS}
    got = {kind: 0 for kind in KINDS}
    for before, after in itertools.pairwise(states):
        now = _conditions(thresholds, after)
        for kind in KINDS:
            expected[kind] += now[kind] and not was[kind]
        was = now
        alerts = crossed(thresholds, before, after)
        assert len({alert.kind for alert in alerts}) == len(alerts)  # one per kind here
        for alert in alerts:
            assert now[alert.kind]
            got[alert.kind] += 1
    assert got == expected

"""Balance alerts: which of a main account's thresholds a change of its balance crosses.
Plain Python, no SQL and no gRPC.

A threshold (``model.AlertThresholds``) is a condition on the balance:

- ``FREE_POINTS_BELOW``: the day's free points left are below N points;
- ``PACK_POINTS_BELOW``: a pack's remaining points are below N points;
- ``PACK_PERCENT_BELOW``: a pack's remaining points are below N percent of its points;
- ``PAY_AS_YOU_GO_POINTS_ABOVE``: the month's pay-as-you-go bill is above N points;
- ``PAY_AS_YOU_GO_BUDGET_PERCENT_ABOVE``: the bill is above N percent of the monthly
  budget (never, while the account has no budget).

"Below" and "above" are strict: exactly N is neither. A change *crosses* a threshold
when its condition was false before the change and is true after it: one alert per
crossing, none while the condition stays true, and one again once it has become false
and then true again. A day, pack or month that the balance before did not have (a new
day, a new pack, a new month) counts as false before: a change that finds its
condition true alerts once.

The conditions are checked for each day, pack and month of the balance after; an
alert names the account, the day, pack or month, the threshold and the value now.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from rating_server.ledger.model import AlertThresholds

FREE_POINTS_BELOW = "FREE_POINTS_BELOW"
PACK_POINTS_BELOW = "PACK_POINTS_BELOW"
PACK_PERCENT_BELOW = "PACK_PERCENT_BELOW"
PAY_AS_YOU_GO_POINTS_ABOVE = "PAY_AS_YOU_GO_POINTS_ABOVE"
PAY_AS_YOU_GO_BUDGET_PERCENT_ABOVE = "PAY_AS_YOU_GO_BUDGET_PERCENT_ABOVE"

KINDS = (
    FREE_POINTS_BELOW,
    PACK_POINTS_BELOW,
    PACK_PERCENT_BELOW,
    PAY_AS_YOU_GO_POINTS_ABOVE,
    PAY_AS_YOU_GO_BUDGET_PERCENT_ABOVE,
)


@dataclass(frozen=True, slots=True)
class PackLevel:
    """A pack's points: remaining, and granted (what its percent is of)."""

    remaining_micros: int
    granted_micros: int


@dataclass(frozen=True, slots=True)
class BalanceLevels:
    """What the thresholds read of a main account's balance at one moment: free points
    left by day, packs by id, the pay-as-you-go bill by month, and the monthly budget
    (None: none). Micro-points. Usually one day and one month: those of the change."""

    account_id: str
    free_left: Mapping[str, int] = field(default_factory=dict)  # by day, YYYY-MM-DD
    packs: Mapping[str, PackLevel] = field(default_factory=dict)  # by pack_id
    payg: Mapping[str, int] = field(default_factory=dict)  # by month, YYYY-MM
    budget_micros: int | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """One crossing: its kind, the account, the day (free points), pack or month (the
    bill) it is of ("" for the others), the threshold (micro-points, or a percent for
    the percent kinds; the other 0) and the value now (micro-points: free points left,
    the pack's remaining, the bill)."""

    kind: str
    account_id: str
    day: str = ""
    pack_id: str = ""
    month: str = ""
    threshold_micros: int = 0
    threshold_percent: int = 0
    value_micros: int = 0


def crossed(
    thresholds: AlertThresholds, before: BalanceLevels, after: BalanceLevels
) -> list[Alert]:
    """The alerts a change from ``before`` to ``after`` crosses, in the order of
    ``KINDS``, then by day, pack or month."""
    alerts: list[Alert] = []
    account = after.account_id
    below = thresholds.free_below_micros
    if below is not None:
        for day in sorted(after.free_left):
            now = after.free_left[day]
            was = before.free_left.get(day)
            if now < below and not (was is not None and was < below):
                alerts.append(
                    Alert(
                        FREE_POINTS_BELOW,
                        account,
                        day=day,
                        threshold_micros=below,
                        value_micros=now,
                    )
                )
    alerts.extend(_pack_alerts(thresholds, before, after))
    above = thresholds.payg_above_micros
    if above is not None:
        for month in sorted(after.payg):
            now = after.payg[month]
            was = before.payg.get(month)
            if now > above and not (was is not None and was > above):
                alerts.append(
                    Alert(
                        PAY_AS_YOU_GO_POINTS_ABOVE,
                        account,
                        month=month,
                        threshold_micros=above,
                        value_micros=now,
                    )
                )
    percent = thresholds.payg_budget_percent_above
    if percent:
        for month in sorted(after.payg):
            now = after.payg[month]
            was = before.payg.get(month)
            if _over_budget(now, percent, after.budget_micros) and not (
                was is not None and _over_budget(was, percent, before.budget_micros)
            ):
                alerts.append(
                    Alert(
                        PAY_AS_YOU_GO_BUDGET_PERCENT_ABOVE,
                        account,
                        month=month,
                        threshold_percent=percent,
                        value_micros=now,
                    )
                )
    return alerts


def _pack_alerts(
    thresholds: AlertThresholds, before: BalanceLevels, after: BalanceLevels
) -> list[Alert]:
    points, percent = thresholds.pack_below_micros, thresholds.pack_percent_below
    found: list[Alert] = []
    if points is not None:
        for pack_id in sorted(after.packs):
            now, was = after.packs[pack_id], before.packs.get(pack_id)
            if now.remaining_micros < points and not (
                was is not None and was.remaining_micros < points
            ):
                found.append(
                    Alert(
                        PACK_POINTS_BELOW,
                        after.account_id,
                        pack_id=pack_id,
                        threshold_micros=points,
                        value_micros=now.remaining_micros,
                    )
                )
    if percent:
        for pack_id in sorted(after.packs):
            now, was = after.packs[pack_id], before.packs.get(pack_id)
            if _under_percent(now, percent) and not (
                was is not None and _under_percent(was, percent)
            ):
                found.append(
                    Alert(
                        PACK_PERCENT_BELOW,
                        after.account_id,
                        pack_id=pack_id,
                        threshold_percent=percent,
                        value_micros=now.remaining_micros,
                    )
                )
    return found


def _under_percent(pack: PackLevel, percent: int) -> bool:
    """remaining < percent% of granted, exactly (no rounding)."""
    return pack.remaining_micros * 100 < percent * pack.granted_micros


def _over_budget(bill: int, percent: int, budget: int | None) -> bool:
    """bill > percent% of the budget, exactly; never without a budget."""
    return budget is not None and bill * 100 > percent * budget

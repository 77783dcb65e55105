"""Draw-down: where each line's points come from. Plain Python, no SQL.

Line by line, in request order: the billing account's free points of the day the
usage happened, then resource packs valid at that instant by priority (lower first),
earliest expiry (none last), earliest created, then id; whatever is left goes to the
pay-as-you-go bill of the month the usage happened. One line may be split.

Points that live reservations hold (``model.Hold``) fund nothing but the line that
settles their reservation: a draw takes only what is left beyond the holds, and a
settling line releases its reservation's holds just before it draws.

A main account's monthly budget (``Account.monthly_budget_micros``) ends its funding
for quotes and reservations, not for commits (a draw always funds the whole line): what
may still go to a month's bill is the budget less the bill, what live reservations
hold on it, and what the draws here put on it (``bill_left``); a quote reports what
its draws put beyond that (``beyond_budget``), a reservation holds no more
(``available``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta

from rating_server.ledger.model import FREE, PACK, PAYG, BalanceChanges, FundingPart, Hold, Pack
from rating_server.time_zones import zone
from rating_server.units import FOREVER_NS, NANOS_PER_MINUTE, NANOS_PER_SECOND


def draw_order(pack: Pack) -> tuple[int, int, int, int]:
    """Where a pack stands in the draw-down order: by priority (lower first), earliest
    expiry (none last), earliest created, then id (the order packs were added in)."""
    expiry = pack.expire_time_ns if pack.expire_time_ns is not None else FOREVER_NS
    return (pack.priority, expiry, pack.create_time_ns, pack.seq)


def in_draw_order(packs: Iterable[Pack]) -> list[Pack]:
    """The packs in the order a line draws on them (``draw_order``)."""
    return sorted(packs, key=draw_order)


def local_day(at_ns: int, time_zone: str) -> str:
    """The calendar day (YYYY-MM-DD) of an instant in a time zone."""
    return datetime.fromtimestamp(at_ns // NANOS_PER_SECOND, zone(time_zone)).strftime("%Y-%m-%d")


def local_start(day: date, time_zone: str) -> int:
    """The first instant (ns) of a calendar day in a time zone: its midnight; where a
    change of offset skips midnight, the change's instant (fold=0 reads a skipped time
    at the offset before the change); where one repeats it, the first."""
    midnight = datetime.combine(day, time(), zone(time_zone))
    return (midnight.astimezone(UTC) - _EPOCH) // timedelta(seconds=1) * NANOS_PER_SECOND


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class LocalDays:
    """``local_day`` for the items of a batch, worked out once per zone and minute.

    A day begins at a local midnight, which zones since 1972 put on a whole UTC minute;
    a minute whose first and last instants fall on one day is all that day. A minute
    that is not (a zone with seconds in its offset) is worked out item by item.
    """

    def __init__(self) -> None:
        self._days: dict[tuple[str, int], str | None] = {}

    def __call__(self, at_ns: int, time_zone: str) -> str:
        key = (time_zone, at_ns // NANOS_PER_MINUTE)
        day = self._days.get(key, "")
        if day:
            return day
        if day is None:
            return local_day(at_ns, time_zone)
        start = key[1] * NANOS_PER_MINUTE
        end = start + NANOS_PER_MINUTE - 1
        first, last = local_day(start, time_zone), local_day(end, time_zone)
        if first == last:
            self._days[key] = first
            return first
        self._days[key] = None
        return local_day(at_ns, time_zone)


class Drawdown:
    """Balances held in memory while a batch draws on them; records what it changed.

    ``holds`` are the live reservations' holds on these balances: what they hold is
    not drawn until ``release`` frees a reservation's. ``budgets`` are the monthly
    budgets of the billing accounts that have one and whose budget matters here (a
    quote's, a reservation's), and ``billed`` their months' bills before the draws, by
    (billing account, month)."""

    def __init__(
        self,
        daily_free: Mapping[str, int],
        free_used: Mapping[tuple[str, str], int],
        packs: Iterable[Pack],
        holds: Iterable[Hold] = (),
        budgets: Mapping[str, int] | None = None,
        billed: Mapping[tuple[str, str], int] | None = None,
    ) -> None:
        self._budgets = budgets or {}
        self._billed = billed or {}
        self._daily_free = daily_free
        self._free_used_before = free_used
        self.free_used = dict(free_used)
        self.remaining = {}
        self._remaining_before: dict[str, int] = {}
        self._pack_accounts: dict[str, str] = {}
        by_account: dict[str, list[Pack]] = {}
        for pack in packs:
            self.remaining[pack.pack_id] = self._remaining_before[pack.pack_id] = (
                pack.remaining_micros
            )
            self._pack_accounts[pack.pack_id] = pack.account_id
            by_account.setdefault(pack.account_id, []).append(pack)
        self._packs = {account: in_draw_order(packs) for account, packs in by_account.items()}
        self.touched_days: set[tuple[str, str]] = set()
        self.touched_packs: set[str] = set()
        self.payg: dict[tuple[str, str], int] = {}
        #: Held, by (billing account, day) of free points and by pack.
        self._held_free: dict[tuple[str, str], int] = {}
        self._held_packs: dict[str, int] = {}
        #: Held on the bill, by (billing account, month).
        self._held_payg: dict[tuple[str, str], int] = {}
        self._holds: dict[str, list[Hold]] = {}
        for hold in holds:
            self._holds.setdefault(hold.reservation_id, []).append(hold)
            self._hold(hold, 1)

    def _hold(self, hold: Hold, sign: int) -> None:
        part = hold.part
        if part.source == FREE:
            key = (hold.billing_account_id, part.day)
            self._held_free[key] = self._held_free.get(key, 0) + sign * part.micros
        elif part.source == PACK:
            self._held_packs[part.pack_id] = (
                self._held_packs.get(part.pack_id, 0) + sign * part.micros
            )
        else:
            key = (hold.billing_account_id, part.month)
            self._held_payg[key] = self._held_payg.get(key, 0) + sign * part.micros

    def release(self, reservation_id: str) -> None:
        """Free what a reservation holds, for the lines drawn after."""
        for hold in self._holds.pop(reservation_id, ()):
            self._hold(hold, -1)

    def held_micros(self, billing_account_id: str) -> int:
        """What the billing account's live reservations hold, not released here."""
        return sum(
            hold.part.micros
            for holds in self._holds.values()
            for hold in holds
            if hold.billing_account_id == billing_account_id
        )

    def _budget_room(self, billing_account_id: str, month: str) -> int | None:
        """What the budget left for the month's bill before the draws here: the budget
        less the bill and the holds on it, never below 0; None without a budget."""
        budget = self._budgets.get(billing_account_id)
        if budget is None:
            return None
        key = (billing_account_id, month)
        return max(0, budget - self._billed.get(key, 0) - self._held_payg.get(key, 0))

    def bill_left(self, billing_account_id: str, month: str) -> int | None:
        """What may still go to the month's bill within the budget, after the draws
        here; None without a budget (nothing ends the bill)."""
        room = self._budget_room(billing_account_id, month)
        if room is None:
            return None
        return max(0, room - self.payg.get((billing_account_id, month), 0))

    def beyond_budget(self, billing_account_id: str) -> int:
        """Of what the draws here put on the account's bills, what passes what the
        budget left of each month's (0 without a budget)."""
        total = 0
        for (account_id, month), micros in self.payg.items():
            room = (
                self._budget_room(account_id, month) if account_id == billing_account_id else None
            )
            if room is not None:
                total += max(0, micros - room)
        return total

    def available(
        self, billing_account_id: str, at_ns: int, day: str, pay_as_you_go: bool = False
    ) -> int | None:
        """What could fund now usage at ``at_ns`` (local ``day``), beyond the holds: free
        points and packs, and with ``pay_as_you_go`` what may still go to the month's
        bill (``bill_left``); None when that has no end (pay-as-you-go, no budget)."""
        total = self._free_and_packs(billing_account_id, at_ns, day)
        if not pay_as_you_go:
            return total
        left = self.bill_left(billing_account_id, day[:7])
        return None if left is None else total + left

    def _free_and_packs(self, billing_account_id: str, at_ns: int, day: str) -> int:
        free = self._daily_free[billing_account_id] - self.free_used.get(
            (billing_account_id, day), 0
        )
        total = max(0, free - self._held_free.get((billing_account_id, day), 0))
        for pack in self._packs.get(billing_account_id, ()):
            if pack.funds(at_ns):
                total += max(
                    0, self.remaining[pack.pack_id] - self._held_packs.get(pack.pack_id, 0)
                )
        return total

    def draw(
        self, billing_account_id: str, micros: int, at_ns: int, day: str
    ) -> tuple[FundingPart, ...]:
        """Fund ``micros`` for usage at ``at_ns`` (local ``day``); the parts, in order."""
        if micros <= 0:
            return ()
        parts = []
        rest = micros
        key = (billing_account_id, day)
        free_left = self._daily_free[billing_account_id] - self.free_used.get(key, 0)
        held_packs = self._held_packs
        if self._held_free:
            free_left -= self._held_free.get(key, 0)
        if free_left > 0:
            take = min(rest, free_left)
            self.free_used[key] = self.free_used.get(key, 0) + take
            self.touched_days.add(key)
            parts.append(FundingPart(FREE, take, day=day))
            rest -= take
        for pack in self._packs.get(billing_account_id, ()):
            if not rest:
                break
            left = self.remaining[pack.pack_id]
            if held_packs:
                left -= held_packs.get(pack.pack_id, 0)
            if left > 0 and pack.funds(at_ns):
                take = min(rest, left)
                self.remaining[pack.pack_id] -= take
                self.touched_packs.add(pack.pack_id)
                parts.append(FundingPart(PACK, take, pack_id=pack.pack_id))
                rest -= take
        if rest:
            month = day[:7]
            self.payg[(billing_account_id, month)] = (
                self.payg.get((billing_account_id, month), 0) + rest
            )
            parts.append(FundingPart(PAYG, rest, month=month))
        return tuple(parts)

    def changes(self) -> BalanceChanges:
        """What the draws so far change in the balances."""
        before = self._free_used_before
        return BalanceChanges(
            free_used={key: self.free_used[key] - before.get(key, 0) for key in self.touched_days},
            pack_drawn={
                (self._pack_accounts[pack_id], pack_id): self._remaining_before[pack_id]
                - self.remaining[pack_id]
                for pack_id in self.touched_packs
            },
            payg=dict(self.payg),
        )

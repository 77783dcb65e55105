"""Watching a balance: the balance now, then the balance after each change of it, with
the alert thresholds each change crossed. Plain Python, no SQL.

A change of a main account's balance is what the charges feed holds for it (a commit,
a void, a settlement: ``ledger.feed``): the watch follows the account's feed, and
after each batch of its events reads the balance again and compares it with the one
before (``alerts.crossed``). The thresholds are read again with each change, so a new
setting counts from the next change on. What the watch compares is what it has read:
two changes that come together are one change to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rating_server.catalog.model import CatalogSnapshot
from rating_server.ids import require_ids
from rating_server.ledger import alerts, feed, reports
from rating_server.ledger.accounts import get_alert_thresholds, load_account
from rating_server.ledger.alerts import Alert, BalanceLevels, PackLevel
from rating_server.ledger.feed import Cursor
from rating_server.ledger.model import Balance
from rating_server.ledger.store import LedgerStore


@dataclass(frozen=True, slots=True)
class BalanceChange:
    """The balance after a change, the alerts it crossed, and the feed's cursor after
    the events behind it."""

    balance: Balance
    alerts: list[Alert] = field(default_factory=list)
    cursor: Cursor | None = None


def levels(balance: Balance) -> BalanceLevels:
    """What the thresholds read of a balance."""
    return BalanceLevels(
        account_id=balance.billing_account_id,
        free_left={balance.day: balance.free_left_micros},
        packs={p.pack_id: PackLevel(p.remaining_micros, p.micros) for p in balance.packs},
        payg={balance.month: balance.payg_micros},
        budget_micros=balance.budget_micros,
    )


class BalanceWatch:
    """One account's watch: ``start`` gives the balance now, then each ``next_change``
    the balance after the feed's next events (None while there are none)."""

    def __init__(
        self, store: LedgerStore, catalog: Callable[[], CatalogSnapshot], account_id: str
    ) -> None:
        require_ids(account_id=account_id)
        self._store, self._catalog = store, catalog
        self.account_id = account_id
        with store.read() as tx:
            self.billing_account_id = load_account(tx, account_id).billing_account_id
        self._cursor = Cursor((0, 0))
        self._last: Balance | None = None

    def start(self) -> BalanceChange:
        """The balance now. The feed is followed from before it was read: a change that
        lands in between is compared again after (no alert is lost; none is sent twice,
        as the second comparison finds the same balance)."""
        _, self._cursor = feed.start(self._store, self.billing_account_id, "")
        self._last = self._balance()
        return BalanceChange(self._last, cursor=self._cursor)

    def next_change(self) -> BalanceChange | None:
        """The balance after the account's next feed events, and what they crossed;
        None when the feed holds none after the last."""
        items = feed.read(self._store, self.billing_account_id, self._cursor)
        if not items:
            return None
        self._cursor = items[-1].cursor
        before, after = self._last, self._balance()
        assert before is not None, "start first"
        self._last = after
        thresholds = get_alert_thresholds(self._store, self.billing_account_id)
        return BalanceChange(
            after, alerts.crossed(thresholds, levels(before), levels(after)), self._cursor
        )

    def _balance(self) -> Balance:
        return reports.balance(self._store, self._catalog(), self.billing_account_id, "")

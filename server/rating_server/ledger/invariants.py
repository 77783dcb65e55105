"""The invariant check: every balance equals what its ledger entries sum to."""

from __future__ import annotations

import time

from rating_server.ledger.store import BalanceSums, LedgerStore

#: The biller whose lines the points fund; other billers' lines are funded by nothing.
FUNDED_BY = "coze"


def check(store: LedgerStore) -> list[str]:
    """Every difference between the balances and the ledger, in words; empty when none."""
    problems: list[str] = []

    def compare(what: str, sums: BalanceSums) -> None:
        kept, summed = sums.kept, sums.summed
        for key in sorted(kept.keys() | summed.keys(), key=repr):
            if kept.get(key, 0) != summed.get(key, 0):
                problems.append(
                    f"{what} {'/'.join(map(str, key))}: balance {kept.get(key, 0)} "
                    f"micro-points, ledger {summed.get(key, 0)}"
                )

    with store.read() as tx:
        compare("free points of", tx.free_day_sums())
        compare("pack", tx.pack_sums())
        compare("pay-as-you-go of", tx.payg_sums())
        compare("funding of line", tx.line_funding_sums(FUNDED_BY))
        for day_account, day, used in tx.negative_free_days():
            problems.append(f"free points of {day_account}/{day}: used {used} is negative")
        for pack_id, remaining in tx.negative_packs():
            problems.append(f"pack {pack_id}: remaining {remaining} is negative")
        for pack_id, remaining, held in tx.overheld_packs(time.time_ns()):
            problems.append(f"pack {pack_id}: reservations hold {held} of {remaining} left")
        for reservation_id, charge_id in tx.unsettled_settlements():
            problems.append(
                f"reservation {reservation_id}: settled by {charge_id}, which is not a charge"
            )
    return problems

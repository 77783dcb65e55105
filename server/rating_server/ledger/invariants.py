"""The invariant check: every balance equals what its ledger entries sum to."""

from __future__ import annotations

from rating_server.ledger.database import LedgerDatabase


def check(db: LedgerDatabase) -> list[str]:
    """Every difference between the balances and the ledger, in words; empty when none."""
    problems: list[str] = []
    with db.read() as conn:

        def compare(what: str, kept_sql: str, ledger_sql: str) -> None:
            kept = {row[:-1]: row[-1] for row in conn.execute(kept_sql)}
            summed = {row[:-1]: row[-1] for row in conn.execute(ledger_sql)}
            for key in sorted(kept.keys() | summed.keys(), key=repr):
                if kept.get(key, 0) != summed.get(key, 0):
                    problems.append(
                        f"{what} {'/'.join(map(str, key))}: balance {kept.get(key, 0)} "
                        f"micro-points, ledger {summed.get(key, 0)}"
                    )

        compare(
            "free points of",
            "SELECT billing_account_id, day, used_micros FROM free_days",
            "SELECT billing_account_id, day, sum(micros) FROM funding_entries "
            "WHERE source = 'free' GROUP BY billing_account_id, day",
        )
        compare(
            "pack",
            "SELECT p.pack_id, p.micros - b.remaining_micros FROM packs p "
            "JOIN pack_balances b USING (pack_id)",
            "SELECT pack_id, sum(micros) FROM funding_entries WHERE source = 'pack' "
            "GROUP BY pack_id",
        )
        compare(
            "pay-as-you-go of",
            "SELECT billing_account_id, month, micros FROM payg_months",
            "SELECT billing_account_id, month, sum(micros) FROM funding_entries "
            "WHERE source = 'payg' GROUP BY billing_account_id, month",
        )
        compare(
            "funding of line",
            "SELECT l.charge_id, l.line_number, CASE WHEN v.charge_id IS NULL THEN "
            "CASE WHEN l.billed_by = 'coze' THEN l.micros ELSE 0 END ELSE 0 END "
            "FROM charge_lines l LEFT JOIN voids v ON v.charge_id = l.charge_id",
            "SELECT charge_id, line_number, sum(micros) FROM funding_entries "
            "GROUP BY charge_id, line_number",
        )
        for day_account, day, used in conn.execute(
            "SELECT billing_account_id, day, used_micros FROM free_days WHERE used_micros < 0"
        ):
            problems.append(f"free points of {day_account}/{day}: used {used} is negative")
        for pack_id, remaining in conn.execute(
            "SELECT pack_id, remaining_micros FROM pack_balances WHERE remaining_micros < 0"
        ):
            problems.append(f"pack {pack_id}: remaining {remaining} is negative")
    return problems

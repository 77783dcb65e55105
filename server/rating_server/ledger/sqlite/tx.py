"""``LedgerTx`` on SQLite: every statement the ledger runs, on one connection inside
one transaction (``database.LedgerDatabase`` begins and ends it).

No locks are taken here: a write transaction of ``LedgerDatabase`` already excludes
every other writer, of this process and of the others (``writer_turn``). SQLite takes
at most 999 parameters a statement (in the oldest versions still about): lists of ids
go 500 at a time.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from rating_server.ledger.model import (
    CHARGED,
    VOIDED,
    Account,
    AlertThresholds,
    BalanceChanges,
    CapacityPurchase,
    ChargeEntry,
    FeedEvent,
    FundingEntry,
    FundingPart,
    Pack,
)
from rating_server.ledger.receipts import decode_receipt, encode_receipt
from rating_server.ledger.rows import (
    ATTRIBUTES,
    ENTRY_COLUMNS,
    FUNDING_COLUMNS,
    LINE_COLUMNS,
    charge_entry,
    charge_rows,
    fed_accounts,
    inline_funding,
    statement_lines,
    with_funding,
)
from rating_server.ledger.sqlite.reservation_tx import SqliteReservationsTx
from rating_server.ledger.store import (
    BalanceSums,
    LineKey,
    NewCharge,
    StatementLine,
    StoredCharge,
)

_CHUNK = 500
_ACCOUNT_COLUMNS = (
    "account_id, plan, time_zone, parent_account_id, pay_as_you_go, create_time_ns, "
    "monthly_budget_micros"
)
_THRESHOLD_COLUMNS = (
    "free_below_micros, pack_below_micros, pack_percent_below, payg_above_micros, "
    "payg_budget_percent_above"
)
_PACK_COLUMNS = (
    "p.pack_id, p.account_id, p.micros, b.remaining_micros, p.valid_from_ns, "
    "p.expire_time_ns, p.priority, p.create_time_ns, p.seq"
)


_ENTRY = ", ".join(f"l.{column}" for column in ENTRY_COLUMNS)
_INSERT_LINES = (
    f"INSERT INTO charge_lines ({', '.join(LINE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(LINE_COLUMNS))})"
)
_INSERT_FUNDING = (
    f"INSERT INTO funding_entries ({', '.join(FUNDING_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(FUNDING_COLUMNS))})"
)


#: Every funding part of one source, as ``columns``: the funding entries' (reversals
#: too) and the lines' own (``rows.inline_funding``).
_PARTS = (
    "SELECT {columns} FROM funding_entries WHERE source = '{source}' UNION ALL "
    "SELECT {columns} FROM charge_lines WHERE source = '{source}'"
)
_CAPACITY_COLUMNS = (
    "purchase_id, billing_account_id, gib, term, valid_from_ns, expire_time_ns, price_micros, "
    "create_time_ns, seq"
)


def _threshold_values(thresholds: AlertThresholds) -> list[object]:
    """An account's id and thresholds, in ``_THRESHOLD_COLUMNS``' order."""
    return [
        thresholds.account_id,
        thresholds.free_below_micros,
        thresholds.pack_below_micros,
        thresholds.pack_percent_below,
        thresholds.payg_above_micros,
        thresholds.payg_budget_percent_above,
    ]


def _account(row: tuple[Any, ...]) -> Account:
    return Account(row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6])


def _pack(row: tuple[Any, ...]) -> Pack:
    return Pack(*row)


def _fields(purchase: CapacityPurchase) -> list[object]:
    """A purchase's values in ``_CAPACITY_COLUMNS``' order."""
    return [
        purchase.purchase_id,
        purchase.account_id,
        purchase.gib,
        purchase.term,
        purchase.valid_from_ns,
        purchase.expire_time_ns,
        purchase.price_micros,
        purchase.create_time_ns,
        purchase.seq,
    ]


def _marks(count: int) -> str:
    return ",".join("?" * count)


class SqliteLedgerTx(SqliteReservationsTx):
    """The ledger's operations on ``conn``, inside a transaction begun by its owner."""

    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    # -- accounts ------------------------------------------------------------------------

    def accounts(self, account_ids: Collection[str]) -> list[Account]:
        ids = list(account_ids)
        found: list[Account] = []
        for start in range(0, len(ids), _CHUNK):
            batch = ids[start : start + _CHUNK]
            rows = self.conn.execute(
                f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE account_id IN "
                f"({_marks(len(batch))})",
                batch,
            ).fetchall()
            found.extend(map(_account, rows))
        return found

    def account(self, account_id: str) -> Account | None:
        row = self.conn.execute(
            f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE account_id = ?", [account_id]
        ).fetchone()
        return None if row is None else _account(row)

    def sub_account_ids(self, account_id: str) -> list[str]:
        return [
            row[0]
            for row in self.conn.execute(
                "SELECT account_id FROM accounts WHERE parent_account_id = ? ORDER BY account_id",
                [account_id],
            )
        ]

    def insert_account(self, account: Account) -> None:
        self.conn.execute(
            f"INSERT INTO accounts ({_ACCOUNT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                account.account_id,
                account.plan,
                account.time_zone,
                account.parent_account_id,
                int(account.pay_as_you_go),
                account.create_time_ns,
                account.monthly_budget_micros,
            ],
        )

    def set_plan(self, main_account_id: str, plan: str) -> None:
        self.conn.execute(
            "UPDATE accounts SET plan = ? WHERE account_id = ? OR parent_account_id = ?",
            [plan, main_account_id, main_account_id],
        )

    def set_pay_as_you_go(self, main_account_id: str, pay_as_you_go: bool) -> None:
        self.conn.execute(
            "UPDATE accounts SET pay_as_you_go = ? WHERE account_id = ?",
            [int(pay_as_you_go), main_account_id],
        )

    def set_monthly_budget(self, main_account_id: str, micros: int | None) -> None:
        self.conn.execute(
            "UPDATE accounts SET monthly_budget_micros = ? WHERE account_id = ?",
            [micros, main_account_id],
        )

    def alert_thresholds(self, main_account_id: str) -> AlertThresholds | None:
        row = self.conn.execute(
            f"SELECT {_THRESHOLD_COLUMNS} FROM alert_thresholds WHERE account_id = ?",
            [main_account_id],
        ).fetchone()
        return None if row is None else AlertThresholds(main_account_id, *row)

    def set_alert_thresholds(self, thresholds: AlertThresholds) -> None:
        self.conn.execute(
            "DELETE FROM alert_thresholds WHERE account_id = ?", [thresholds.account_id]
        )
        if not thresholds.empty:
            self.conn.execute(
                f"INSERT INTO alert_thresholds (account_id, {_THRESHOLD_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                _threshold_values(thresholds),
            )

    # -- packs ---------------------------------------------------------------------------

    def pack_by_request(self, request_id: str) -> Pack | None:
        row = self.conn.execute(
            f"SELECT {_PACK_COLUMNS} FROM packs p JOIN pack_balances b USING (pack_id) "
            "WHERE p.request_id = ?",
            [request_id],
        ).fetchone()
        return None if row is None else _pack(row)

    def insert_pack(
        self,
        account_id: str,
        micros: int,
        valid_from_ns: int,
        expire_time_ns: int | None,
        priority: int,
        create_time_ns: int,
        request_id: str,
    ) -> Pack:
        conn = self.conn
        seq = conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM packs").fetchone()[0]
        pack_id = f"pack-{seq}"
        conn.execute(
            "INSERT INTO packs (seq, pack_id, account_id, micros, valid_from_ns, expire_time_ns, "
            "priority, create_time_ns, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                seq,
                pack_id,
                account_id,
                micros,
                valid_from_ns,
                expire_time_ns,
                priority,
                create_time_ns,
                request_id or None,
            ],
        )
        conn.execute(
            "INSERT INTO pack_balances (pack_id, remaining_micros) VALUES (?, ?)", [pack_id, micros]
        )
        return Pack(
            pack_id,
            account_id,
            micros,
            micros,
            valid_from_ns,
            expire_time_ns,
            priority,
            create_time_ns,
            seq,
        )

    def packs(self, account_ids: Collection[str], only_left: bool = False) -> list[Pack]:
        ids = list(account_ids)
        if not ids:
            return []
        left = " AND b.remaining_micros > 0" if only_left else ""
        rows = self.conn.execute(
            f"SELECT {_PACK_COLUMNS} FROM packs p JOIN pack_balances b USING (pack_id) "
            f"WHERE p.account_id IN ({_marks(len(ids))}){left}",
            ids,
        ).fetchall()
        return list(map(_pack, rows))

    # -- knowledge-base capacity -----------------------------------------------------------

    def capacity_by_request(self, request_id: str) -> CapacityPurchase | None:
        row = self.conn.execute(
            f"SELECT {_CAPACITY_COLUMNS} FROM capacity_purchases WHERE request_id = ?",
            [request_id],
        ).fetchone()
        return None if row is None else CapacityPurchase(*row)

    def insert_capacity(
        self,
        account_id: str,
        gib: int,
        term: str,
        valid_from_ns: int,
        expire_time_ns: int,
        price_micros: int,
        create_time_ns: int,
        request_id: str,
    ) -> CapacityPurchase:
        conn = self.conn
        seq = conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM capacity_purchases").fetchone()[0]
        purchase = CapacityPurchase(
            f"cap-{seq}",
            account_id,
            gib,
            term,
            valid_from_ns,
            expire_time_ns,
            price_micros,
            create_time_ns,
            seq,
        )
        conn.execute(
            f"INSERT INTO capacity_purchases ({_CAPACITY_COLUMNS}, request_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [*_fields(purchase), request_id or None],
        )
        return purchase

    def capacity_purchases(
        self, account_ids: Collection[str], start_ns: int | None = None, end_ns: int | None = None
    ) -> list[CapacityPurchase]:
        ids = list(account_ids)
        window, bounds = "", list[int]()
        if start_ns is not None and end_ns is not None:
            window, bounds = " AND expire_time_ns > ? AND valid_from_ns < ?", [start_ns, end_ns]
        found: list[CapacityPurchase] = []
        for start in range(0, len(ids), _CHUNK):
            batch = ids[start : start + _CHUNK]
            rows = self.conn.execute(
                f"SELECT {_CAPACITY_COLUMNS} FROM capacity_purchases "
                f"WHERE billing_account_id IN ({_marks(len(batch))}){window}",
                [*batch, *bounds],
            ).fetchall()
            found.extend(CapacityPurchase(*row) for row in rows)
        return found

    # -- balances ------------------------------------------------------------------------

    def lock_balances(self, billing_account_ids: Sequence[str]) -> None:
        """Nothing to do: the write transaction already excludes every other writer."""

    def free_used(self, billing_account_id: str, day: str) -> int:
        row = self.conn.execute(
            "SELECT used_micros FROM free_days WHERE billing_account_id = ? AND day = ?",
            [billing_account_id, day],
        ).fetchone()
        return row[0] if row else 0

    def payg(self, billing_account_id: str, month: str) -> int:
        row = self.conn.execute(
            "SELECT micros FROM payg_months WHERE billing_account_id = ? AND month = ?",
            [billing_account_id, month],
        ).fetchone()
        return row[0] if row else 0

    # -- the catalog ---------------------------------------------------------------------

    def catalog_version(self) -> int:
        """The catalog's tables are in the ledger's file, and an import is a writer like
        any other: none commits while this write transaction runs."""
        row = self.conn.execute("SELECT max(version) FROM catalog_versions").fetchone()
        return row[0] or 0

    # -- charges -------------------------------------------------------------------------

    def charge_by_request(self, request_id: str) -> StoredCharge | None:
        row = self.conn.execute(
            "SELECT request_hash, receipt FROM charges WHERE request_id = ?", [request_id]
        ).fetchone()
        return None if row is None else StoredCharge(row[0], decode_receipt(row[1]))

    def committed(self, usage_ids: Mapping[str, Sequence[str]]) -> dict[tuple[str, str], str]:
        found = {}
        for billing_account_id, ids in usage_ids.items():
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                for usage_id, charge_id in self.conn.execute(
                    "SELECT usage_id, charge_id FROM charge_lines WHERE billing_account_id = ? "
                    f"AND usage_id IN ({_marks(len(chunk))})",
                    [billing_account_id, *chunk],
                ):
                    found[billing_account_id, usage_id] = charge_id
        return found

    def write_charge(self, charge: NewCharge) -> None:
        conn = self.conn
        receipt = charge.receipt
        charge_id = receipt.charge_id
        line_rows, funding_rows = charge_rows(charge)
        # The lines take the next seqs, one after another (one statement, one writer):
        # the charge row says which, so that a void finds them without an index.
        last = conn.execute("SELECT max(seq) FROM charge_lines").fetchone()[0] or 0
        first_seq = last + 1 if line_rows else None
        last_seq = last + len(line_rows) if line_rows else None
        conn.execute(
            "INSERT INTO charges (charge_id, request_id, request_hash, catalog_version, "
            "commit_time_ns, receipt, first_line_seq, last_line_seq) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                charge_id,
                charge.request_id,
                charge.request_hash,
                receipt.catalog_version,
                receipt.commit_time_ns,
                encode_receipt(receipt),
                first_seq,
                last_seq,
            ],
        )
        if line_rows:
            conn.executemany(_INSERT_LINES, line_rows)
            written = conn.execute("SELECT max(seq) FROM charge_lines").fetchone()[0]
            if written != last_seq:
                raise sqlite3.IntegrityError(
                    f"the lines of {charge_id} took seqs up to {written}, not {last_seq}"
                )
        if funding_rows:
            conn.executemany(_INSERT_FUNDING, funding_rows)
        conn.executemany(
            "INSERT INTO feed_events (billing_account_id, kind, charge_id, time_ns) "
            f"VALUES (?, '{CHARGED}', ?, ?)",
            [(account, charge_id, receipt.commit_time_ns) for account in fed_accounts(receipt)],
        )
        changes = charge.changes
        if changes.free_used:
            conn.executemany(
                "INSERT INTO free_days (billing_account_id, day, used_micros) VALUES (?, ?, ?) "
                "ON CONFLICT (billing_account_id, day) "
                "DO UPDATE SET used_micros = used_micros + excluded.used_micros",
                [(*key, micros) for key, micros in changes.free_used.items()],
            )
        self._draw_packs(changes)
        if changes.payg:
            conn.executemany(
                "INSERT INTO payg_months (billing_account_id, month, micros) VALUES (?, ?, ?) "
                "ON CONFLICT (billing_account_id, month) "
                "DO UPDATE SET micros = micros + excluded.micros",
                [(*key, micros) for key, micros in changes.payg.items()],
            )

    def _draw_packs(self, changes: BalanceChanges) -> None:
        # pack_balances is keyed by pack_id alone: its ids are unique over all accounts.
        self.conn.executemany(
            "UPDATE pack_balances SET remaining_micros = remaining_micros - ? WHERE pack_id = ?",
            [(micros, pack_id) for (_account, pack_id), micros in changes.pack_drawn.items()],
        )

    # -- voids ---------------------------------------------------------------------------

    def _charge_lines_range(self, charge_id: str) -> tuple[int, int] | None:
        """The first and last seq of the charge's lines (None: no such charge); (0, -1)
        when it wrote none, or was written before lines carried their funding."""
        row = self.conn.execute(
            "SELECT first_line_seq, last_line_seq FROM charges WHERE charge_id = ?", [charge_id]
        ).fetchone()
        if row is None:
            return None
        return (row[0], row[1]) if row[0] is not None else (0, -1)

    def charge_billing_accounts(self, charge_id: str) -> list[str] | None:
        seqs = self._charge_lines_range(charge_id)
        if seqs is None:
            return None
        return sorted(
            row[0]
            for row in self.conn.execute(
                "SELECT billing_account_id FROM funding_entries WHERE charge_id = ? "
                "UNION SELECT billing_account_id FROM charge_lines "
                "WHERE seq BETWEEN ? AND ? AND charge_id = ? AND source IS NOT NULL",
                [charge_id, *seqs, charge_id],
            )
        )

    def charge_funding(self, charge_id: str, billing_account_id: str) -> list[FundingEntry]:
        seqs = self._charge_lines_range(charge_id) or (0, -1)
        conn = self.conn
        entries = [
            FundingEntry(
                line,
                billing_account_id,
                FundingPart(source, micros, pack_id or "", day or "", month or ""),
            )
            for line, source, micros, pack_id, day, month in conn.execute(
                "SELECT line_number, source, micros, pack_id, day, month FROM funding_entries "
                "WHERE charge_id = ? AND billing_account_id = ? AND reversal = 0 ORDER BY seq",
                [charge_id, billing_account_id],
            )
        ]
        for line, source, micros, pack_id, day, month in conn.execute(
            "SELECT line_number, source, micros, pack_id, day, month FROM charge_lines "
            "WHERE seq BETWEEN ? AND ? AND charge_id = ? AND billing_account_id = ? "
            "AND source IS NOT NULL ORDER BY seq",
            [*seqs, charge_id, billing_account_id],
        ):
            parts = inline_funding(source, micros, pack_id, day, month)
            entries.extend(FundingEntry(line, billing_account_id, part) for part in parts)
        return entries

    def void_time(self, charge_id: str) -> int | None:
        row = self.conn.execute(
            "SELECT void_time_ns FROM voids WHERE charge_id = ?", [charge_id]
        ).fetchone()
        return None if row is None else row[0]

    def write_reversals(
        self,
        charge_id: str,
        billing_account_id: str,
        reversals: Sequence[FundingEntry],
        changes: BalanceChanges,
    ) -> None:
        conn = self.conn
        conn.executemany(
            "INSERT INTO funding_entries (charge_id, line_number, billing_account_id, source, "
            "micros, pack_id, day, month, reversal) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)",
            [
                (
                    charge_id,
                    entry.line_number,
                    billing_account_id,
                    entry.part.source,
                    entry.part.micros,
                    entry.part.pack_id or None,
                    entry.part.day or None,
                    entry.part.month or None,
                )
                for entry in reversals
            ],
        )
        conn.executemany(
            "UPDATE free_days SET used_micros = used_micros + ? "
            "WHERE billing_account_id = ? AND day = ?",
            [(micros, *key) for key, micros in changes.free_used.items()],
        )
        self._draw_packs(changes)
        conn.executemany(
            "UPDATE payg_months SET micros = micros + ? WHERE billing_account_id = ? AND month = ?",
            [(micros, *key) for key, micros in changes.payg.items()],
        )

    def write_void(self, charge_id: str, void_time_ns: int, reason: str) -> None:
        self.conn.execute(
            "INSERT INTO voids (charge_id, void_time_ns, reason) VALUES (?, ?, ?)",
            [charge_id, void_time_ns, reason],
        )
        # An event for each billing account the charge's lines were fed to.
        self.conn.execute(
            "INSERT INTO feed_events (billing_account_id, kind, charge_id, time_ns) "
            f"SELECT billing_account_id, '{VOIDED}', charge_id, ? FROM feed_events "
            f"WHERE charge_id = ? AND kind = '{CHARGED}' ORDER BY position",
            [void_time_ns, charge_id],
        )

    # -- the charges feed ------------------------------------------------------------------

    def feed_events(
        self, after: tuple[int, int], billing_account_id: str | None, limit: int
    ) -> list[FeedEvent]:
        """Positions follow commit order here (one writer at a time takes the next)."""
        where, args = "position > ?", list[object]([after[1]])
        if billing_account_id is not None:
            where, args = "billing_account_id = ? AND position > ?", [billing_account_id, after[1]]
        rows = self.conn.execute(
            "SELECT position, billing_account_id, kind, charge_id, reservation_id, time_ns "
            f"FROM feed_events WHERE {where} ORDER BY position LIMIT ?",
            [*args, limit],
        ).fetchall()
        return [
            FeedEvent((0, row[0]), row[1], row[2], row[3], row[4] or "", row[5]) for row in rows
        ]

    def feed_end(self, billing_account_id: str | None) -> tuple[int, int]:
        if billing_account_id is None:
            row = self.conn.execute("SELECT max(position) FROM feed_events").fetchone()
        else:
            row = self.conn.execute(
                "SELECT max(position) FROM feed_events WHERE billing_account_id = ?",
                [billing_account_id],
            ).fetchone()
        return (0, row[0] or 0)

    def charge_entries(self, billing_account_id: str, charge_id: str) -> list[ChargeEntry]:
        span = self._charge_lines_range(charge_id)
        if span is None:
            return []
        where, args = "l.seq BETWEEN ? AND ?", list[object]([span[0], span[1]])
        if span == (0, -1):  # written before charges kept their lines' seqs
            where, args = "l.charge_id = ?", [charge_id]
        rows = self.conn.execute(
            f"SELECT {_ENTRY}, v.charge_id IS NOT NULL "
            "FROM charge_lines l LEFT JOIN voids v ON v.charge_id = l.charge_id "
            f"WHERE {where} AND l.billing_account_id = ? ORDER BY l.line_number",
            [*args, billing_account_id],
        ).fetchall()
        entries = [
            charge_entry(row, json.loads(row[ATTRIBUTES]) if row[ATTRIBUTES] else None)
            for row in rows
        ]
        return with_funding(
            entries,
            self.line_funding(
                billing_account_id, [(e.charge_id, e.line_number) for e in entries if not e.funding]
            ),
        )

    # -- reports -------------------------------------------------------------------------

    def charge_lines(
        self,
        billing_account_id: str,
        account_id: str | None,
        after: int,
        start_ns: int | None,
        end_ns: int | None,
        limit: int,
    ) -> list[tuple[int, ChargeEntry]]:
        # A sub-account's lines by its own index: the billing account adds nothing.
        if account_id is not None:
            where = ["l.account_id = ?", "l.account_id <> l.billing_account_id", "l.seq > ?"]
            args = [account_id, after]
        else:
            where, args = ["l.billing_account_id = ?", "l.seq > ?"], [billing_account_id, after]
        if start_ns is not None:
            where.append("l.occurred_at_ns >= ?")
            args.append(start_ns)
        if end_ns is not None:
            where.append("l.occurred_at_ns < ?")
            args.append(end_ns)
        rows = self.conn.execute(
            f"SELECT l.seq, {_ENTRY}, v.charge_id IS NOT NULL "
            "FROM charge_lines l LEFT JOIN voids v ON v.charge_id = l.charge_id "
            f"WHERE {' AND '.join(where)} ORDER BY l.seq LIMIT ?",
            [*args, limit],
        ).fetchall()
        column = 1 + ATTRIBUTES
        return [
            (row[0], charge_entry(row[1:], json.loads(row[column]) if row[column] else None))
            for row in rows
        ]

    def line_funding(
        self, billing_account_id: str, lines: Collection[LineKey]
    ) -> dict[LineKey, tuple[FundingPart, ...]]:
        # By charge (funding_by_charge): a charge's entries are few, its account's many.
        found: dict[LineKey, list[FundingPart]] = {}
        for charge_id in {charge for charge, _ in lines}:
            for number, source, micros, pack_id, day, month in self.conn.execute(
                "SELECT line_number, source, micros, pack_id, day, month FROM funding_entries "
                "WHERE charge_id = ? AND billing_account_id = ? AND reversal = 0 ORDER BY seq",
                [charge_id, billing_account_id],
            ):
                found.setdefault((charge_id, number), []).append(
                    FundingPart(source, micros, pack_id or "", day or "", month or "")
                )
        return {key: tuple(parts) for key, parts in found.items()}

    def statement_lines(self, billing_account_id: str, month: str) -> list[StatementLine]:
        conn = self.conn
        lines = conn.execute(
            "SELECT l.charge_id, l.line_number, l.sku, l.category, l.account_id, l.quantity, "
            "l.micros, l.source FROM charge_lines l WHERE l.billing_account_id = ? "
            "AND l.month = ? "
            "AND NOT EXISTS (SELECT 1 FROM voids v WHERE v.charge_id = l.charge_id)",
            [billing_account_id, month],
        ).fetchall()
        split = conn.execute(
            "SELECT f.charge_id, f.line_number, f.source, f.micros FROM funding_entries f "
            "JOIN charge_lines l ON l.charge_id = f.charge_id AND l.line_number = f.line_number "
            "WHERE l.billing_account_id = ? AND l.month = ? AND f.reversal = 0 "
            "AND NOT EXISTS (SELECT 1 FROM voids v WHERE v.charge_id = l.charge_id)",
            [billing_account_id, month],
        )
        return statement_lines(lines, split)

    # -- the invariant check ---------------------------------------------------------------

    def _sums(self, kept_sql: str, summed_sql: str, args: Sequence[object] = ()) -> BalanceSums:
        conn = self.conn
        return BalanceSums(
            kept={row[:-1]: row[-1] for row in conn.execute(kept_sql, args)},
            summed={row[:-1]: row[-1] for row in conn.execute(summed_sql)},
        )

    def free_day_sums(self) -> BalanceSums:
        return self._sums(
            "SELECT billing_account_id, day, used_micros FROM free_days",
            "SELECT billing_account_id, day, sum(micros) FROM ("
            f"{_PARTS.format(columns='billing_account_id, day, micros', source='free')}"
            ") GROUP BY billing_account_id, day",
        )

    def pack_sums(self) -> BalanceSums:
        return self._sums(
            "SELECT p.pack_id, p.micros - b.remaining_micros FROM packs p "
            "JOIN pack_balances b USING (pack_id)",
            "SELECT pack_id, sum(micros) FROM ("
            f"{_PARTS.format(columns='pack_id, micros', source='pack')}"
            ") GROUP BY pack_id",
        )

    def payg_sums(self) -> BalanceSums:
        return self._sums(
            "SELECT billing_account_id, month, micros FROM payg_months",
            "SELECT billing_account_id, month, sum(micros) FROM ("
            f"{_PARTS.format(columns='billing_account_id, month, micros', source='payg')}"
            ") GROUP BY billing_account_id, month",
        )

    def line_funding_sums(self, funded_billed_by: str) -> BalanceSums:
        return self._sums(
            "SELECT l.charge_id, l.line_number, CASE WHEN v.charge_id IS NULL THEN "
            "CASE WHEN l.billed_by = ? THEN l.micros ELSE 0 END ELSE 0 END "
            "FROM charge_lines l LEFT JOIN voids v ON v.charge_id = l.charge_id",
            "SELECT charge_id, line_number, sum(micros) FROM ("
            "SELECT charge_id, line_number, micros FROM funding_entries UNION ALL "
            "SELECT charge_id, line_number, micros FROM charge_lines WHERE source IS NOT NULL"
            ") GROUP BY charge_id, line_number",
            [funded_billed_by],
        )

    def negative_free_days(self) -> list[tuple[str, str, int]]:
        return self.conn.execute(
            "SELECT billing_account_id, day, used_micros FROM free_days WHERE used_micros < 0"
        ).fetchall()

    def negative_packs(self) -> list[tuple[str, int]]:
        return self.conn.execute(
            "SELECT pack_id, remaining_micros FROM pack_balances WHERE remaining_micros < 0"
        ).fetchall()

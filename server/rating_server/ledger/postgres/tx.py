"""``LedgerTx`` on PostgreSQL: every statement the ledger runs, on one connection inside
one transaction (``database.PostgresDatabase`` begins and ends it).

The tables are those of ``migrations/``: every ledger statement filters by the billing
account, but for the lookups by a unique id of their own (a request's, a charge's,
a pack grant's). Commits and voids lock their billing accounts' rows of ``accounts``
first (``lock_balances``), in the order given: the rules sort them, so two batches
never wait for each other in a cycle. Sums of bigint columns are cast back to bigint
(PostgreSQL sums them as numeric).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import psycopg

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
    Hold,
    Pack,
)
from rating_server.ledger.postgres.reservation_tx import HOLDS, PostgresReservationsTx, hold_of
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
from rating_server.ledger.store import (
    BalanceSums,
    LineKey,
    NewCharge,
    StatementLine,
    StoredCharge,
)

#: The advisory lock between commits (shared, from ``lock_balances``, or from
#: ``catalog_version`` when no account was locked, to their end)
#: and a catalog import's new version (exclusive, from ``catalog_versions``' new row to
#: the import's commit): a commit that saw version N commits before N + 1 does, or
#: sees N + 1 ("catv").
CATALOG_VERSION_LOCK = 0x63617476

_ACCOUNT_COLUMNS = (
    "account_id, plan, time_zone, parent_account_id, pay_as_you_go, create_time_ns, "
    "monthly_budget_micros"
)
_THRESHOLD_COLUMNS = (
    "free_below_micros, pack_below_micros, pack_percent_below, payg_above_micros, "
    "payg_budget_percent_above"
)
_PACK_COLUMNS = (
    "p.pack_id, p.billing_account_id, p.micros, b.remaining_micros, p.valid_from_ns, "
    "p.expire_time_ns, p.priority, p.create_time_ns, p.number"
)
_PACKS = (
    f"SELECT {_PACK_COLUMNS} FROM packs p JOIN pack_balances b "
    "ON b.billing_account_id = p.billing_account_id AND b.pack_id = p.pack_id"
)
_CAPACITY_COLUMNS = (
    "purchase_id, billing_account_id, gib, term, valid_from_ns, expire_time_ns, price_micros, "
    "create_time_ns, number"
)
_ENTRY = ", ".join(f"l.{column}" for column in ENTRY_COLUMNS)
# A line's attributes are JSON (jsonb), its last column; its seq (line_numbers) and a
# funding entry's (entry_numbers) are their columns' defaults, taken as each row is
# written.
_INSERT_LINES = (
    f"INSERT INTO charge_lines ({', '.join(LINE_COLUMNS)}) "
    f"VALUES ({'%s, ' * (len(LINE_COLUMNS) - 1)}%s::jsonb)"
)
_COPY_LINES = f"COPY charge_lines ({', '.join(LINE_COLUMNS)}) FROM STDIN"
_INSERT_FUNDING = (
    f"INSERT INTO funding_entries ({', '.join(FUNDING_COLUMNS)}) "
    f"VALUES ({', '.join(['%s'] * len(FUNDING_COLUMNS))})"
)
_COPY_FUNDING = f"COPY funding_entries ({', '.join(FUNDING_COLUMNS)}) FROM STDIN"
#: Rows from which a charge's lines (or funding entries) are copied in (COPY: two round
#: trips of their own, and the least work per row) rather than inserted in the write's
#: one pipeline (no round trip of their own, more work per row).
COPY_ROWS = 32
#: Days before today (UTC) from which ``lock_balances`` reads the accounts' free days
#: and months: a commit's usage is nearly always of today, in the account's zone.
RECENT_DAYS = 2
#: Every funding part of one source, as ``columns``: the funding entries' (reversals
#: too) and the lines' own (``rows.inline_funding``).
_PARTS = (
    "SELECT {columns} FROM funding_entries WHERE source = '{source}' UNION ALL "
    "SELECT {columns} FROM charge_lines WHERE source = '{source}'"
)
#: The feed events a reader may take (migration 0007): those of transactions older than
#: every one of this database still running at the snapshot, which can no longer be
#: joined by an event before them. The running transactions are the snapshot's; those
#: that the server's activity shows in another database (xids are the cluster's) are
#: left out, so that a long one there does not hold the feed back. One that ended before
#: the activity was read is kept: the bound is then lower, never past a running one.
_READABLE = (
    "xid < coalesce((SELECT min(running) FROM pg_snapshot_xip(pg_current_snapshot()) running "
    "WHERE running::xid NOT IN (SELECT backend_xid FROM pg_stat_activity "
    "WHERE backend_xid IS NOT NULL AND datname IS DISTINCT FROM current_database())), "
    "pg_snapshot_xmax(pg_current_snapshot()))"
)
_VOIDED = (
    "EXISTS (SELECT 1 FROM voids v WHERE v.billing_account_id = l.billing_account_id "
    "AND v.charge_id = l.charge_id)"
)


def _committed_query(account: str, usage_ids: Sequence[str]) -> tuple[str, list[object]]:
    """The question which of an account's usage ids are committed, and its arguments.
    No id holds a space (no id may, ``ids.id_problem``): the ids as one text, split by
    the server, cost a fraction of an array's parameter to send."""
    joined = " ".join(usage_ids)
    ids: object = joined
    wanted = "string_to_array(%s, ' ')"
    if joined.count(" ") != len(usage_ids) - 1:
        ids, wanted = list(usage_ids), "%s"
    query = (
        "SELECT usage_id, charge_id FROM charge_lines WHERE billing_account_id = %s "
        f"AND usage_id = ANY({wanted})"
    )
    return query, [account, ids]


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


def _first(row: tuple[Any, ...] | None) -> int:
    return int(row[0]) if row else 0


def _pack(row: tuple[Any, ...]) -> Pack:
    return Pack(*row)


def _part(
    source: str, micros: int, pack_id: str | None, day: str | None, month: str | None
) -> FundingPart:
    return FundingPart(source, micros, pack_id or "", day or "", month or "")


class PostgresLedgerTx(PostgresReservationsTx):
    """The ledger's operations on ``conn``, inside a transaction begun by its owner."""

    __slots__ = (
        "_free",
        "_held_at",
        "_holds",
        "_locked",
        "_packs",
        "_payg",
        "_since",
        "_version",
        "conn",
    )

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        #: The newest catalog version, read under the version lock (``lock_balances``).
        self._version: int | None = None
        self._forget()

    def _forget(self) -> None:
        """Drop the balances ``lock_balances`` read: the transaction changes them."""
        #: The billing accounts locked, whose balances from day ``_since`` on were read.
        self._locked: frozenset[str] = frozenset()
        self._since = ""
        self._free: dict[tuple[str, str], int] = {}
        self._payg: dict[tuple[str, str], int] = {}
        self._packs: list[Pack] = []
        #: The locked accounts' live holds at ``_held_at``, each with its expiry.
        self._holds: list[tuple[int, Hold]] = []
        self._held_at = 0

    def _copy(self, statement: str, rows: Sequence[Sequence[object]]) -> None:
        with self.conn.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    def _rows(self, query: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(query, args).fetchall()

    def _one(self, query: str, args: Sequence[object] = ()) -> tuple[Any, ...] | None:
        return self.conn.execute(query, args).fetchone()

    def _many(self, query: str, rows: Sequence[Sequence[object]]) -> None:
        if rows:  # psycopg pipelines executemany: one round trip for them all
            with self.conn.cursor() as cursor:
                cursor.executemany(query, rows)

    # -- accounts ------------------------------------------------------------------------

    def accounts(self, account_ids: Collection[str]) -> list[Account]:
        if not account_ids:
            return []
        rows = self._rows(
            f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE account_id = ANY(%s)",
            [list(account_ids)],
        )
        return list(map(_account, rows))

    def account(self, account_id: str) -> Account | None:
        row = self._one(
            f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE account_id = %s", [account_id]
        )
        return None if row is None else _account(row)

    def sub_account_ids(self, account_id: str) -> list[str]:
        return [
            row[0]
            for row in self._rows(
                "SELECT account_id FROM accounts WHERE billing_account_id = %s "
                "AND parent_account_id IS NOT NULL ORDER BY account_id",
                [account_id],
            )
        ]

    def insert_account(self, account: Account) -> None:
        self.conn.execute(
            f"INSERT INTO accounts (billing_account_id, {_ACCOUNT_COLUMNS}) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [
                account.billing_account_id,
                account.account_id,
                account.plan,
                account.time_zone,
                account.parent_account_id,
                account.pay_as_you_go,
                account.create_time_ns,
                account.monthly_budget_micros,
            ],
        )

    def set_plan(self, main_account_id: str, plan: str) -> None:
        self.conn.execute(
            "UPDATE accounts SET plan = %s WHERE billing_account_id = %s", [plan, main_account_id]
        )

    def set_pay_as_you_go(self, main_account_id: str, pay_as_you_go: bool) -> None:
        self.conn.execute(
            "UPDATE accounts SET pay_as_you_go = %s WHERE billing_account_id = %s "
            "AND account_id = %s",
            [pay_as_you_go, main_account_id, main_account_id],
        )

    def set_monthly_budget(self, main_account_id: str, micros: int | None) -> None:
        self.conn.execute(
            "UPDATE accounts SET monthly_budget_micros = %s WHERE billing_account_id = %s "
            "AND account_id = %s",
            [micros, main_account_id, main_account_id],
        )

    def alert_thresholds(self, main_account_id: str) -> AlertThresholds | None:
        row = self._one(
            f"SELECT {_THRESHOLD_COLUMNS} FROM alert_thresholds WHERE account_id = %s",
            [main_account_id],
        )
        return None if row is None else AlertThresholds(main_account_id, *row)

    def set_alert_thresholds(self, thresholds: AlertThresholds) -> None:
        self.conn.execute(
            "DELETE FROM alert_thresholds WHERE account_id = %s", [thresholds.account_id]
        )
        if not thresholds.empty:
            self.conn.execute(
                f"INSERT INTO alert_thresholds (account_id, {_THRESHOLD_COLUMNS}) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                _threshold_values(thresholds),
            )

    # -- packs ---------------------------------------------------------------------------

    def pack_by_request(self, request_id: str) -> Pack | None:
        found = self._one(
            "SELECT billing_account_id, pack_id FROM pack_requests WHERE request_id = %s",
            [request_id],
        )
        if found is None:
            return None
        row = self._one(
            f"{_PACKS} WHERE p.billing_account_id = %s AND p.pack_id = %s", [found[0], found[1]]
        )
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
        self._forget()
        row = self._one("SELECT nextval('pack_numbers')")
        assert row is not None
        number = int(row[0])
        pack_id = f"pack-{number}"
        self.conn.execute(
            "INSERT INTO packs (billing_account_id, pack_id, number, micros, valid_from_ns, "
            "expire_time_ns, priority, create_time_ns, request_id) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                account_id,
                pack_id,
                number,
                micros,
                valid_from_ns,
                expire_time_ns,
                priority,
                create_time_ns,
                request_id or None,
            ],
        )
        self.conn.execute(
            "INSERT INTO pack_balances (billing_account_id, pack_id, remaining_micros) "
            "VALUES (%s, %s, %s)",
            [account_id, pack_id, micros],
        )
        if request_id:
            self.conn.execute(
                "INSERT INTO pack_requests (request_id, billing_account_id, pack_id) "
                "VALUES (%s, %s, %s)",
                [request_id, account_id, pack_id],
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
            number,
        )

    def packs(self, account_ids: Collection[str], only_left: bool = False) -> list[Pack]:
        if not account_ids:
            return []
        if only_left and self._locked.issuperset(account_ids):
            wanted = set(account_ids)
            return [pack for pack in self._packs if pack.account_id in wanted]
        left = " AND b.remaining_micros > 0" if only_left else ""
        rows = self._rows(
            f"{_PACKS} WHERE p.billing_account_id = ANY(%s){left}", [list(account_ids)]
        )
        return list(map(_pack, rows))

    # -- knowledge-base capacity -----------------------------------------------------------

    def capacity_by_request(self, request_id: str) -> CapacityPurchase | None:
        row = self._one(
            f"SELECT {_CAPACITY_COLUMNS} FROM capacity_purchases p JOIN capacity_requests r "
            "USING (billing_account_id, purchase_id) WHERE r.request_id = %s",
            [request_id],
        )
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
        row = self._one("SELECT nextval('capacity_numbers')")
        assert row is not None
        number = int(row[0])
        purchase = CapacityPurchase(
            f"cap-{number}",
            account_id,
            gib,
            term,
            valid_from_ns,
            expire_time_ns,
            price_micros,
            create_time_ns,
            number,
        )
        self.conn.execute(
            f"INSERT INTO capacity_purchases ({_CAPACITY_COLUMNS}, request_id) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                purchase.purchase_id,
                account_id,
                gib,
                term,
                valid_from_ns,
                expire_time_ns,
                price_micros,
                create_time_ns,
                number,
                request_id or None,
            ],
        )
        if request_id:
            self.conn.execute(
                "INSERT INTO capacity_requests (request_id, billing_account_id, purchase_id) "
                "VALUES (%s, %s, %s)",
                [request_id, account_id, purchase.purchase_id],
            )
        return purchase

    def capacity_purchases(
        self, account_ids: Collection[str], start_ns: int | None = None, end_ns: int | None = None
    ) -> list[CapacityPurchase]:
        if not account_ids:
            return []
        window, bounds = "", []
        if start_ns is not None and end_ns is not None:
            window, bounds = " AND expire_time_ns > %s AND valid_from_ns < %s", [start_ns, end_ns]
        rows = self._rows(
            f"SELECT {_CAPACITY_COLUMNS} FROM capacity_purchases "
            f"WHERE billing_account_id = ANY(%s){window}",
            [list(account_ids), *bounds],
        )
        return [CapacityPurchase(*row) for row in rows]

    # -- balances ------------------------------------------------------------------------

    def lock_balances(self, billing_account_ids: Sequence[str]) -> None:
        """Lock the accounts' rows, one statement, in the order given: PostgreSQL locks
        the rows as the sort returns them. Then, in the same round trip (one pipeline),
        take the catalog version's lock and read the newest version (what
        ``catalog_version`` answers, asked next) and the accounts' recent balances (free
        days and months from ``RECENT_DAYS`` ago, packs with points left): each of those
        statements takes its snapshot once the locks before it are held, and every
        writer of these balances holds them, so what they read stays true until this
        transaction writes (``_forget``)."""
        if not billing_account_ids:
            return
        ids = list(billing_account_ids)
        since = datetime.datetime.fromtimestamp(
            time.time() - RECENT_DAYS * 86_400, datetime.UTC
        ).strftime("%Y-%m-%d")
        with self.conn.pipeline():
            self.conn.execute(
                "SELECT account_id FROM accounts WHERE account_id = ANY(%s) "
                "ORDER BY account_id FOR UPDATE",
                [ids],
            )
            self.conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", [CATALOG_VERSION_LOCK])
            newest = self.conn.execute("SELECT coalesce(max(version), 0) FROM catalog_versions")
            free = self.conn.execute(
                "SELECT billing_account_id, day, used_micros FROM free_days "
                "WHERE billing_account_id = ANY(%s) AND day >= %s",
                [ids, since],
            )
            payg = self.conn.execute(
                "SELECT billing_account_id, month, micros FROM payg_months "
                "WHERE billing_account_id = ANY(%s) AND month >= %s",
                [ids, since[:7]],
            )
            packs = self.conn.execute(
                f"{_PACKS} WHERE p.billing_account_id = ANY(%s) AND b.remaining_micros > 0",
                [ids],
            )
            held_at = time.time_ns()
            holds = self.conn.execute(HOLDS, [ids, held_at])
        self._free = {(account, day): int(micros) for account, day, micros in free.fetchall()}
        self._payg = {(account, month): int(m) for account, month, m in payg.fetchall()}
        self._packs = list(map(_pack, packs.fetchall()))
        self._holds = list(map(hold_of, holds.fetchall()))
        self._held_at = held_at
        self._version = _first(newest.fetchone())
        self._locked = frozenset(ids)
        self._since = since

    def free_used(self, billing_account_id: str, day: str) -> int:
        if billing_account_id in self._locked and day >= self._since:
            return self._free.get((billing_account_id, day), 0)
        row = self._one(
            "SELECT used_micros FROM free_days WHERE billing_account_id = %s AND day = %s",
            [billing_account_id, day],
        )
        return int(row[0]) if row else 0

    def payg(self, billing_account_id: str, month: str) -> int:
        if billing_account_id in self._locked and month >= self._since[:7]:
            return self._payg.get((billing_account_id, month), 0)
        row = self._one(
            "SELECT micros FROM payg_months WHERE billing_account_id = %s AND month = %s",
            [billing_account_id, month],
        )
        return int(row[0]) if row else 0

    def holds(self, billing_account_ids: Collection[str], now_ns: int) -> list[Hold]:
        """From what ``lock_balances`` read, for locked accounts at a later instant: the
        reservations live then are among those live at the lock."""
        if not billing_account_ids:
            return []
        if self._locked.issuperset(billing_account_ids) and now_ns >= self._held_at:
            wanted = set(billing_account_ids)
            return [
                hold
                for expiry, hold in self._holds
                if expiry > now_ns and hold.billing_account_id in wanted
            ]
        rows = self._rows(HOLDS, [list(billing_account_ids), now_ns])
        return [hold for _expiry, hold in map(hold_of, rows)]

    # -- the catalog ---------------------------------------------------------------------

    def catalog_version(self) -> int:
        """Two statements: at READ COMMITTED the second one's snapshot is taken once the
        lock is held, so it sees an import that committed while this one waited. A
        commit's were run by ``lock_balances``, in its round trip."""
        if self._version is None:
            with self.conn.pipeline():  # one round trip
                self.conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", [CATALOG_VERSION_LOCK])
                newest = self.conn.execute("SELECT coalesce(max(version), 0) FROM catalog_versions")
            self._version = _first(newest.fetchone())
        return self._version

    # -- charges -------------------------------------------------------------------------

    def charge_by_request(self, request_id: str) -> StoredCharge | None:
        row = self._one(
            "SELECT request_hash, receipt FROM requests WHERE request_id = %s", [request_id]
        )
        return None if row is None else StoredCharge(row[0], decode_receipt(bytes(row[1])))

    def committed(self, usage_ids: Mapping[str, Sequence[str]]) -> dict[tuple[str, str], str]:
        asked = [(account, ids) for account, ids in usage_ids.items() if ids]
        if not asked:
            return {}
        with self.conn.pipeline():  # one round trip for every account's question
            answers = [
                (account, self.conn.execute(*_committed_query(account, ids)))
                for account, ids in asked
            ]
        return {
            (account, usage_id): charge_id
            for account, cursor in answers
            for usage_id, charge_id in cursor.fetchall()
        }

    def write_charge(self, charge: NewCharge) -> None:
        """One pipeline (one round trip) for the request, the charge, the balances and
        a small charge's lines; a large charge's lines are copied in (COPY) after it."""
        receipt = charge.receipt
        charge_id = receipt.charge_id
        accounts = sorted({line.billing_account_id for line in receipt.lines})
        line_rows, funding_rows = charge_rows(charge)
        # Lines take their numbers in request order, after the account's lock: an
        # account's lines are numbered in the order they commit.
        with self.conn.pipeline():
            self.conn.execute(
                "INSERT INTO requests (request_id, request_hash, charge_id, receipt) "
                "VALUES (%s, %s, %s, %s)",
                [charge.request_id, charge.request_hash, charge_id, encode_receipt(receipt)],
            )
            self.conn.execute(
                "INSERT INTO charges (charge_id, request_id, catalog_version, commit_time_ns, "
                "billing_account_ids) VALUES (%s, %s, %s, %s, %s)",
                [
                    charge_id,
                    charge.request_id,
                    receipt.catalog_version,
                    receipt.commit_time_ns,
                    accounts,
                ],
            )
            self.conn.execute(
                "INSERT INTO charge_accounts (billing_account_id, charge_id) "
                "SELECT unnest(%s::text[]), %s",
                [accounts, charge_id],
            )
            self.conn.execute(
                "INSERT INTO feed_events (billing_account_id, kind, charge_id, time_ns) "
                f"SELECT unnest(%s::text[]), '{CHARGED}', %s, %s",
                [fed_accounts(receipt), charge_id, receipt.commit_time_ns],
            )
            if len(line_rows) < COPY_ROWS:
                self._many(_INSERT_LINES, line_rows)
            if len(funding_rows) < COPY_ROWS:
                self._many(_INSERT_FUNDING, funding_rows)
            self._change(charge.changes)
        if len(line_rows) >= COPY_ROWS:
            self._copy(_COPY_LINES, line_rows)
        if len(funding_rows) >= COPY_ROWS:
            self._copy(_COPY_FUNDING, funding_rows)

    def _change(self, changes: BalanceChanges) -> None:
        """Add a charge's ``changes`` to the balances."""
        self._forget()
        self._many(
            "INSERT INTO free_days (billing_account_id, day, used_micros) VALUES (%s, %s, %s) "
            "ON CONFLICT (billing_account_id, day) "
            "DO UPDATE SET used_micros = free_days.used_micros + excluded.used_micros",
            [(*key, micros) for key, micros in changes.free_used.items()],
        )
        self._draw_packs(changes)
        self._many(
            "INSERT INTO payg_months (billing_account_id, month, micros) VALUES (%s, %s, %s) "
            "ON CONFLICT (billing_account_id, month) "
            "DO UPDATE SET micros = payg_months.micros + excluded.micros",
            [(*key, micros) for key, micros in changes.payg.items()],
        )

    def _draw_packs(self, changes: BalanceChanges) -> None:
        self._many(
            "UPDATE pack_balances SET remaining_micros = remaining_micros - %s "
            "WHERE billing_account_id = %s AND pack_id = %s",
            [(micros, *key) for key, micros in changes.pack_drawn.items()],
        )

    def _give_back(self, changes: BalanceChanges) -> None:
        """Add a void's ``changes`` (negative) to balances that exist: an UPDATE, since
        an upsert's row, checked before its conflict is found, would be refused as
        negative."""
        self._forget()
        self._many(
            "UPDATE free_days SET used_micros = used_micros + %s "
            "WHERE billing_account_id = %s AND day = %s",
            [(micros, *key) for key, micros in changes.free_used.items()],
        )
        self._draw_packs(changes)
        self._many(
            "UPDATE payg_months SET micros = micros + %s WHERE billing_account_id = %s "
            "AND month = %s",
            [(micros, *key) for key, micros in changes.payg.items()],
        )

    # -- voids ---------------------------------------------------------------------------

    def charge_billing_accounts(self, charge_id: str) -> list[str] | None:
        row = self._one("SELECT billing_account_ids FROM charges WHERE charge_id = %s", [charge_id])
        return None if row is None else sorted(row[0])

    def charge_funding(self, charge_id: str, billing_account_id: str) -> list[FundingEntry]:
        entries = [
            FundingEntry(line, billing_account_id, _part(*rest))
            for line, *rest in self._rows(
                "SELECT line_number, source, micros, pack_id, day, month FROM funding_entries "
                "WHERE billing_account_id = %s AND charge_id = %s AND NOT reversal ORDER BY seq",
                [billing_account_id, charge_id],
            )
        ]
        for line, source, micros, pack_id, day, month in self._rows(
            "SELECT line_number, source, micros, pack_id, day, month FROM charge_lines "
            "WHERE billing_account_id = %s AND charge_id = %s AND source IS NOT NULL "
            "ORDER BY line_number",
            [billing_account_id, charge_id],
        ):
            parts = inline_funding(source, int(micros), pack_id, day, month)
            entries.extend(FundingEntry(line, billing_account_id, part) for part in parts)
        return entries

    def void_time(self, charge_id: str) -> int | None:
        # A void is kept beside each billing account's lines; the charge's first has it.
        row = self._one(
            "SELECT v.void_time_ns FROM charges c JOIN voids v "
            "ON v.billing_account_id = c.billing_account_ids[1] AND v.charge_id = c.charge_id "
            "WHERE c.charge_id = %s",
            [charge_id],
        )
        return None if row is None else int(row[0])

    def write_reversals(
        self,
        charge_id: str,
        billing_account_id: str,
        reversals: Sequence[FundingEntry],
        changes: BalanceChanges,
    ) -> None:
        self._many(
            "INSERT INTO funding_entries (billing_account_id, charge_id, line_number, source, "
            "micros, pack_id, day, month, reversal) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, "
            "true)",
            [
                (
                    billing_account_id,
                    charge_id,
                    entry.line_number,
                    entry.part.source,
                    entry.part.micros,
                    entry.part.pack_id or None,
                    entry.part.day or None,
                    entry.part.month or None,
                )
                for entry in reversals
            ],
        )
        self._give_back(changes)

    def write_void(self, charge_id: str, void_time_ns: int, reason: str) -> None:
        self.conn.execute(
            "INSERT INTO voids (billing_account_id, charge_id, void_time_ns, reason) "
            "SELECT unnest(billing_account_ids), charge_id, %s, %s FROM charges "
            "WHERE charge_id = %s",
            [void_time_ns, reason, charge_id],
        )
        # An event for each billing account the charge's lines were fed to.
        self.conn.execute(
            "INSERT INTO feed_events (billing_account_id, kind, charge_id, time_ns) "
            f"SELECT billing_account_id, '{VOIDED}', charge_id, %s FROM feed_events "
            f"WHERE charge_id = %s AND kind = '{CHARGED}' ORDER BY xid, number",
            [void_time_ns, charge_id],
        )

    # -- the charges feed ------------------------------------------------------------------

    def feed_events(
        self, after: tuple[int, int], billing_account_id: str | None, limit: int
    ) -> list[FeedEvent]:
        """Only the events of transactions older than every one running (``_READABLE``):
        those are final, and no later call can find one before them."""
        account = "billing_account_id = %s AND " if billing_account_id is not None else ""
        rows = self._rows(
            f"SELECT xid::text::bigint, number, billing_account_id, kind, charge_id, "
            f"reservation_id, time_ns FROM feed_events WHERE {account}"
            f"(xid, number) > (%s::text::xid8, %s) AND {_READABLE} ORDER BY xid, number LIMIT %s",
            [
                *([billing_account_id] if billing_account_id is not None else []),
                str(after[0]),
                after[1],
                limit,
            ],
        )
        return [
            FeedEvent((int(r[0]), int(r[1])), r[2], r[3], r[4], r[5] or "", int(r[6])) for r in rows
        ]

    def feed_end(self, billing_account_id: str | None) -> tuple[int, int]:
        account = "billing_account_id = %s AND " if billing_account_id is not None else ""
        row = self._one(
            f"SELECT xid::text::bigint, number FROM feed_events WHERE {account}{_READABLE} "
            "ORDER BY xid DESC, number DESC LIMIT 1",
            [billing_account_id] if billing_account_id is not None else [],
        )
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def charge_entries(self, billing_account_id: str, charge_id: str) -> list[ChargeEntry]:
        rows = self._rows(
            f"SELECT {_ENTRY}, {_VOIDED} FROM charge_lines l "
            "WHERE l.billing_account_id = %s AND l.charge_id = %s ORDER BY l.line_number",
            [billing_account_id, charge_id],
        )
        entries = [charge_entry(row, row[ATTRIBUTES]) for row in rows]
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
        where = ["l.billing_account_id = %s", "l.seq > %s"]
        args: list[object] = [billing_account_id, after]
        if account_id is not None:
            where.append("l.account_id = %s")
            args.append(account_id)
        if start_ns is not None:
            where.append("l.occurred_at_ns >= %s")
            args.append(start_ns)
        if end_ns is not None:
            where.append("l.occurred_at_ns < %s")
            args.append(end_ns)
        rows = self._rows(
            f"SELECT l.seq, {_ENTRY}, {_VOIDED} "
            f"FROM charge_lines l WHERE {' AND '.join(where)} ORDER BY l.seq LIMIT %s",
            [*args, limit],
        )
        return [(int(row[0]), charge_entry(row[1:], row[1 + ATTRIBUTES])) for row in rows]

    def line_funding(
        self, billing_account_id: str, lines: Collection[LineKey]
    ) -> dict[LineKey, tuple[FundingPart, ...]]:
        wanted = set(lines)
        found: dict[LineKey, list[FundingPart]] = {}
        for charge_id, number, *rest in self._rows(
            "SELECT charge_id, line_number, source, micros, pack_id, day, month "
            "FROM funding_entries WHERE billing_account_id = %s AND charge_id = ANY(%s) "
            "AND NOT reversal ORDER BY seq",
            [billing_account_id, sorted({charge for charge, _ in wanted})],
        ):
            if (charge_id, number) in wanted:
                found.setdefault((charge_id, number), []).append(_part(*rest))
        return {key: tuple(parts) for key, parts in found.items()}

    def statement_lines(self, billing_account_id: str, month: str) -> list[StatementLine]:
        lines = self._rows(
            "SELECT l.charge_id, l.line_number, l.sku, l.category, l.account_id, l.quantity, "
            "l.micros, l.source FROM charge_lines l WHERE l.billing_account_id = %s "
            f"AND l.month = %s AND NOT {_VOIDED}",
            [billing_account_id, month],
        )
        split = self._rows(
            "SELECT f.charge_id, f.line_number, f.source, f.micros FROM funding_entries f "
            "JOIN charge_lines l ON l.billing_account_id = f.billing_account_id "
            "AND l.charge_id = f.charge_id AND l.line_number = f.line_number "
            "WHERE f.billing_account_id = %s AND l.month = %s AND NOT f.reversal "
            f"AND NOT {_VOIDED}",
            [billing_account_id, month],
        )
        return statement_lines(lines, split)

    # -- the invariant check ---------------------------------------------------------------

    def _sums(self, kept_sql: str, summed_sql: str, args: Sequence[object] = ()) -> BalanceSums:
        return BalanceSums(
            kept={row[:-1]: int(row[-1]) for row in self._rows(kept_sql, args)},
            summed={row[:-1]: int(row[-1]) for row in self._rows(summed_sql)},
        )

    def free_day_sums(self) -> BalanceSums:
        return self._sums(
            "SELECT billing_account_id, day, used_micros FROM free_days",
            "SELECT billing_account_id, day, sum(micros)::bigint FROM ("
            f"{_PARTS.format(columns='billing_account_id, day, micros', source='free')}"
            ") parts GROUP BY billing_account_id, day",
        )

    def pack_sums(self) -> BalanceSums:
        return self._sums(
            "SELECT p.pack_id, p.micros - b.remaining_micros FROM packs p JOIN pack_balances b "
            "ON b.billing_account_id = p.billing_account_id AND b.pack_id = p.pack_id",
            "SELECT pack_id, sum(micros)::bigint FROM ("
            f"{_PARTS.format(columns='pack_id, micros', source='pack')}"
            ") parts GROUP BY pack_id",
        )

    def payg_sums(self) -> BalanceSums:
        return self._sums(
            "SELECT billing_account_id, month, micros FROM payg_months",
            "SELECT billing_account_id, month, sum(micros)::bigint FROM ("
            f"{_PARTS.format(columns='billing_account_id, month, micros', source='payg')}"
            ") parts GROUP BY billing_account_id, month",
        )

    def line_funding_sums(self, funded_billed_by: str) -> BalanceSums:
        return self._sums(
            "SELECT l.charge_id, l.line_number, CASE WHEN "
            f"{_VOIDED} THEN 0 WHEN l.billed_by = %s THEN l.micros ELSE 0 END "
            "FROM charge_lines l",
            "SELECT charge_id, line_number, sum(micros)::bigint FROM ("
            "SELECT charge_id, line_number, micros FROM funding_entries UNION ALL "
            "SELECT charge_id, line_number, micros FROM charge_lines WHERE source IS NOT NULL"
            ") parts GROUP BY charge_id, line_number",
            [funded_billed_by],
        )

    def negative_free_days(self) -> list[tuple[str, str, int]]:
        return [
            (row[0], row[1], int(row[2]))
            for row in self._rows(
                "SELECT billing_account_id, day, used_micros FROM free_days WHERE used_micros < 0"
            )
        ]

    def negative_packs(self) -> list[tuple[str, int]]:
        return [
            (row[0], int(row[1]))
            for row in self._rows(
                "SELECT pack_id, remaining_micros FROM pack_balances WHERE remaining_micros < 0"
            )
        ]

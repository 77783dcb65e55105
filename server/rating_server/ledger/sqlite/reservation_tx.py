"""The reservations' part of ``LedgerTx`` on SQLite (``tx.SqliteLedgerTx`` has it)."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from itertools import groupby
from typing import Any

from rating_server.ledger.model import (
    SETTLED,
    SETTLED_EVENT,
    FundingPart,
    Hold,
    Reservation,
    live_condition,
)
from rating_server.ledger.rows import (
    HOLD_COLUMNS,
    RESERVATION_COLUMNS,
    hold_part,
    hold_rows,
    reservation_of,
    reservation_row,
)

_CHUNK = 500
_COLUMNS = ", ".join(f"r.{column}" for column in RESERVATION_COLUMNS)
_HOLD = ", ".join(f"h.{column}" for column in HOLD_COLUMNS)
_INSERT = (
    f"INSERT INTO reservations ({', '.join(RESERVATION_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(RESERVATION_COLUMNS))})"
)
_INSERT_HOLD = (
    f"INSERT INTO reservation_holds (reservation_id, number, {', '.join(HOLD_COLUMNS)}) "
    f"VALUES ({', '.join('?' * (len(HOLD_COLUMNS) + 2))})"
)
_LIVE = live_condition("?")


def _marks(count: int) -> str:
    return ",".join("?" * count)


class SqliteReservationsTx:
    __slots__ = ()
    conn: sqlite3.Connection

    def holds(self, billing_account_ids: Collection[str], now_ns: int) -> list[Hold]:
        ids = list(billing_account_ids)
        found = []
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            for row in self.conn.execute(
                f"SELECT r.reservation_id, {_HOLD} FROM reservations r "
                "JOIN reservation_holds h ON h.reservation_id = r.reservation_id "
                f"WHERE r.billing_account_id IN ({_marks(len(chunk))}) AND {_LIVE} "
                "ORDER BY r.reservation_id, h.number",
                [*chunk, now_ns],
            ):
                found.append(Hold(row[0], row[1], hold_part(row[2:])))
        return found

    def _with_holds(self, rows: list[tuple[Any, ...]]) -> list[Reservation]:
        if not rows:
            return []
        ids = [row[0] for row in rows]
        holds: dict[str, list[tuple[Any, ...]]] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            found = self.conn.execute(
                f"SELECT h.reservation_id, {_HOLD} FROM reservation_holds h "
                f"WHERE h.reservation_id IN ({_marks(len(chunk))}) "
                "ORDER BY h.reservation_id, h.number",
                chunk,
            ).fetchall()
            for reservation_id, group in groupby(found, key=lambda row: row[0]):
                holds[reservation_id] = [row[1:] for row in group]
        return [reservation_of(row, holds.get(row[0], [])) for row in rows]

    def reservations(self, reservation_ids: Collection[str]) -> list[Reservation]:
        ids = list(reservation_ids)
        rows = []
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            rows += self.conn.execute(
                f"SELECT {_COLUMNS} FROM reservations r "
                f"WHERE r.reservation_id IN ({_marks(len(chunk))})",
                chunk,
            ).fetchall()
        return self._with_holds(rows)

    def reservations_of(self, billing_account_id: str, now_ns: int) -> list[Reservation]:
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM reservations r WHERE r.billing_account_id = ? AND {_LIVE}",
            [billing_account_id, now_ns],
        ).fetchall()
        return self._with_holds(rows)

    def reservation_request(self, request_id: str) -> tuple[str, str] | None:
        row = self.conn.execute(
            "SELECT fingerprint, answer FROM reservation_requests WHERE request_id = ?",
            [request_id],
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def _request(self, request_id: str, reservation_id: str, fingerprint: str, answer: str) -> None:
        self.conn.execute(
            "INSERT INTO reservation_requests (request_id, reservation_id, fingerprint, answer) "
            "VALUES (?, ?, ?, ?)",
            [request_id, reservation_id, fingerprint, answer],
        )

    def insert_reservation(
        self, reservation: Reservation, request_id: str, fingerprint: str, answer: str
    ) -> None:
        self.conn.execute(_INSERT, reservation_row(reservation))
        self.conn.executemany(_INSERT_HOLD, hold_rows(reservation, reservation.holds, 0))
        self._request(request_id, reservation.reservation_id, fingerprint, answer)

    def extend_reservation(
        self,
        reservation: Reservation,
        new_holds: Sequence[FundingPart],
        request_id: str,
        fingerprint: str,
        answer: str,
    ) -> None:
        self.conn.execute(
            "UPDATE reservations SET requested_quantity = ?, granted_quantity = ?, "
            "expire_time_ns = ? WHERE reservation_id = ?",
            [
                reservation.requested_quantity,
                reservation.granted_quantity,
                reservation.expire_time_ns,
                reservation.reservation_id,
            ],
        )
        first = len(reservation.holds) - len(new_holds)
        self.conn.executemany(_INSERT_HOLD, hold_rows(reservation, new_holds, first))
        self._request(request_id, reservation.reservation_id, fingerprint, answer)

    def end_reservations(
        self, reservation_ids: Collection[str], state: str, end_time_ns: int, charge_id: str
    ) -> None:
        self.conn.executemany(
            "UPDATE reservations SET state = ?, end_time_ns = ?, settle_charge_id = ? "
            "WHERE reservation_id = ?",
            [(state, end_time_ns, charge_id or None, rid) for rid in reservation_ids],
        )
        if state == SETTLED:
            self.conn.executemany(
                "INSERT INTO feed_events (billing_account_id, kind, charge_id, reservation_id, "
                f"time_ns) SELECT billing_account_id, '{SETTLED_EVENT}', ?, reservation_id, ? "
                "FROM reservations WHERE reservation_id = ?",
                [(charge_id, end_time_ns, rid) for rid in sorted(reservation_ids)],
            )

    def overheld_packs(self, now_ns: int) -> list[tuple[str, int, int]]:
        return self.conn.execute(
            "SELECT b.pack_id, b.remaining_micros, sum(h.micros) FROM reservations r "
            "JOIN reservation_holds h ON h.reservation_id = r.reservation_id "
            "JOIN pack_balances b ON b.pack_id = h.pack_id "
            f"WHERE h.source = 'pack' AND {_LIVE} "
            "GROUP BY b.pack_id HAVING sum(h.micros) > b.remaining_micros",
            [now_ns],
        ).fetchall()

    def unsettled_settlements(self) -> list[tuple[str, str]]:
        return self.conn.execute(
            "SELECT r.reservation_id, r.settle_charge_id FROM reservations r "
            "WHERE r.state = 'settled' AND NOT EXISTS "
            "(SELECT 1 FROM charges c WHERE c.charge_id = r.settle_charge_id)"
        ).fetchall()

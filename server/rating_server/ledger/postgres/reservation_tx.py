"""The reservations' part of ``LedgerTx`` on PostgreSQL (``tx.PostgresLedgerTx`` has it;
the live holds of locked accounts it reads with the locks, ``HOLDS``)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from itertools import groupby
from typing import Any

import psycopg

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

_COLUMNS = ", ".join(f"r.{column}" for column in RESERVATION_COLUMNS)
_HOLD = ", ".join(f"h.{column}" for column in HOLD_COLUMNS)
_INSERT = (
    f"INSERT INTO reservations ({', '.join(RESERVATION_COLUMNS)}) "
    f"VALUES ({', '.join(['%s'] * len(RESERVATION_COLUMNS))})"
)
_INSERT_HOLD = (
    f"INSERT INTO reservation_holds (reservation_id, number, {', '.join(HOLD_COLUMNS)}) "
    f"VALUES ({', '.join(['%s'] * (len(HOLD_COLUMNS) + 2))})"
)
_LIVE = live_condition("%s")
#: The holds of live reservations of the billing accounts ``= ANY(%s)`` at ``%s``, each
#: with its reservation's expiry: ``hold_of`` reads a row.
HOLDS = (
    f"SELECT r.expire_time_ns, r.reservation_id, {_HOLD} FROM reservations r "
    "JOIN reservation_holds h ON h.reservation_id = r.reservation_id "
    f"WHERE r.billing_account_id = ANY(%s) AND {_LIVE} ORDER BY r.reservation_id, h.number"
)


def hold_of(row: Sequence[Any]) -> tuple[int, Hold]:
    """A row of ``HOLDS``: its reservation's expiry and the hold."""
    return int(row[0]), Hold(row[1], row[2], hold_part(row[3:]))


class PostgresReservationsTx:
    __slots__ = ()
    conn: psycopg.Connection
    #: The main class's: drops what it read with the locks, which a write changes.
    _forget: Callable[[], None]

    def _with_holds(self, rows: list[tuple[Any, ...]]) -> list[Reservation]:
        if not rows:
            return []
        found = self.conn.execute(
            f"SELECT h.reservation_id, {_HOLD} FROM reservation_holds h "
            "WHERE h.reservation_id = ANY(%s) ORDER BY h.reservation_id, h.number",
            [[row[0] for row in rows]],
        ).fetchall()
        holds = {
            reservation_id: [row[1:] for row in group]
            for reservation_id, group in groupby(found, key=lambda row: row[0])
        }
        return [reservation_of(row, holds.get(row[0], [])) for row in rows]

    def reservations(self, reservation_ids: Collection[str]) -> list[Reservation]:
        if not reservation_ids:
            return []
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM reservations r WHERE r.reservation_id = ANY(%s)",
            [list(reservation_ids)],
        ).fetchall()
        return self._with_holds(rows)

    def reservations_of(self, billing_account_id: str, now_ns: int) -> list[Reservation]:
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM reservations r WHERE r.billing_account_id = %s AND {_LIVE}",
            [billing_account_id, now_ns],
        ).fetchall()
        return self._with_holds(rows)

    def reservation_request(self, request_id: str) -> tuple[str, str] | None:
        row = self.conn.execute(
            "SELECT fingerprint, answer FROM reservation_requests WHERE request_id = %s",
            [request_id],
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def _write(
        self,
        statement: str,
        args: Sequence[object],
        holds: list[tuple[Any, ...]],
        request: Sequence[object],
    ) -> None:
        """A reservation's row written, its new holds and its request: one round trip."""
        self._forget()
        with self.conn.pipeline():
            self.conn.execute(statement, args)
            if holds:
                with self.conn.cursor() as cursor:
                    cursor.executemany(_INSERT_HOLD, holds)
            self.conn.execute(
                "INSERT INTO reservation_requests (request_id, reservation_id, fingerprint, "
                "answer) VALUES (%s, %s, %s, %s)",
                request,
            )

    def insert_reservation(
        self, reservation: Reservation, request_id: str, fingerprint: str, answer: str
    ) -> None:
        self._write(
            _INSERT,
            reservation_row(reservation),
            hold_rows(reservation, reservation.holds, 0),
            [request_id, reservation.reservation_id, fingerprint, answer],
        )

    def extend_reservation(
        self,
        reservation: Reservation,
        new_holds: Sequence[FundingPart],
        request_id: str,
        fingerprint: str,
        answer: str,
    ) -> None:
        self._write(
            "UPDATE reservations SET requested_quantity = %s, granted_quantity = %s, "
            "expire_time_ns = %s WHERE reservation_id = %s",
            [
                reservation.requested_quantity,
                reservation.granted_quantity,
                reservation.expire_time_ns,
                reservation.reservation_id,
            ],
            hold_rows(reservation, new_holds, len(reservation.holds) - len(new_holds)),
            [request_id, reservation.reservation_id, fingerprint, answer],
        )

    def end_reservations(
        self, reservation_ids: Collection[str], state: str, end_time_ns: int, charge_id: str
    ) -> None:
        self._forget()
        self.conn.execute(
            "UPDATE reservations SET state = %s, end_time_ns = %s, settle_charge_id = %s "
            "WHERE reservation_id = ANY(%s)",
            [state, end_time_ns, charge_id or None, list(reservation_ids)],
        )
        if state == SETTLED:
            self.conn.execute(
                "INSERT INTO feed_events (billing_account_id, kind, charge_id, reservation_id, "
                f"time_ns) SELECT billing_account_id, '{SETTLED_EVENT}', %s, reservation_id, %s "
                "FROM reservations WHERE reservation_id = ANY(%s) ORDER BY reservation_id",
                [charge_id, end_time_ns, list(reservation_ids)],
            )

    def overheld_packs(self, now_ns: int) -> list[tuple[str, int, int]]:
        rows = self.conn.execute(
            "SELECT b.pack_id, b.remaining_micros, sum(h.micros)::bigint FROM reservations r "
            "JOIN reservation_holds h ON h.reservation_id = r.reservation_id "
            "JOIN pack_balances b ON b.billing_account_id = h.billing_account_id "
            "AND b.pack_id = h.pack_id "
            f"WHERE h.source = 'pack' AND {_LIVE} "
            "GROUP BY b.pack_id, b.remaining_micros HAVING sum(h.micros) > b.remaining_micros",
            [now_ns],
        ).fetchall()
        return [(row[0], int(row[1]), int(row[2])) for row in rows]

    def unsettled_settlements(self) -> list[tuple[str, str]]:
        rows = self.conn.execute(
            "SELECT r.reservation_id, r.settle_charge_id FROM reservations r "
            "WHERE r.state = 'settled' AND NOT EXISTS "
            "(SELECT 1 FROM charges c WHERE c.charge_id = r.settle_charge_id)"
        ).fetchall()
        return [(row[0], row[1]) for row in rows]

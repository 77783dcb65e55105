"""ledger/model.py: a reservation is live while held and before its expiry; the SQL both
engines query with (``live_condition``) says the same as ``Reservation.state_at``."""

from __future__ import annotations

import itertools
import sqlite3

from rating_server.ledger.model import HELD, RELEASED, SETTLED, Reservation, live_condition


def reservation(state: str, expire_time_ns: int) -> Reservation:
    return Reservation(
        "r-1", "acct-1", "acct-1", "agent.call", "agent.call", 1, 1, (), 0, expire_time_ns, state
    )


def test_a_reservation_is_live_until_the_instant_it_expires_in_the_model_and_the_sql() -> None:
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE reservations (state TEXT, expire_time_ns INTEGER)")
    for state, expire, now in itertools.product((HELD, SETTLED, RELEASED), (99, 100, 101), [100]):
        in_sql = connection.execute(
            f"SELECT count(*) FROM (SELECT ? AS state, ? AS expire_time_ns) r "
            f"WHERE {live_condition('?')}",
            [state, expire, now],
        ).fetchone()[0]
        assert bool(in_sql) == (reservation(state, expire).state_at(now) == HELD)
    assert live_condition("%s").endswith("> %s")

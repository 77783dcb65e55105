"""The client's result types (``rating/types.py``) read from messages made here."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from rating.types import (
    Balance,
    Reservation,
)
from rating.v1 import (
    account_service_pb2,
    reservation_pb2,
)

from .fake import NOON, reservation_message, stamp


def test_a_settled_reservation_reads_its_charge_and_end_time() -> None:
    raw = reservation_message(
        state=reservation_pb2.RESERVATION_STATE_SETTLED,
        end_time=stamp(NOON + timedelta(minutes=3)),
        settle_charge_id="ch-9",
    )
    settled = Reservation.of(raw)
    assert (settled.state, settled.settle_charge_id) == ("settled", "ch-9")
    assert settled.end_time == NOON + timedelta(minutes=3)


def test_a_balance_without_holds_reads_zero_held() -> None:
    balance = Balance.of(account_service_pb2.GetBalanceResponse(packs=[{}]))
    assert (balance.free_points_held, balance.pay_as_you_go_held_points) == (0, 0)
    assert (balance.packs[0].held_points, balance.reservations) == (0, ())


def test_a_balance_reads_its_budget_and_what_is_left_and_none_without_one() -> None:
    balance = Balance.of(
        account_service_pb2.GetBalanceResponse(budget_points="100", budget_left_points="0")
    )
    assert (balance.budget_points, balance.budget_left_points) == (Decimal(100), Decimal(0))
    none = Balance.of(account_service_pb2.GetBalanceResponse())
    assert (none.budget_points, none.budget_left_points) == (None, None)

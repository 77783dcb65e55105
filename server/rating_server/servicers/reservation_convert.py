"""Between reservation messages and ledger values."""

from __future__ import annotations

from rating.v1 import reservation_pb2
from rating_server.ledger.model import EXPIRED, HELD, RELEASED, SETTLED, Reservation
from rating_server.money import format_points
from rating_server.servicers.convert import funding, timestamp


def reservation(value: Reservation) -> reservation_pb2.Reservation:
    message = reservation_pb2.Reservation(
        reservation_id=value.reservation_id,
        account_id=value.account_id,
        billing_account_id=value.billing_account_id,
        sku=value.sku,
        requested_sku=value.requested_sku,
        requested_quantity=value.requested_quantity,
        granted_quantity=value.granted_quantity,
        held_points=format_points(value.held_micros),
        holds=[funding(part) for part in value.holds],
        state=RESERVATION_STATE[value.state],
        create_time=timestamp(value.create_time_ns),
        expire_time=timestamp(value.expire_time_ns),
        settle_charge_id=value.settle_charge_id,
    )
    if value.end_time_ns is not None:
        message.end_time.CopyFrom(timestamp(value.end_time_ns))
    return message


RESERVATION_STATE = {
    HELD: reservation_pb2.RESERVATION_STATE_HELD,
    SETTLED: reservation_pb2.RESERVATION_STATE_SETTLED,
    RELEASED: reservation_pb2.RESERVATION_STATE_RELEASED,
    EXPIRED: reservation_pb2.RESERVATION_STATE_EXPIRED,
}

import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from rating.v1 import usage_pb2 as _usage_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReservationState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESERVATION_STATE_UNSPECIFIED: _ClassVar[ReservationState]
    RESERVATION_STATE_HELD: _ClassVar[ReservationState]
    RESERVATION_STATE_SETTLED: _ClassVar[ReservationState]
    RESERVATION_STATE_RELEASED: _ClassVar[ReservationState]
    RESERVATION_STATE_EXPIRED: _ClassVar[ReservationState]
RESERVATION_STATE_UNSPECIFIED: ReservationState
RESERVATION_STATE_HELD: ReservationState
RESERVATION_STATE_SETTLED: ReservationState
RESERVATION_STATE_RELEASED: ReservationState
RESERVATION_STATE_EXPIRED: ReservationState

class Reservation(_message.Message):
    __slots__ = ("reservation_id", "account_id", "billing_account_id", "sku", "requested_sku", "requested_quantity", "granted_quantity", "held_points", "holds", "state", "create_time", "expire_time", "end_time", "settle_charge_id")
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    BILLING_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_SKU_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    GRANTED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    HELD_POINTS_FIELD_NUMBER: _ClassVar[int]
    HOLDS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    SETTLE_CHARGE_ID_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    account_id: str
    billing_account_id: str
    sku: str
    requested_sku: str
    requested_quantity: int
    granted_quantity: int
    held_points: str
    holds: _containers.RepeatedCompositeFieldContainer[_usage_pb2.Funding]
    state: ReservationState
    create_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    settle_charge_id: str
    def __init__(self, reservation_id: _Optional[str] = ..., account_id: _Optional[str] = ..., billing_account_id: _Optional[str] = ..., sku: _Optional[str] = ..., requested_sku: _Optional[str] = ..., requested_quantity: _Optional[int] = ..., granted_quantity: _Optional[int] = ..., held_points: _Optional[str] = ..., holds: _Optional[_Iterable[_Union[_usage_pb2.Funding, _Mapping]]] = ..., state: _Optional[_Union[ReservationState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., settle_charge_id: _Optional[str] = ...) -> None: ...

import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from rating.v1 import columns_pb2 as _columns_pb2
from rating.v1 import reservation_pb2 as _reservation_pb2
from rating.v1 import usage_pb2 as _usage_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class QuoteRequest(_message.Message):
    __slots__ = ("items", "account_id", "columns")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[_usage_pb2.UsageItem]
    account_id: str
    columns: _columns_pb2.UsageColumns
    def __init__(self, items: _Optional[_Iterable[_Union[_usage_pb2.UsageItem, _Mapping]]] = ..., account_id: _Optional[str] = ..., columns: _Optional[_Union[_columns_pb2.UsageColumns, _Mapping]] = ...) -> None: ...

class QuoteResponse(_message.Message):
    __slots__ = ("lines", "total_points", "total_yuan", "catalog_version", "funding", "columns")
    LINES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_POINTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_YUAN_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    FUNDING_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    lines: _containers.RepeatedCompositeFieldContainer[_usage_pb2.RatedLine]
    total_points: str
    total_yuan: str
    catalog_version: int
    funding: QuoteFunding
    columns: _columns_pb2.RatedColumns
    def __init__(self, lines: _Optional[_Iterable[_Union[_usage_pb2.RatedLine, _Mapping]]] = ..., total_points: _Optional[str] = ..., total_yuan: _Optional[str] = ..., catalog_version: _Optional[int] = ..., funding: _Optional[_Union[QuoteFunding, _Mapping]] = ..., columns: _Optional[_Union[_columns_pb2.RatedColumns, _Mapping]] = ...) -> None: ...

class QuoteFunding(_message.Message):
    __slots__ = ("account_id", "free_points", "pack_points", "pay_as_you_go_points", "covered", "pay_as_you_go_enabled", "shortfall_points", "held_points")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    FREE_POINTS_FIELD_NUMBER: _ClassVar[int]
    PACK_POINTS_FIELD_NUMBER: _ClassVar[int]
    PAY_AS_YOU_GO_POINTS_FIELD_NUMBER: _ClassVar[int]
    COVERED_FIELD_NUMBER: _ClassVar[int]
    PAY_AS_YOU_GO_ENABLED_FIELD_NUMBER: _ClassVar[int]
    SHORTFALL_POINTS_FIELD_NUMBER: _ClassVar[int]
    HELD_POINTS_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    free_points: str
    pack_points: str
    pay_as_you_go_points: str
    covered: bool
    pay_as_you_go_enabled: bool
    shortfall_points: str
    held_points: str
    def __init__(self, account_id: _Optional[str] = ..., free_points: _Optional[str] = ..., pack_points: _Optional[str] = ..., pay_as_you_go_points: _Optional[str] = ..., covered: _Optional[bool] = ..., pay_as_you_go_enabled: _Optional[bool] = ..., shortfall_points: _Optional[str] = ..., held_points: _Optional[str] = ...) -> None: ...

class CommitChargesRequest(_message.Message):
    __slots__ = ("request_id", "items", "columns")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    items: _containers.RepeatedCompositeFieldContainer[_usage_pb2.UsageItem]
    columns: _columns_pb2.UsageColumns
    def __init__(self, request_id: _Optional[str] = ..., items: _Optional[_Iterable[_Union[_usage_pb2.UsageItem, _Mapping]]] = ..., columns: _Optional[_Union[_columns_pb2.UsageColumns, _Mapping]] = ...) -> None: ...

class CommitChargesResponse(_message.Message):
    __slots__ = ("charge_id", "lines", "total_points", "total_yuan", "catalog_version", "commit_time", "columns")
    CHARGE_ID_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_POINTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_YUAN_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    COMMIT_TIME_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    charge_id: str
    lines: _containers.RepeatedCompositeFieldContainer[_usage_pb2.RatedLine]
    total_points: str
    total_yuan: str
    catalog_version: int
    commit_time: _timestamp_pb2.Timestamp
    columns: _columns_pb2.RatedColumns
    def __init__(self, charge_id: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[_usage_pb2.RatedLine, _Mapping]]] = ..., total_points: _Optional[str] = ..., total_yuan: _Optional[str] = ..., catalog_version: _Optional[int] = ..., commit_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., columns: _Optional[_Union[_columns_pb2.RatedColumns, _Mapping]] = ...) -> None: ...

class VoidChargeRequest(_message.Message):
    __slots__ = ("charge_id", "reason")
    CHARGE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    charge_id: str
    reason: str
    def __init__(self, charge_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class VoidChargeResponse(_message.Message):
    __slots__ = ("charge_id", "reversals", "void_time", "already_voided")
    CHARGE_ID_FIELD_NUMBER: _ClassVar[int]
    REVERSALS_FIELD_NUMBER: _ClassVar[int]
    VOID_TIME_FIELD_NUMBER: _ClassVar[int]
    ALREADY_VOIDED_FIELD_NUMBER: _ClassVar[int]
    charge_id: str
    reversals: _containers.RepeatedCompositeFieldContainer[_usage_pb2.Funding]
    void_time: _timestamp_pb2.Timestamp
    already_voided: bool
    def __init__(self, charge_id: _Optional[str] = ..., reversals: _Optional[_Iterable[_Union[_usage_pb2.Funding, _Mapping]]] = ..., void_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., already_voided: _Optional[bool] = ...) -> None: ...

class ReserveRequest(_message.Message):
    __slots__ = ("request_id", "account_id", "sku", "quantity", "ttl")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    account_id: str
    sku: str
    quantity: int
    ttl: _duration_pb2.Duration
    def __init__(self, request_id: _Optional[str] = ..., account_id: _Optional[str] = ..., sku: _Optional[str] = ..., quantity: _Optional[int] = ..., ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ReserveResponse(_message.Message):
    __slots__ = ("reservation",)
    RESERVATION_FIELD_NUMBER: _ClassVar[int]
    reservation: _reservation_pb2.Reservation
    def __init__(self, reservation: _Optional[_Union[_reservation_pb2.Reservation, _Mapping]] = ...) -> None: ...

class ExtendRequest(_message.Message):
    __slots__ = ("request_id", "reservation_id", "quantity", "ttl")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    reservation_id: str
    quantity: int
    ttl: _duration_pb2.Duration
    def __init__(self, request_id: _Optional[str] = ..., reservation_id: _Optional[str] = ..., quantity: _Optional[int] = ..., ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ExtendResponse(_message.Message):
    __slots__ = ("reservation",)
    RESERVATION_FIELD_NUMBER: _ClassVar[int]
    reservation: _reservation_pb2.Reservation
    def __init__(self, reservation: _Optional[_Union[_reservation_pb2.Reservation, _Mapping]] = ...) -> None: ...

class ReleaseRequest(_message.Message):
    __slots__ = ("reservation_id",)
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    def __init__(self, reservation_id: _Optional[str] = ...) -> None: ...

class ReleaseResponse(_message.Message):
    __slots__ = ("reservation", "already_ended")
    RESERVATION_FIELD_NUMBER: _ClassVar[int]
    ALREADY_ENDED_FIELD_NUMBER: _ClassVar[int]
    reservation: _reservation_pb2.Reservation
    already_ended: bool
    def __init__(self, reservation: _Optional[_Union[_reservation_pb2.Reservation, _Mapping]] = ..., already_ended: _Optional[bool] = ...) -> None: ...

class GetLimitsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetLimitsResponse(_message.Message):
    __slots__ = ("max_batch_items", "max_quantity", "max_line_points", "max_batch_points", "max_attributes", "max_attribute_key_length", "max_attribute_value_length", "max_id_length", "earliest_occurred_at", "max_future_skew", "max_message_bytes", "list_skus_page", "list_charges_page", "keepalive", "max_reservation_ttl")
    MAX_BATCH_ITEMS_FIELD_NUMBER: _ClassVar[int]
    MAX_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    MAX_LINE_POINTS_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_POINTS_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTRIBUTE_KEY_LENGTH_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTRIBUTE_VALUE_LENGTH_FIELD_NUMBER: _ClassVar[int]
    MAX_ID_LENGTH_FIELD_NUMBER: _ClassVar[int]
    EARLIEST_OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    MAX_FUTURE_SKEW_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    LIST_SKUS_PAGE_FIELD_NUMBER: _ClassVar[int]
    LIST_CHARGES_PAGE_FIELD_NUMBER: _ClassVar[int]
    KEEPALIVE_FIELD_NUMBER: _ClassVar[int]
    MAX_RESERVATION_TTL_FIELD_NUMBER: _ClassVar[int]
    max_batch_items: int
    max_quantity: int
    max_line_points: str
    max_batch_points: str
    max_attributes: int
    max_attribute_key_length: int
    max_attribute_value_length: int
    max_id_length: int
    earliest_occurred_at: _timestamp_pb2.Timestamp
    max_future_skew: _duration_pb2.Duration
    max_message_bytes: int
    list_skus_page: PageLimits
    list_charges_page: PageLimits
    keepalive: KeepalivePolicy
    max_reservation_ttl: _duration_pb2.Duration
    def __init__(self, max_batch_items: _Optional[int] = ..., max_quantity: _Optional[int] = ..., max_line_points: _Optional[str] = ..., max_batch_points: _Optional[str] = ..., max_attributes: _Optional[int] = ..., max_attribute_key_length: _Optional[int] = ..., max_attribute_value_length: _Optional[int] = ..., max_id_length: _Optional[int] = ..., earliest_occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., max_future_skew: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_message_bytes: _Optional[int] = ..., list_skus_page: _Optional[_Union[PageLimits, _Mapping]] = ..., list_charges_page: _Optional[_Union[PageLimits, _Mapping]] = ..., keepalive: _Optional[_Union[KeepalivePolicy, _Mapping]] = ..., max_reservation_ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class PageLimits(_message.Message):
    __slots__ = ("default_page_size", "max_page_size")
    DEFAULT_PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    default_page_size: int
    max_page_size: int
    def __init__(self, default_page_size: _Optional[int] = ..., max_page_size: _Optional[int] = ...) -> None: ...

class KeepalivePolicy(_message.Message):
    __slots__ = ("min_ping_interval", "permit_without_calls", "max_ping_strikes")
    MIN_PING_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    PERMIT_WITHOUT_CALLS_FIELD_NUMBER: _ClassVar[int]
    MAX_PING_STRIKES_FIELD_NUMBER: _ClassVar[int]
    min_ping_interval: _duration_pb2.Duration
    permit_without_calls: bool
    max_ping_strikes: int
    def __init__(self, min_ping_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., permit_without_calls: _Optional[bool] = ..., max_ping_strikes: _Optional[int] = ...) -> None: ...

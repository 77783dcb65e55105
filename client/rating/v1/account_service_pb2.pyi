import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from rating.v1 import reservation_pb2 as _reservation_pb2
from rating.v1 import usage_pb2 as _usage_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CapacityTerm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CAPACITY_TERM_UNSPECIFIED: _ClassVar[CapacityTerm]
    CAPACITY_TERM_MONTH: _ClassVar[CapacityTerm]
    CAPACITY_TERM_YEAR: _ClassVar[CapacityTerm]

class AlertKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_KIND_UNSPECIFIED: _ClassVar[AlertKind]
    ALERT_KIND_FREE_POINTS_BELOW: _ClassVar[AlertKind]
    ALERT_KIND_PACK_POINTS_BELOW: _ClassVar[AlertKind]
    ALERT_KIND_PACK_PERCENT_BELOW: _ClassVar[AlertKind]
    ALERT_KIND_PAY_AS_YOU_GO_POINTS_ABOVE: _ClassVar[AlertKind]
    ALERT_KIND_PAY_AS_YOU_GO_BUDGET_PERCENT_ABOVE: _ClassVar[AlertKind]
CAPACITY_TERM_UNSPECIFIED: CapacityTerm
CAPACITY_TERM_MONTH: CapacityTerm
CAPACITY_TERM_YEAR: CapacityTerm
ALERT_KIND_UNSPECIFIED: AlertKind
ALERT_KIND_FREE_POINTS_BELOW: AlertKind
ALERT_KIND_PACK_POINTS_BELOW: AlertKind
ALERT_KIND_PACK_PERCENT_BELOW: AlertKind
ALERT_KIND_PAY_AS_YOU_GO_POINTS_ABOVE: AlertKind
ALERT_KIND_PAY_AS_YOU_GO_BUDGET_PERCENT_ABOVE: AlertKind

class Account(_message.Message):
    __slots__ = ("account_id", "plan", "time_zone", "parent_account_id", "pay_as_you_go", "create_time", "monthly_budget_points")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    PARENT_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PAY_AS_YOU_GO_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_BUDGET_POINTS_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    plan: str
    time_zone: str
    parent_account_id: str
    pay_as_you_go: bool
    create_time: _timestamp_pb2.Timestamp
    monthly_budget_points: str
    def __init__(self, account_id: _Optional[str] = ..., plan: _Optional[str] = ..., time_zone: _Optional[str] = ..., parent_account_id: _Optional[str] = ..., pay_as_you_go: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., monthly_budget_points: _Optional[str] = ...) -> None: ...

class CreateAccountRequest(_message.Message):
    __slots__ = ("account_id", "plan", "time_zone", "parent_account_id", "pay_as_you_go", "monthly_budget_points")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    PARENT_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PAY_AS_YOU_GO_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_BUDGET_POINTS_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    plan: str
    time_zone: str
    parent_account_id: str
    pay_as_you_go: bool
    monthly_budget_points: str
    def __init__(self, account_id: _Optional[str] = ..., plan: _Optional[str] = ..., time_zone: _Optional[str] = ..., parent_account_id: _Optional[str] = ..., pay_as_you_go: _Optional[bool] = ..., monthly_budget_points: _Optional[str] = ...) -> None: ...

class CreateAccountResponse(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: Account
    def __init__(self, account: _Optional[_Union[Account, _Mapping]] = ...) -> None: ...

class GetAccountRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class GetAccountResponse(_message.Message):
    __slots__ = ("account", "sub_account_ids", "capacity_purchases")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    SUB_ACCOUNT_IDS_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_PURCHASES_FIELD_NUMBER: _ClassVar[int]
    account: Account
    sub_account_ids: _containers.RepeatedScalarFieldContainer[str]
    capacity_purchases: _containers.RepeatedCompositeFieldContainer[CapacityPurchase]
    def __init__(self, account: _Optional[_Union[Account, _Mapping]] = ..., sub_account_ids: _Optional[_Iterable[str]] = ..., capacity_purchases: _Optional[_Iterable[_Union[CapacityPurchase, _Mapping]]] = ...) -> None: ...

class UpdateAccountRequest(_message.Message):
    __slots__ = ("account_id", "plan", "pay_as_you_go", "monthly_budget_points")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    PAY_AS_YOU_GO_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_BUDGET_POINTS_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    plan: str
    pay_as_you_go: bool
    monthly_budget_points: str
    def __init__(self, account_id: _Optional[str] = ..., plan: _Optional[str] = ..., pay_as_you_go: _Optional[bool] = ..., monthly_budget_points: _Optional[str] = ...) -> None: ...

class UpdateAccountResponse(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: Account
    def __init__(self, account: _Optional[_Union[Account, _Mapping]] = ...) -> None: ...

class ResourcePack(_message.Message):
    __slots__ = ("pack_id", "account_id", "points", "remaining_points", "price_yuan", "valid_from", "expire_time", "priority", "create_time", "held_points")
    PACK_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    REMAINING_POINTS_FIELD_NUMBER: _ClassVar[int]
    PRICE_YUAN_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    HELD_POINTS_FIELD_NUMBER: _ClassVar[int]
    pack_id: str
    account_id: str
    points: str
    remaining_points: str
    price_yuan: str
    valid_from: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    priority: int
    create_time: _timestamp_pb2.Timestamp
    held_points: str
    def __init__(self, pack_id: _Optional[str] = ..., account_id: _Optional[str] = ..., points: _Optional[str] = ..., remaining_points: _Optional[str] = ..., price_yuan: _Optional[str] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., priority: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., held_points: _Optional[str] = ...) -> None: ...

class GrantResourcePackRequest(_message.Message):
    __slots__ = ("account_id", "points", "valid_from", "expire_time", "priority", "request_id")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    points: str
    valid_from: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    priority: int
    request_id: str
    def __init__(self, account_id: _Optional[str] = ..., points: _Optional[str] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., priority: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class GrantResourcePackResponse(_message.Message):
    __slots__ = ("pack",)
    PACK_FIELD_NUMBER: _ClassVar[int]
    pack: ResourcePack
    def __init__(self, pack: _Optional[_Union[ResourcePack, _Mapping]] = ...) -> None: ...

class CapacityPurchase(_message.Message):
    __slots__ = ("purchase_id", "account_id", "gib", "term", "valid_from", "expire_time", "price_points", "price_yuan", "create_time")
    PURCHASE_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    GIB_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    PRICE_POINTS_FIELD_NUMBER: _ClassVar[int]
    PRICE_YUAN_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    purchase_id: str
    account_id: str
    gib: int
    term: CapacityTerm
    valid_from: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    price_points: str
    price_yuan: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, purchase_id: _Optional[str] = ..., account_id: _Optional[str] = ..., gib: _Optional[int] = ..., term: _Optional[_Union[CapacityTerm, str]] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., price_points: _Optional[str] = ..., price_yuan: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GrantCapacityRequest(_message.Message):
    __slots__ = ("account_id", "gib", "term", "valid_from", "expire_time", "price_points", "price_yuan", "request_id")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    GIB_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    PRICE_POINTS_FIELD_NUMBER: _ClassVar[int]
    PRICE_YUAN_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    gib: int
    term: CapacityTerm
    valid_from: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    price_points: str
    price_yuan: str
    request_id: str
    def __init__(self, account_id: _Optional[str] = ..., gib: _Optional[int] = ..., term: _Optional[_Union[CapacityTerm, str]] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., price_points: _Optional[str] = ..., price_yuan: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class GrantCapacityResponse(_message.Message):
    __slots__ = ("purchase",)
    PURCHASE_FIELD_NUMBER: _ClassVar[int]
    purchase: CapacityPurchase
    def __init__(self, purchase: _Optional[_Union[CapacityPurchase, _Mapping]] = ...) -> None: ...

class GetBalanceRequest(_message.Message):
    __slots__ = ("account_id", "day")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    day: str
    def __init__(self, account_id: _Optional[str] = ..., day: _Optional[str] = ...) -> None: ...

class GetBalanceResponse(_message.Message):
    __slots__ = ("billing_account_id", "day", "free_points_granted", "free_points_used", "free_points_left", "packs", "month", "pay_as_you_go_points", "pay_as_you_go_yuan", "capacity_purchases", "storage_quota_bytes", "free_points_held", "pay_as_you_go_held_points", "reservations", "budget_points", "budget_left_points")
    BILLING_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    FREE_POINTS_GRANTED_FIELD_NUMBER: _ClassVar[int]
    FREE_POINTS_USED_FIELD_NUMBER: _ClassVar[int]
    FREE_POINTS_LEFT_FIELD_NUMBER: _ClassVar[int]
    PACKS_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    PAY_AS_YOU_GO_POINTS_FIELD_NUMBER: _ClassVar[int]
    PAY_AS_YOU_GO_YUAN_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_PURCHASES_FIELD_NUMBER: _ClassVar[int]
    STORAGE_QUOTA_BYTES_FIELD_NUMBER: _ClassVar[int]
    FREE_POINTS_HELD_FIELD_NUMBER: _ClassVar[int]
    PAY_AS_YOU_GO_HELD_POINTS_FIELD_NUMBER: _ClassVar[int]
    RESERVATIONS_FIELD_NUMBER: _ClassVar[int]
    BUDGET_POINTS_FIELD_NUMBER: _ClassVar[int]
    BUDGET_LEFT_POINTS_FIELD_NUMBER: _ClassVar[int]
    billing_account_id: str
    day: str
    free_points_granted: str
    free_points_used: str
    free_points_left: str
    packs: _containers.RepeatedCompositeFieldContainer[ResourcePack]
    month: str
    pay_as_you_go_points: str
    pay_as_you_go_yuan: str
    capacity_purchases: _containers.RepeatedCompositeFieldContainer[CapacityPurchase]
    storage_quota_bytes: int
    free_points_held: str
    pay_as_you_go_held_points: str
    reservations: _containers.RepeatedCompositeFieldContainer[_reservation_pb2.Reservation]
    budget_points: str
    budget_left_points: str
    def __init__(self, billing_account_id: _Optional[str] = ..., day: _Optional[str] = ..., free_points_granted: _Optional[str] = ..., free_points_used: _Optional[str] = ..., free_points_left: _Optional[str] = ..., packs: _Optional[_Iterable[_Union[ResourcePack, _Mapping]]] = ..., month: _Optional[str] = ..., pay_as_you_go_points: _Optional[str] = ..., pay_as_you_go_yuan: _Optional[str] = ..., capacity_purchases: _Optional[_Iterable[_Union[CapacityPurchase, _Mapping]]] = ..., storage_quota_bytes: _Optional[int] = ..., free_points_held: _Optional[str] = ..., pay_as_you_go_held_points: _Optional[str] = ..., reservations: _Optional[_Iterable[_Union[_reservation_pb2.Reservation, _Mapping]]] = ..., budget_points: _Optional[str] = ..., budget_left_points: _Optional[str] = ...) -> None: ...

class ListChargesRequest(_message.Message):
    __slots__ = ("account_id", "start_time", "end_time", "page_size", "page_token")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, account_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ChargeEntry(_message.Message):
    __slots__ = ("charge_id", "line_number", "usage_id", "account_id", "billing_account_id", "sku", "category", "quantity", "points", "billed_by", "occurred_at", "commit_time", "funding", "voided", "attributes")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CHARGE_ID_FIELD_NUMBER: _ClassVar[int]
    LINE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    USAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    BILLING_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    BILLED_BY_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    COMMIT_TIME_FIELD_NUMBER: _ClassVar[int]
    FUNDING_FIELD_NUMBER: _ClassVar[int]
    VOIDED_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    charge_id: str
    line_number: int
    usage_id: str
    account_id: str
    billing_account_id: str
    sku: str
    category: _usage_pb2.Category
    quantity: int
    points: str
    billed_by: _usage_pb2.BilledBy
    occurred_at: _timestamp_pb2.Timestamp
    commit_time: _timestamp_pb2.Timestamp
    funding: _containers.RepeatedCompositeFieldContainer[_usage_pb2.Funding]
    voided: bool
    attributes: _containers.ScalarMap[str, str]
    def __init__(self, charge_id: _Optional[str] = ..., line_number: _Optional[int] = ..., usage_id: _Optional[str] = ..., account_id: _Optional[str] = ..., billing_account_id: _Optional[str] = ..., sku: _Optional[str] = ..., category: _Optional[_Union[_usage_pb2.Category, str]] = ..., quantity: _Optional[int] = ..., points: _Optional[str] = ..., billed_by: _Optional[_Union[_usage_pb2.BilledBy, str]] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., commit_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., funding: _Optional[_Iterable[_Union[_usage_pb2.Funding, _Mapping]]] = ..., voided: _Optional[bool] = ..., attributes: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ListChargesResponse(_message.Message):
    __slots__ = ("charges", "next_page_token")
    CHARGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    charges: _containers.RepeatedCompositeFieldContainer[ChargeEntry]
    next_page_token: str
    def __init__(self, charges: _Optional[_Iterable[_Union[ChargeEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetStatementRequest(_message.Message):
    __slots__ = ("account_id", "month")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    month: str
    def __init__(self, account_id: _Optional[str] = ..., month: _Optional[str] = ...) -> None: ...

class StatementRow(_message.Message):
    __slots__ = ("key", "quantity", "points", "free_points", "pack_points", "pay_as_you_go_points", "lines")
    KEY_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    FREE_POINTS_FIELD_NUMBER: _ClassVar[int]
    PACK_POINTS_FIELD_NUMBER: _ClassVar[int]
    PAY_AS_YOU_GO_POINTS_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    key: str
    quantity: str
    points: str
    free_points: str
    pack_points: str
    pay_as_you_go_points: str
    lines: int
    def __init__(self, key: _Optional[str] = ..., quantity: _Optional[str] = ..., points: _Optional[str] = ..., free_points: _Optional[str] = ..., pack_points: _Optional[str] = ..., pay_as_you_go_points: _Optional[str] = ..., lines: _Optional[int] = ...) -> None: ...

class GetStatementResponse(_message.Message):
    __slots__ = ("account_id", "month", "time_zone", "by_sku", "by_category", "by_account", "total", "amount_due_yuan_exact", "amount_due_yuan", "capacity_purchases", "capacity_paid_points")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    BY_SKU_FIELD_NUMBER: _ClassVar[int]
    BY_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    BY_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_DUE_YUAN_EXACT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_DUE_YUAN_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_PURCHASES_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_PAID_POINTS_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    month: str
    time_zone: str
    by_sku: _containers.RepeatedCompositeFieldContainer[StatementRow]
    by_category: _containers.RepeatedCompositeFieldContainer[StatementRow]
    by_account: _containers.RepeatedCompositeFieldContainer[StatementRow]
    total: StatementRow
    amount_due_yuan_exact: str
    amount_due_yuan: str
    capacity_purchases: _containers.RepeatedCompositeFieldContainer[CapacityPurchase]
    capacity_paid_points: str
    def __init__(self, account_id: _Optional[str] = ..., month: _Optional[str] = ..., time_zone: _Optional[str] = ..., by_sku: _Optional[_Iterable[_Union[StatementRow, _Mapping]]] = ..., by_category: _Optional[_Iterable[_Union[StatementRow, _Mapping]]] = ..., by_account: _Optional[_Iterable[_Union[StatementRow, _Mapping]]] = ..., total: _Optional[_Union[StatementRow, _Mapping]] = ..., amount_due_yuan_exact: _Optional[str] = ..., amount_due_yuan: _Optional[str] = ..., capacity_purchases: _Optional[_Iterable[_Union[CapacityPurchase, _Mapping]]] = ..., capacity_paid_points: _Optional[str] = ...) -> None: ...

class WatchChargesRequest(_message.Message):
    __slots__ = ("account_id", "cursor")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    cursor: str
    def __init__(self, account_id: _Optional[str] = ..., cursor: _Optional[str] = ...) -> None: ...

class WatchChargesResponse(_message.Message):
    __slots__ = ("cursor", "billing_account_id", "event_time", "line", "settlement", "void")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    BILLING_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    SETTLEMENT_FIELD_NUMBER: _ClassVar[int]
    VOID_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    billing_account_id: str
    event_time: _timestamp_pb2.Timestamp
    line: ChargeEntry
    settlement: ReservationSettled
    void: ChargeVoided
    def __init__(self, cursor: _Optional[str] = ..., billing_account_id: _Optional[str] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., line: _Optional[_Union[ChargeEntry, _Mapping]] = ..., settlement: _Optional[_Union[ReservationSettled, _Mapping]] = ..., void: _Optional[_Union[ChargeVoided, _Mapping]] = ...) -> None: ...

class ReservationSettled(_message.Message):
    __slots__ = ("reservation_id", "charge_id")
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    CHARGE_ID_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    charge_id: str
    def __init__(self, reservation_id: _Optional[str] = ..., charge_id: _Optional[str] = ...) -> None: ...

class ChargeVoided(_message.Message):
    __slots__ = ("charge_id", "reversals")
    CHARGE_ID_FIELD_NUMBER: _ClassVar[int]
    REVERSALS_FIELD_NUMBER: _ClassVar[int]
    charge_id: str
    reversals: _containers.RepeatedCompositeFieldContainer[_usage_pb2.Funding]
    def __init__(self, charge_id: _Optional[str] = ..., reversals: _Optional[_Iterable[_Union[_usage_pb2.Funding, _Mapping]]] = ...) -> None: ...

class SetAlertThresholdsRequest(_message.Message):
    __slots__ = ("account_id", "free_points_below", "pack_points_below", "pack_percent_below", "pay_as_you_go_points_above", "pay_as_you_go_budget_percent_above")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    FREE_POINTS_BELOW_FIELD_NUMBER: _ClassVar[int]
    PACK_POINTS_BELOW_FIELD_NUMBER: _ClassVar[int]
    PACK_PERCENT_BELOW_FIELD_NUMBER: _ClassVar[int]
    PAY_AS_YOU_GO_POINTS_ABOVE_FIELD_NUMBER: _ClassVar[int]
    PAY_AS_YOU_GO_BUDGET_PERCENT_ABOVE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    free_points_below: str
    pack_points_below: str
    pack_percent_below: int
    pay_as_you_go_points_above: str
    pay_as_you_go_budget_percent_above: int
    def __init__(self, account_id: _Optional[str] = ..., free_points_below: _Optional[str] = ..., pack_points_below: _Optional[str] = ..., pack_percent_below: _Optional[int] = ..., pay_as_you_go_points_above: _Optional[str] = ..., pay_as_you_go_budget_percent_above: _Optional[int] = ...) -> None: ...

class SetAlertThresholdsResponse(_message.Message):
    __slots__ = ("thresholds",)
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    thresholds: AlertThresholds
    def __init__(self, thresholds: _Optional[_Union[AlertThresholds, _Mapping]] = ...) -> None: ...

class GetAlertThresholdsRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class GetAlertThresholdsResponse(_message.Message):
    __slots__ = ("thresholds",)
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    thresholds: AlertThresholds
    def __init__(self, thresholds: _Optional[_Union[AlertThresholds, _Mapping]] = ...) -> None: ...

class AlertThresholds(_message.Message):
    __slots__ = ("account_id", "free_points_below", "pack_points_below", "pack_percent_below", "pay_as_you_go_points_above", "pay_as_you_go_budget_percent_above")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    FREE_POINTS_BELOW_FIELD_NUMBER: _ClassVar[int]
    PACK_POINTS_BELOW_FIELD_NUMBER: _ClassVar[int]
    PACK_PERCENT_BELOW_FIELD_NUMBER: _ClassVar[int]
    PAY_AS_YOU_GO_POINTS_ABOVE_FIELD_NUMBER: _ClassVar[int]
    PAY_AS_YOU_GO_BUDGET_PERCENT_ABOVE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    free_points_below: str
    pack_points_below: str
    pack_percent_below: int
    pay_as_you_go_points_above: str
    pay_as_you_go_budget_percent_above: int
    def __init__(self, account_id: _Optional[str] = ..., free_points_below: _Optional[str] = ..., pack_points_below: _Optional[str] = ..., pack_percent_below: _Optional[int] = ..., pay_as_you_go_points_above: _Optional[str] = ..., pay_as_you_go_budget_percent_above: _Optional[int] = ...) -> None: ...

class WatchBalanceRequest(_message.Message):
    __slots__ = ("account_id", "every_change")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    EVERY_CHANGE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    every_change: bool
    def __init__(self, account_id: _Optional[str] = ..., every_change: _Optional[bool] = ...) -> None: ...

class WatchBalanceResponse(_message.Message):
    __slots__ = ("balance", "alerts", "cursor")
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    balance: GetBalanceResponse
    alerts: _containers.RepeatedCompositeFieldContainer[BalanceAlert]
    cursor: str
    def __init__(self, balance: _Optional[_Union[GetBalanceResponse, _Mapping]] = ..., alerts: _Optional[_Iterable[_Union[BalanceAlert, _Mapping]]] = ..., cursor: _Optional[str] = ...) -> None: ...

class BalanceAlert(_message.Message):
    __slots__ = ("kind", "day", "pack_id", "month", "threshold_points", "threshold_percent", "value_points")
    KIND_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    PACK_ID_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_POINTS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_PERCENT_FIELD_NUMBER: _ClassVar[int]
    VALUE_POINTS_FIELD_NUMBER: _ClassVar[int]
    kind: AlertKind
    day: str
    pack_id: str
    month: str
    threshold_points: str
    threshold_percent: int
    value_points: str
    def __init__(self, kind: _Optional[_Union[AlertKind, str]] = ..., day: _Optional[str] = ..., pack_id: _Optional[str] = ..., month: _Optional[str] = ..., threshold_points: _Optional[str] = ..., threshold_percent: _Optional[int] = ..., value_points: _Optional[str] = ...) -> None: ...

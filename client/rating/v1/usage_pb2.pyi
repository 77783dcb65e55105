import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Category(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CATEGORY_UNSPECIFIED: _ClassVar[Category]
    CATEGORY_MODEL: _ClassVar[Category]
    CATEGORY_AGENT: _ClassVar[Category]
    CATEGORY_SPEECH: _ClassVar[Category]
    CATEGORY_RTC: _ClassVar[Category]
    CATEGORY_KNOWLEDGE: _ClassVar[Category]
    CATEGORY_PLUGIN: _ClassVar[Category]

class BilledBy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BILLED_BY_UNSPECIFIED: _ClassVar[BilledBy]
    BILLED_BY_COZE: _ClassVar[BilledBy]
    BILLED_BY_ARK: _ClassVar[BilledBy]

class FundingSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FUNDING_SOURCE_UNSPECIFIED: _ClassVar[FundingSource]
    FUNDING_SOURCE_FREE_POINTS: _ClassVar[FundingSource]
    FUNDING_SOURCE_RESOURCE_PACK: _ClassVar[FundingSource]
    FUNDING_SOURCE_PAY_AS_YOU_GO: _ClassVar[FundingSource]
CATEGORY_UNSPECIFIED: Category
CATEGORY_MODEL: Category
CATEGORY_AGENT: Category
CATEGORY_SPEECH: Category
CATEGORY_RTC: Category
CATEGORY_KNOWLEDGE: Category
CATEGORY_PLUGIN: Category
BILLED_BY_UNSPECIFIED: BilledBy
BILLED_BY_COZE: BilledBy
BILLED_BY_ARK: BilledBy
FUNDING_SOURCE_UNSPECIFIED: FundingSource
FUNDING_SOURCE_FREE_POINTS: FundingSource
FUNDING_SOURCE_RESOURCE_PACK: FundingSource
FUNDING_SOURCE_PAY_AS_YOU_GO: FundingSource

class Funding(_message.Message):
    __slots__ = ("source", "points", "pack_id", "day", "month")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    PACK_ID_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    source: FundingSource
    points: str
    pack_id: str
    day: str
    month: str
    def __init__(self, source: _Optional[_Union[FundingSource, str]] = ..., points: _Optional[str] = ..., pack_id: _Optional[str] = ..., day: _Optional[str] = ..., month: _Optional[str] = ...) -> None: ...

class UsageItem(_message.Message):
    __slots__ = ("usage_id", "account_id", "sku", "quantity", "occurred_at", "duration", "attributes", "reservation_id")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    USAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    usage_id: str
    account_id: str
    sku: str
    quantity: int
    occurred_at: _timestamp_pb2.Timestamp
    duration: _duration_pb2.Duration
    attributes: _containers.ScalarMap[str, str]
    reservation_id: str
    def __init__(self, usage_id: _Optional[str] = ..., account_id: _Optional[str] = ..., sku: _Optional[str] = ..., quantity: _Optional[int] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., attributes: _Optional[_Mapping[str, str]] = ..., reservation_id: _Optional[str] = ...) -> None: ...

class RatedLine(_message.Message):
    __slots__ = ("usage_id", "account_id", "sku", "requested_sku", "category", "quantity", "rated_quantity", "unit", "price_unit", "price_unit_label", "unit_price", "points", "yuan", "billed_by", "price_effective_from", "funding", "duplicate", "original_charge_id", "billing_account_id")
    USAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_SKU_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    RATED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    PRICE_UNIT_FIELD_NUMBER: _ClassVar[int]
    PRICE_UNIT_LABEL_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    YUAN_FIELD_NUMBER: _ClassVar[int]
    BILLED_BY_FIELD_NUMBER: _ClassVar[int]
    PRICE_EFFECTIVE_FROM_FIELD_NUMBER: _ClassVar[int]
    FUNDING_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_CHARGE_ID_FIELD_NUMBER: _ClassVar[int]
    BILLING_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    usage_id: str
    account_id: str
    sku: str
    requested_sku: str
    category: Category
    quantity: int
    rated_quantity: str
    unit: str
    price_unit: int
    price_unit_label: str
    unit_price: str
    points: str
    yuan: str
    billed_by: BilledBy
    price_effective_from: _timestamp_pb2.Timestamp
    funding: _containers.RepeatedCompositeFieldContainer[Funding]
    duplicate: bool
    original_charge_id: str
    billing_account_id: str
    def __init__(self, usage_id: _Optional[str] = ..., account_id: _Optional[str] = ..., sku: _Optional[str] = ..., requested_sku: _Optional[str] = ..., category: _Optional[_Union[Category, str]] = ..., quantity: _Optional[int] = ..., rated_quantity: _Optional[str] = ..., unit: _Optional[str] = ..., price_unit: _Optional[int] = ..., price_unit_label: _Optional[str] = ..., unit_price: _Optional[str] = ..., points: _Optional[str] = ..., yuan: _Optional[str] = ..., billed_by: _Optional[_Union[BilledBy, str]] = ..., price_effective_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., funding: _Optional[_Iterable[_Union[Funding, _Mapping]]] = ..., duplicate: _Optional[bool] = ..., original_charge_id: _Optional[str] = ..., billing_account_id: _Optional[str] = ...) -> None: ...

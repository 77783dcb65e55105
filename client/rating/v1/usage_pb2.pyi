import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
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

class UsageItem(_message.Message):
    __slots__ = ("usage_id", "account_id", "sku", "quantity", "occurred_at", "duration", "attributes")
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
    usage_id: str
    account_id: str
    sku: str
    quantity: int
    occurred_at: _timestamp_pb2.Timestamp
    duration: _duration_pb2.Duration
    attributes: _containers.ScalarMap[str, str]
    def __init__(self, usage_id: _Optional[str] = ..., account_id: _Optional[str] = ..., sku: _Optional[str] = ..., quantity: _Optional[int] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., attributes: _Optional[_Mapping[str, str]] = ...) -> None: ...

class RatedLine(_message.Message):
    __slots__ = ("usage_id", "account_id", "sku", "requested_sku", "category", "quantity", "rated_quantity", "unit", "price_unit", "price_unit_label", "unit_price", "points", "yuan", "billed_by", "price_effective_from")
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
    def __init__(self, usage_id: _Optional[str] = ..., account_id: _Optional[str] = ..., sku: _Optional[str] = ..., requested_sku: _Optional[str] = ..., category: _Optional[_Union[Category, str]] = ..., quantity: _Optional[int] = ..., rated_quantity: _Optional[str] = ..., unit: _Optional[str] = ..., price_unit: _Optional[int] = ..., price_unit_label: _Optional[str] = ..., unit_price: _Optional[str] = ..., points: _Optional[str] = ..., yuan: _Optional[str] = ..., billed_by: _Optional[_Union[BilledBy, str]] = ..., price_effective_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from rating.v1 import usage_pb2 as _usage_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UsageColumns(_message.Message):
    __slots__ = ("usage_ids", "accounts", "account_indices", "skus", "sku_indices", "quantities", "occurred_at_unix_nanos", "duration_items", "durations_nanos", "attribute_sets", "attribute_set_indices", "reservation_ids")
    USAGE_IDS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_INDICES_FIELD_NUMBER: _ClassVar[int]
    SKUS_FIELD_NUMBER: _ClassVar[int]
    SKU_INDICES_FIELD_NUMBER: _ClassVar[int]
    QUANTITIES_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_UNIX_NANOS_FIELD_NUMBER: _ClassVar[int]
    DURATION_ITEMS_FIELD_NUMBER: _ClassVar[int]
    DURATIONS_NANOS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTE_SETS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTE_SET_INDICES_FIELD_NUMBER: _ClassVar[int]
    RESERVATION_IDS_FIELD_NUMBER: _ClassVar[int]
    usage_ids: _containers.RepeatedScalarFieldContainer[str]
    accounts: _containers.RepeatedScalarFieldContainer[str]
    account_indices: _containers.RepeatedScalarFieldContainer[int]
    skus: _containers.RepeatedScalarFieldContainer[str]
    sku_indices: _containers.RepeatedScalarFieldContainer[int]
    quantities: _containers.RepeatedScalarFieldContainer[int]
    occurred_at_unix_nanos: _containers.RepeatedScalarFieldContainer[int]
    duration_items: _containers.RepeatedScalarFieldContainer[int]
    durations_nanos: _containers.RepeatedScalarFieldContainer[int]
    attribute_sets: _containers.RepeatedCompositeFieldContainer[AttributeSet]
    attribute_set_indices: _containers.RepeatedScalarFieldContainer[int]
    reservation_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, usage_ids: _Optional[_Iterable[str]] = ..., accounts: _Optional[_Iterable[str]] = ..., account_indices: _Optional[_Iterable[int]] = ..., skus: _Optional[_Iterable[str]] = ..., sku_indices: _Optional[_Iterable[int]] = ..., quantities: _Optional[_Iterable[int]] = ..., occurred_at_unix_nanos: _Optional[_Iterable[int]] = ..., duration_items: _Optional[_Iterable[int]] = ..., durations_nanos: _Optional[_Iterable[int]] = ..., attribute_sets: _Optional[_Iterable[_Union[AttributeSet, _Mapping]]] = ..., attribute_set_indices: _Optional[_Iterable[int]] = ..., reservation_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class AttributeSet(_message.Message):
    __slots__ = ("attributes",)
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    attributes: _containers.ScalarMap[str, str]
    def __init__(self, attributes: _Optional[_Mapping[str, str]] = ...) -> None: ...

class RatedColumns(_message.Message):
    __slots__ = ("prices", "price_indices", "rated_quantities", "wide_lines", "wide_rated_quantities", "micros", "funding_targets", "funding_lines", "funding_target_indices", "funding_micros", "billing_accounts", "billing_account_indices", "duplicate_lines", "original_charge_ids")
    PRICES_FIELD_NUMBER: _ClassVar[int]
    PRICE_INDICES_FIELD_NUMBER: _ClassVar[int]
    RATED_QUANTITIES_FIELD_NUMBER: _ClassVar[int]
    WIDE_LINES_FIELD_NUMBER: _ClassVar[int]
    WIDE_RATED_QUANTITIES_FIELD_NUMBER: _ClassVar[int]
    MICROS_FIELD_NUMBER: _ClassVar[int]
    FUNDING_TARGETS_FIELD_NUMBER: _ClassVar[int]
    FUNDING_LINES_FIELD_NUMBER: _ClassVar[int]
    FUNDING_TARGET_INDICES_FIELD_NUMBER: _ClassVar[int]
    FUNDING_MICROS_FIELD_NUMBER: _ClassVar[int]
    BILLING_ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    BILLING_ACCOUNT_INDICES_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_LINES_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_CHARGE_IDS_FIELD_NUMBER: _ClassVar[int]
    prices: _containers.RepeatedCompositeFieldContainer[LinePrice]
    price_indices: _containers.RepeatedScalarFieldContainer[int]
    rated_quantities: _containers.RepeatedScalarFieldContainer[int]
    wide_lines: _containers.RepeatedScalarFieldContainer[int]
    wide_rated_quantities: _containers.RepeatedScalarFieldContainer[str]
    micros: _containers.RepeatedScalarFieldContainer[int]
    funding_targets: _containers.RepeatedCompositeFieldContainer[FundingTarget]
    funding_lines: _containers.RepeatedScalarFieldContainer[int]
    funding_target_indices: _containers.RepeatedScalarFieldContainer[int]
    funding_micros: _containers.RepeatedScalarFieldContainer[int]
    billing_accounts: _containers.RepeatedScalarFieldContainer[str]
    billing_account_indices: _containers.RepeatedScalarFieldContainer[int]
    duplicate_lines: _containers.RepeatedScalarFieldContainer[int]
    original_charge_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, prices: _Optional[_Iterable[_Union[LinePrice, _Mapping]]] = ..., price_indices: _Optional[_Iterable[int]] = ..., rated_quantities: _Optional[_Iterable[int]] = ..., wide_lines: _Optional[_Iterable[int]] = ..., wide_rated_quantities: _Optional[_Iterable[str]] = ..., micros: _Optional[_Iterable[int]] = ..., funding_targets: _Optional[_Iterable[_Union[FundingTarget, _Mapping]]] = ..., funding_lines: _Optional[_Iterable[int]] = ..., funding_target_indices: _Optional[_Iterable[int]] = ..., funding_micros: _Optional[_Iterable[int]] = ..., billing_accounts: _Optional[_Iterable[str]] = ..., billing_account_indices: _Optional[_Iterable[int]] = ..., duplicate_lines: _Optional[_Iterable[int]] = ..., original_charge_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class LinePrice(_message.Message):
    __slots__ = ("sku", "requested_sku", "category", "unit", "price_unit", "price_unit_label", "unit_price", "billed_by", "price_effective_from")
    SKU_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_SKU_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    PRICE_UNIT_FIELD_NUMBER: _ClassVar[int]
    PRICE_UNIT_LABEL_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    BILLED_BY_FIELD_NUMBER: _ClassVar[int]
    PRICE_EFFECTIVE_FROM_FIELD_NUMBER: _ClassVar[int]
    sku: str
    requested_sku: str
    category: _usage_pb2.Category
    unit: str
    price_unit: int
    price_unit_label: str
    unit_price: str
    billed_by: _usage_pb2.BilledBy
    price_effective_from: _timestamp_pb2.Timestamp
    def __init__(self, sku: _Optional[str] = ..., requested_sku: _Optional[str] = ..., category: _Optional[_Union[_usage_pb2.Category, str]] = ..., unit: _Optional[str] = ..., price_unit: _Optional[int] = ..., price_unit_label: _Optional[str] = ..., unit_price: _Optional[str] = ..., billed_by: _Optional[_Union[_usage_pb2.BilledBy, str]] = ..., price_effective_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class FundingTarget(_message.Message):
    __slots__ = ("source", "pack_id", "day", "month")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PACK_ID_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    source: _usage_pb2.FundingSource
    pack_id: str
    day: str
    month: str
    def __init__(self, source: _Optional[_Union[_usage_pb2.FundingSource, str]] = ..., pack_id: _Optional[str] = ..., day: _Optional[str] = ..., month: _Optional[str] = ...) -> None: ...

import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from rating.v1 import usage_pb2 as _usage_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PriceVersion(_message.Message):
    __slots__ = ("effective_from", "unit_price")
    EFFECTIVE_FROM_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    effective_from: _timestamp_pb2.Timestamp
    unit_price: str
    def __init__(self, effective_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., unit_price: _Optional[str] = ...) -> None: ...

class Sku(_message.Message):
    __slots__ = ("id", "display_name", "category", "unit", "price_unit", "price_unit_label", "billed_by", "increment", "aliases", "patterns", "metering", "price_versions", "current_price")
    ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    PRICE_UNIT_FIELD_NUMBER: _ClassVar[int]
    PRICE_UNIT_LABEL_FIELD_NUMBER: _ClassVar[int]
    BILLED_BY_FIELD_NUMBER: _ClassVar[int]
    INCREMENT_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    PATTERNS_FIELD_NUMBER: _ClassVar[int]
    METERING_FIELD_NUMBER: _ClassVar[int]
    PRICE_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_PRICE_FIELD_NUMBER: _ClassVar[int]
    id: str
    display_name: str
    category: _usage_pb2.Category
    unit: str
    price_unit: int
    price_unit_label: str
    billed_by: _usage_pb2.BilledBy
    increment: int
    aliases: _containers.RepeatedScalarFieldContainer[str]
    patterns: _containers.RepeatedScalarFieldContainer[str]
    metering: str
    price_versions: _containers.RepeatedCompositeFieldContainer[PriceVersion]
    current_price: PriceVersion
    def __init__(self, id: _Optional[str] = ..., display_name: _Optional[str] = ..., category: _Optional[_Union[_usage_pb2.Category, str]] = ..., unit: _Optional[str] = ..., price_unit: _Optional[int] = ..., price_unit_label: _Optional[str] = ..., billed_by: _Optional[_Union[_usage_pb2.BilledBy, str]] = ..., increment: _Optional[int] = ..., aliases: _Optional[_Iterable[str]] = ..., patterns: _Optional[_Iterable[str]] = ..., metering: _Optional[str] = ..., price_versions: _Optional[_Iterable[_Union[PriceVersion, _Mapping]]] = ..., current_price: _Optional[_Union[PriceVersion, _Mapping]] = ...) -> None: ...

class ListSkusRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "category")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    category: _usage_pb2.Category
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., category: _Optional[_Union[_usage_pb2.Category, str]] = ...) -> None: ...

class ListSkusResponse(_message.Message):
    __slots__ = ("skus", "next_page_token", "catalog_version")
    SKUS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    skus: _containers.RepeatedCompositeFieldContainer[Sku]
    next_page_token: str
    catalog_version: int
    def __init__(self, skus: _Optional[_Iterable[_Union[Sku, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., catalog_version: _Optional[int] = ...) -> None: ...

class GetSkuRequest(_message.Message):
    __slots__ = ("sku",)
    SKU_FIELD_NUMBER: _ClassVar[int]
    sku: str
    def __init__(self, sku: _Optional[str] = ...) -> None: ...

class GetSkuResponse(_message.Message):
    __slots__ = ("sku", "catalog_version")
    SKU_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    sku: Sku
    catalog_version: int
    def __init__(self, sku: _Optional[_Union[Sku, _Mapping]] = ..., catalog_version: _Optional[int] = ...) -> None: ...

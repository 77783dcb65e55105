from rating.v1 import usage_pb2 as _usage_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class QuoteRequest(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[_usage_pb2.UsageItem]
    def __init__(self, items: _Optional[_Iterable[_Union[_usage_pb2.UsageItem, _Mapping]]] = ...) -> None: ...

class QuoteResponse(_message.Message):
    __slots__ = ("lines", "total_points", "total_yuan", "catalog_version")
    LINES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_POINTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_YUAN_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    lines: _containers.RepeatedCompositeFieldContainer[_usage_pb2.RatedLine]
    total_points: str
    total_yuan: str
    catalog_version: int
    def __init__(self, lines: _Optional[_Iterable[_Union[_usage_pb2.RatedLine, _Mapping]]] = ..., total_points: _Optional[str] = ..., total_yuan: _Optional[str] = ..., catalog_version: _Optional[int] = ...) -> None: ...

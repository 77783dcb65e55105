"""google.rpc.Status and its error details, without googleapis-common-protos.

The server sends a ``google.rpc.Status`` in the ``grpc-status-details-bin`` trailer.
To read it with nothing but ``protobuf`` installed, this module declares the few
messages it needs (field for field as in googleapis' ``google/rpc/status.proto`` and
``error_details.proto``) in a descriptor pool of its own, so they never clash with
googleapis-common-protos when a program has both.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

_F = descriptor_pb2.FieldDescriptorProto
_FILE = "rating/_private/google_rpc.proto"


def _field(
    name: str,
    number: int,
    kind: _F.Type.ValueType,
    label: _F.Label.ValueType = _F.LABEL_OPTIONAL,
    type_name: str = "",
) -> _F:
    field = _F(name=name, number=number, type=kind, label=label)
    if type_name:
        field.type_name = type_name
    return field


def _string(name: str, number: int, repeated: bool = False) -> _F:
    return _field(
        name, number, _F.TYPE_STRING, _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    )


def _messages(name: str, number: int, type_name: str) -> _F:
    return _field(name, number, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, type_name)


def _build_pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(any_pb2.DESCRIPTOR.serialized_pb)
    proto = descriptor_pb2.FileDescriptorProto(
        name=_FILE, package="google.rpc", syntax="proto3", dependency=["google/protobuf/any.proto"]
    )
    status = proto.message_type.add(name="Status")
    status.field.extend(
        [
            _field("code", 1, _F.TYPE_INT32),
            _string("message", 2),
            _messages("details", 3, ".google.protobuf.Any"),
        ]
    )
    info = proto.message_type.add(name="ErrorInfo")
    info.field.extend(
        [
            _string("reason", 1),
            _string("domain", 2),
            _messages("metadata", 3, ".google.rpc.ErrorInfo.MetadataEntry"),
        ]
    )
    entry = info.nested_type.add(name="MetadataEntry")
    entry.field.extend([_string("key", 1), _string("value", 2)])
    entry.options.map_entry = True
    bad = proto.message_type.add(name="BadRequest")
    bad.field.append(_messages("field_violations", 1, ".google.rpc.BadRequest.FieldViolation"))
    violation = bad.nested_type.add(name="FieldViolation")
    violation.field.extend(
        [
            _string("field", 1),
            _string("description", 2),
            _string("reason", 3),
        ]
    )
    resource = proto.message_type.add(name="ResourceInfo")
    resource.field.extend(
        [
            _string("resource_type", 1),
            _string("resource_name", 2),
            _string("owner", 3),
            _string("description", 4),
        ]
    )
    pool.Add(proto)
    return pool


_POOL = _build_pool()


def _message_class(name: str) -> type[Message]:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(name))


Status = _message_class("google.rpc.Status")
ErrorInfo = _message_class("google.rpc.ErrorInfo")
BadRequest = _message_class("google.rpc.BadRequest")
ResourceInfo = _message_class("google.rpc.ResourceInfo")

STATUS_DETAILS_KEY = "grpc-status-details-bin"


def status_from_trailers(trailers: object) -> Any:
    """The google.rpc.Status in a call's trailing metadata (grpc's metadata: key and
    value pairs), or None. (Any: the message classes here are made from descriptors at
    run time, which no type checker reads.)"""
    pairs = cast("Iterable[tuple[str, object]]", trailers or ())
    for key, value in pairs:
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            status = Status()
            try:
                status.ParseFromString(value)
            except DecodeError:
                return None
            return status
    return None


def unpack(detail: any_pb2.Any, cls: type[Message]) -> Any:
    """``detail`` as ``cls`` when that is what it holds (by type URL), else None."""
    if detail.type_url.rsplit("/", 1)[-1] != cls.DESCRIPTOR.full_name:
        return None
    message = cls()
    try:
        message.ParseFromString(detail.value)
    except DecodeError:
        return None
    return message

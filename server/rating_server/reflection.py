"""Server reflection, ``grpc.reflection.v1`` and ``v1alpha``, with the protos' comments.

grpcio-reflection serves only ``v1alpha`` (newer grpcurl, grpcui and Postman ask for
``v1``), and it answers from a descriptor pool, whose files lose their
``source_code_info`` when copied back to ``FileDescriptorProto``s: the comments in
``protos/`` never reached the caller. Here both versions answer from the descriptor set
``make proto`` writes beside the generated code (``rating/v1/descriptors.binpb``, with
``--include_source_info``): a file is answered with the bytes protoc wrote, comments
included; the pool built from the same files only finds which file holds a symbol.

``v1`` is ``v1alpha`` with its package renamed, the same messages on the wire: one
servicer answers both, and reflection describes ``v1`` as ``v1alpha``'s file renamed.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from importlib import resources
from typing import Any, TypeAlias

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

DESCRIPTORS = "descriptors.binpb"  # in the package rating.v1 (Makefile: DESCRIPTORS)
V1ALPHA_SERVICE_NAME = reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"].full_name
V1_PACKAGE = "grpc.reflection.v1"
V1_SERVICE_NAME = f"{V1_PACKAGE}.ServerReflection"
SERVICE_NAMES = (V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME)
_METHOD = "ServerReflectionInfo"

# grpcio-reflection ships no type information: its messages are Any to the checker.
Request: TypeAlias = Any
Response: TypeAlias = Any
_Response = reflection_pb2.ServerReflectionResponse
FileProto = descriptor_pb2.FileDescriptorProto


def rating_files() -> list[FileProto]:
    """The rating.v1 protos and their imports, with source info, dependencies first.

    Without the fields' ``json_name``s protoc puts in a descriptor set (the generated
    code has none): with them, grpcurl would print ``usageId`` where it always printed
    ``usage_id``, so callers see what they saw, the comments added."""
    data = resources.files("rating.v1").joinpath(DESCRIPTORS).read_bytes()
    files = list(descriptor_pb2.FileDescriptorSet.FromString(data).file)
    for file in files:
        for message in _messages(file):
            for field in message.field:
                field.ClearField("json_name")
    return files


def _messages(file: FileProto) -> Iterator[descriptor_pb2.DescriptorProto]:
    """Every message of ``file``, nested ones included."""
    messages = list(file.message_type)
    while messages:
        message = messages.pop()
        messages.extend(message.nested_type)
        yield message


def v1_file() -> FileProto:
    """``grpc/reflection/v1/reflection.proto``: v1alpha's file, renamed."""
    proto = FileProto.FromString(reflection_pb2.DESCRIPTOR.serialized_pb)
    old, new = f".{reflection_pb2.DESCRIPTOR.package}.", f".{V1_PACKAGE}."

    def renamed(type_name: str) -> str:
        return new + type_name.removeprefix(old) if type_name.startswith(old) else type_name

    proto.name = "grpc/reflection/v1/reflection.proto"
    proto.package = V1_PACKAGE
    proto.options.java_package = "io.grpc.reflection.v1"
    proto.options.go_package = "google.golang.org/grpc/reflection/grpc_reflection_v1"
    proto.options.ClearField("deprecated")
    for message in _messages(proto):
        for field in message.field:
            if field.HasField("type_name"):
                field.type_name = renamed(field.type_name)
    for service in proto.service:
        for method in service.method:
            method.input_type = renamed(method.input_type)
            method.output_type = renamed(method.output_type)
    return proto


class Descriptors:
    """Files by name, as their serialized protos, and a pool to find symbols in."""

    def __init__(self, files: Iterable[FileProto]) -> None:
        self.pool = descriptor_pool.DescriptorPool()
        self._serialized: dict[str, bytes] = {}
        for file in files:  # each after its dependencies
            self.pool.Add(file)
            self._serialized[file.name] = file.SerializeToString()

    def file_containing(self, symbol: str) -> str:
        """The name of the file that defines ``symbol``; KeyError when none does.

        upb's pool finds messages, fields, enums, their values and services, but not a
        service's methods (``rating.v1.RatingService.Quote``): those are looked up in
        their service."""
        try:
            return self.pool.FindFileContainingSymbol(symbol).name
        except KeyError:
            service_name, _, method = symbol.rpartition(".")
            service = self.pool.FindServiceByName(service_name)
            if method not in service.methods_by_name:
                raise
            return service.file.name

    def with_dependencies(self, name: str) -> list[bytes]:
        """The file ``name`` first, then every file it imports, transitively; KeyError
        when the file is not known."""
        found = [self.pool.FindFileByName(name)]
        seen = {name}
        for file in found:
            for dependency in file.dependencies:
                if dependency.name not in seen:
                    seen.add(dependency.name)
                    found.append(dependency)
        return [self._serialized[file.name] for file in found]


@functools.cache
def served_descriptors() -> Descriptors:
    """The rating protos; the rich error details the server's errors carry (so grpcurl
    and the like print a BadRequest, not bytes); health's and reflection's own."""
    others = (error_details_pb2.DESCRIPTOR, health_pb2.DESCRIPTOR, reflection_pb2.DESCRIPTOR)
    return Descriptors(
        [*rating_files(), *(FileProto.FromString(d.serialized_pb) for d in others), v1_file()]
    )


class ReflectionServicer(reflection_pb2_grpc.ServerReflectionServicer):
    """Answers ``ServerReflectionInfo``, of v1 and of v1alpha alike."""

    def __init__(self, service_names: Iterable[str], descriptors: Descriptors) -> None:
        self._services = reflection_pb2.ListServiceResponse(
            service=[reflection_pb2.ServiceResponse(name=name) for name in sorted(service_names)]
        )
        self._descriptors = descriptors

    def ServerReflectionInfo(
        self, request_iterator: Iterable[Request], context: grpc.ServicerContext
    ) -> Iterator[Response]:
        for request in request_iterator:
            yield self._answer(request)

    def _answer(self, request: Request) -> Response:
        pool = self._descriptors.pool
        asked = request.WhichOneof("message_request")
        try:
            if asked == "list_services":
                return _Response(list_services_response=self._services, original_request=request)
            if asked == "all_extension_numbers_of_type":
                message = pool.FindMessageTypeByName(request.all_extension_numbers_of_type)
                numbers = sorted(extension.number for extension in pool.FindAllExtensions(message))
                answer = reflection_pb2.ExtensionNumberResponse(
                    base_type_name=message.full_name, extension_number=numbers
                )
                return _Response(all_extension_numbers_response=answer, original_request=request)
            if asked == "file_by_filename":
                name = request.file_by_filename
            elif asked == "file_containing_symbol":
                name = self._descriptors.file_containing(request.file_containing_symbol)
            elif asked == "file_containing_extension":
                wanted = request.file_containing_extension
                message = pool.FindMessageTypeByName(wanted.containing_type)
                extension = pool.FindExtensionByNumber(message, wanted.extension_number)
                name = extension.file.name  # type: ignore[attr-defined]  # at run time it has
            else:
                return _error(request, grpc.StatusCode.INVALID_ARGUMENT, "no request set")
            files = self._descriptors.with_dependencies(name)
        except KeyError:
            return _error(request, grpc.StatusCode.NOT_FOUND, f"{asked}: not found")
        return _Response(
            file_descriptor_response=reflection_pb2.FileDescriptorResponse(
                file_descriptor_proto=files
            ),
            original_request=request,
        )


def _error(request: Request, code: grpc.StatusCode, message: str) -> Response:
    number = code.value[0]
    return _Response(
        error_response=reflection_pb2.ErrorResponse(error_code=number, error_message=message),
        original_request=request,
    )


def enable_server_reflection(service_names: Iterable[str], server: grpc.Server) -> None:
    """Serve reflection, v1 and v1alpha, listing ``service_names`` and itself."""
    servicer = ReflectionServicer((*service_names, *SERVICE_NAMES), served_descriptors())
    handlers = {
        _METHOD: grpc.stream_stream_rpc_method_handler(
            servicer.ServerReflectionInfo,
            request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
            response_serializer=_Response.SerializeToString,
        )
    }
    for service in SERVICE_NAMES:
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
        server.add_registered_method_handlers(service, handlers)

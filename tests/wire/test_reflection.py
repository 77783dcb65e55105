"""Server reflection: ``grpc.reflection.v1`` and ``v1alpha``, with the protos' comments,
on the real server in this process, and what a stock tool (grpcurl) prints of them.

The pinned grpcurl (1.8.6) speaks only v1alpha, so v1 is called here with a
hand-written stub: the path ``/grpc.reflection.v1.ServerReflection/ServerReflectionInfo``
and v1alpha's messages, which are v1's on the wire (v1 renamed the package, nothing else)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2
from support import running, seeded_database

from rating_server import reflection
from rating_server.auth import hash_token
from rating_server.config import Settings
from rating_server.server import RatingServer

GRPCURL = Path(sys.executable).parent / "grpcurl"
TIMEOUT = 30
VERSIONS = ["v1", "v1alpha"]
# Comments of protos/rating/v1, as protoc keeps them (each line after its "//").
USAGE_ITEM_COMMENT = " UsageItem is one piece of usage reported by a producing service.\n"
QUOTE_COMMENT = " Quote prices a batch of usage items without writing anything."

# The google.rpc details the server's errors carry.
DETAILS = ("BadRequest", "ErrorInfo", "ResourceInfo")

Request = reflection_pb2.ServerReflectionRequest
Response = reflection_pb2.ServerReflectionResponse


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RatingServer]:
    database = seeded_database(tmp_path_factory.mktemp("reflection") / "rating.db")
    with running(Settings(listen="127.0.0.1:0", db_path=str(database))) as started:
        yield started


def reflect(address: str, version: str, *requests: Request) -> list[Response]:
    """One ServerReflectionInfo stream of ``version``: an answer per request."""
    with grpc.insecure_channel(address) as channel:
        info = channel.stream_stream(
            f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
            request_serializer=Request.SerializeToString,
            response_deserializer=Response.FromString,
        )
        return list(info(iter(requests), timeout=TIMEOUT))


def files_of(response: Response) -> list[descriptor_pb2.FileDescriptorProto]:
    assert response.WhichOneof("message_response") == "file_descriptor_response", response
    return [
        descriptor_pb2.FileDescriptorProto.FromString(data)
        for data in response.file_descriptor_response.file_descriptor_proto
    ]


def comments(file: descriptor_pb2.FileDescriptorProto) -> list[str]:
    return [location.leading_comments for location in file.source_code_info.location]


def grpcurl(*args: str) -> str:
    assert GRPCURL.is_file(), f"{GRPCURL} is missing: install the dev extras"
    result = subprocess.run(
        [str(GRPCURL), "-plaintext", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("version", VERSIONS)
def test_reflection_of_each_version_lists_the_services_and_both_reflections(
    server: RatingServer, version: str
) -> None:
    (answer,) = reflect(server.address, version, Request(list_services=""))
    assert [service.name for service in answer.list_services_response.service] == [
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "rating.v1.AccountService",
        "rating.v1.CatalogService",
        "rating.v1.RatingService",
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_reflection_of_each_version_answers_a_message_with_its_file_and_the_protos_comments(
    server: RatingServer, version: str
) -> None:
    (answer,) = reflect(
        server.address, version, Request(file_containing_symbol="rating.v1.UsageItem")
    )
    usage, *dependencies = files_of(answer)
    assert usage.name == "rating/v1/usage.proto"
    assert USAGE_ITEM_COMMENT in comments(usage)
    assert {file.name for file in dependencies} == {
        "google/protobuf/duration.proto",
        "google/protobuf/timestamp.proto",
    }


@pytest.mark.parametrize("version", VERSIONS)
def test_reflection_of_each_version_finds_the_file_of_a_method(
    server: RatingServer, version: str
) -> None:
    (answer,) = reflect(
        server.address, version, Request(file_containing_symbol="rating.v1.RatingService.Quote")
    )
    rating = files_of(answer)[0]
    assert rating.name == "rating/v1/rating_service.proto"
    assert any(comment.startswith(QUOTE_COMMENT) for comment in comments(rating))


@pytest.mark.parametrize("version", VERSIONS)
def test_reflection_of_each_version_describes_the_error_details_the_server_sends(
    server: RatingServer, version: str
) -> None:
    answers = reflect(
        server.address,
        version,
        *(Request(file_containing_symbol=f"google.rpc.{name}") for name in DETAILS),
    )
    assert [files_of(answer)[0].name for answer in answers] == [
        "google/rpc/error_details.proto"
    ] * len(DETAILS)


def test_v1_reflection_describes_itself_as_the_v1_package(server: RatingServer) -> None:
    (answer,) = reflect(
        server.address, "v1", Request(file_containing_symbol=reflection.V1_SERVICE_NAME)
    )
    (file,) = files_of(answer)
    assert (file.name, file.package) == (
        "grpc/reflection/v1/reflection.proto",
        "grpc.reflection.v1",
    )
    (method,) = file.service[0].method
    assert (method.input_type, method.output_type) == (
        ".grpc.reflection.v1.ServerReflectionRequest",
        ".grpc.reflection.v1.ServerReflectionResponse",
    )
    # Field for field v1alpha's, so v1alpha's messages are v1's on the wire.
    v1alpha = descriptor_pb2.FileDescriptorProto.FromString(reflection_pb2.DESCRIPTOR.serialized_pb)
    assert [(m.name, [(f.name, f.number, f.type) for f in m.field]) for m in file.message_type] == [
        (m.name, [(f.name, f.number, f.type) for f in m.field]) for m in v1alpha.message_type
    ]


def test_v1_reflection_answers_files_by_name_and_unknown_symbols_with_not_found(
    server: RatingServer,
) -> None:
    by_name, unknown = reflect(
        server.address,
        "v1",
        Request(file_by_filename="rating/v1/columns.proto"),
        Request(file_containing_symbol="rating.v1.NoSuchThing"),
    )
    assert files_of(by_name)[0].name == "rating/v1/columns.proto"
    assert unknown.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
    assert unknown.original_request.file_containing_symbol == "rating.v1.NoSuchThing"


def test_grpcurl_describe_prints_the_comments_of_a_message_and_of_a_method(
    server: RatingServer,
) -> None:
    item = grpcurl(server.address, "describe", "rating.v1.UsageItem")
    assert f"//{USAGE_ITEM_COMMENT}message UsageItem {{" in item
    assert "  // Required. The producer's id for this usage, unique within the billing\n" in item
    quote = grpcurl(server.address, "describe", "rating.v1.RatingService.Quote")
    assert quote.startswith(f"rating.v1.RatingService.Quote is a method:\n//{QUOTE_COMMENT} All")


def test_reflection_false_in_the_access_file_closes_both_versions(tmp_path: Path) -> None:
    access = tmp_path / "access.toml"
    access.write_text(
        '[settings]\nreflection = false\n\n[[principals]]\nname = "quoter"\n'
        f'token_sha256 = "{hash_token("a-token-of-the-quoter")}"\nroles = ["quote"]\n'
    )
    database = seeded_database(tmp_path / "rating.db")
    settings = Settings(listen="127.0.0.1:0", db_path=str(database), auth_file=str(access))
    with running(settings) as server:
        for version in VERSIONS:
            with pytest.raises(grpc.RpcError) as closed:
                reflect(server.address, version, Request(list_services=""))
            assert closed.value.code() == grpc.StatusCode.UNIMPLEMENTED, version

"""The guard's wrapping of method handlers (``guard.py``); the calls through it, on the
real server: tests/wire/test_security.py, tests/wire/test_grpc_metrics.py."""

from __future__ import annotations

import threading
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from rating.v1 import rating_service_pb2, rating_service_pb2_grpc
from rating_server.access_log import AccessLog
from rating_server.domain_errors import ConcurrentUpdateError, StorageUnavailableError
from rating_server.guard import Guard
from rating_server.metrics import Metrics

QUOTE = "/rating.v1.RatingService/Quote"
WATCH = "/rating.v1.AccountService/WatchCharges"
# Generous: a loaded 2-core machine may be slow, but never this slow.
WAIT = 60.0


class Context:
    """What the guard reads of a grpc.ServicerContext."""

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("x-request-id", "r-1"),)

    def send_initial_metadata(self, metadata: Any) -> None:
        pass

    def set_trailing_metadata(self, metadata: Any) -> None:
        pass

    def code(self) -> None:
        return None

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"


def in_flight(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value("rating_rpcs_in_flight") or 0.0


def test_in_flight_counts_the_calls_inside_a_method_and_none_after() -> None:
    metrics = Metrics()
    guard = Guard(None, metrics, 4, AccessLog())
    entered, release = threading.Event(), threading.Event()
    seen: list[float] = []

    def method(request: Any, context: Any) -> bytes:
        seen.append(in_flight(metrics))
        if len(seen) == 1:  # the first call stays inside until the second has been
            entered.set()
            release.wait(WAIT)
        return b""

    handler = guard.wrap(QUOTE, grpc.unary_unary_rpc_method_handler(method))
    thread = threading.Thread(target=handler.unary_unary, args=(b"", Context()))
    thread.start()
    assert entered.wait(WAIT)
    handler.unary_unary(b"", Context())  # a second call while the first is inside
    release.set()
    thread.join(WAIT)
    assert not thread.is_alive()

    assert seen == [1.0, 2.0]
    assert in_flight(metrics) == 0.0


def test_a_method_that_takes_a_stream_is_refused_rather_than_left_unguarded() -> None:
    guard = Guard(None, Metrics(), 4, AccessLog())
    stream = grpc.stream_stream_rpc_method_handler(lambda requests, context: iter(()))

    with pytest.raises(TypeError, match="neither unary nor server-streaming"):
        guard.wrap("/rating.v1.RatingService/Watch", stream)


class AbortedError(Exception):
    """What the fake context's abort raises."""


class StreamContext(Context):
    def __init__(self) -> None:
        self.status: tuple[grpc.StatusCode, str] | None = None

    def abort_with_status(self, status: Any) -> None:
        self.status = (status.code, status.details)
        raise AbortedError

    def code(self) -> Any:
        return self.status[0] if self.status else None


def test_a_stream_takes_one_of_the_streams_own_slots_and_none_of_the_calls() -> None:
    """Streams past their limit are refused with details; a unary call still gets in
    while the streams are all open, and a stream's slot is given back when it ends."""
    metrics = Metrics()
    guard = Guard(None, metrics, 1, AccessLog(), max_streams=1)
    release = threading.Event()

    def watch(request: Any, context: Any) -> Any:
        yield b"first"
        release.wait(WAIT)
        yield b"last"

    stream = guard.wrap(WATCH, grpc.unary_stream_rpc_method_handler(watch))
    call = guard.wrap(QUOTE, grpc.unary_unary_rpc_method_handler(lambda r, c: b"quoted"))
    first = stream.unary_stream(b"", StreamContext())
    assert next(first) == b"first"
    refused_context = StreamContext()
    with pytest.raises(AbortedError):
        next(stream.unary_stream(b"", refused_context))
    assert refused_context.status is not None
    assert refused_context.status[0] == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "streams at once" in refused_context.status[1]
    assert call.unary_unary(b"", Context()) == b"quoted"
    release.set()
    assert list(first) == [b"last"]
    again = stream.unary_stream(b"", StreamContext())
    assert next(again) == b"first"
    again.close()
    # Closed, it gave its slot back too.
    assert next(stream.unary_stream(b"", StreamContext())) == b"first"


def test_adding_a_service_that_registers_no_handlers_fails_at_start() -> None:
    guard = Guard(None, Metrics(), 4, AccessLog())

    def add_nothing(servicer: object, server: Any) -> None:
        server.add_generic_rpc_handlers(())

    with pytest.raises(RuntimeError, match="registered no method handlers"):
        guard.add(add_nothing, object(), object())  # type: ignore[arg-type]


def test_every_generated_method_is_registered_guarded() -> None:
    guard = Guard(None, Metrics(), 4, AccessLog())
    registered: dict[str, dict[str, grpc.RpcMethodHandler]] = {}

    class Server:
        def add_generic_rpc_handlers(self, handlers: Any) -> None:
            pass

        def add_registered_method_handlers(self, service: str, handlers: Any) -> None:
            registered[service] = handlers

    servicer = rating_service_pb2_grpc.RatingServiceServicer()
    guard.add(rating_service_pb2_grpc.add_RatingServiceServicer_to_server, servicer, Server())  # type: ignore[arg-type]

    methods = rating_service_pb2.DESCRIPTOR.services_by_name["RatingService"].methods
    handlers = registered["rating.v1.RatingService"]
    assert sorted(handlers) == sorted(m.name for m in methods)
    # Each runs through the guard's wrapper, not straight into the servicer.
    assert all(h.unary_unary.__qualname__.startswith("Guard.wrap") for h in handlers.values())


class Aborting(Context):
    """A context that records the status a method ends with."""

    def __init__(self) -> None:
        self.status: Any = None

    def abort_with_status(self, status: Any) -> None:
        self.status = status
        raise grpc.RpcError()

    def set_code(self, code: Any) -> None:
        pass

    def set_details(self, details: str) -> None:
        pass


@pytest.mark.parametrize(
    ("raised", "code", "reason"),
    [
        (ConcurrentUpdateError("conflicted 5 times"), grpc.StatusCode.ABORTED, "CONCURRENT_UPDATE"),
        (
            StorageUnavailableError("the database cannot be written now", "POSTGRES_08006"),
            grpc.StatusCode.UNAVAILABLE,
            "STORAGE_UNAVAILABLE",
        ),
    ],
)
def test_a_dependencys_fault_is_a_retryable_status_never_internal(
    raised: Exception, code: grpc.StatusCode, reason: str
) -> None:
    guard = Guard(None, Metrics(), 4, AccessLog())

    def method(request: Any, context: Any) -> bytes:
        raise raised

    context = Aborting()
    handler = guard.wrap(QUOTE, grpc.unary_unary_rpc_method_handler(method))
    with pytest.raises(grpc.RpcError):
        handler.unary_unary(b"", context)
    assert context.status.code == code
    details = status_pb2.Status.FromString(
        dict(context.status.trailing_metadata)["grpc-status-details-bin"]
    )
    info = error_details_pb2.ErrorInfo()
    details.details[0].Unpack(info)
    assert info.reason == reason
    assert "nothing was changed" in context.status.details

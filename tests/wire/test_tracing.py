"""Tracing on the real server in this process: a call's span, caught by an in-memory
exporter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support import item

from rating.v1 import rating_service_pb2, rating_service_pb2_grpc
from rating_server.config import Settings
from rating_server.server import RatingServer, create_server

TIMEOUT = 30.0
QUOTE = "/rating.v1.RatingService/Quote"
# A caller's trace context (W3C traceparent): its trace id, and its span's id.
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def traced(seeded_db: Path, spans: InMemorySpanExporter) -> Iterator[RatingServer]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    running = create_server(
        Settings(listen="127.0.0.1:0", db_path=str(seeded_db)), tracer_provider=provider
    )
    running.start()
    yield running
    running.stop(grace=0)


def test_a_quote_makes_a_server_span_named_for_the_method_with_its_status(
    traced: RatingServer, spans: InMemorySpanExporter
) -> None:
    traceparent = ("traceparent", f"00-{TRACE_ID}-{PARENT_ID}-01")
    with grpc.insecure_channel(traced.address) as channel:
        stub = rating_service_pb2_grpc.RatingServiceStub(channel)
        stub.Quote(
            rating_service_pb2.QuoteRequest(items=[item("agent.call", 3)]),
            metadata=(traceparent,),
            timeout=TIMEOUT,
        )
        with pytest.raises(grpc.RpcError) as refused:
            stub.Quote(
                rating_service_pb2.QuoteRequest(items=[item("no.such.sku", 1)]), timeout=TIMEOUT
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        # Health's calls are probes: no spans.
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT)

    # A span ends before its call's answer is sent, so both are exported by now.
    quoted, failed = spans.get_finished_spans()
    for span in (quoted, failed):
        assert span.name == QUOTE
        assert span.kind == trace.SpanKind.SERVER
        assert span.attributes is not None
        assert span.attributes["rpc.system"] == "grpc"
        assert span.attributes["rpc.service"] == "rating.v1.RatingService"
        assert span.attributes["rpc.method"] == "Quote"
    assert quoted.attributes is not None and failed.attributes is not None
    assert quoted.attributes["rpc.grpc.status_code"] == grpc.StatusCode.OK.value[0]
    assert quoted.status.status_code == trace.StatusCode.UNSET
    # The caller's trace goes on in the server's span.
    assert quoted.context is not None and quoted.parent is not None
    assert f"{quoted.context.trace_id:032x}" == TRACE_ID
    assert f"{quoted.parent.span_id:016x}" == PARENT_ID
    # An error sent with details (abort_with_status) has its code on the span; a
    # caller's mistake is no error of the server's (OpenTelemetry's conventions).
    assert failed.attributes["rpc.grpc.status_code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert failed.status.status_code == trace.StatusCode.UNSET

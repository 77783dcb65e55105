"""Optional OpenTelemetry tracing (``tracing.py``): which spans are errors, and the
setting that turns it on."""

from __future__ import annotations

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rating_server.config import SettingError, Settings
from rating_server.tracing import start_tracing


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (grpc.StatusCode.UNAVAILABLE, trace.StatusCode.ERROR),
        (grpc.StatusCode.INTERNAL, trace.StatusCode.ERROR),
        (grpc.StatusCode.NOT_FOUND, trace.StatusCode.UNSET),
        (grpc.StatusCode.OK, trace.StatusCode.UNSET),
    ],
)
def test_a_span_is_an_error_for_the_servers_faults_alone(
    spans: InMemorySpanExporter, code: grpc.StatusCode, status: trace.StatusCode
) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracing = start_tracing("off", provider)
    assert tracing is not None
    with provider.get_tracer("test").start_as_current_span("call"):
        tracing.mark(code)
    (span,) = spans.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["rpc.grpc.status_code"] == code.value[0]
    assert span.status.status_code == status


def test_tracing_is_off_by_default_and_a_setting_names_otlp() -> None:
    assert Settings().tracing == "off"
    assert start_tracing("off") is None
    assert Settings.from_env({}).tracing == "off"
    assert Settings.from_env({"RATING_TRACING": "otlp"}).tracing == "otlp"
    assert Settings.from_env({"RATING_TRACING": "1"}).tracing == "otlp"
    assert Settings.from_env({"RATING_TRACING": "off"}).tracing == "off"
    with pytest.raises(SettingError, match="RATING_TRACING must be otlp or off"):
        Settings.from_env({"RATING_TRACING": "jaeger"})

"""Optional OpenTelemetry tracing (tracing.py): spans of the real server in this
process, caught by an in-memory exporter; and, off, no opentelemetry module loaded (a
server process where those packages cannot be imported, as if not installed)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
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
from rating_server.config import SettingError, Settings
from rating_server.server import RatingServer
from rating_server.tracing import start_tracing

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
    running = RatingServer(
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


# A server process in which no opentelemetry module can be imported, as where the
# packages are not installed: tracing off, it serves a Quote and loads none; on, it
# refuses to start and says what to install.
WITHOUT_OPENTELEMETRY = textwrap.dedent(
    """
    import sys
    from importlib.abc import MetaPathFinder

    class NotInstalled(MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "opentelemetry":
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, NotInstalled())
    sys.path.insert(0, "tests")

    from support import item
    from rating.v1 import rating_service_pb2
    from rating import RatingClient
    from rating_server.config import Settings
    from rating_server.server import RatingServer, StartupError

    database = sys.argv[1]
    server = RatingServer(Settings(listen="127.0.0.1:0", db_path=database))
    server.start()
    with RatingClient(server.address) as client:
        quote = client.quote([item("agent.call", 3)])
    server.stop(grace=0)
    print("quoted", quote.total_points)
    print("loaded", sorted(m for m in sys.modules if m.startswith("opentelemetry")))
    try:
        RatingServer(Settings(listen="127.0.0.1:0", db_path=database, tracing="otlp"))
    except StartupError as error:
        print("refused:", error)
    """
)


def test_with_tracing_off_the_server_runs_without_the_opentelemetry_packages(
    seeded_db: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_OPENTELEMETRY, str(seeded_db)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "quoted 6"
    assert lines[1] == "loaded []"
    assert lines[2].startswith("refused: RATING_TRACING=otlp needs the OpenTelemetry packages")
    assert "pip install 'rating-server[tracing]'" in lines[2]

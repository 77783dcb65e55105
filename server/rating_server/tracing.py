"""Optional OpenTelemetry tracing (``RATING_TRACING=otlp``), off by default.

On, every call but health's gets a server span from opentelemetry-instrumentation-grpc's
interceptor: named for the method (``/rating.v1.RatingService/Quote``), a child of the
caller's trace when its metadata carries one (``traceparent``), exported over OTLP
(where to: the standard ``OTEL_EXPORTER_OTLP_*`` variables; ``OTEL_SERVICE_NAME``,
else ``rating-server``). The span gets the status the call really ended with
(``rpc.grpc.status_code``, and the ERROR status for the codes that are the server's
fault), which the interceptor alone misses for errors sent with rich details
(``abort_with_status``, every error of this server's).

The opentelemetry packages are the ``tracing`` extra; they are imported only here, and
only when tracing is on, so the server runs without them when it is off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

#: RATING_TRACING's values; each of the others is also accepted for off and on.
OFF, OTLP = "off", "otlp"

#: The codes that mark a server span ERROR (OpenTelemetry's semantic conventions for
#: gRPC: the server's faults, not the caller's).
SERVER_FAULTS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)

DEFAULT_SERVICE_NAME = "rating-server"


class TracingUnavailableError(RuntimeError):
    """Tracing is on but its packages are not installed; the message says what to do."""


@dataclass
class Tracing:
    """What the server needs of tracing: its interceptor (outermost), what marks a
    span with the call's status, and what flushes the spans at the end."""

    interceptor: grpc.ServerInterceptor
    mark: Callable[[grpc.StatusCode], None]
    _close: Callable[[], object] = field(default=lambda: None)

    def close(self) -> None:
        self._close()


def start_tracing(mode: str, tracer_provider: Any | None = None) -> Tracing | None:
    """Tracing as ``mode`` (RATING_TRACING) says: None when off. ``tracer_provider``:
    one of the caller's (tests, an embedding program), on whatever the mode."""
    if tracer_provider is None and mode == OFF:
        return None
    try:
        from opentelemetry import trace
        from opentelemetry.instrumentation.grpc import filters, server_interceptor
    except ImportError as error:
        raise TracingUnavailableError(
            f"RATING_TRACING={mode} needs the OpenTelemetry packages, which are not "
            f"installed ({error}): pip install 'rating-server[tracing]'"
        ) from None
    close: Callable[[], object] = lambda: None  # noqa: E731
    if tracer_provider is None:
        tracer_provider = _otlp_provider()
        close = tracer_provider.shutdown
    interceptor = server_interceptor(
        tracer_provider=tracer_provider, filter_=filters.negate(filters.health_check())
    )

    def mark(code: grpc.StatusCode) -> None:
        span = trace.get_current_span()
        if not span.is_recording():
            return
        span.set_attribute("rpc.grpc.status_code", code.value[0])
        if code in SERVER_FAULTS:
            span.set_status(trace.Status(trace.StatusCode.ERROR, code.name))

    return Tracing(interceptor, mark, close)


def _otlp_provider() -> Any:
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as error:
        raise TracingUnavailableError(
            f"RATING_TRACING={OTLP} needs the OpenTelemetry SDK and OTLP exporter, which "
            f"are not installed ({error}): pip install 'rating-server[tracing]'"
        ) from None
    resource = Resource.create()  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = Resource.create({SERVICE_NAME: DEFAULT_SERVICE_NAME})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider

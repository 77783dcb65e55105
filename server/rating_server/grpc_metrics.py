"""The standard gRPC server metrics, for every call: a server interceptor.

Every method's handler, the rating services' (guarded) as health's and reflection's, is
wrapped so that each call counts ``grpc_server_started_total`` when it starts, each
message received and sent, and ``grpc_server_handled_total`` with its status code and
``grpc_server_handling_seconds`` when it ends, as go-grpc-prometheus does. A call the
guard refuses (credentials, roles, its limits) is counted with the code it got; a
stream that its caller cancelled is counted ``Canceled`` when gRPC lets go of it.

A handler is wrapped once per method, not once per call: the interceptor runs on the
thread that polls for calls, so it only looks up the wrapped handler there (a call's
handler from gRPC is the same object each time, the one registered for the method).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from rating_server.metrics import Metrics

_OK = grpc.StatusCode.OK

#: grpc_code's values: the codes as go-grpc-prometheus writes them (Go's names), which
#: the usual dashboards' and alerts' queries match (``grpc_code=~"Unavailable|Internal"``).
GO_CODE_NAMES = {
    code: "OK" if code is _OK else "".join(word.title() for word in code.name.split("_"))
    for code in grpc.StatusCode
} | {grpc.StatusCode.CANCELLED: "Canceled"}

#: A handler wrapped for each method seen, at most this many (a generic handler could
#: answer any name a caller makes up).
MAX_METHODS = 1_000

#: What is told of each call's end, with its code (tracing.py sets the span's status).
EndHook = Callable[[grpc.StatusCode], None]


class ServerMetrics(grpc.ServerInterceptor):
    def __init__(self, metrics: Metrics, on_end: EndHook | None = None) -> None:
        self._metrics = metrics
        self._on_end = on_end
        self._wrapped: dict[
            str, tuple[grpc.RpcMethodHandler[Any, Any], grpc.RpcMethodHandler[Any, Any]]
        ] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None:  # no such method: gRPC answers UNIMPLEMENTED
            return None
        method: str = handler_call_details.method
        known = self._wrapped.get(method)
        if known is not None and known[0] is handler:
            return known[1]
        metered = meter(handler, series_of(self._metrics, method, handler, self._on_end))
        if len(self._wrapped) < MAX_METHODS:
            self._wrapped[method] = (handler, metered)
        return metered


def grpc_type(handler: grpc.RpcMethodHandler[Any, Any]) -> str:
    """``grpc_type``: unary, client_stream, server_stream or bidi_stream."""
    if handler.request_streaming:
        return "bidi_stream" if handler.response_streaming else "client_stream"
    return "server_stream" if handler.response_streaming else "unary"


class _Series:
    """One method's series, looked up once; what every call of it counts."""

    def __init__(
        self,
        metrics: Metrics,
        method: str,
        handler: grpc.RpcMethodHandler[Any, Any],
        on_end: EndHook | None,
    ) -> None:
        service, _, name = method.lstrip("/").rpartition("/")
        labels = (grpc_type(handler), service or "unknown", name)
        self._labels = labels
        self._handled = metrics.handled
        self._codes: dict[grpc.StatusCode, Any] = {_OK: metrics.handled.labels(*labels, "OK")}
        self._started = metrics.started.labels(*labels)
        self._seconds = metrics.handling_seconds.labels(*labels)
        self.received = metrics.msg_received.labels(*labels)
        self.sent = metrics.msg_sent.labels(*labels)
        self._on_end = on_end

    def start(self) -> float:
        self._started.inc()
        return time.perf_counter()

    def end(self, started: float, code: grpc.StatusCode) -> None:
        handled = self._codes.get(code)
        if handled is None:
            handled = self._codes[code] = self._handled.labels(*self._labels, GO_CODE_NAMES[code])
        handled.inc()
        self._seconds.observe(time.perf_counter() - started)
        if self._on_end is not None:
            self._on_end(code)


def series_of(
    metrics: Metrics,
    method: str,
    handler: grpc.RpcMethodHandler[Any, Any],
    on_end: EndHook | None = None,
) -> _Series:
    """``method``'s series ("/package.Service/Method"), as ``handler`` is called."""
    return _Series(metrics, method, handler, on_end)


def code_of(context: grpc.ServicerContext, failed: bool, cancelled: bool) -> grpc.StatusCode:
    """The status a call ended with: the one set (an abort's), else CANCELLED for a
    stream gRPC let go of, UNKNOWN for an exception (what gRPC answers), else OK."""
    code = context.code()  # type: ignore[attr-defined]
    if isinstance(code, grpc.StatusCode):
        return code
    if cancelled:
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN if failed else _OK


def meter(
    handler: grpc.RpcMethodHandler[Any, Any], series: _Series
) -> grpc.RpcMethodHandler[Any, Any]:
    """``handler``, each of its calls counted in ``series``."""
    serializers = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            _unary(handler.unary_unary, series, requests_counted=False), **serializers
        )
    if handler.unary_stream is not None:
        streams = _streaming(handler.unary_stream, series, requests_counted=False)
        if getattr(handler.unary_stream, "experimental_non_blocking", False):
            streams = _non_blocking(handler.unary_stream, series, streams)
        return grpc.unary_stream_rpc_method_handler(streams, **serializers)
    if handler.stream_unary is not None:
        run = handler.stream_unary
        return grpc.stream_unary_rpc_method_handler(
            _unary(
                lambda requests, context: run(_counted(requests, series), context),
                series,
                requests_counted=True,
            ),
            **serializers,
        )
    run_stream = handler.stream_stream
    assert run_stream is not None
    return grpc.stream_stream_rpc_method_handler(
        _streaming(run_stream, series, requests_counted=True), **serializers
    )


def _unary(
    run: Callable[[Any, Any], Any], series: _Series, requests_counted: bool
) -> Callable[[Any, Any], Any]:
    """A call answered with one message (its requests, if a stream, counted by ``run``)."""

    def call(request: Any, context: grpc.ServicerContext) -> Any:
        started = series.start()
        if not requests_counted:
            series.received.inc()
        failed = True
        try:
            response = run(request, context)
            failed = False
            return response
        finally:
            code = code_of(context, failed, cancelled=False)
            if code is _OK:
                series.sent.inc()
            series.end(started, code)

    return call


def _streaming(
    run: Callable[[Any, Any], Iterator[Any]], series: _Series, requests_counted: bool
) -> Callable[[Any, Any], Iterator[Any]]:
    """A call answered with a stream, each message counted as it is sent; it ends
    when the stream does, fails, or is closed by gRPC (its caller went: CANCELLED)."""

    def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        started = series.start()
        if requests_counted:
            request = _counted(request, series)
        else:
            series.received.inc()
        failed, cancelled = True, False
        responses: Iterator[Any] | None = None
        sent = series.sent
        try:
            responses = run(request, context)
            for response in responses:
                sent.inc()
                yield response
            failed = False
        except GeneratorExit:
            cancelled = True
            raise
        finally:
            close = getattr(responses, "close", None)
            if close is not None:
                close()  # the method's own ends (the guard's log line) come first
            # A stream whose caller went away may also end by itself, having seen that
            # its call is no longer active (the feeds look between their waits).
            cancelled = cancelled or (not failed and not context.is_active())
            series.end(started, code_of(context, failed, cancelled))

    return stream


def _non_blocking(
    run: Callable[..., Any], series: _Series, blocking: Callable[[Any, Any], Iterator[Any]]
) -> Callable[..., Any]:
    """A stream that answers through a callback and holds no thread (health's Watch):
    it ends when the callback is given None, when gRPC closes the call."""

    def stream(
        request: Any,
        context: grpc.ServicerContext,
        send_response_callback: Callable[[Any], None] | None = None,
    ) -> Any:
        if send_response_callback is None:  # called as an ordinary stream
            return blocking(request, context)
        started = series.start()
        series.received.inc()
        ended = False

        def send(response: Any) -> None:
            nonlocal ended
            if response is not None:
                series.sent.inc()
            elif not ended:
                ended = True
                series.end(started, code_of(context, False, not context.is_active()))
            send_response_callback(response)

        try:
            return run(request, context, send)
        except Exception:
            if not ended:
                ended = True
                series.end(started, code_of(context, True, False))
            raise

    stream.experimental_non_blocking = True  # type: ignore[attr-defined]
    return stream


def _counted(requests: Iterator[Any], series: _Series) -> Iterator[Any]:
    received = series.received
    for request in requests:
        received.inc()
        yield request

"""The guard in front of every rating RPC.

In order: it refuses calls past the concurrency limit (RESOURCE_EXHAUSTED), finds
who is calling (a bearer token, else the client certificate) and whether their roles
allow the method (UNAUTHENTICATED, PERMISSION_DENIED), refuses bytes that are not a
valid request message (INVALID_ARGUMENT), then runs the method; and it logs every
call (one JSON line with the request_id; never a token) and counts those in flight
(the standard gRPC metrics of every call, refused ones too, are counted around it, by
grpc_metrics.py). What the method raises and did not turn into a status is a storage
fault (UNAVAILABLE, STORAGE_UNAVAILABLE: the database's, retryable) or else a fault of
ours (INTERNAL). Each call has a request id (``logs.request_id_of``: the caller's
x-request-id, else a new one), echoed with the call's status (trailing metadata; a
stream's in its headers), a failed call's too, and on every line logged while the call
runs.

A server-streaming method goes through the same steps, with its own limit on the
streams open at once (a stream holds a thread for as long as it runs, so streams must
not take the calls' slots); its call is logged when it ends. The caller it runs for
is ``CALLER``'s value while it runs.

It wraps each method's handler once, when the service is registered (``Guard.add``),
rather than as a gRPC server interceptor: an interceptor builds a new handler, and its
closures, on every call, on the thread that polls for calls. What a call needs that
does not change from call to call (its name and role) is looked up when the handler is
wrapped.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import queue
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import grpc
from google.rpc import code_pb2

from rating_server import logs
from rating_server.access_log import AccessLog
from rating_server.auth import ROLE_OF_METHOD, AccessPolicy, Principal
from rating_server.domain_errors import ConcurrentUpdateError, StorageUnavailableError
from rating_server.metrics import Metrics
from rating_server.servicers.statuses import abort

log = logging.getLogger("rating_server")

ANONYMOUS = Principal("anonymous", frozenset(ROLE_OF_METHOD.values()))

_OK = grpc.StatusCode.OK

#: The caller a streaming method runs for, set by the guard while it runs.
CALLER: contextvars.ContextVar[Principal] = contextvars.ContextVar("caller", default=ANONYMOUS)


class _Malformed:
    """Stands for request bytes that did not parse."""

    def __init__(self, error: Exception) -> None:
        self.error = error


class Guard:
    def __init__(
        self,
        policy: AccessPolicy | None,
        metrics: Metrics,
        max_concurrent: int,
        access_log: AccessLog,
        max_streams: int = 64,
    ) -> None:
        self._policy = policy
        self._access_log = access_log
        self._metrics = metrics
        self.max_concurrent = max_concurrent
        # A slot is a token in a queue: taking and returning one is a C call each.
        self._slots: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(max_concurrent):
            self._slots.put(None)
        self.max_streams = max_streams
        self._streams: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(max_streams):
            self._streams.put(None)
        metrics.in_flight.set_function(lambda: max_concurrent - self._slots.qsize())

    def add(
        self,
        add_to_server: Callable[[Any, Any], None],
        servicer: object,
        server: grpc.Server,
    ) -> None:
        """Register ``servicer`` on ``server`` through ``add_to_server`` (a generated
        ``add_*Servicer_to_server``), every method guarded."""
        registrar = _Registrar(self, server)
        add_to_server(servicer, registrar)
        if not registrar.services:
            raise RuntimeError(f"{add_to_server.__name__} registered no method handlers")

    def wrap(
        self, method: str, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any]:
        """``handler`` of ``method`` ("/package.Service/Method"), guarded."""
        run = handler.unary_unary
        streams = handler.unary_stream
        if run is None and streams is None:  # no other kind may pass unguarded
            raise TypeError(f"{method} is neither unary nor server-streaming; it cannot be wrapped")
        parse = handler.request_deserializer
        serialize = handler.response_serializer
        call = _Call(self, method, _has_request_id(parse))

        def deserialize(data: bytes) -> Any:
            try:
                return parse(data) if parse else data
            except Exception as error:  # any undecodable bytes
                return _Malformed(error)

        def respond(response: Any) -> bytes:
            # A servicer may answer with the message's bytes already written (encode.py).
            if type(response) is bytes or serialize is None:
                written: bytes = response
                return written
            return serialize(response)

        if streams is not None:
            return grpc.unary_stream_rpc_method_handler(
                lambda request, context: call.stream(streams, request, context),
                request_deserializer=deserialize,
                response_serializer=respond,
            )
        assert run is not None
        return grpc.unary_unary_rpc_method_handler(
            lambda request, context: call.run(run, request, context),
            request_deserializer=deserialize,
            response_serializer=respond,
        )

    def authenticate(
        self, metadata: Sequence[tuple[str, Any]], context: grpc.ServicerContext
    ) -> Principal:
        if self._policy is None:
            return ANONYMOUS
        principal = None
        authorization = next((v for k, v in metadata if k == "authorization"), None)
        if authorization is not None:
            scheme, _, token = str(authorization).partition(" ")
            if scheme.lower() == "bearer" and token:
                principal = self._policy.by_token(token.strip())
            if principal is None:
                abort(
                    context,
                    code_pb2.UNAUTHENTICATED,
                    "the bearer token is not valid",
                    "TOKEN_INVALID",
                )
        else:
            principal = self._policy.by_certificate(_certificate_identities(context))
        if principal is None:
            abort(
                context,
                code_pb2.UNAUTHENTICATED,
                "no credentials: send a bearer token or a client certificate",
                "CREDENTIALS_MISSING",
            )
        return principal


class _Call:
    """One method's guard: what every call of it does, and what it looks up once."""

    def __init__(self, guard: Guard, method: str, has_request_id: bool) -> None:
        self.guard = guard
        self.slots = guard._slots
        self.access_log = guard._access_log
        self.method = method
        self.name = method.rsplit("/", 1)[-1]
        self.role = ROLE_OF_METHOD.get(method)
        self.has_request_id = has_request_id

    def run(
        self,
        run: Callable[[Any, grpc.ServicerContext], Any],
        request: Any,
        context: grpc.ServicerContext,
    ) -> Any:
        started = time.perf_counter()
        metadata = context.invocation_metadata() or ()
        request_id = logs.request_id_of(metadata)
        principal: Principal | None = None
        failed = False
        call_id = logs.REQUEST_ID.set(request_id)  # an abort echoes it (servicers.statuses)
        try:
            try:
                self.slots.get_nowait()
            except queue.Empty:
                exhausted = grpc.StatusCode.RESOURCE_EXHAUSTED
                self.record(started, exhausted, None, request, request_id, context)
                limit = self.guard.max_concurrent
                abort(
                    context,
                    code_pb2.RESOURCE_EXHAUSTED,
                    f"more than {limit} calls at once; retry with backoff",
                    "TOO_MANY_CONCURRENT_CALLS",
                    metadata={"limit": str(limit)},
                )
            try:
                principal = self.admit(metadata, request, context)
                response = run(request, context)
                _echo(request_id, context)
                return response
            except Exception as error:
                failed = True
                self.fail(error, context)
                raise
            finally:
                self.slots.put(None)
                code = _code_of(context, failed)
                self.record(started, code, principal, request, request_id, context)
        finally:
            logs.REQUEST_ID.reset(call_id)

    def stream(
        self,
        run: Callable[[Any, grpc.ServicerContext], Iterator[Any]],
        request: Any,
        context: grpc.ServicerContext,
    ) -> Iterator[Any]:
        """``run``'s stream, guarded as a call is, with the streams' own limit."""
        started = time.perf_counter()
        metadata = context.invocation_metadata() or ()
        request_id = logs.request_id_of(metadata)
        principal: Principal | None = None
        failed = False
        streams = self.guard._streams
        # A stream sends its first messages long before its status: the request id goes
        # in its headers (initial metadata), which one send more costs a stream little.
        with contextlib.suppress(grpc.RpcError):  # the caller is gone: nobody to tell
            context.send_initial_metadata(((logs.REQUEST_ID_KEY, request_id),))
        try:
            streams.get_nowait()
        except queue.Empty:
            exhausted = grpc.StatusCode.RESOURCE_EXHAUSTED
            self.record(started, exhausted, None, request, request_id, context)
            limit = self.guard.max_streams
            abort(
                context,
                code_pb2.RESOURCE_EXHAUSTED,
                f"more than {limit} streams at once; retry with backoff",
                "TOO_MANY_STREAMS",
                metadata={"limit": str(limit)},
            )
        call_id = logs.REQUEST_ID.set(request_id)
        try:
            principal = self.admit(metadata, request, context)
            token = CALLER.set(principal)
            try:
                yield from run(request, context)
            finally:
                CALLER.reset(token)
        except Exception as error:
            failed = True
            self.fail(error, context)
            raise
        finally:
            streams.put(None)
            self.record(started, _code_of(context, failed), principal, request, request_id, context)
            logs.REQUEST_ID.reset(call_id)

    def admit(
        self, metadata: Sequence[tuple[str, Any]], request: Any, context: grpc.ServicerContext
    ) -> Principal:
        """The caller, once authenticated, allowed the method, and its request parsed."""
        principal = self.guard.authenticate(metadata, context)
        if self.role is None or self.role not in principal.roles:
            self.refuse(principal, context)
        if type(request) is _Malformed:
            abort(
                context,
                code_pb2.INVALID_ARGUMENT,
                f"the request is not a valid {self.name} request message",
                "MALFORMED_REQUEST",
            )
        return principal

    def fail(self, error: Exception, context: grpc.ServicerContext) -> None:
        """Turn what a method raised and did not turn into a status into one: a conflict
        (ABORTED) or a storage fault (UNAVAILABLE), both retryable, or a fault of ours
        (INTERNAL, logged). An abort's own exception passes as it is."""
        if isinstance(error, ConcurrentUpdateError):
            # Other calls' writes to the same balances won, again and again: retryable.
            log.warning("%s: %s", self.method, error)
            abort(
                context,
                code_pb2.ABORTED,
                f"{error}; nothing was changed: retry",
                "CONCURRENT_UPDATE",
            )
        if isinstance(error, StorageUnavailableError):
            # The database's fault, not the caller's nor ours: retryable, nothing written.
            log.warning("%s: %s", self.method, error)
            abort(
                context,
                code_pb2.UNAVAILABLE,
                f"{error}; nothing was changed: retry with backoff",
                "STORAGE_UNAVAILABLE",
                metadata={"cause": error.cause},
            )
        if context.code() is None:  # type: ignore[attr-defined]  # grpcio has it; its stubs not
            # A fault of ours, not an abort: log it, and tell the caller no internals.
            log.exception("unexpected error in %s", self.method, exc_info=error)
            abort(
                context,
                code_pb2.INTERNAL,
                "internal error; the server's log has the details",
                "INTERNAL",
            )

    def refuse(self, principal: Principal, context: grpc.ServicerContext) -> None:
        role = self.role
        abort(
            context,
            code_pb2.PERMISSION_DENIED,
            f"{principal.name!r} may not call {self.name}: it needs the {role or 'admin'!r} role",
            "ROLE_MISSING",
            metadata={"principal": principal.name, "role": role or "admin"},
        )

    def record(
        self,
        started: float,
        code: grpc.StatusCode,
        principal: Principal | None,
        request: Any,
        request_id: str,
        context: grpc.ServicerContext,
    ) -> None:
        seconds = time.perf_counter() - started
        access_log = self.access_log
        if access_log.enabled:
            # A malformed request has no request_id (nor an idempotency key).
            key = getattr(request, "request_id", None) if self.has_request_id else None
            access_log.record(
                self.method,
                code.name,
                seconds,
                request_id,
                key,
                principal.name if principal else None,
                context.peer(),
            )


class _Registrar:
    """Stands for the server before a generated ``add_*Servicer_to_server``: it takes
    the method handlers that function registers and registers them guarded."""

    def __init__(self, guard: Guard, server: grpc.Server) -> None:
        self._guard = guard
        self._server = server
        self.services: list[str] = []

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        """Ignored: the same handlers arrive by name in ``add_registered_method_handlers``."""

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        guarded = {name: self._guard.wrap(f"/{service}/{name}", h) for name, h in handlers.items()}
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service, guarded),)
        )
        self._server.add_registered_method_handlers(service, guarded)
        self.services.append(service)


def _echo(request_id: str, context: grpc.ServicerContext) -> None:
    """Send the call's request id back as ``x-request-id`` with its status (trailing
    metadata), which costs the call no send of its own; a failed call's abort carries
    it there too (``servicers.statuses.abort``)."""
    context.set_trailing_metadata(((logs.REQUEST_ID_KEY, request_id),))


def _has_request_id(parse: Callable[[bytes], Any] | None) -> bool:
    """Whether the method's request message has a request_id field."""
    message = getattr(parse, "__self__", None)
    descriptor = getattr(message, "DESCRIPTOR", None)
    return descriptor is not None and "request_id" in descriptor.fields_by_name


def _code_of(context: grpc.ServicerContext, failed: bool) -> grpc.StatusCode:
    code = context.code()  # type: ignore[attr-defined]  # grpcio has it; its stubs not
    if isinstance(code, grpc.StatusCode):
        return code
    return grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK


def _certificate_identities(context: grpc.ServicerContext) -> list[str]:
    auth = context.auth_context()
    names = [*auth.get("x509_common_name", ()), *auth.get("x509_subject_alternative_name", ())]
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]

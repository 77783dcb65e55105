"""The server interceptor in front of every rating RPC.

In order: it refuses calls past the concurrency limit (RESOURCE_EXHAUSTED), finds
who is calling (a bearer token, else the client certificate) and whether their roles
allow the method (UNAUTHENTICATED, PERMISSION_DENIED), refuses bytes that are not a
valid request message (INVALID_ARGUMENT), then runs the method; and it counts, times
and logs every call (one JSON line with the request_id; never a token).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from google.rpc import code_pb2

from rating_server.access_log import AccessLog
from rating_server.auth import OPEN_PREFIXES, ROLE_OF_METHOD, AccessPolicy, Principal
from rating_server.metrics import Metrics
from rating_server.servicers.errors import abort

log = logging.getLogger("rating_server")

ANONYMOUS = Principal("anonymous", frozenset(ROLE_OF_METHOD.values()))


class _Malformed:
    """Stands for request bytes that did not parse."""

    def __init__(self, error: Exception) -> None:
        self.error = error


class Guard(grpc.ServerInterceptor):
    def __init__(
        self,
        policy: AccessPolicy | None,
        metrics: Metrics,
        max_concurrent: int,
        access_log: AccessLog,
    ) -> None:
        self._policy = policy
        self._access_log = access_log
        self._metrics = metrics
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._max_concurrent = max_concurrent

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(details)
        method: str = details.method  # type: ignore[attr-defined]
        if handler is None or handler.unary_unary is None or method.startswith(OPEN_PREFIXES):
            return handler
        metadata = tuple(details.invocation_metadata or ())  # type: ignore[attr-defined]
        run = handler.unary_unary
        parse = handler.request_deserializer
        serialize = handler.response_serializer

        def deserialize(data: bytes) -> Any:
            try:
                return parse(data) if parse else data
            except Exception as error:  # any undecodable bytes
                return _Malformed(error)

        def behavior(request: Any, context: grpc.ServicerContext) -> Any:
            return self._guarded(method, metadata, run, request, context)

        def respond(response: Any) -> bytes:
            # A servicer may answer with the message's bytes already written (encode.py).
            if type(response) is bytes or serialize is None:
                return response
            return serialize(response)

        return grpc.unary_unary_rpc_method_handler(
            behavior, request_deserializer=deserialize, response_serializer=respond
        )

    def _guarded(
        self,
        method: str,
        metadata: Sequence[tuple[str, Any]],
        run: Callable[[Any, grpc.ServicerContext], Any],
        request: Any,
        context: grpc.ServicerContext,
    ) -> Any:
        name = method.rsplit("/", 1)[-1]
        started = time.perf_counter()
        principal: Principal | None = None
        failed = False
        if not self._slots.acquire(blocking=False):
            self._record(
                name,
                method,
                started,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                None,
                request,
                metadata,
                context,
            )
            abort(
                context,
                code_pb2.RESOURCE_EXHAUSTED,
                f"more than {self._max_concurrent} calls at once; retry with backoff",
                "TOO_MANY_CONCURRENT_CALLS",
                metadata={"limit": str(self._max_concurrent)},
            )
        self._metrics.in_flight.inc()
        try:
            principal = self._authenticate(metadata, context)
            self._check_role(principal, method, context)
            if isinstance(request, _Malformed):
                abort(
                    context,
                    code_pb2.INVALID_ARGUMENT,
                    f"the request is not a valid {name} request message",
                    "MALFORMED_REQUEST",
                )
            return run(request, context)
        except Exception:
            failed = True
            if context.code() is None:  # type: ignore[attr-defined]
                # A fault of ours, not an abort: log it, and tell the caller no internals.
                log.exception("unexpected error in %s", method)
                abort(
                    context,
                    code_pb2.INTERNAL,
                    "internal error; the server's log has the details",
                    "INTERNAL",
                )
            raise
        finally:
            self._metrics.in_flight.dec()
            self._slots.release()
            code = _code_of(context, failed)
            self._record(name, method, started, code, principal, request, metadata, context)

    def _authenticate(
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

    def _check_role(self, principal: Principal, method: str, context: grpc.ServicerContext) -> None:
        role = ROLE_OF_METHOD.get(method)
        if role is None or role not in principal.roles:
            abort(
                context,
                code_pb2.PERMISSION_DENIED,
                f"{principal.name!r} may not call {method.rsplit('/', 1)[-1]}: "
                f"it needs the {role or 'admin'!r} role",
                "ROLE_MISSING",
                metadata={"principal": principal.name, "role": role or "admin"},
            )

    def _record(
        self,
        name: str,
        method: str,
        started: float,
        code: grpc.StatusCode,
        principal: Principal | None,
        request: Any,
        metadata: Sequence[tuple[str, Any]],
        context: grpc.ServicerContext,
    ) -> None:
        seconds = time.perf_counter() - started
        self._metrics.rpcs.labels(name, code.name).inc()
        self._metrics.rpc_seconds.labels(name).observe(seconds)
        if self._access_log.enabled:
            request_id = getattr(request, "request_id", "") or next(
                (str(v) for k, v in metadata if k == "x-request-id"), ""
            )
            self._access_log.record(
                method,
                code.name,
                seconds,
                request_id,
                principal.name if principal else None,
                context.peer(),
            )


def _code_of(context: grpc.ServicerContext, failed: bool) -> grpc.StatusCode:
    code = context.code()  # type: ignore[attr-defined]
    if isinstance(code, grpc.StatusCode):
        return code
    return grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK


def _certificate_identities(context: grpc.ServicerContext) -> list[str]:
    auth = context.auth_context()
    names = [*auth.get("x509_common_name", ()), *auth.get("x509_subject_alternative_name", ())]
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]

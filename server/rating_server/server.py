"""Wiring: a gRPC server with the rating services, health and reflection.

``create_server`` builds one from ``Settings``, a step a function: it checks how the
server is exposed, opens the catalog and the ledger, starts tracing, builds the gRPC
server with its interceptors, adds the services, health and reflection, and binds the
address (port 0 picks a free one, so tests run the real server in-process). What it
returns is bound and not yet serving: ``RatingServer.start`` serves, ``stop`` drains
the calls and closes everything. Running a process until a signal stops it is
``serving.py``'s; several processes on one port, ``workers.py``'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable
from concurrent import futures
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from rating.v1 import (
    account_service_pb2,
    account_service_pb2_grpc,
    catalog_service_pb2,
    catalog_service_pb2_grpc,
    rating_service_pb2,
    rating_service_pb2_grpc,
)
from rating_server import ports, reflection
from rating_server.access_log import AccessLog
from rating_server.auth import AccessFileError, AccessPolicy
from rating_server.catalog.cache import CatalogCache
from rating_server.catalog.model import CatalogError
from rating_server.config import Settings, is_postgres_url
from rating_server.domain_errors import SchemaError, StorageUnavailableError
from rating_server.feed_bell import FeedBell
from rating_server.grpc_metrics import ServerMetrics
from rating_server.guard import Guard
from rating_server.health import HealthServicer
from rating_server.ledger.store import LedgerStore
from rating_server.ledger.stores import open_ledger
from rating_server.metrics import Metrics
from rating_server.servicers.account import AccountServicer
from rating_server.servicers.catalog import CatalogServicer
from rating_server.servicers.rating import RatingServicer
from rating_server.tracing import Tracing, TracingUnavailableError, start_tracing

log = logging.getLogger("rating_server")

SERVICE_NAMES = (
    rating_service_pb2.DESCRIPTOR.services_by_name["RatingService"].full_name,
    account_service_pb2.DESCRIPTOR.services_by_name["AccountService"].full_name,
    catalog_service_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name,
)


# The services whose calls write the database.
WRITING_SERVICE_NAMES = SERVICE_NAMES[:2]


class StartupError(RuntimeError):
    """The server cannot start (port taken, no catalog, ...); the message says why."""


@dataclasses.dataclass(eq=False)
class RatingServer:
    """A server ``create_server`` built: bound to its address, not yet serving.

    ``owns_claim``: whether the claim on the address is this server's own, let go of
    as it stops (a supervisor's workers share the supervisor's)."""

    settings: Settings
    catalog: CatalogCache
    ledger: LedgerStore
    feed_bell: FeedBell
    metrics: Metrics
    access_log: AccessLog
    health: HealthServicer
    tracing: Tracing | None
    grpc_server: grpc.Server
    threads: futures.ThreadPoolExecutor
    claim: ports.PortClaim
    owns_claim: bool
    #: The port /metrics is served on, once started (with ``settings.metrics_listen``).
    metrics_port: int | None = None
    _stopped: bool = dataclasses.field(default=False, init=False)

    @property
    def port(self) -> int:
        return self.claim.port

    @property
    def address(self) -> str:
        return self.claim.address

    def start(self) -> None:
        """Serve: /metrics (if set), the catalog's reloads, the ledger's write probes,
        the feed's bell, then the calls. StartupError (everything closed) when the
        metrics address cannot be served."""
        if self.settings.metrics_listen:
            try:
                self.metrics_port = self.metrics.serve(self.settings.metrics_listen)
            except (OSError, ValueError) as error:
                self._close_stores()
                raise StartupError(
                    f"cannot serve metrics on {self.settings.metrics_listen}: {error}"
                ) from None
        self.catalog.start()
        self.ledger.start_probing()
        self.feed_bell.start()
        self.grpc_server.start()

    def stop(self, grace: float | None = None) -> None:
        """Drain: turn health NOT_SERVING, end the streams (their callers resume from
        their cursors elsewhere), let in-flight calls finish within ``grace`` seconds
        (``settings.grace_seconds``), then close the databases. Once; again, nothing."""
        if self._stopped:  # its databases and its claim on the port are closed
            return
        self._stopped = True
        self.health.enter_graceful_shutdown()
        self.feed_bell.close()
        self.grpc_server.stop(self.settings.grace_seconds if grace is None else grace).wait()
        # A method's thread may still be running after its call was cancelled (a stream
        # between two reads): the databases close once every one has returned.
        self.threads.shutdown(wait=True)
        self.metrics.close()
        if self.tracing is not None:
            self.tracing.close()  # the spans still waiting are sent
        self._close_stores()

    def _close_stores(self) -> None:
        """Close the access log and the databases, and let go of the address if this
        server claimed it."""
        self.access_log.close()
        self.catalog.close()
        self.ledger.close()
        if self.owns_claim:
            self.claim.close()


@dataclasses.dataclass(frozen=True)
class Exposure:
    """Who may call the server and over what: the access policy (None: no
    authentication) and the TLS credentials (None: plaintext)."""

    policy: AccessPolicy | None
    credentials: grpc.ServerCredentials | None


def create_server(
    settings: Settings,
    claim: ports.PortClaim | None = None,
    tracer_provider: object | None = None,
) -> RatingServer:
    """A server built from ``settings``, bound to its address and not yet serving
    (``RatingServer.start``). StartupError, with nothing left open, when it cannot be.

    ``claim``: the address to listen on, claimed by the caller (a supervisor's workers
    share its claim); without one, the server claims ``settings.listen`` itself and
    lets go of it when it stops. A taken address is refused. ``tracer_provider``: an
    OpenTelemetry one to trace calls with, whatever ``settings.tracing`` says (tests)."""
    exposure = check_exposure(settings)
    with contextlib.ExitStack() as opened:  # closed again if a later step fails
        catalog = open_catalog_cache(settings)
        opened.callback(catalog.close)
        tracing = start_tracing_of(settings, tracer_provider)
        if tracing is not None:
            opened.callback(tracing.close)
        metrics = Metrics()
        metrics.catalog_version.set_function(lambda: catalog.snapshot.version)
        access_log = AccessLog()
        opened.callback(access_log.close)
        ledger = open_writable_ledger(settings, metrics.db_seconds.observe)
        opened.callback(ledger.close)
        threads, grpc_server = build_grpc_server(settings, metrics, tracing)
        opened.callback(threads.shutdown)
        feed_bell = FeedBell(ledger)
        guard = Guard(
            exposure.policy,
            metrics,
            settings.max_concurrent_rpcs,
            access_log,
            settings.max_streams,
        )
        add_services(grpc_server, guard, settings, catalog, ledger, feed_bell, metrics)
        served = add_health(grpc_server)
        ledger.on_writable = health_follows_writes(served, settings.database)
        if exposure.policy is None or exposure.policy.reflection:
            reflection.enable_server_reflection((*SERVICE_NAMES, health.SERVICE_NAME), grpc_server)
        bound = claim_address(settings) if claim is None else claim
        if claim is None:
            opened.callback(bound.close)
        bind(grpc_server, bound, exposure.credentials, settings.listen)
        opened.pop_all()
    return RatingServer(
        settings=settings,
        catalog=catalog,
        ledger=ledger,
        feed_bell=feed_bell,
        metrics=metrics,
        access_log=access_log,
        health=served,
        tracing=tracing,
        grpc_server=grpc_server,
        threads=threads,
        claim=bound,
        owns_claim=claim is None,
    )


def check_exposure(settings: Settings) -> Exposure:
    """The access policy and the TLS credentials ``settings`` name. StartupError when
    a non-loopback address would have neither (unless ``settings.insecure``: then a
    warning), or when a file they name cannot be read."""
    exposure = Exposure(_access_policy(settings), _server_credentials(settings))
    if settings.on_loopback:
        return exposure
    if exposure.credentials is None and exposure.policy is None:
        if not settings.insecure:
            raise StartupError(
                f"refusing to listen on {settings.listen} with neither TLS nor "
                "authentication: set RATING_TLS_CERT and RATING_TLS_KEY, or RATING_AUTH, "
                "or accept the risk with --insecure (RATING_INSECURE=1)"
            )
        log.warning("listening on %s with neither TLS nor authentication", settings.listen)
    elif exposure.policy is None:
        log.warning(
            "listening on %s without an access file (RATING_AUTH): every caller that "
            "completes the TLS handshake has every role",
            settings.listen,
        )
    return exposure


def open_catalog_cache(settings: Settings) -> CatalogCache:
    """The catalog of ``settings.db_path``, loaded. StartupError when there is no
    database file, no catalog in it, or the database cannot be opened."""
    if not is_postgres_url(settings.db_path) and not Path(settings.db_path).is_file():
        raise StartupError(
            f"there is no database at {settings.db_path}: import a catalog first "
            "(rating-server catalog import FILE)"
        )
    try:
        return CatalogCache(settings.db_path)
    except (CatalogError, SchemaError) as error:
        raise StartupError(str(error)) from None
    except StorageUnavailableError as error:
        cause = error.__cause__ or error
        raise StartupError(f"cannot open the database {settings.database}: {cause}") from None


def start_tracing_of(settings: Settings, tracer_provider: object | None) -> Tracing | None:
    """Tracing as ``settings.tracing`` says (None: off); StartupError when it is on
    and its packages are not installed."""
    try:
        return start_tracing(settings.tracing, tracer_provider)
    except TracingUnavailableError as error:
        raise StartupError(str(error)) from None


def open_writable_ledger(settings: Settings, observe: Callable[[float], object]) -> LedgerStore:
    """The ledger, written to once: StartupError when the database takes no writes."""
    ledger = None
    try:
        ledger = open_ledger(settings.db_path, observe)
        ledger.probe()
    except SchemaError as error:
        raise StartupError(str(error)) from None
    except (StorageUnavailableError, OSError) as error:
        if ledger is not None:
            ledger.close()
        cause = error.__cause__ or error
        raise StartupError(f"cannot write the database {settings.database}: {cause}") from None
    return ledger


def build_grpc_server(
    settings: Settings, metrics: Metrics, tracing: Tracing | None
) -> tuple[futures.ThreadPoolExecutor, grpc.Server]:
    """The gRPC server, with no service yet, and the threads its calls run on."""
    options: list[tuple[str, int]] = [
        # Every server shares its port with its own workers; the claim (ports.py)
        # keeps every other server off it.
        ("grpc.so_reuseport", 1),
        # The message size and the keepalive policy, as GetLimits tells them (a
        # client may ping every 10 s; the client package pings every 30 s in calls).
        *settings.service_limits.grpc_options(),
    ]
    limit, streams = settings.max_concurrent_rpcs, settings.max_streams
    # A few more threads than the limits, so calls past them are refused (by the
    # guard, with details) rather than queued; gRPC's own cap is a backstop.
    threads = futures.ThreadPoolExecutor(max_workers=limit + streams + 4, thread_name_prefix="rpc")
    # The span (outermost) covers the metrics, which cover the guard's handlers.
    metered = ServerMetrics(metrics, None if tracing is None else tracing.mark)
    server = grpc.server(
        threads,
        options=options,
        maximum_concurrent_rpcs=(limit + streams) * 4,
        interceptors=[*([] if tracing is None else [tracing.interceptor]), metered],
    )
    return threads, server


def add_services(
    server: grpc.Server,
    guard: Guard,
    settings: Settings,
    catalog: CatalogCache,
    ledger: LedgerStore,
    feed_bell: FeedBell,
    metrics: Metrics,
) -> None:
    """The rating, account and catalog services, each behind ``guard``."""
    guard.add(
        rating_service_pb2_grpc.add_RatingServiceServicer_to_server,
        RatingServicer(catalog, ledger, settings.limits, metrics, settings.service_limits),
        server,
    )
    guard.add(
        account_service_pb2_grpc.add_AccountServiceServicer_to_server,
        AccountServicer(catalog, ledger, feed_bell),
        server,
    )
    guard.add(
        catalog_service_pb2_grpc.add_CatalogServiceServicer_to_server,
        CatalogServicer(catalog),
        server,
    )


def add_health(server: grpc.Server) -> HealthServicer:
    """The health service, saying SERVING for the server and each service."""
    served = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(served, server)
    for name in ("", *SERVICE_NAMES):
        served.set(name, health_pb2.HealthCheckResponse.SERVING)
    return served


def health_follows_writes(
    served: HealthServicer, database: str
) -> Callable[[bool, StorageUnavailableError | None], None]:
    """What the ledger tells when its writes start or stop succeeding
    (``LedgerStore.on_writable``): health NOT_SERVING while they fail, SERVING once one
    succeeds (``LedgerStore.start_probing`` tries one every second). The catalog
    service writes nothing and keeps serving."""

    def writes_succeed(writable: bool, fault: StorageUnavailableError | None) -> None:
        status = health_pb2.HealthCheckResponse.SERVING
        if writable:
            log.warning("the database %s takes writes again: serving", database)
        else:
            status = health_pb2.HealthCheckResponse.NOT_SERVING
            log.error(
                "the database %s takes no writes (%s): health NOT_SERVING, and writes are "
                "answered UNAVAILABLE until one succeeds",
                database,
                fault and (fault.__cause__ or fault),
            )
        for name in ("", *WRITING_SERVICE_NAMES):
            served.set(name, status)

    return writes_succeed


def claim_address(settings: Settings) -> ports.PortClaim:
    """``settings.listen``, claimed for this server; StartupError when it is taken."""
    try:
        return ports.claim(settings.listen)
    except ports.ListenError as error:
        raise StartupError(str(error)) from None


def bind(
    server: grpc.Server,
    claim: ports.PortClaim,
    credentials: grpc.ServerCredentials | None,
    listen: str,
) -> None:
    """Listen on each of the claim's addresses (TLS with ``credentials``); StartupError
    when gRPC cannot bind one to the claimed port."""
    for address in claim.addresses:
        try:
            if credentials is None:
                bound = server.add_insecure_port(address)
            else:
                bound = server.add_secure_port(address, credentials)
        except RuntimeError as error:
            bound, reason = 0, str(error)
        else:
            reason = "the address is taken or invalid"
        if bound != claim.port:
            raise StartupError(f"cannot listen on {listen}: {address}: {reason}")


def _access_policy(settings: Settings) -> AccessPolicy | None:
    if not settings.auth_file:
        return None
    try:
        return AccessPolicy.load(settings.auth_file)
    except AccessFileError as error:
        raise StartupError(f"bad access file: {error}") from None


def _server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    if not settings.tls:
        if settings.tls_client_ca:
            raise StartupError("RATING_TLS_CLIENT_CA needs RATING_TLS_CERT and RATING_TLS_KEY")
        return None
    if not (settings.tls_cert and settings.tls_key):
        raise StartupError("TLS needs both RATING_TLS_CERT and RATING_TLS_KEY")
    try:
        key = Path(settings.tls_key).read_bytes()
        chain = Path(settings.tls_cert).read_bytes()
        client_ca = Path(settings.tls_client_ca).read_bytes() if settings.tls_client_ca else None
    except OSError as error:
        raise StartupError(f"cannot read a TLS file: {error}") from None
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )

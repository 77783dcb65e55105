"""Wiring: the gRPC server with the rating services, health and reflection.

``RatingServer`` builds everything from ``Settings`` and can listen on port 0, so
tests run the real server in-process; ``serve`` runs it until SIGTERM or SIGINT.
"""

from __future__ import annotations

import logging
import signal
import sqlite3
import threading
from concurrent import futures
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from rating.options import SERVER_MIN_PING_INTERVAL_MS
from rating.v1 import (
    account_service_pb2,
    account_service_pb2_grpc,
    catalog_service_pb2,
    catalog_service_pb2_grpc,
    rating_service_pb2,
    rating_service_pb2_grpc,
)
from rating_server.catalog.cache import CatalogCache
from rating_server.catalog.model import CatalogError
from rating_server.config import Settings
from rating_server.ledger.database import LedgerDatabase
from rating_server.servicers.account import AccountServicer
from rating_server.servicers.catalog import CatalogServicer
from rating_server.servicers.rating import RatingServicer

log = logging.getLogger("rating_server")

SERVICE_NAMES = (
    rating_service_pb2.DESCRIPTOR.services_by_name["RatingService"].full_name,
    account_service_pb2.DESCRIPTOR.services_by_name["AccountService"].full_name,
    catalog_service_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name,
)


class StartupError(RuntimeError):
    """The server cannot start (port taken, no catalog, ...); the message says why."""


class RatingServer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        host, _ = _parse_listen(settings.listen)
        if not Path(settings.db_path).is_file():
            raise StartupError(
                f"there is no database at {settings.db_path}: import a catalog first "
                "(rating-server catalog import FILE)"
            )
        try:
            self.catalog = CatalogCache(settings.db_path)
        except CatalogError as error:
            raise StartupError(str(error)) from None
        except sqlite3.Error as error:
            raise StartupError(f"cannot open the database {settings.db_path}: {error}") from None
        self.ledger = LedgerDatabase(settings.db_path)
        options = [
            # A second server on a taken port must fail, not silently share it.
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
            # Let clients ping every 10 s (the client package pings every 30 s in calls).
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", SERVER_MIN_PING_INTERVAL_MS),
        ]
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=settings.max_workers, thread_name_prefix="rpc"),
            options=options,
        )
        rating_service_pb2_grpc.add_RatingServiceServicer_to_server(
            RatingServicer(self.catalog, self.ledger, settings.limits), self._server
        )
        account_service_pb2_grpc.add_AccountServiceServicer_to_server(
            AccountServicer(self.catalog, self.ledger), self._server
        )
        catalog_service_pb2_grpc.add_CatalogServiceServicer_to_server(
            CatalogServicer(self.catalog), self._server
        )
        self.health = health.HealthServicer(experimental_non_blocking=True)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        for name in ("", *SERVICE_NAMES):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), self._server
        )
        try:
            self.port = self._server.add_insecure_port(settings.listen)
        except RuntimeError as error:
            self._close_databases()
            raise StartupError(f"cannot listen on {settings.listen}: {error}") from None
        if self.port == 0:
            self._close_databases()
            raise StartupError(
                f"cannot listen on {settings.listen}: the address is taken or invalid"
            )
        self.address = f"{host}:{self.port}"

    def start(self) -> None:
        self.catalog.start()
        self._server.start()

    def stop(self, grace: float | None = None) -> None:
        """Turn health NOT_SERVING, let in-flight calls finish, then close the database."""
        self.health.enter_graceful_shutdown()
        self._server.stop(self.settings.grace_seconds if grace is None else grace).wait()
        self._close_databases()

    def _close_databases(self) -> None:
        self.catalog.close()
        self.ledger.close()


def _parse_listen(listen: str) -> tuple[str, int]:
    """Split host:port, refusing a port gRPC would silently wrap (99999 -> 34463)."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise StartupError(f"cannot listen on {listen!r}: expected host:port, port 0 to 65535")
    return host, int(port)


def serve(settings: Settings) -> int:
    """Run until SIGTERM or SIGINT; the exit status."""
    try:
        server = RatingServer(settings)
    except StartupError as error:
        log.error("rating-server cannot start: %s", error)
        return 1
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, _frame: stopping.set())
    server.start()
    log.info(
        "rating-server listening on %s, database %s, catalog version %d",
        server.address,
        settings.db_path,
        server.catalog.snapshot.version,
    )
    while not stopping.wait(1.0):
        pass
    log.info("rating-server stopping: draining calls for up to %ss", settings.grace_seconds)
    server.stop()
    log.info("rating-server stopped")
    return 0

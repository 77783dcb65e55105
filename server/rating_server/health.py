"""Health, ``grpc.health.v1``, with ``List``.

grpcio-health-checking's servicer answers Check and Watch, but its List (in the proto,
so advertised by reflection) is the generated stub's: UNIMPLEMENTED, and a traceback
logged per call. This one keeps what every ``set`` said (the server's overall ``""`` and
each service) and lists it; after ``enter_graceful_shutdown`` every status listed is
NOT_SERVING and later ``set`` calls change nothing, as for Check and Watch.
"""

from __future__ import annotations

import threading
from typing import Any, TypeAlias

import grpc
from grpc_health.v1 import health, health_pb2

# grpcio-health-checking ships no type information: its enum is Any to the checker.
Status: TypeAlias = Any
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class HealthServicer(health.HealthServicer):
    def __init__(self) -> None:
        super().__init__(experimental_non_blocking=True)
        # Held around the base class's set, so the list and Check never disagree.
        self._listed_lock = threading.RLock()
        self._listed: dict[str, Status] = {health.OVERALL_HEALTH: SERVING}
        self._shutting_down = False

    def set(self, service: str, status: Status) -> None:
        with self._listed_lock:
            if self._shutting_down:
                return
            super().set(service, status)
            self._listed[service] = status

    def enter_graceful_shutdown(self) -> None:
        with self._listed_lock:
            super().enter_graceful_shutdown()
            self._shutting_down = True
            self._listed = dict.fromkeys(self._listed, NOT_SERVING)

    def List(
        self, request: health_pb2.HealthListRequest, context: grpc.ServicerContext
    ) -> health_pb2.HealthListResponse:
        with self._listed_lock:
            listed = dict(self._listed)
        return health_pb2.HealthListResponse(
            statuses={
                name: health_pb2.HealthCheckResponse(status=status)
                for name, status in listed.items()
            }
        )

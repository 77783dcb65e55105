"""Settings, from the environment (``RATING_*``); the README's "Running it" lists them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from rating.options import MAX_MESSAGE_BYTES
from rating_server.engine import Limits

DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_DB = "rating.db"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


@dataclass(frozen=True, slots=True)
class Settings:
    listen: str = DEFAULT_LISTEN
    db_path: str = DEFAULT_DB
    # Seconds in-flight calls get to finish after SIGTERM or SIGINT.
    grace_seconds: float = 10.0
    # Calls handled at once; more get RESOURCE_EXHAUSTED.
    max_concurrent_rpcs: int = 64
    # Largest message, in bytes: the client package's limit, which a full batch of
    # 10,000 items fits easily.
    max_message_bytes: int = MAX_MESSAGE_BYTES
    # How far ahead of the server's clock occurred_at may be (clock skew), seconds.
    max_future_seconds: int = 300
    # The access file (principals and roles); None: no authentication.
    auth_file: str | None = None
    # PEM files: the server's certificate and key (TLS), and the CA of client
    # certificates (mTLS: a client certificate is then required).
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    # Listen beyond loopback with neither TLS nor authentication.
    insecure: bool = False
    # host:port of the Prometheus /metrics endpoint; None: not served. With several
    # workers, worker i serves it on the port plus i.
    metrics_listen: str | None = None
    # Server processes sharing the port and the database (workers.py).
    workers: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        return cls(
            listen=env.get("RATING_LISTEN") or DEFAULT_LISTEN,
            db_path=env.get("RATING_DB") or DEFAULT_DB,
            max_concurrent_rpcs=int(env.get("RATING_MAX_CONCURRENT_RPCS") or 64),
            max_future_seconds=int(env.get("RATING_MAX_FUTURE_SECONDS") or 300),
            auth_file=env.get("RATING_AUTH") or None,
            tls_cert=env.get("RATING_TLS_CERT") or None,
            tls_key=env.get("RATING_TLS_KEY") or None,
            tls_client_ca=env.get("RATING_TLS_CLIENT_CA") or None,
            insecure=env.get("RATING_INSECURE", "").lower() in ("1", "true", "yes"),
            metrics_listen=env.get("RATING_METRICS_LISTEN") or None,
            workers=int(env.get("RATING_WORKERS") or 1),
        )

    @property
    def limits(self) -> Limits:
        return Limits(max_future_ns=self.max_future_seconds * 1_000_000_000)

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert or self.tls_key)

    @property
    def on_loopback(self) -> bool:
        return self.listen.rpartition(":")[0] in LOOPBACK_HOSTS

"""How a client connects: target, deadlines, retries, keepalive, TLS, mTLS, a token."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc

DEFAULT_TARGET = "127.0.0.1:50051"
DEFAULT_TIMEOUT = 10.0
# The server accepts requests this large; a full batch of 10,000 items fits easily.
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
# Keepalive pings every 30 s while calls are open; the server allows one every 10 s.
KEEPALIVE_TIME_MS = 30_000
KEEPALIVE_TIMEOUT_MS = 10_000
SERVER_MIN_PING_INTERVAL_MS = 10_000

# The backoff of retries on UNAVAILABLE: the first wait, the longest, doubling between
# (gRPC's retry policy for calls; the charges feed's reconnects use the same).
RETRY_INITIAL_BACKOFF = 0.1
RETRY_MAX_BACKOFF = 2.0

SERVICES = ("rating.v1.RatingService", "rating.v1.AccountService", "rating.v1.CatalogService")


def service_config(max_attempts: int) -> str:
    """gRPC retry policy: UNAVAILABLE and ABORTED, exponential backoff with jitter.

    Every call is safe to resend: commits and pack grants always carry a request_id,
    voids and updates are idempotent, reads change nothing (a resent CreateAccount
    may find the account made and say ALREADY_EXISTS). Reservations too: Reserve and
    Extend always carry a request_id, and a resent Release answers the released one.
    """
    policy = {
        "maxAttempts": max_attempts,
        "initialBackoff": f"{RETRY_INITIAL_BACKOFF}s",
        "maxBackoff": f"{RETRY_MAX_BACKOFF}s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE", "ABORTED"],
    }
    name = [{"service": service} for service in SERVICES]
    return json.dumps({"methodConfig": [{"name": name, "retryPolicy": policy}]})


@dataclass(frozen=True, slots=True)
class ClientOptions:
    target: str = DEFAULT_TARGET
    #: Deadline of every call, in seconds (commits get ``commit_timeout``).
    timeout: float = DEFAULT_TIMEOUT
    commit_timeout: float = 30.0
    #: Attempts per call on UNAVAILABLE or ABORTED (gRPC caps it at 5); 1 turns retries off.
    max_attempts: int = 5
    #: TLS: on when set, or when a CA or client certificate is given.
    tls: bool = False
    #: PEM of the CA that signed the server's certificate (default: the system's).
    root_certificates: bytes | None = None
    #: PEM of this client's certificate chain and key, for mTLS.
    certificate_chain: bytes | None = None
    private_key: bytes | None = None
    #: The name to check the server's certificate against, if not the target host.
    server_name: str | None = None
    #: A bearer token sent as ``authorization: Bearer <token>``.
    token: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ClientOptions:
        """``RATING_TARGET``, ``RATING_TIMEOUT``, ``RATING_TOKEN``, ``RATING_TLS`` (1),
        ``RATING_TLS_CA``, ``RATING_TLS_CERT``, ``RATING_TLS_KEY`` (PEM file paths) and
        ``RATING_TLS_SERVER_NAME``. A value it cannot use is a ValueError naming the
        variable and what it takes."""

        def pem(name: str) -> bytes | None:
            path = env.get(name)
            if not path:
                return None
            try:
                return Path(path).read_bytes()
            except OSError as error:
                raise ValueError(f"{name}: cannot read {path}: {error.strerror}") from None

        def seconds(name: str, default: float) -> float:
            text = env.get(name) or ""
            try:
                value = float(text) if text else default
            except ValueError:
                value = -1.0
            if not 0 < value < math.inf:
                raise ValueError(f"{name} must be a number of seconds above 0, not {text!r}")
            return value

        tls = (env.get("RATING_TLS") or "0").lower()
        if tls not in ("1", "true", "yes", "0", "false", "no"):
            raise ValueError(f"RATING_TLS must be 1 or 0 (true/false, yes/no), not {tls!r}")
        return cls(
            target=env.get("RATING_TARGET") or DEFAULT_TARGET,
            timeout=seconds("RATING_TIMEOUT", DEFAULT_TIMEOUT),
            tls=tls in ("1", "true", "yes"),
            root_certificates=pem("RATING_TLS_CA"),
            certificate_chain=pem("RATING_TLS_CERT"),
            private_key=pem("RATING_TLS_KEY"),
            server_name=env.get("RATING_TLS_SERVER_NAME") or None,
            token=env.get("RATING_TOKEN") or None,
        )

    @property
    def secure(self) -> bool:
        return self.tls or any((self.root_certificates, self.certificate_chain, self.private_key))

    def channel_options(self) -> list[tuple[str, object]]:
        options: list[tuple[str, object]] = [
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
            ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
            ("grpc.enable_retries", 1 if self.max_attempts > 1 else 0),
            ("grpc.service_config", service_config(max(2, min(self.max_attempts, 5)))),
            # A connection per client: channels to one address otherwise share one, and
            # all of a process's clients would reach the same one of a server's workers.
            ("grpc.use_local_subchannel_pool", 1),
        ]
        if self.server_name:
            options.append(("grpc.ssl_target_name_override", self.server_name))
        return options

    def credentials(self) -> grpc.ChannelCredentials | None:
        """Channel credentials for TLS (with the token, when set), or None for plaintext."""
        if not self.secure:
            return None
        credentials = grpc.ssl_channel_credentials(
            root_certificates=self.root_certificates,
            private_key=self.private_key,
            certificate_chain=self.certificate_chain,
        )
        if self.token:
            credentials = grpc.composite_channel_credentials(
                credentials, grpc.access_token_call_credentials(self.token)
            )
        return credentials

    def call_metadata(self) -> tuple[tuple[str, str], ...]:
        """Metadata added to every call: the token, on a plaintext channel (local only)."""
        if self.token and not self.secure:
            return (("authorization", f"Bearer {self.token}"),)
        return ()

"""Settings, from the environment: RATING_LISTEN (host:port) and RATING_DB (a path)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from rating.options import MAX_MESSAGE_BYTES
from rating_server.engine import Limits

DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_DB = "rating.db"


@dataclass(frozen=True, slots=True)
class Settings:
    listen: str = DEFAULT_LISTEN
    db_path: str = DEFAULT_DB
    # Seconds in-flight calls get to finish after SIGTERM or SIGINT.
    grace_seconds: float = 10.0
    max_workers: int = 16
    # Largest message, in bytes: the client package's limit, which a full batch of
    # 10,000 items fits easily.
    max_message_bytes: int = MAX_MESSAGE_BYTES

    # How far ahead of the server's clock occurred_at may be (clock skew), seconds.
    max_future_seconds: int = 300

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        return cls(
            listen=env.get("RATING_LISTEN") or DEFAULT_LISTEN,
            db_path=env.get("RATING_DB") or DEFAULT_DB,
            max_future_seconds=int(env.get("RATING_MAX_FUTURE_SECONDS") or 300),
        )

    @property
    def limits(self) -> Limits:
        return Limits(max_future_ns=self.max_future_seconds * 1_000_000_000)

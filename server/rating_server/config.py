"""Settings, from the environment (``RATING_*``); docs/operations.md lists them."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rating.options import MAX_MESSAGE_BYTES
from rating_server.engine import Limits
from rating_server.limits import ServiceLimits
from rating_server.ports import ListenError, parse_listen

DEFAULT_LISTEN = "127.0.0.1:50051"
#: The most workers a server may have.
MAX_WORKERS = 32
DEFAULT_DB = "rating.db"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


#: How a database URL of PostgreSQL begins (``RATING_DB``); anything else is a path.
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(database: object) -> bool:
    """Whether ``database`` (``RATING_DB``) names a PostgreSQL database, not a file."""
    return str(database).startswith(POSTGRES_SCHEMES)


def database_label(database: object) -> str:
    """``database`` as logs and messages show it: a URL's password, if any, hidden."""
    text = str(database)
    if not is_postgres_url(text):
        return text
    parts = urllib.parse.urlsplit(text)
    if parts.password is None:
        return text
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class SettingError(ValueError):
    """A setting the server cannot use; the message names it and what it takes."""


#: How an operator names each setting: the environment variable, and the flag if any.
_NAMES = {
    "listen": "RATING_LISTEN (--listen)",
    "db_path": "RATING_DB (--db)",
    "max_concurrent_rpcs": "RATING_MAX_CONCURRENT_RPCS",
    "max_streams": "RATING_MAX_STREAMS",
    "max_future_seconds": "RATING_MAX_FUTURE_SECONDS",
    "insecure": "RATING_INSECURE (--insecure)",
    "metrics_listen": "RATING_METRICS_LISTEN",
    "workers": "RATING_WORKERS (--workers)",
    "tracing": "RATING_TRACING",
}
#: The whole-number settings and their ranges, bounds included.
_RANGES = {
    "max_concurrent_rpcs": (1, 10_000),
    "max_streams": (1, 10_000),
    "max_future_seconds": (0, 366 * 24 * 3600),
    "workers": (1, MAX_WORKERS),
}
_SWITCHES = {"1": True, "true": True, "yes": True, "on": True, "": False, "0": False}
_SWITCHES |= {"false": False, "no": False, "off": False}


def whole_number(name: str, env: Mapping[str, str], default: int) -> int:
    """The setting ``name`` from ``env`` (its variable, see _NAMES) as an int in its
    range, or ``default`` when unset; also what a flag's text goes through."""
    text = env.get(_NAMES[name].split()[0], "").strip()
    if not text:
        return default
    low, high = _RANGES[name]
    if not text.isdigit() or not text.isascii():
        raise SettingError(f"{_NAMES[name]} must be a whole number, {low} to {high}, not {text!r}")
    return int(text)


def _switch(name: str, env: Mapping[str, str]) -> bool:
    text = env.get(_NAMES[name].split()[0], "").strip().lower()
    if text not in _SWITCHES:
        raise SettingError(f"{_NAMES[name]} must be 1 or 0 (true/false, yes/no), not {text!r}")
    return _SWITCHES[text]


#: RATING_TRACING's words: off (the default), or otlp (tracing.py).
_TRACING = {"otlp": "otlp", "off": "off"}
_TRACING |= {word: "otlp" if on else "off" for word, on in _SWITCHES.items()}


def tracing_mode(text: str) -> str:
    """RATING_TRACING's value as ``off`` or ``otlp``; SettingError for anything else."""
    mode = _TRACING.get(text.strip().lower())
    if mode is None:
        raise SettingError(f"{_NAMES['tracing']} must be otlp or off (1 or 0), not {text!r}")
    return mode


def _check_address(name: str, value: str) -> None:
    try:
        parse_listen(value)
    except ListenError:
        raise SettingError(
            f"{_NAMES[name]} must be host:port, port 0 to 65535, not {value!r}"
        ) from None


@dataclass(frozen=True, slots=True)
class Settings:
    listen: str = DEFAULT_LISTEN
    db_path: str = DEFAULT_DB
    # Seconds in-flight calls get to finish after SIGTERM or SIGINT.
    grace_seconds: float = 10.0
    # Calls handled at once; more get RESOURCE_EXHAUSTED.
    max_concurrent_rpcs: int = 64
    # Streams (WatchCharges, WatchBalance) open at once, apart from the calls; more get
    # RESOURCE_EXHAUSTED. Each holds a thread while it is open.
    max_streams: int = 64
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
    # OpenTelemetry tracing: "off", or "otlp" (spans exported over OTLP, tracing.py).
    tracing: str = "off"

    def __post_init__(self) -> None:
        """Refuse a setting out of its range (SettingError, naming it), whether it came
        from the environment, a flag or code."""
        _check_address("listen", self.listen)
        if self.metrics_listen is not None:
            _check_address("metrics_listen", self.metrics_listen)
        if not self.db_path:
            raise SettingError(f"{_NAMES['db_path']} must be the path of a database file")
        if not is_postgres_url(self.db_path) and Path(self.db_path).is_dir():
            raise SettingError(
                f"{_NAMES['db_path']} must be the path of a database file, "
                f"not a directory: {self.db_path}"
            )
        if self.tracing not in ("off", "otlp"):
            raise SettingError(f"{_NAMES['tracing']} must be otlp or off, not {self.tracing!r}")
        for name, (low, high) in _RANGES.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise SettingError(f"{_NAMES[name]} must be {low} to {high}, not {value}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """The settings the environment gives; SettingError names one it cannot use."""
        return cls(
            listen=env.get("RATING_LISTEN") or DEFAULT_LISTEN,
            db_path=env.get("RATING_DB") or DEFAULT_DB,
            max_concurrent_rpcs=whole_number("max_concurrent_rpcs", env, 64),
            max_streams=whole_number("max_streams", env, 64),
            max_future_seconds=whole_number("max_future_seconds", env, 300),
            auth_file=env.get("RATING_AUTH") or None,
            tls_cert=env.get("RATING_TLS_CERT") or None,
            tls_key=env.get("RATING_TLS_KEY") or None,
            tls_client_ca=env.get("RATING_TLS_CLIENT_CA") or None,
            insecure=_switch("insecure", env),
            metrics_listen=env.get("RATING_METRICS_LISTEN") or None,
            workers=whole_number("workers", env, 1),
            tracing=tracing_mode(env.get("RATING_TRACING", "")),
        )

    @property
    def database(self) -> str:
        """The database as logs show it (``database_label``)."""
        return database_label(self.db_path)

    @property
    def limits(self) -> Limits:
        return Limits(max_future_ns=self.max_future_seconds * 1_000_000_000)

    @property
    def service_limits(self) -> ServiceLimits:
        """Every limit a caller must respect: the server's options and GetLimits."""
        return ServiceLimits(usage=self.limits, max_message_bytes=self.max_message_bytes)

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert or self.tls_key)

    @property
    def on_loopback(self) -> bool:
        return self.listen.rpartition(":")[0] in LOOPBACK_HOSTS

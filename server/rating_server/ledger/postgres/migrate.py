"""The PostgreSQL schema's versions: applied by ``rating-server db migrate``, checked at start.

Each migration is a file ``migrations/NNNN_name.sql``, applied once, in number order,
each in a transaction of its own with its row in ``schema_migrations``; a migration
that fails leaves the schema at the version before it. Migrations only add: a server
of version N runs on schema N, and refuses a schema it does not know (older: migrate
first; newer: a newer server migrated it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from rating_server.domain_errors import SchemaError, StorageUnavailableError

__all__ = [
    "Migration",
    "SchemaError",
    "applied_version",
    "check",
    "latest",
    "migrate",
    "migrate_url",
]

_NAME = re.compile(r"(?P<number>[0-9]{4})_(?P<name>[a-z0-9_]+)\.sql")
# Taken while migrating, so that two `db migrate` at once apply each migration once.
_LOCK = 0x72617469  # "rati"

_TRACKING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """Every migration this server knows, in order."""
    found = []
    for entry in resources.files(__package__).joinpath("migrations").iterdir():
        matched = _NAME.fullmatch(entry.name)
        if matched:
            found.append(
                Migration(int(matched["number"]), matched["name"], entry.read_text("utf-8"))
            )
    found.sort(key=lambda migration: migration.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise SchemaError(f"migrations are not numbered 1 to {len(found)}: {found}")
    return found


def latest() -> int:
    return len(migrations())


def applied_version(conn: psycopg.Connection) -> int:
    """The schema version of the database: 0 when no migration was ever applied."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: psycopg.Connection) -> list[Migration]:
    """Apply every migration the database lacks; the ones applied. ``conn`` is in
    autocommit mode."""
    applied: list[Migration] = []
    conn.execute("SELECT pg_advisory_lock(%s)", [_LOCK])
    try:
        conn.execute(_TRACKING)
        current = applied_version(conn)
        if current > latest():
            raise SchemaError(_newer(current))
        for migration in migrations()[current:]:
            with conn.transaction():
                conn.execute(migration.sql)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    [migration.version, migration.name],
                )
            applied.append(migration)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", [_LOCK])
    return applied


def migrate_url(url: str) -> list[Migration]:
    """``migrate`` on the database at ``url``; StorageUnavailableError when it cannot
    be reached."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            return migrate(conn)
    except psycopg.OperationalError as error:
        raise StorageUnavailableError(
            f"the database cannot be reached now ({str(error).strip()})", "POSTGRES_UNREACHABLE"
        ) from error


def check(conn: psycopg.Connection) -> None:
    """SchemaError unless the database's schema is exactly the one this server knows."""
    current = applied_version(conn)
    if current == latest():
        return
    if current > latest():
        raise SchemaError(_newer(current))
    raise SchemaError(
        f"the database's schema is at version {current}, this server runs on version "
        f"{latest()}: apply the migrations first (rating-server db migrate)"
    )


def _newer(current: int) -> str:
    return (
        f"the database's schema is at version {current}, newer than this server knows "
        f"(version {latest()}): run a rating-server at least as new as the one that "
        "migrated it"
    )

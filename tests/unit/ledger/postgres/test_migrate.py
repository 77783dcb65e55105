"""The PostgreSQL schema under versioned migrations (``ledger/postgres/migrate.py``)."""

from __future__ import annotations

import psycopg
import pytest

from rating_server.ledger.postgres import migrate


def test_migrate_applies_every_migration_once_and_then_nothing(postgres_database: str) -> None:
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        with pytest.raises(migrate.SchemaError, match="at version 0, this server runs on"):
            migrate.check(conn)
        applied = migrate.migrate(conn)
        assert [m.version for m in applied] == list(range(1, migrate.latest() + 1))
        assert migrate.migrate(conn) == []
        migrate.check(conn)
        assert migrate.applied_version(conn) == migrate.latest()


def test_a_schema_newer_than_the_server_is_refused_and_not_migrated(
    postgres_database: str,
) -> None:
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        migrate.migrate(conn)
        newer = migrate.latest() + 1
        conn.execute(
            "INSERT INTO schema_migrations (version, name) VALUES (%s, 'from_the_future')",
            [newer],
        )
        with pytest.raises(migrate.SchemaError, match=f"at version {newer}, newer than"):
            migrate.check(conn)
        with pytest.raises(migrate.SchemaError, match="newer than this server knows"):
            migrate.migrate(conn)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE charge_lines SET micros = 0",
        "DELETE FROM funding_entries",
        "TRUNCATE charge_lines",
        "DELETE FROM requests",
    ],
)
def test_the_ledgers_entries_are_append_only_in_the_database_itself(
    postgres_database: str, statement: str
) -> None:
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        migrate.migrate(conn)
        conn.execute(
            "INSERT INTO requests VALUES ('r', 'h', 'ch', '\\x00');"
            "INSERT INTO charge_lines VALUES ('acme', 'u', 1, 'ch', 0, 'acme', 'agent.call', "
            "'agent', 1, 2000000, 'coze', 0, '2026-11', 0, NULL);"
            "INSERT INTO funding_entries (billing_account_id, charge_id, line_number, source, "
            "micros, day) VALUES ('acme', 'ch', 0, 'free', 2000000, '2026-11-27')"
        )
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute(statement)

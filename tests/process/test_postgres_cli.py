"""The ``rating-server`` command on a PostgreSQL database: migrate, import, serve, check."""

from __future__ import annotations

import os
from pathlib import Path

from processes import CLI_TIMEOUT, Launch, cli
from support import SEED

from rating import RatingClient, usage
from rating_server.ledger.postgres import migrate


def env_for(url: str) -> dict[str, str]:
    return {**os.environ, "RATING_DB": url}


def test_db_migrate_applies_the_schema_once_and_says_so(
    postgres_database: str, tmp_path: Path
) -> None:
    first = cli("db", "migrate", cwd=tmp_path, env=env_for(postgres_database))
    assert first.returncode == 0, first.stderr
    assert f"{postgres_database}: applied migration 1 (ledger_and_catalog)" in first.stdout
    again = cli("db", "migrate", cwd=tmp_path, env=env_for(postgres_database))
    assert again.returncode == 0, again.stderr
    assert "applied" not in again.stdout
    assert f"the schema is at version {migrate.latest()}" in again.stdout


def test_db_migrate_on_sqlite_has_nothing_to_do(tmp_path: Path) -> None:
    done = cli("--db", str(tmp_path / "r.db"), "db", "migrate", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "nothing to migrate" in done.stdout


def test_serve_refuses_a_schema_it_does_not_know_in_one_line(
    launch: Launch, postgres_database: str
) -> None:
    server = launch("serve", "--listen", "127.0.0.1:0", env=env_for(postgres_database))
    assert server.wait_exit(timeout=CLI_TIMEOUT) == 1, server.stderr
    assert "rating-server cannot start: the database's schema is at version 0" in server.stderr
    assert "(rating-server db migrate)" in server.stderr
    assert "Traceback" not in server.stderr


def test_an_unreachable_database_is_refused_in_one_line(launch: Launch) -> None:
    url = "postgresql://rating:s3cret@127.0.0.1:1/rating"
    server = launch("serve", "--listen", "127.0.0.1:0", env=env_for(url))
    assert server.wait_exit(timeout=CLI_TIMEOUT) == 1, server.stderr
    assert "rating-server cannot start: cannot open the database" in server.stderr
    assert "s3cret" not in server.stderr  # a URL's password is never logged
    assert "Traceback" not in server.stderr


def test_import_serve_commit_and_check_the_ledger_on_postgres(
    launch: Launch, postgres_database: str, tmp_path: Path
) -> None:
    env = env_for(postgres_database)
    assert cli("db", "migrate", cwd=tmp_path, env=env).returncode == 0
    imported = cli("catalog", "import", "--if-empty", str(SEED), cwd=tmp_path, env=env)
    assert imported.returncode == 0, imported.stderr
    assert "as catalog version 1" in imported.stdout
    server = launch("serve", "--listen", "127.0.0.1:0", env=env)
    started = server.wait_started()
    assert started["database"] == postgres_database
    with RatingClient(server.address) as client:
        client.create_account("acme", plan="pro", pay_as_you_go=True)
        receipt = client.commit(
            [usage.agent_calls(usage_id="u-1", account_id="acme", count=300)], request_id="r-1"
        )
        assert receipt.total_points == 600
    assert server.terminate() == 0
    checked = cli("ledger", "check", cwd=tmp_path, env=env)
    assert checked.returncode == 0, checked.stderr
    assert "every balance equals its ledger entries" in checked.stdout

"""The throwaway PostgreSQL cluster (``ledger/postgres/cluster.py``) the tests and
``make run-postgres`` start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from rating_server.ledger.postgres.cluster import Cluster


def test_the_cluster_serves_its_database_durably_and_comes_back_after_a_crash(
    postgres_cluster: Cluster,
) -> None:
    with psycopg.connect(postgres_cluster.url, autocommit=True) as conn:
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
        assert conn.execute("SHOW fsync").fetchone() == ("on",)
        conn.execute("CREATE TABLE IF NOT EXISTS cluster_probe (n int)")
        conn.execute("INSERT INTO cluster_probe VALUES (1)")
    postgres_cluster.stop("immediate")
    assert not postgres_cluster.running()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(postgres_cluster.url, connect_timeout=5).close()
    postgres_cluster.start()
    with psycopg.connect(postgres_cluster.url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM cluster_probe").fetchone() == (1,)
        conn.execute("DROP TABLE cluster_probe")


def test_a_second_database_is_made_once(postgres_cluster: Cluster) -> None:
    postgres_cluster.create_database("second")
    postgres_cluster.create_database("second")  # already there: nothing to do
    with psycopg.connect(postgres_cluster.url.rsplit("/", 1)[0] + "/second") as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("second",)


@pytest.mark.parametrize("ci", ["", "true"], ids=["developer", "CI"])
def test_without_postgresql_its_half_is_skipped_in_one_line_but_fails_under_ci(
    tmp_path: Path, ci: str
) -> None:
    env = {**os.environ, "RATING_POSTGRES_BIN": str(tmp_path), "CI": ci}  # no programs there
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rs",
            f"{__file__}::test_a_second_database_is_made_once",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parents[2],
        timeout=120,
        check=False,
    )
    if ci:
        assert done.returncode == 1, done.stdout
        assert "CI=true, and no PostgreSQL server programs on this machine" in done.stdout
    else:
        assert done.returncode == 0, done.stdout
        assert "1 skipped" in done.stdout
        skipped = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
        assert len(skipped) == 1 and "the PostgreSQL half is skipped" in skipped[0], done.stdout

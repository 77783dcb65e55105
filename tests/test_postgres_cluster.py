"""The throwaway PostgreSQL cluster (``ledger/postgres/cluster.py``) the tests and
``make run-postgres`` start."""

from __future__ import annotations

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

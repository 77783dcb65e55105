"""The catalog cache (``catalog/cache.py``) on PostgreSQL: each new version announced,
and loaded without a poll."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from support import CATALOG, WAIT, import_text

from rating_server.catalog.cache import CatalogCache
from rating_server.catalog.postgres.store import LISTENER_NAME


def wait_for(condition: Callable[[], bool]) -> bool:
    give_up = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > give_up:
            return False
        time.sleep(0.01)
    return True


def listener_pids(url: str) -> list[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND datname = "
            "current_database()",
            [LISTENER_NAME],
        ).fetchall()
    return [row[0] for row in rows]


def test_postgresql_announces_each_new_version_and_the_cache_loads_it_unpolled_even_once_cut_off(
    postgres_seeded: str, tmp_path: Path
) -> None:
    cache = CatalogCache(postgres_seeded, poll_interval=3600)  # no poll in this test
    try:
        cache.start()
        for version in (2, 3):
            text = CATALOG.format(start=f"2026-01-0{version}T00:00:00Z", points=version + 1)
            (tmp_path / f"v{version}").mkdir()
            assert import_text(postgres_seeded, tmp_path / f"v{version}", text) == version
            assert wait_for(lambda v=version: cache.snapshot.version == v), version
            # The server drops the listening connection (a restart, a failover, an
            # operator): the watch listens again, and hears of what it missed.
            assert wait_for(lambda: len(listener_pids(postgres_seeded)) == 1)
            with psycopg.connect(postgres_seeded, autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(%s)", listener_pids(postgres_seeded))
    finally:
        cache.close()
    assert wait_for(lambda: listener_pids(postgres_seeded) == [])  # closed with the cache

"""A commit on PostgreSQL and a catalog import at once (``ledger/commits.py``): the
commit that read the catalog version goes before the import's new version, or sees it."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg
from support import NOON, WAIT, wait_until

from rating_server.catalog.snapshots import load_snapshot
from rating_server.catalog.stores import open_catalog
from rating_server.domain_errors import CatalogChangedError
from rating_server.engine import Usage
from rating_server.ledger import accounts, commits
from rating_server.ledger.postgres.tx import CATALOG_VERSION_LOCK
from rating_server.ledger.stores import open_ledger


def test_a_commit_that_read_the_catalog_version_goes_before_an_import_s_new_version_or_sees_it(
    postgres_seeded: str,
) -> None:
    catalog = open_catalog(postgres_seeded)
    ledger = open_ledger(postgres_seeded)
    try:
        snapshot = load_snapshot(catalog)
        accounts.create_account(ledger, snapshot, "acme", plan="basic", pay_as_you_go=True)
        usage = [Usage("u-1", "acme", "agent.call", 1, int(NOON.timestamp()) * 10**9)]
        outcome: list[BaseException | object] = []
        with catalog.importing() as tx:
            version = tx.add_version("2026-11-27T00:00:00.000000Z", "test", "0" * 64)
            # The import's new version is written, not committed: a commit rated with
            # version 1 waits for it, then refuses, rather than commit under it.
            committer = threading.Thread(
                target=lambda: outcome.append(
                    _try(lambda: commits.commit(ledger, snapshot, "r-1", usage))
                )
            )
            committer.start()
            assert wait_until(lambda: waiting_for_the_version_lock(postgres_seeded))
        committer.join(WAIT)
        assert len(outcome) == 1 and isinstance(outcome[0], CatalogChangedError), outcome
        assert (outcome[0].rated_with, outcome[0].newest) == (1, version)
    finally:
        ledger.close()
        catalog.close()


def _try(work: Callable[[], object]) -> BaseException | object:
    try:
        return work()
    except BaseException as error:
        return error


def waiting_for_the_version_lock(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND objid = %s AND database = (SELECT oid FROM pg_database "
            "WHERE datname = current_database())",
            [CATALOG_VERSION_LOCK],
        ).fetchone()
    return bool(row and row[0])

"""Group commit: concurrent writers share one transaction and one sync, each isolated;
the lock file writers take turns through; and what the ledger does when its storage
fails (read-only, vanished, damaged)."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
from support import LedgerStorage

from rating_server.domain_errors import StorageUnavailableError
from rating_server.ledger.sqlite.database import LedgerDatabase

T = TypeVar("T")

# SQLite's own engine: its group commit, its lock file, its file gone or damaged.
# (PostgreSQL's transactions and faults: test_postgres_database.)
pytestmark = pytest.mark.sqlite_only

# Generous: a loaded 2-core machine may be slow, but never this slow.
WAIT = 60.0


@pytest.fixture
def database(tmp_path: Path):
    commits: list[float] = []
    opened = LedgerDatabase(tmp_path / "rating.db", commits.append)
    opened.commits = commits  # type: ignore[attr-defined]
    with opened.write() as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
    commits.clear()
    yield opened
    opened.close()


def notes(database: LedgerDatabase) -> list[str]:
    with database.read() as conn:
        return [row[0] for row in conn.execute("SELECT text FROM notes ORDER BY id")]


def test_calls_waiting_together_share_one_commit_and_see_each_others_writes(
    database: LedgerDatabase,
) -> None:
    entered = threading.Event()
    release = threading.Event()

    def slow(conn: sqlite3.Connection) -> int:
        entered.set()
        release.wait(WAIT)
        conn.execute("INSERT INTO notes (text) VALUES ('first')")
        return 0

    def counting(text: str):
        def work(conn: sqlite3.Connection) -> int:
            conn.execute("INSERT INTO notes (text) VALUES (?)", [text])
            return conn.execute("SELECT count(*) FROM notes").fetchone()[0]

        return work

    with ThreadPoolExecutor(max_workers=6) as pool:
        first = pool.submit(database.grouped, slow)
        assert entered.wait(WAIT)
        later = [pool.submit(database.grouped, counting(f"n{i}")) for i in range(5)]
        while len(database._waiting) < 5:  # the five queue behind the first group
            threading.Event().wait(0.01)
        release.set()
        assert first.result(WAIT) == 0
        counts = sorted(f.result(WAIT) for f in later)
    assert counts == [2, 3, 4, 5, 6]  # one group, each seeing the writes before it
    assert len(database.commits) == 2  # type: ignore[attr-defined]
    assert notes(database)[0] == "first" and len(notes(database)) == 6


def test_a_failing_call_rolls_back_its_own_writes_only(database: LedgerDatabase) -> None:
    entered = threading.Event()
    release = threading.Event()

    def hold(conn: sqlite3.Connection) -> None:
        entered.set()
        release.wait(WAIT)

    def good(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO notes (text) VALUES ('kept')")
        return "ok"

    def bad(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO notes (text) VALUES ('dropped')")
        raise ValueError("refused")

    with ThreadPoolExecutor(max_workers=4) as pool:
        holder = pool.submit(database.grouped, hold)
        assert entered.wait(WAIT)
        failing = pool.submit(database.grouped, bad)
        passing = pool.submit(database.grouped, good)
        while len(database._waiting) < 2:
            threading.Event().wait(0.01)
        release.set()
        holder.result(WAIT)
        with pytest.raises(ValueError, match="refused"):
            failing.result(WAIT)
        assert passing.result(WAIT) == "ok"
    assert notes(database) == ["kept"]


def test_a_commit_that_fails_fails_every_call_of_its_group(database: LedgerDatabase) -> None:
    with database.write() as conn:
        conn.execute(
            "CREATE TABLE child (parent INTEGER NOT NULL REFERENCES notes(id) "
            "DEFERRABLE INITIALLY DEFERRED)"
        )

    def orphan(conn: sqlite3.Connection) -> None:  # only COMMIT checks the deferred key
        conn.execute("INSERT INTO notes (text) VALUES ('with an orphan')")
        conn.execute("INSERT INTO child (parent) VALUES (999)")

    with pytest.raises(sqlite3.IntegrityError):
        database.grouped(orphan)
    assert notes(database) == []
    assert database.grouped(lambda conn: conn.execute("SELECT 1").fetchone()[0]) == 1


def waiting_for_the_lock(lock: Path) -> bool:
    """Whether a flock of ``lock`` is waiting: Linux lists it in /proc/locks with ->."""
    inode = f":{lock.stat().st_ino}"
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if fields[1] == "->" and fields[-3].endswith(inode):
            return True
    return False


def test_two_ledgers_on_one_database_take_turns_through_the_lock_file(
    database: LedgerDatabase, tmp_path: Path
) -> None:
    # Two LedgerDatabase objects stand for two worker processes (flock locks are per
    # open file, so they exclude each other as processes do).
    other = LedgerDatabase(tmp_path / "rating.db")
    lock = tmp_path / "rating.db-writer.lock"
    assert lock.exists()
    entered = threading.Event()
    order: list[str] = []

    def hold() -> None:
        with database.write() as conn:
            entered.set()
            # Until the other one waits for its turn: then it surely began after this.
            give_up = time.monotonic() + WAIT
            while not waiting_for_the_lock(lock) and time.monotonic() < give_up:
                threading.Event().wait(0.01)
            conn.execute("INSERT INTO notes (text) VALUES ('first')")
            order.append("first done")

    holder = threading.Thread(target=hold)
    holder.start()
    assert entered.wait(WAIT)
    # The other "process" waits for its turn, then sees the first one's note.
    with other.write() as conn:
        order.append("second began")
        seen = conn.execute("SELECT text FROM notes").fetchall()
        conn.execute("INSERT INTO notes (text) VALUES ('second')")
    holder.join()
    other.close()
    assert order == ["first done", "second began"]
    assert seen == [("first",)]
    assert notes(database) == ["first", "second"]


def test_a_write_holds_the_lock_file_and_gives_it_back(
    database: LedgerDatabase, tmp_path: Path
) -> None:
    lock = os.open(tmp_path / "rating.db-writer.lock", os.O_RDWR)
    try:
        with database.write(), pytest.raises(BlockingIOError):
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again
        fcntl.flock(lock, fcntl.LOCK_UN)
        database.grouped(lambda conn: conn.execute("INSERT INTO notes (text) VALUES ('x')"))
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a group commit gives it back too
    finally:
        os.close(lock)


@pytest.fixture
def fragile(storage: LedgerStorage, tmp_path: Path) -> Iterator[LedgerDatabase]:
    """A ledger whose writes ``storage`` can make fail; ``heard`` lists what its
    ``on_writable`` was told."""
    heard: list[bool] = []
    opened = LedgerDatabase(
        tmp_path / "rating.db", on_writable=lambda writable, _fault: heard.append(writable)
    )
    opened.heard = heard  # type: ignore[attr-defined]
    with opened.write() as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
    yield opened
    opened.close()


def in_a_new_thread(work: Callable[[], T]) -> T:
    """``work``'s result, run on a thread of its own (so with a new reader connection)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result(30)


def test_writes_the_storage_refuses_are_unavailable_write_nothing_until_a_write_succeeds(
    fragile: LedgerDatabase, storage: LedgerStorage
) -> None:
    storage.refuse_writes()

    def lost(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO notes (text) VALUES ('lost')")

    with pytest.raises(StorageUnavailableError) as by_write, fragile.write() as conn:
        lost(conn)
    with pytest.raises(StorageUnavailableError) as by_group:
        fragile.grouped(lost)
    for refused in (by_write.value, by_group.value):
        assert refused.cause == "SQLITE_READONLY"
        assert str(refused) == (
            "the database cannot be written now (attempt to write a readonly database)"
        )
    with pytest.raises(StorageUnavailableError):
        fragile.probe()
    assert not fragile.writable
    assert fragile.heard == [False]  # type: ignore[attr-defined]  # told once, not per write
    assert notes(fragile) == []  # and reads go on

    storage.refuse_writes(False)
    fragile.probe()
    assert fragile.writable
    assert fragile.heard == [False, True]  # type: ignore[attr-defined]
    fragile.grouped(lambda conn: conn.execute("INSERT INTO notes (text) VALUES ('kept')"))
    assert notes(fragile) == ["kept"]


def test_a_storage_fault_in_one_calls_work_fails_its_whole_group_writing_nothing(
    fragile: LedgerDatabase,
) -> None:
    entered = threading.Event()
    release = threading.Event()

    def hold(conn: sqlite3.Connection) -> None:
        entered.set()
        release.wait(10)

    def good(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO notes (text) VALUES ('written with the fault')")
        return "ok"

    def faulty(conn: sqlite3.Connection) -> None:
        # The storage refuses this call's write, as a full disk or an I/O error would
        # (which may also roll the whole transaction back).
        conn.execute("PRAGMA query_only = ON")
        try:
            conn.execute("INSERT INTO notes (text) VALUES ('refused')")
        finally:
            conn.execute("PRAGMA query_only = OFF")

    with ThreadPoolExecutor(max_workers=4) as pool:
        holder = pool.submit(fragile.grouped, hold)
        assert entered.wait(10)
        calls = [pool.submit(fragile.grouped, work) for work in (good, faulty, good)]
        while len(fragile._waiting) < 3:
            threading.Event().wait(0.01)
        release.set()
        holder.result(10)
        for call in calls:
            with pytest.raises(StorageUnavailableError) as refused:
                call.result(10)
            assert refused.value.cause == "SQLITE_READONLY"
    assert notes(fragile) == []
    assert fragile.heard == [False]  # type: ignore[attr-defined]


def test_a_database_that_vanished_is_unavailable_and_never_made_anew(
    fragile: LedgerDatabase, tmp_path: Path
) -> None:
    path = tmp_path / "rating.db"
    for name in ("rating.db", "rating.db-wal", "rating.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)

    with pytest.raises(StorageUnavailableError) as by_read:
        in_a_new_thread(lambda: notes(fragile))
    assert by_read.value.cause == "SQLITE_CANTOPEN"
    assert str(by_read.value) == "the database cannot be read now (unable to open database file)"
    # The writer still has the deleted file open: what it wrote there would be lost.
    with pytest.raises(StorageUnavailableError) as by_write:
        fragile.grouped(lambda conn: conn.execute("INSERT INTO notes (text) VALUES ('lost')"))
    assert by_write.value.cause == "FILE_REPLACED"
    assert not fragile.writable
    assert not path.exists()


def test_a_damaged_database_is_unavailable_to_a_reader(
    fragile: LedgerDatabase, tmp_path: Path
) -> None:
    fragile.grouped(lambda conn: conn.execute("INSERT INTO notes (text) VALUES ('a')"))
    checkpoint = sqlite3.connect(tmp_path / "rating.db")
    checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the file itself
    checkpoint.close()
    with (tmp_path / "rating.db").open("r+b") as file:
        file.write(b"not a database, not any more" * 4)

    with pytest.raises(StorageUnavailableError) as refused:
        in_a_new_thread(lambda: notes(fragile))
    assert refused.value.cause == "SQLITE_NOTADB"

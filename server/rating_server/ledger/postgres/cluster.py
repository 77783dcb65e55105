"""A throwaway PostgreSQL cluster in a folder, from the machine's own PostgreSQL binaries.

For ``make run-postgres`` and the tests: ``initdb`` a new cluster in a folder, start it
on a free loopback port, make a database, stop it (gracefully, or ``immediate``, as a
crash). PostgreSQL refuses to run as root, so under root every PostgreSQL program runs
as the ``postgres`` user (``runuser -u postgres --``), which then owns the folder.

Not part of the service: a production database is the operator's (see
docs/scaling-out.md).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

#: Where Debian and Ubuntu put each major version's server programs.
DEBIAN_BINARIES = "/usr/lib/postgresql/*/bin"
#: The role and the database the cluster is made with.
USER = "rating"
DATABASE = "rating"
#: Seconds ``pg_ctl`` waits for the server to start or stop.
WAIT_SECONDS = 60


class ClusterError(RuntimeError):
    """A PostgreSQL program failed; the message holds what it printed."""


#: A folder to take the PostgreSQL programs from instead of looking for them.
BINARIES_SETTING = "RATING_POSTGRES_BIN"


def find_binaries() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``: $RATING_POSTGRES_BIN
    when set, else the PATH's, else the newest of Debian's; None when there is none."""
    chosen = os.environ.get(BINARIES_SETTING)
    if chosen is not None:
        folder = Path(chosen)
        return folder if (folder / "initdb").exists() and (folder / "pg_ctl").exists() else None
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    found = [Path(folder) for folder in glob.glob(DEBIAN_BINARIES)]
    found = [folder for folder in found if (folder / "initdb").exists()]
    if not found:
        return None
    return max(found, key=lambda folder: _major(folder.parent.name))


def _major(name: str) -> int:
    return int(name) if name.isdigit() else 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    """A cluster in ``folder`` (made by ``create`` if it holds none), on ``port``."""

    def __init__(self, folder: str | Path, port: int | None = None) -> None:
        binaries = find_binaries()
        if binaries is None:
            raise ClusterError(
                "no PostgreSQL server programs (initdb, pg_ctl) on the PATH or in "
                f"{DEBIAN_BINARIES}: install PostgreSQL (Debian: apt install postgresql)"
            )
        self.binaries = binaries
        self.folder = Path(folder).absolute()
        self.data = self.folder / "data"
        self.port = port or free_port()
        self._as_postgres = os.geteuid() == 0

    @property
    def url(self) -> str:
        """The database's URL, as ``RATING_DB`` takes it."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, program: str, *args: str) -> str:
        command = [str(self.binaries / program), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.folder, check=False)
        if done.returncode != 0:
            raise ClusterError(
                f"{program} failed ({done.returncode}): {done.stderr or done.stdout}"
            )
        return done.stdout

    def create(self) -> None:
        """``initdb`` the cluster (trust authentication on loopback: a throwaway), unless
        the folder already holds one."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
            reach = ["runuser", "-u", "postgres", "--", "test", "-w", str(self.folder)]
            if subprocess.run(reach, capture_output=True, check=False).returncode != 0:
                raise ClusterError(
                    f"the postgres user cannot write {self.folder} (a folder above it is "
                    "closed to other users, such as a home folder): choose a folder it can "
                    "reach, such as one under /tmp"
                )
        if (self.data / "PG_VERSION").exists():
            return
        self._run(
            "initdb",
            "--pgdata",
            str(self.data),
            "--username",
            USER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--no-instructions",
        )

    def start(self) -> None:
        """Start the server on 127.0.0.1:``port``, with no Unix socket, and wait for it."""
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' "
            "-c max_connections=200 -c fsync=on -c synchronous_commit=on"
        )
        self._run(
            "pg_ctl",
            "--pgdata",
            str(self.data),
            "--log",
            str(self.folder / "server.log"),
            "--options",
            options,
            "--wait",
            f"--timeout={WAIT_SECONDS}",
            "start",
        )

    def create_database(self, name: str = DATABASE) -> None:
        """Make database ``name`` (owned by USER), unless it exists."""
        import psycopg  # the PostgreSQL engine's driver: only where a cluster is used
        from psycopg import sql

        maintenance = f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(maintenance, autocommit=True) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if found.fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (roll back sessions, checkpoint) or ``immediate``
        (as a crash: recovery at the next start)."""
        self._run("pg_ctl", "--pgdata", str(self.data), "--mode", mode, "--wait", "stop")

    def running(self) -> bool:
        command = [str(self.binaries / "pg_ctl"), "--pgdata", str(self.data), "status"]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, check=False).returncode == 0


def main(argv: list[str]) -> int:
    """``python -m rating_server.ledger.postgres.cluster FOLDER start|stop``: what
    ``make run-postgres`` uses; ``start`` prints the database's URL."""
    if len(argv) != 3 or argv[2] not in ("start", "stop"):
        print(f"usage: {argv[0]} FOLDER start|stop", file=sys.stderr)
        return 2
    folder = Path(argv[1])
    port_file = folder / "port"
    try:
        if argv[2] == "stop":
            if port_file.exists():
                cluster = Cluster(folder, int(port_file.read_text()))
                if cluster.running():
                    cluster.stop()
            return 0
        port = int(port_file.read_text()) if port_file.exists() else None
        cluster = Cluster(folder, port)
        cluster.create()
        port_file.write_text(str(cluster.port))
        if not cluster.running():
            cluster.start()
        cluster.create_database()
    except ClusterError as error:
        print(f"postgres cluster: {error}", file=sys.stderr)
        return 1
    print(cluster.url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

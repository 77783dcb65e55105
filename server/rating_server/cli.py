"""The ``rating-server`` command: run the server, or manage its catalog."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from rating_server import logs
from rating_server.auth import hash_token
from rating_server.catalog.imports import import_file
from rating_server.catalog.model import CatalogError
from rating_server.catalog.stores import open_catalog
from rating_server.config import SettingError, Settings, database_label, is_postgres_url
from rating_server.domain_errors import SchemaError, StorageUnavailableError
from rating_server.ledger import invariants
from rating_server.ledger.stores import open_ledger
from rating_server.serving import serve
from rating_server.workers import serve_workers


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except SettingError as error:
        print(f"rating-server: {error}", file=sys.stderr)
        return 2


def _main(argv: Sequence[str] | None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="rating-server", description=__doc__)
    parser.add_argument(
        "--db",
        default=settings.db_path,
        help="a SQLite file, or a postgresql:// URL (default: $RATING_DB or rating.db)",
    )
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("serve", help="run the gRPC server (the default)")
    run.add_argument(
        "--listen",
        default=settings.listen,
        help="host:port (default: $RATING_LISTEN or 127.0.0.1:50051)",
    )
    run.add_argument(
        "--workers",
        type=int,
        default=settings.workers,
        help="server processes sharing the port and the database (default: $RATING_WORKERS or 1)",
    )
    run.add_argument(
        "--insecure",
        action="store_true",
        default=settings.insecure,
        help="allow a non-loopback address with neither TLS nor authentication",
    )
    catalog = commands.add_parser("catalog", help="manage the price catalog")
    catalog_commands = catalog.add_subparsers(dest="catalog_command", required=True)
    importing = catalog_commands.add_parser(
        "import", help="import a catalog file as a new catalog version"
    )
    importing.add_argument("file")
    importing.add_argument(
        "--if-empty", action="store_true", help="only when the database holds no catalog yet"
    )
    catalog_commands.add_parser("version", help="print the catalog version in the database")
    database = commands.add_parser("db", help="manage the database's schema")
    database_commands = database.add_subparsers(dest="db_command", required=True)
    database_commands.add_parser(
        "migrate", help="bring a PostgreSQL database's schema to this server's version"
    )
    ledger = commands.add_parser("ledger", help="inspect the ledger")
    ledger_commands = ledger.add_subparsers(dest="ledger_command", required=True)
    ledger_commands.add_parser(
        "check", help="recompute every balance from the ledger entries and report differences"
    )
    access = commands.add_parser("auth", help="manage access")
    access_commands = access.add_subparsers(dest="auth_command", required=True)
    access_commands.add_parser(
        "hash-token", help="read a bearer token on stdin, print its token_sha256 for RATING_AUTH"
    )
    args = parser.parse_args(argv)
    settings = dataclasses.replace(settings, db_path=args.db)  # checks --db as it checks RATING_DB
    logs.configure()
    if args.command == "catalog":
        return _catalog(args)
    if args.command == "ledger":
        return _check_ledger(args.db)
    if args.command == "db":
        return _migrate(args.db)
    if args.command == "auth":
        token = sys.stdin.readline().strip()
        if not token:
            print("no token on stdin", file=sys.stderr)
            return 1
        print(hash_token(token))
        return 0
    settings = dataclasses.replace(
        settings,
        listen=getattr(args, "listen", settings.listen),
        insecure=getattr(args, "insecure", settings.insecure),
        workers=getattr(args, "workers", settings.workers),
    )
    # One process serves; several (--workers) are started and watched by this one.
    return serve_workers(settings) if settings.workers > 1 else serve(settings)


def _catalog(args: argparse.Namespace) -> int:
    try:
        return _catalog_command(args)
    except StorageUnavailableError as error:  # a database read-only, full, damaged, ...
        print(
            f"catalog {args.catalog_command} failed, nothing changed: "
            f"{database_label(args.db)}: {error.__cause__ or error}",
            file=sys.stderr,
        )
        return 1
    except SchemaError as error:
        print(f"catalog {args.catalog_command} failed, nothing changed: {error}", file=sys.stderr)
        return 1


def _catalog_command(args: argparse.Namespace) -> int:
    store = open_catalog(args.db)
    try:
        if args.catalog_command == "version":
            print(store.current_version())
            return 0
        if args.if_empty and store.current_version():
            print(
                f"{database_label(args.db)}: catalog version {store.current_version()} "
                "present; not importing"
            )
            return 0
        try:
            result = import_file(store, args.file)  # in its turn among the writers
        except CatalogError as error:
            print(f"catalog import failed, nothing changed: {error}", file=sys.stderr)
            return 1
        shown = database_label(args.db)
        if result.changed:
            print(f"{shown}: imported {args.file} as catalog version {result.version}")
        else:
            print(f"{shown}: {args.file} changes nothing; catalog version {result.version}")
        return 0
    finally:
        store.close()


def _migrate(database: str) -> int:
    """``db migrate``: PostgreSQL's schema to this server's version; SQLite's tables are
    made when the database is opened, so there it says so."""
    shown = database_label(database)
    if not is_postgres_url(database):
        print(f"{shown}: SQLite makes its tables as it opens them; nothing to migrate")
        return 0
    from rating_server.ledger.postgres import migrate  # the driver: PostgreSQL's only

    try:
        applied = migrate.migrate_url(database)
    except SchemaError as error:
        print(f"{shown}: {error}", file=sys.stderr)
        return 1
    except StorageUnavailableError as error:
        print(f"{shown}: {error}", file=sys.stderr)
        return 1
    for migration in applied:
        print(f"{shown}: applied migration {migration.version} ({migration.name})")
    print(f"{shown}: the schema is at version {migrate.latest()}")
    return 0


def _check_ledger(path: str) -> int:
    shown = database_label(path)
    if not is_postgres_url(path) and not Path(path).is_file():
        print(f"there is no database at {path}", file=sys.stderr)
        return 1
    try:
        ledger = open_ledger(path)
        try:
            problems = invariants.check(ledger)
        finally:
            ledger.close()
    except (StorageUnavailableError, SchemaError) as error:
        print(f"{shown}: {error}", file=sys.stderr)
        return 1
    for problem in problems:
        print(problem)
    if problems:
        print(f"{shown}: {len(problems)} balance(s) differ from the ledger", file=sys.stderr)
        return 1
    print(f"{shown}: every balance equals its ledger entries")
    return 0

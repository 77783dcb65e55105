"""The server as an operator runs it: a process started by the CLI, stopped by signals;
and the catalog commands of the CLI."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from processes import CLI_TIMEOUT, STOP_TIMEOUT, Launch, cli
from support import SEED, item

from rating.v1 import rating_service_pb2, rating_service_pb2_grpc


def quote_points(address: str) -> list[str]:
    """Quote the pricing page's example, 1234 input tokens, at ``address``; the lines' points."""
    request = rating_service_pb2.QuoteRequest(items=[item("model.doubao-lite-32k.input", 1234)])
    with grpc.insecure_channel(address) as channel:
        response = rating_service_pb2_grpc.RatingServiceStub(channel).Quote(request, timeout=30)
    assert response.catalog_version == 1
    return [line.points for line in response.lines]


def test_start_line_names_address_database_and_catalog_version_and_the_address_serves_quotes(
    launch: Launch, seeded_db: Path
) -> None:
    server = launch("--db", str(seeded_db), "serve", "--listen", "127.0.0.1:0")
    started = server.wait_started()
    host, port = started["address"].rsplit(":", 1)
    assert host == "127.0.0.1"
    assert int(port) > 0  # the port the OS chose, not the 0 asked for
    assert started["database"] == str(seeded_db)
    assert started["version"] == "1"
    assert quote_points(started["address"]) == ["0.3702"]


def test_env_vars_set_database_and_listen_address_when_flags_are_absent(
    launch: Launch, seeded_db: Path
) -> None:
    server = launch(
        "serve", env={**os.environ, "RATING_DB": str(seeded_db), "RATING_LISTEN": "127.0.0.1:0"}
    )
    started = server.wait_started()
    assert started["database"] == str(seeded_db)
    assert started["address"].startswith("127.0.0.1:")
    assert quote_points(started["address"]) == ["0.3702"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_the_server_gracefully_with_exit_status_0(
    launch: Launch, seeded_db: Path, signum: signal.Signals
) -> None:
    server = launch("--db", str(seeded_db), "serve", "--listen", "127.0.0.1:0")
    address = server.wait_started()["address"]
    assert quote_points(address) == ["0.3702"]
    server.process.send_signal(signum)
    assert server.wait_exit(timeout=STOP_TIMEOUT) == 0, server.stderr
    server.wait_for_line("rating-server stopping: draining calls", timeout=0)
    assert json.loads(server.stderr.splitlines()[-1])["message"] == "rating-server stopped"
    assert "Traceback" not in server.stderr


def test_second_server_on_a_taken_port_refuses_to_start_and_the_first_keeps_serving(
    launch: Launch, seeded_db: Path
) -> None:
    first = launch("--db", str(seeded_db), "serve", "--listen", "127.0.0.1:0")
    address = first.wait_started()["address"]

    second = launch("--db", str(seeded_db), "serve", "--listen", address)
    assert second.wait_exit(timeout=CLI_TIMEOUT) == 1, second.stderr
    assert f"rating-server cannot start: cannot listen on {address}" in second.stderr
    assert "listening on" not in second.stderr

    assert first.process.poll() is None, first.stderr
    assert quote_points(address) == ["0.3702"]


def test_a_name_is_refused_when_one_of_its_addresses_is_taken_not_served_on_another(
    launch: Launch, seeded_db: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = launch("--db", str(seeded_db), "serve", "--listen", f"localhost:{port}")
        assert server.wait_exit(timeout=CLI_TIMEOUT) == 1, server.stderr
    assert f"cannot listen on localhost:{port}: 127.0.0.1:{port}: " in server.stderr
    assert "listening on" not in server.stderr


def test_serve_on_a_database_without_catalog_exits_1_telling_to_import_one(
    launch: Launch, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.db"
    assert cli("--db", str(empty), "catalog", "version", cwd=tmp_path).stdout == "0\n"
    server = launch("--db", str(empty), "serve", "--listen", "127.0.0.1:0")
    assert server.wait_exit(timeout=CLI_TIMEOUT) == 1, server.stderr
    assert "rating-server cannot start" in server.stderr
    assert f"the database {empty} holds no catalog" in server.stderr
    assert "import one first (rating-server catalog import FILE)" in server.stderr
    assert "listening on" not in server.stderr


def test_serve_without_a_database_file_refuses_and_creates_nothing(
    launch: Launch, tmp_path: Path
) -> None:
    missing = tmp_path / "typo.db"
    server = launch("--db", str(missing), "serve", "--listen", "127.0.0.1:0")
    assert server.wait_exit(timeout=CLI_TIMEOUT) == 1, server.stderr
    assert f"there is no database at {missing}: import a catalog first" in server.stderr
    assert "Traceback" not in server.stderr
    assert not missing.exists()


@pytest.mark.parametrize("listen", ["127.0.0.1:99999", "127.0.0.1:65536", "localhost", ":50051"])
def test_an_address_grpc_would_wrap_or_cannot_parse_is_refused(
    launch: Launch, seeded_db: Path, listen: str
) -> None:
    server = launch("--db", str(seeded_db), "serve", "--listen", listen)
    assert server.wait_exit(timeout=CLI_TIMEOUT) == 2, server.stderr
    assert f"--listen) must be host:port, port 0 to 65535, not {listen!r}" in server.stderr
    assert "listening on" not in server.stderr


def test_catalog_import_if_empty_imports_into_a_fresh_database_then_leaves_it_alone(
    tmp_path: Path,
) -> None:
    database = str(tmp_path / "fresh.db")
    assert cli("--db", database, "catalog", "version", cwd=tmp_path).stdout == "0\n"

    first = cli("--db", database, "catalog", "import", "--if-empty", str(SEED), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"{database}: imported {SEED} as catalog version 1\n"

    second = cli("--db", database, "catalog", "import", "--if-empty", str(SEED), cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout == f"{database}: catalog version 1 present; not importing\n"

    version = cli("--db", database, "catalog", "version", cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout == "1\n"


def test_reimporting_the_same_catalog_changes_nothing(seeded_db: Path, tmp_path: Path) -> None:
    again = cli("--db", str(seeded_db), "catalog", "import", str(SEED), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"{seeded_db}: {SEED} changes nothing; catalog version 1\n"


def _unknown_category(seed: str) -> str:
    bad, count = re.subn(
        r'^category = "model"$', 'category = "hologram"', seed, count=1, flags=re.M
    )
    assert count == 1
    return bad


@pytest.mark.parametrize(
    ("make_file", "complaint"),
    [
        pytest.param(
            lambda _seed: 'schema = 1\n[units\nprice_unit = "',
            "not valid TOML",
            id="invalid-toml",
        ),
        pytest.param(
            _unknown_category,
            # the line of the bad field, the table and the field
            "bad.toml:60: skus[0] (model.doubao-pro-32k.input).category: 'hologram' is not one of",
            id="unknown-category",
        ),
    ],
)
def test_importing_a_malformed_catalog_exits_1_and_changes_nothing(
    seeded_db: Path, tmp_path: Path, make_file: Callable[[str], str], complaint: str
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(make_file(SEED.read_text(encoding="utf-8")), encoding="utf-8")

    result = cli("--db", str(seeded_db), "catalog", "import", str(bad), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("catalog import failed, nothing changed: ")
    assert complaint in result.stderr

    version = cli("--db", str(seeded_db), "catalog", "version", cwd=tmp_path)
    assert version.stdout == "1\n"


def test_the_cli_on_a_damaged_database_says_so_in_one_line_and_exits_1(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"not a database, not any more " * 64)
    for command in (
        ("catalog", "import", str(SEED)),
        ("catalog", "version"),
        ("ledger", "check"),
    ):
        result = cli("--db", str(damaged), *command, cwd=tmp_path)
        assert result.returncode == 1, command
        assert result.stdout == "", command
        assert result.stderr.count("\n") == 1, result.stderr
        assert "file is not a database" in result.stderr, command
        assert str(damaged) in result.stderr, command

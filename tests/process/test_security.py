"""What a server process refuses or never logs.

- Safe defaults: listening beyond loopback needs TLS, an access file or --insecure;
  an unknown role stops the start; tokens and their hashes never reach the log;
  ``rating-server auth hash-token`` prints a token's SHA-256."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from processes import Launch
from security_setup import (
    CLI_TIMEOUT,
    QUOTER,
    RPCS,
    UNAUTHENTICATED,
    WRONG_TOKEN,
    Caller,
    Metadata,
    Rpc,
    call,
    code_of,
    sha256_hex,
    write_access_file,
)

from rating_server import auth

# ---------------------------------------------------------------------------
# Safe defaults: listening beyond loopback, bad access files
# ---------------------------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any RATING_* setting of the machine running the tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RATING_")}
    return {**env, **extra}


def loopback(address: str) -> str:
    """Where to reach a server started on 0.0.0.0:PORT."""
    return "127.0.0.1:" + address.rsplit(":", 1)[1]


INSECURE_WARNING = "with neither TLS nor authentication"


def test_serve_on_all_interfaces_without_tls_or_auth_refuses_and_names_insecure(
    launch: Launch, seeded_db: Path
) -> None:
    server = launch("--db", str(seeded_db), "serve", "--listen", "0.0.0.0:0", env=clean_env())
    assert server.wait_exit(timeout=CLI_TIMEOUT) == 1, server.stderr
    assert "rating-server cannot start: refusing to listen on 0.0.0.0:0" in server.stderr
    assert "--insecure" in server.stderr
    assert "listening on 0.0.0.0:" not in server.stderr
    assert "Traceback" not in server.stderr


@pytest.mark.parametrize(
    ("flags", "env"),
    [(["--insecure"], {}), ([], {"RATING_INSECURE": "1"})],
    ids=["insecure-flag", "RATING_INSECURE"],
)
def test_serve_on_all_interfaces_with_insecure_starts_and_logs_a_warning(
    launch: Launch, seeded_db: Path, flags: list[str], env: dict[str, str]
) -> None:
    server = launch(
        "--db", str(seeded_db), "serve", "--listen", "0.0.0.0:0", *flags, env=clean_env(**env)
    )
    address = server.wait_started()["address"]
    warning = server.wait_for_line(INSECURE_WARNING)
    assert json.loads(warning)["level"] == "WARNING"
    with grpc.insecure_channel(loopback(address)) as channel:
        assert call(channel, RPCS[0]) is None  # no authentication: anyone may quote


def test_serve_on_all_interfaces_with_an_access_file_starts_without_warning_and_needs_a_token(
    launch: Launch, seeded_db: Path, tmp_path: Path
) -> None:
    access = write_access_file(tmp_path / "access.toml", [QUOTER.entry()])
    server = launch(
        "--db",
        str(seeded_db),
        "serve",
        "--listen",
        "0.0.0.0:0",
        env=clean_env(RATING_AUTH=str(access)),
    )
    address = server.wait_started()["address"]
    server.wait_for_line("authentication on")
    with grpc.insecure_channel(loopback(address)) as channel:
        assert call(channel, RPCS[0], QUOTER.metadata) is None
        assert code_of(call(channel, RPCS[0])) == UNAUTHENTICATED
    assert INSECURE_WARNING not in server.stderr


def test_serve_with_an_unknown_role_in_the_access_file_exits_1_naming_the_field(
    launch: Launch, seeded_db: Path, tmp_path: Path
) -> None:
    ops = Caller("ops", ("quote", "root"))
    access = write_access_file(tmp_path / "access.toml", [ops.entry()])
    server = launch(
        "--db",
        str(seeded_db),
        "serve",
        "--listen",
        "127.0.0.1:0",
        env=clean_env(RATING_AUTH=str(access)),
    )
    assert server.wait_exit(timeout=CLI_TIMEOUT) == 1, server.stderr
    assert f"rating-server cannot start: bad access file: {access}: " in server.stderr
    assert "principals[0].roles: a list of quote, read, charge, admin" in server.stderr
    assert "listening on" not in server.stderr
    assert "Traceback" not in server.stderr
    assert sha256_hex(ops.token) not in server.stderr


# ---------------------------------------------------------------------------
# Secrets never reach a log; hashing a token
# ---------------------------------------------------------------------------


def test_the_access_log_has_a_line_per_call_but_never_a_token_or_its_hash(
    launch: Launch, seeded_db: Path, tmp_path: Path
) -> None:
    access = write_access_file(tmp_path / "access.toml", [QUOTER.entry()])
    server = launch(
        "--db",
        str(seeded_db),
        "serve",
        "--listen",
        "127.0.0.1:0",
        env=clean_env(RATING_AUTH=str(access)),
    )
    address = server.wait_started()["address"]
    quote, balance = RPCS[0], RPCS[7]
    assert balance.name == "GetBalance"
    wrong = (("authorization", f"Bearer {WRONG_TOKEN}"),)
    calls: list[tuple[str, Rpc, Metadata, str]] = [
        ("log-probe-ok", quote, QUOTER.metadata, "OK"),
        ("log-probe-denied", balance, QUOTER.metadata, "PERMISSION_DENIED"),
        ("log-probe-wrong-token", quote, wrong, "UNAUTHENTICATED"),
        ("log-probe-no-token", quote, (), "UNAUTHENTICATED"),
    ]
    with grpc.insecure_channel(address) as channel:
        for request_id, rpc, metadata, code in calls:
            error = call(channel, rpc, (*metadata, ("x-request-id", request_id)))
            assert code_of(error).name == code
    server.wait_for_line("log-probe-no-token")
    assert server.terminate() == 0, server.stderr

    logged: dict[str, dict[str, object]] = {}
    for line in server.stderr.splitlines():
        entry = json.loads(line)  # every line is JSON, the access log's as the others
        if entry["logger"] == "rating_server.access":
            logged[entry["request_id"]] = entry
    assert {request_id: entry["code"] for request_id, entry in logged.items()} == {
        request_id: code for request_id, _, _, code in calls
    }
    assert logged["log-probe-ok"]["principal"] == QUOTER.name
    for secret in (QUOTER.token, WRONG_TOKEN):
        assert secret not in server.stderr
        assert sha256_hex(secret)[:16] not in server.stderr


def hash_token_cli(stdin: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rating_server", "auth", "hash-token"],
        input=stdin,
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=cwd,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def test_auth_hash_token_prints_the_sha256_of_the_token_read_on_stdin(tmp_path: Path) -> None:
    token = "s3cret-token-for-hashing"
    result = hash_token_cli(token + "\n", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == sha256_hex(token) + "\n"
    assert result.stdout.strip() == auth.hash_token(token)
    assert token not in result.stdout + result.stderr


def test_auth_hash_token_with_nothing_on_stdin_exits_1(tmp_path: Path) -> None:
    result = hash_token_cli("", tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "no token on stdin" in result.stderr

"""examples/node: a Node.js caller (@grpc/grpc-js, @grpc/proto-loader) quotes, commits
and decodes a BadRequest, from the .proto files alone, against the real server. Run when
node and npm are on PATH; skipped with the reason otherwise."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import running, seeded_database

from rating import RatingClient
from rating_server.config import Settings
from rating_server.server import RatingServer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "node"
#: What npm prints when it cannot reach the registry: the example is skipped then.
OFFLINE = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT", "ENETUNREACH")


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example, copied out of the repository, its locked dependencies installed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not both on PATH: the Node.js example is not run")
    folder = tmp_path_factory.mktemp("node") / "example"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("node_modules"))
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0 and any(code in done.stderr for code in OFFLINE):
        pytest.skip(f"npm cannot reach its registry: {done.stderr.strip().splitlines()[-1]}")
    assert done.returncode == 0, done.stderr
    return folder


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RatingServer]:
    settings = Settings(listen="127.0.0.1:0", db_path=str(seeded_database(tmp_path / "r.db")))
    with running(settings) as started:
        yield started


def run_example(example: Path, server: RatingServer) -> str:
    env = {**os.environ, "RATING_TARGET": server.address, "RATING_PROTOS": str(ROOT / "protos")}
    done = subprocess.run(
        ["node", "quote.js"], cwd=example, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_node_example_quotes_commits_and_decodes_a_bad_request(
    example: Path, server: RatingServer
) -> None:
    output = run_example(example, server)

    lines = output.splitlines()
    assert lines[:3] == [
        "Quote: 6.9872 points (0.0069872 yuan), catalog version 1",
        "  agent.call: 3 at 2 points per call -> 6 points",
        "  model.doubao-pro-32k.input: 1234 at 0.8 points per 1000 tokens -> 0.9872 points",
    ]
    committed = re.fullmatch(r"CommitCharges: (ch_\w+), 6.9872 points", lines[3])
    assert committed is not None, lines[3]
    assert lines[4].startswith("Bad Quote: INVALID_ARGUMENT: items[0].sku: ")
    assert lines[5:] == [
        "  ErrorInfo: reason INVALID_USAGE, domain rating",
        "  BadRequest: items[0].sku SKU_UNKNOWN: no SKU, alias or pattern is named 'no.such.sku'",
        "  BadRequest: items[1].usage_id USAGE_ID_MISSING: usage_id is required",
        "Not sent: quantity must be a whole number of base units, not 2.7 "
        "(protobufjs would send 2)",
    ]
    with RatingClient(server.address) as client:
        charges = client.list_charges("node-example").items
    assert {charge.charge_id for charge in charges} == {committed[1]}
    assert [charge.sku for charge in charges] == ["agent.call", "model.doubao-pro-32k.input"]

"""Packaging: the client wheel installs alone and works with nothing of the server.

The wheel is built from a copy of ``client/`` (as a fresh clone has it) with pip and the
build backend the project declares, then installed into a new virtual environment made
from the base interpreter. Pip's cache is used, so only the first run downloads grpcio
and protobuf.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from support import REPO

from rating_server.server import RatingServer

CLIENT = REPO / "client"
PIP_TIMEOUT = 300.0
# What the client needs, and nothing else: the server's own dependencies must stay out.
REQUIRED = {"grpcio", "protobuf", "rating-client"}
BOOTSTRAP = {"pip", "setuptools"}  # what `python -m venv` itself puts in
SERVER_ONLY = {
    "rating-server",
    "grpcio-status",
    "grpcio-health-checking",
    "grpcio-reflection",
    "googleapis-common-protos",
    "sqlite-utils",
}
HAND_WRITTEN = [
    "__init__.py",
    "_operations.py",
    "_rpc_details.py",
    "aio.py",
    "client.py",
    "column_results.py",
    "columns.py",
    "committer.py",
    "errors.py",
    "feed.py",
    "options.py",
    "session.py",
    "types.py",
    "usage.py",
]
PROTOS = sorted(path.stem for path in (REPO / "protos" / "rating" / "v1").glob("*.proto"))

QUOTE_SCRIPT = """
import asyncio
import importlib
import sys
from datetime import UTC, datetime

import rating
from rating import AsyncRatingClient, RatingClient, errors, usage

address = sys.argv[1]
items = usage.model_tokens(
    "doubao-lite-32k",
    input_tokens=1234,
    usage_id="conv-7:turn-3",
    account_id="acme",
    occurred_at=datetime(2026, 11, 27, 4, tzinfo=UTC),
)
with RatingClient(address) as client:
    print("total_points", client.quote(items).total_points)
    try:
        client.get_sku("model.gpt-9.input")
    except errors.NotFoundError as error:
        print("not found", error.reason, error.resource_name)
    try:
        client.quote([usage.item("no.sku", 1, usage_id="x", account_id="acme")])
    except errors.InvalidArgumentError as error:
        print("invalid", *(f"{v.field}={v.reason}" for v in error.violations))


async def quote_async():
    async with AsyncRatingClient(address) as client:
        return (await client.quote(items)).total_points


print("async total_points", asyncio.run(quote_async()))
print("rating from", rating.__file__)
for name in ("rating_server", "grpc_status", "google.rpc"):
    try:
        importlib.import_module(name)
    except ModuleNotFoundError:
        print("no module", name)
    else:
        print("imported", name)
"""


def run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a command outside the repository, without this venv's PYTHONPATH."""
    env = {
        key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result


def base_python() -> str:
    """The interpreter this venv was made from: a fresh venv must not inherit its packages."""
    return getattr(sys, "_base_executable", None) or shutil.which("python3") or sys.executable


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The client wheel, built with pip (build isolation: the declared backend) from a
    clean copy of client/."""
    work = tmp_path_factory.mktemp("client-wheel")
    source = work / "client"
    shutil.copytree(
        CLIENT,
        source,
        ignore=shutil.ignore_patterns("*.egg-info", "build", "dist", "__pycache__"),
    )
    out = work / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", source, "-w", out, cwd=work)
    [built] = out.glob("rating_client-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment holding only the wheel and what pip pulled in for it;
    its python."""
    work = tmp_path_factory.mktemp("fresh-venv")
    run(base_python(), "-m", "venv", work / "venv", cwd=work)
    python = work / "venv" / "bin" / "python"
    run(python, "-m", "pip", "install", wheel, cwd=work)
    return python


def installed(python: Path) -> dict[str, list[str]]:
    """Each distribution in the venv of ``python``, with what it requires."""
    script = (
        "import json, importlib.metadata as m\n"
        "print(json.dumps({d.metadata['Name']: d.requires or [] for d in m.distributions()}))"
    )
    found = json.loads(run(python, "-I", "-c", script, cwd=python.parent).stdout)
    return {normalized(name): requires for name, requires in found.items()}


def requirement_name(requirement: str) -> str:
    return normalized(re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0])


def test_the_wheel_holds_the_generated_modules_their_stubs_and_the_hand_written_client(
    wheel: Path,
) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert PROTOS == [
        "account_service",
        "catalog_service",
        "columns",
        "error_reason",
        "rating_service",
        "reservation",
        "usage",
    ]
    for proto in PROTOS:
        for suffix in ("_pb2.py", "_pb2_grpc.py", "_pb2.pyi"):
            assert f"rating/v1/{proto}{suffix}" in names
    assert "rating/v1/__init__.py" in names
    assert "rating/v1/descriptors.binpb" in names
    assert "rating/py.typed" in names
    for module in HAND_WRITTEN:
        assert f"rating/{module}" in names
    # Every source file of the package is shipped, and nothing but the package.
    sources = {
        path.relative_to(CLIENT).as_posix()
        for path in (CLIENT / "rating").rglob("*")
        if path.suffix in (".py", ".pyi") or path.name == "py.typed"
    }
    assert sources <= names
    top_level = {name.split("/", 1)[0] for name in names}
    assert top_level == {"rating", "rating_client-0.1.0.dist-info"}


def test_the_wheel_requires_only_grpcio_and_protobuf_at_the_generated_code_floors(
    wheel: Path,
) -> None:
    with zipfile.ZipFile(wheel) as archive:
        metadata = Parser().parsestr(
            archive.read("rating_client-0.1.0.dist-info/METADATA").decode()
        )
    assert metadata["Name"] == "rating-client"
    assert metadata.get_all("Requires-Dist") == ["grpcio>=1.85.1", "protobuf>=7.35.1"]
    assert metadata["Requires-Python"] == ">=3.11"


def test_installing_the_wheel_into_a_fresh_venv_pulls_only_grpcio_protobuf_and_their_deps(
    fresh_venv: Path,
) -> None:
    packages = installed(fresh_venv)
    assert set(packages) >= REQUIRED
    assert not SERVER_ONLY & set(packages), SERVER_ONLY & set(packages)
    # Whatever else is there was pulled in by grpcio or protobuf themselves.
    pulled = {
        requirement_name(requirement)
        for name in ("grpcio", "protobuf")
        for requirement in packages[name]
        if "extra ==" not in requirement
    }
    assert set(packages) <= REQUIRED | BOOTSTRAP | pulled, sorted(set(packages))
    assert packages["rating-client"] == ["grpcio>=1.85.1", "protobuf>=7.35.1"]


def test_the_installed_client_quotes_against_a_running_server_without_the_server_package(
    fresh_venv: Path, server: RatingServer, tmp_path: Path
) -> None:
    script = tmp_path / "quote.py"
    script.write_text(QUOTE_SCRIPT, encoding="utf-8")
    # -I: no PYTHONPATH, no user site, not even the script's directory on sys.path.
    output = run(fresh_venv, "-I", script, server.address, cwd=tmp_path).stdout.splitlines()
    venv = fresh_venv.parent.parent
    assert output[:4] == [
        "total_points 0.3702",
        "not found SKU_NOT_FOUND model.gpt-9.input",
        "invalid items[0].sku=SKU_UNKNOWN",
        "async total_points 0.3702",
    ]
    origin = Path(output[4].removeprefix("rating from "))
    assert origin.is_relative_to(venv), origin
    assert output[5:] == [
        "no module rating_server",
        "no module grpc_status",
        "no module google.rpc",
    ]

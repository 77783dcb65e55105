"""The protos as other languages see them: the per-language options of every file, and
``tools/proto_breaking.sh`` (buf breaking against main's previous commit, run by
``make proto-check``)."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "proto_breaking.sh"
BUF = Path(sys.executable).parent / "buf"
#: The generated module of every .proto file of rating.v1 (a file added is in it).
MODULES = tuple(
    importlib.import_module(f"rating.v1.{path.stem}_pb2")
    for path in sorted((ROOT / "protos/rating/v1").glob("*.proto"))
)
#: The options every rating.v1 file sets, as buf's and googleapis' conventions have them.
OPTIONS = {
    "csharp_namespace": "Rating.V1",
    "go_package": "example.com/rating/gen/go/rating/v1;ratingv1",
    "java_multiple_files": True,
    "java_package": "com.example.rating.v1",
    "objc_class_prefix": "RXX",
    "php_namespace": "Rating\\V1",
    "ruby_package": "Rating::V1",
}


def file_options(module: object) -> descriptor_pb2.FileOptions:
    proto = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(proto)  # type: ignore[attr-defined]
    return proto.options


@pytest.mark.parametrize("module", MODULES, ids=[m.__name__ for m in MODULES])
def test_every_proto_file_sets_the_per_language_options(module: object) -> None:
    options = file_options(module)
    assert {name: getattr(options, name) for name in OPTIONS} == OPTIONS
    stem = Path(module.DESCRIPTOR.name).stem  # type: ignore[attr-defined]
    assert options.java_outer_classname == stem.title().replace("_", "") + "Proto"


def test_every_rating_v1_file_is_checked() -> None:
    assert len(MODULES) >= 6
    assert {module.DESCRIPTOR.package for module in MODULES} == {"rating.v1"}  # type: ignore[attr-defined]


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def breaking(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT)],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, "BUF": str(BUF)},
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository on main with two commits of the protos."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    shutil.copytree(ROOT / "protos", path / "protos")
    git(path, "add", "protos")
    git(path, "commit", "-q", "-m", "protos")
    (path / "README.md").write_text("x\n")
    git(path, "add", "README.md")
    git(path, "commit", "-q", "-m", "readme")
    return path


def remove_a_field(repo: Path) -> None:
    proto = repo / "protos/rating/v1/rating_service.proto"
    text = proto.read_text()
    assert "  string reason = 2;\n" in text
    proto.write_text(text.replace("  string reason = 2;\n", ""))


def test_buf_breaking_passes_against_main_s_previous_commit(repo: Path) -> None:
    done = breaking(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "buf breaking: no breaking change against" in done.stdout


def test_buf_breaking_fails_when_a_field_is_removed(repo: Path) -> None:
    remove_a_field(repo)
    done = breaking(repo)
    assert done.returncode != 0
    assert 'Previously present field "2" with name "reason"' in done.stdout + done.stderr


def test_on_a_branch_buf_breaking_compares_with_the_merge_base_of_main(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    remove_a_field(repo)
    git(repo, "commit", "-q", "-am", "drop a field")
    (repo / "README.md").write_text("y\n")
    git(repo, "commit", "-q", "-am", "later")  # HEAD~1 has the removal too: not the base
    done = breaking(repo)
    assert done.returncode != 0
    assert 'Previously present field "2"' in done.stdout + done.stderr


def test_a_shallow_clone_skips_buf_breaking_with_a_visible_line(repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(clone))
    done = breaking(clone)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "buf breaking: skipped: no previous commit to compare with (a shallow clone?)\n"
    )

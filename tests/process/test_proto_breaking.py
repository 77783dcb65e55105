"""``tools/proto_breaking.sh`` (buf breaking against main's previous commit, run by
``make proto-check``), run as a process in git repositories made here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "proto_breaking.sh"
BUF = Path(sys.executable).parent / "buf"


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

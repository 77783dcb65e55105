"""The settings as the CLI reads them: every command answers a setting it cannot use
with one line and exit status 2, before it does anything."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from processes import cli


@pytest.mark.parametrize(
    ("variable", "value", "args"),
    [
        ("RATING_WORKERS", "two", ["catalog", "version"]),
        ("RATING_WORKERS", "two", ["serve"]),
        ("RATING_METRICS_LISTEN", "nonsense", ["serve"]),
        ("RATING_DB", ".", ["serve"]),
        ("RATING_DB", ".", ["catalog", "import", "seed.toml"]),
        ("RATING_DB", ".", ["ledger", "check"]),
    ],
)
def test_every_command_answers_a_bad_setting_with_one_line_and_status_2(
    tmp_path: Path, variable: str, value: str, args: list[str]
) -> None:
    done = cli(*args, cwd=tmp_path, env={**os.environ, variable: value})
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"rating-server: {variable} "), done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr

"""What the tests of processes share: ``launch``, which starts ``python -m rating_server``
and kills whatever still runs at teardown. Every test here is marked ``process``."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from processes import Launch, ServerProcess
from support import mark_folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_folder(items, Path(__file__).parent, pytest.mark.process)


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    """Start ``python -m rating_server ARGS...``; whatever still runs is killed at teardown."""
    started: list[ServerProcess] = []

    def start(*args: str, env: Mapping[str, str] = os.environ) -> ServerProcess:
        process = ServerProcess(list(args), cwd=tmp_path, env=env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()

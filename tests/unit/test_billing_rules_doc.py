"""docs/billing-rules.md names each rule's one home and its tests: every function it
names exists in the module it names, every test exists in the test file it names, and
every rule names at least one test."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "billing-rules.md"
HOME = re.compile(r"`server/(rating_server/[\w/]+)\.py::([\w.]+)`")
TEST = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")
#: A row of a rules table: | rule | home | tests |.
ROW = re.compile(r"^\|(?P<rule>[^|]+)\|(?P<home>[^|]+)\|(?P<tests>[^|]+)\|\s*$")


def rows() -> list[tuple[str, str, str]]:
    """The rows of the doc's rules tables (those whose home names a server module)."""
    found = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match and HOME.search(match["home"]):
            found.append((match["rule"].strip(), match["home"], match["tests"]))
    return found


def test_the_doc_lists_the_rules_of_every_area() -> None:
    homes = {HOME.search(home).group(1) for _, home, _ in rows()}  # type: ignore[union-attr]
    for module in ("engine", "money", "catalog/model", "ledger/funding", "ledger/reservations"):
        assert f"rating_server/{module}" in homes
    assert len(rows()) >= 40


@pytest.mark.parametrize("rule, home, tests", rows(), ids=[rule[:40] for rule, _, _ in rows()])
def test_each_rule_names_its_home_and_at_least_one_test(rule: str, home: str, tests: str) -> None:
    assert len(HOME.findall(home)) == 1, f"{rule}: one home, not {home.strip()}"
    assert TEST.findall(tests), f"{rule}: no test named"


def defined(path: Path) -> set[str]:
    """The names of the functions (and async functions) a file defines, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def named_homes() -> list[tuple[str, str]]:
    return sorted(set(HOME.findall(DOC.read_text(encoding="utf-8"))))


def named_tests() -> list[tuple[str, str]]:
    return sorted(set(TEST.findall(DOC.read_text(encoding="utf-8"))))


@pytest.mark.parametrize("module, name", named_homes(), ids=lambda value: value)
def test_every_home_it_names_exists_in_its_module(module: str, name: str) -> None:
    found: object = importlib.import_module(module.replace("/", "."))
    for part in name.split("."):
        assert hasattr(found, part), f"{module}.py has no {name}"
        found = getattr(found, part)


@pytest.mark.parametrize("path, name", named_tests(), ids=lambda value: value)
def test_every_test_it_names_exists_in_its_file(path: str, name: str) -> None:
    assert name.startswith("test_")
    file = ROOT / path
    assert file.is_file(), f"no test file {path}"
    assert name in defined(file), f"{path} defines no {name}"

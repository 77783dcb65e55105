"""rating_server's modules import one another one way only: no cycle.

The import graph is read off the source with ``ast``: every ``import`` and ``from ...
import`` of a rating_server module, at the top of a module and inside its functions
(an import deferred into a function still makes a cycle, only a later one), but not
those under ``if TYPE_CHECKING:``, which never run. Importing ``a.b.c`` imports the
packages ``a`` and ``a.b`` first, so those are edges too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "server"
PACKAGE = "rating_server"


def module_name(path: Path, top: Path) -> str:
    """The dotted name of the module at ``path``, in the folder ``top`` holds."""
    parts = list(path.relative_to(top).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _under_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, but those under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _under_type_checking(node):
            for other in node.orelse:
                yield from _imports(other)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _imports(node)


def _with_packages(name: str, modules: set[str]) -> set[str]:
    """``name`` and every package above it, those of them that are modules here."""
    parts = name.split(".")
    return {".".join(parts[:end]) for end in range(1, len(parts) + 1)} & modules


def import_graph(root: Path = SERVER / PACKAGE) -> dict[str, set[str]]:
    """Each rating_server module, with the rating_server modules it imports."""
    paths = {module_name(path, root.parent): path for path in sorted(root.rglob("*.py"))}
    modules = set(paths)
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        is_package = path.name == "__init__.py"
        imported: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    imported |= _with_packages(alias.name, modules)
                continue
            base = node.module or ""
            if node.level:  # relative: from the module's package, up level - 1
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, *([base] if base else [])])
            imported |= _with_packages(base, modules)
            for alias in node.names:  # a name may be a submodule: from a import b
                imported |= _with_packages(f"{base}.{alias.name}", modules)
        graph[name] = imported - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph``, its first module again at its end; None if it has none."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for following in sorted(graph.get(node, ())):
            if following in on_path:
                return [*path[path.index(following) :], following]
            if following not in done and (cycle := visit(following)):
                return cycle
        path.pop()
        on_path.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done and (cycle := visit(start)):
            return cycle
    return None


def test_rating_servers_modules_import_one_another_without_a_cycle() -> None:
    graph = import_graph()
    # The graph is read: the wiring's known edges are in it, the workers' among them.
    assert {"rating_server.server", "rating_server.serving"} <= graph["rating_server.workers"]
    assert "rating_server.server" in graph["rating_server.serving"]
    cycle = find_cycle(graph)
    assert cycle is None, "an import cycle: " + " -> ".join(cycle or [])


def test_an_import_inside_a_function_is_an_edge_and_a_cycle_is_named(tmp_path: Path) -> None:
    package = tmp_path / PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from rating_server import b\n")
    (package / "b.py").write_text("def later() -> None:\n    from rating_server.a import x\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from rating_server import a\n"
    )
    (package / "d.py").write_text("from . import c\n")

    graph = import_graph(package)

    assert graph["rating_server.b"] == {"rating_server", "rating_server.a"}
    assert graph["rating_server.c"] == set()  # TYPE_CHECKING imports never run
    assert graph["rating_server.d"] == {"rating_server", "rating_server.c"}
    assert find_cycle(graph) == ["rating_server.a", "rating_server.b", "rating_server.a"]
    del graph["rating_server.b"]
    assert find_cycle(graph) is None

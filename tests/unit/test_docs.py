"""The documentation stands alone and holds together: every relative link in the README,
the client's README and docs/ reaches a file or folder of the repository (and an
``#anchor``, a heading of that file), no document names SPEC.md (which is not in the
repository), and every table is one block (a blank line inside a table would end it
and show the rest as text)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", ROOT / "client" / "README.md", *(ROOT / "docs").rglob("*.md")])
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE_SPAN = re.compile(r"`+[^`]*`+")
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def prose_lines(text: str) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks, numbered from 1."""
    lines: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: code marks and punctuation dropped, lower
    case, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading's anchor, a repeated one with GitHub's -1, -2, ... after it."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for _, line in prose_lines(text):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """Each relative link of ``path`` that reaches no file or folder under ``root``, or
    no heading of the file it names, as ``line: target (why)``."""
    text = path.read_text(encoding="utf-8")
    problems = []
    for number, line in prose_lines(text):
        for target in LINK.findall(CODE_SPAN.sub("``", line)):
            if SCHEME.match(target):
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.is_relative_to(root.resolve()):
                problems.append(f"{number}: {target} (outside the repository)")
            elif not linked.exists():
                problems.append(f"{number}: {target} (no such file)")
            elif anchor and (linked.suffix != ".md" or not linked.is_file()):
                problems.append(f"{number}: {target} (an anchor into a file without headings)")
            elif anchor and anchor not in anchors(linked.read_text(encoding="utf-8")):
                problems.append(f"{number}: {target} (no such heading)")
    return problems


def broken_tables(text: str) -> list[int]:
    """The first line of each table block whose second line is not a header's rule: the
    rest of a table that a blank line cut off."""
    problems = []
    block: list[tuple[int, str]] = []
    for number, line in [*prose_lines(text), (0, "")]:
        if line.lstrip().startswith("|"):
            block.append((number, line.strip()))
            continue
        if block and (len(block) < 2 or not re.fullmatch(r"[|:\- ]+", block[1][1])):
            problems.append(block[0][0])
        block = []
    return problems


def names(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_the_documents_are_the_readme_the_clients_readme_and_docs() -> None:
    found = {names(path) for path in DOCS}
    assert {"README.md", "client/README.md", "docs/api.md", "docs/errors.md"} <= found
    assert {"docs/development.md", "docs/operations.md", "docs/examples/sessions.md"} <= found


@pytest.mark.parametrize("path", DOCS, ids=names)
def test_every_relative_link_reaches_a_file_and_heading_of_the_repository(path: Path) -> None:
    assert broken_links(path) == []


@pytest.mark.parametrize("path", DOCS, ids=names)
def test_no_document_cites_spec_md_which_is_not_in_the_repository(path: Path) -> None:
    assert "SPEC.md" not in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", DOCS, ids=names)
def test_every_table_is_one_block(path: Path) -> None:
    assert broken_tables(path.read_text(encoding="utf-8")) == []


def test_operations_names_every_setting_flag_and_command_the_server_reads() -> None:
    server = ROOT / "server" / "rating_server"
    source = "\n".join(path.read_text(encoding="utf-8") for path in server.rglob("*.py"))
    cli = (server / "cli.py").read_text(encoding="utf-8")
    names = set(re.findall(r"\bRATING_[A-Z_]*[A-Z]\b", source))
    names |= set(re.findall(r'"(--[a-z][a-z-]*)"', cli))
    names |= set(re.findall(r'add_parser\(\s*"([a-z-]+)"', cli))
    assert {"RATING_DB", "RATING_WORKERS", "--listen", "serve", "hash-token"} <= names
    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    code = " ".join(re.findall(r"`([^`]*)`", operations))
    documented = {name for name in names if re.search(rf"(?<![\w-]){name}(?![\w-])", code)}
    assert sorted(names - documented) == []


def test_a_link_to_a_missing_file_or_heading_is_reported(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "there.md").write_text("# There\n\n## A `code` heading, too\n")
    (tmp_path / "seed.toml").write_text("x = 1\n")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "# Page\n\n"
        "[ok](there.md) [ok](there.md#a-code-heading-too) [ok](#page) [ok](../docs/)\n"
        "[web](https://example.com/x.md) `[not a link](nowhere.md)`\n"
        "[gone](missing.md) [no heading](there.md#nowhere) [self](#nothing)\n"
        "[out](../../elsewhere.md) [toml](../seed.toml#x)\n"
        "```\n[in code](nowhere.md)\n```\n"
    )
    assert broken_links(page, root=tmp_path) == [
        "5: missing.md (no such file)",
        "5: there.md#nowhere (no such heading)",
        "5: #nothing (no such heading)",
        "6: ../../elsewhere.md (outside the repository)",
        "6: ../seed.toml#x (an anchor into a file without headings)",
    ]


def test_headings_get_githubs_anchors_repeats_numbered_code_blocks_left_out() -> None:
    text = (
        "# Reflection and health, for grpcurl, grpcui and Postman\n"
        "## Adding a SKU's price, or a SKU\n## Live sessions: reserve, then settle\n"
        "## Notes\n## Notes\n```toml\n# access.toml: not a heading\n```\n"
    )
    assert anchors(text) == {
        "reflection-and-health-for-grpcurl-grpcui-and-postman",
        "adding-a-skus-price-or-a-sku",
        "live-sessions-reserve-then-settle",
        "notes",
        "notes-1",
    }


def test_a_table_cut_by_a_blank_line_is_reported() -> None:
    whole = "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n\ntext\n"
    cut = "text\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n| 3 | 4 |\n"
    assert broken_tables(whole) == []
    assert broken_tables(cut) == [7]

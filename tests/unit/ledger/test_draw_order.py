"""ledger/funding.py's draw-down order of packs, and the one place it is sorted."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

from rating_server.ledger.funding import Drawdown, in_draw_order
from rating_server.ledger.model import PACK, Pack

LEDGER = Path(__file__).resolve().parents[3] / "server" / "rating_server" / "ledger"


def pack(seq: int, priority: int = 0, expire: int | None = None, created: int = 0) -> Pack:
    return Pack(f"pack-{seq}", "acct-1", 10, 10, 0, expire, priority, created, seq)


def test_packs_are_drawn_by_priority_then_expiry_none_last_then_creation_then_id() -> None:
    ordered = [
        pack(9, priority=0, expire=50),
        pack(8, priority=0, expire=60, created=1),
        pack(7, priority=0, expire=60, created=2),
        pack(5, priority=0, expire=None),
        pack(6, priority=0, expire=None),
        pack(1, priority=1, expire=10),
    ]
    for shuffled in itertools.permutations(ordered):
        assert in_draw_order(shuffled) == ordered


def test_a_line_draws_its_packs_in_that_order() -> None:
    packs = [pack(2, priority=1), pack(1, priority=0, expire=100)]
    drawdown = Drawdown({"acct-1": 0}, {}, packs)
    parts = drawdown.draw("acct-1", 15, 5, "1970-01-01")
    assert [(p.source, p.pack_id, p.micros) for p in parts] == [
        (PACK, "pack-1", 10),
        (PACK, "pack-2", 5),
    ]


def test_only_in_draw_order_sorts_packs() -> None:
    """No other ledger module sorts packs by a key of its own (sorting pack ids, as the
    alerts do for their order, is no draw order)."""
    sorters = []
    for path in sorted(LEDGER.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "sorted"
                and any(keyword.arg == "key" for keyword in node.keywords)
            ):
                source = ast.unparse(node)
                if "pack" in source.lower():
                    sorters.append(f"{path.name}: {source}")
    assert sorters == ["funding.py: sorted(packs, key=draw_order)"]

"""units.py and money.py are the one home of the service's units: no other module of the
server defines a factor of nanoseconds or micro-points of its own."""

from __future__ import annotations

import ast
from pathlib import Path

from rating_server import units

PACKAGE = Path(__file__).resolve().parents[2] / "server" / "rating_server"
HOMES = {"units.py", "money.py"}


def test_a_second_a_milli_a_minute_and_a_day_in_nanoseconds() -> None:
    assert units.NANOS_PER_SECOND == 10**9
    assert units.NANOS_PER_MILLI * 1000 == units.NANOS_PER_SECOND
    assert units.NANOS_PER_MINUTE == 60 * units.NANOS_PER_SECOND
    assert units.NANOS_PER_DAY == 24 * units.NANOS_PER_HOUR == 86_400 * units.NANOS_PER_SECOND


def test_no_other_module_defines_a_unit_of_its_own() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name in HOMES:
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            if isinstance(node, ast.AnnAssign):
                targets = [node.target]
            for target in targets:
                name = getattr(target, "id", "")
                if name.startswith(("NANOS", "MICROS_PER")):
                    found.append(f"{path.relative_to(PACKAGE)}: {name}")
    assert found == []


def test_forever_is_past_every_instant_an_int64_of_nanoseconds_can_hold() -> None:
    assert units.FOREVER_NS > 2**63 - 1
    assert -units.FOREVER_NS <= -(2**63)

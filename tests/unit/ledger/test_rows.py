"""The rows a charge writes on every engine, and a line read back (``ledger/rows.py``)."""

from __future__ import annotations

import json

from rating_server.engine import Usage
from rating_server.ledger.model import BalanceChanges, ChargedLine, FundingPart, Receipt
from rating_server.ledger.rows import (
    ENTRY_COLUMNS,
    FUNDING_COLUMNS,
    LINE_COLUMNS,
    charge_entry,
    charge_rows,
    inline_funding,
)
from rating_server.ledger.store import NewCharge


def line(usage_id: str, funding: tuple[FundingPart, ...] = (), duplicate: bool = False):  # type: ignore[no-untyped-def]
    return ChargedLine(
        usage_id,
        "acme-dev",
        "acme",
        "agent.call",
        "agent.call",
        "agent",
        3,
        3,
        "call",
        1,
        "call",
        "2",
        6_000_000,
        "coze",
        0,
        funding,
        duplicate,
        "ch_old" if duplicate else "",
    )


def test_a_charge_is_its_new_lines_and_their_parts_with_empty_fields_as_none() -> None:
    labels = {"agent": "a-1", "channel": "web"}
    usages = [
        Usage("u-1", "acme-dev", "agent.call", 3, 10, None, labels),
        Usage("u-0", "acme-dev", "agent.call", 3, 11),
        Usage("u-2", "acme-dev", "agent.call", 3, 12, None, dict(labels)),
    ]
    funded = (
        FundingPart("free", 4_000_000, day="2026-11-27"),
        FundingPart("payg", 2_000_000, month="2026-11"),
    )
    receipt = Receipt(
        "ch_1", 1, 99, (line("u-1", funded), line("u-0", duplicate=True), line("u-2"))
    )
    changes = BalanceChanges({}, {}, {})
    lines, funding = charge_rows(NewCharge(receipt, "r-1", "h", usages, ["2026-11"] * 3, changes))

    assert [dict(zip(LINE_COLUMNS, row, strict=True))["usage_id"] for row in lines] == [
        "u-1",
        "u-2",
    ]
    first = dict(zip(LINE_COLUMNS, lines[0], strict=True))
    assert (first["charge_id"], first["line_number"], first["occurred_at_ns"]) == ("ch_1", 0, 10)
    assert (first["billing_account_id"], first["month"], first["commit_time_ns"]) == (
        "acme",
        "2026-11",
        99,
    )
    assert json.loads(first["attributes"]) == labels
    # Equal labels are encoded once: the same text object for both lines.
    assert lines[1][LINE_COLUMNS.index("attributes")] is first["attributes"]
    assert [dict(zip(FUNDING_COLUMNS, row, strict=True)) for row in funding] == [
        {
            "charge_id": "ch_1",
            "line_number": 0,
            "billing_account_id": "acme",
            "source": "free",
            "micros": 4_000_000,
            "pack_id": None,
            "day": "2026-11-27",
            "month": None,
        },
        {
            "charge_id": "ch_1",
            "line_number": 0,
            "billing_account_id": "acme",
            "source": "payg",
            "micros": 2_000_000,
            "pack_id": None,
            "day": None,
            "month": "2026-11",
        },
    ]


def test_a_line_read_back_has_its_fields_attributes_and_void_and_no_funding() -> None:
    values = {name: name for name in ENTRY_COLUMNS} | {
        "line_number": 2,
        "quantity": 3,
        "source": None,
    }
    row = (*(values[name] for name in ENTRY_COLUMNS), 1)
    entry = charge_entry(row, {"agent": "a-1"})
    assert (entry.charge_id, entry.line_number, entry.quantity, entry.sku) == (
        "charge_id",
        2,
        3,
        "sku",
    )
    assert entry.attributes == {"agent": "a-1"}
    assert entry.voided is True
    assert entry.funding == ()
    assert charge_entry((*row[:-1], 0), None).attributes == {}


def test_a_line_from_one_source_carries_its_part_and_writes_no_funding_entry() -> None:
    usages = [Usage(f"u-{n}", "acme-dev", "agent.call", 3, 10 + n) for n in range(4)]
    receipt = Receipt(
        "ch_1",
        1,
        99,
        (
            line("u-0", (FundingPart("free", 6_000_000, day="2026-11-27"),)),
            line("u-1", (FundingPart("pack", 6_000_000, pack_id="pack-7"),)),
            line("u-2", (FundingPart("payg", 6_000_000, month="2026-11"),)),
            line("u-3"),  # free of charge: no part at all
        ),
    )
    lines, funding = charge_rows(
        NewCharge(receipt, "r-1", "h", usages, ["2026-11"] * 4, BalanceChanges({}, {}, {}))
    )
    assert funding == []
    inline = [
        tuple(dict(zip(LINE_COLUMNS, row, strict=True))[c] for c in ("source", "pack_id", "day"))
        for row in lines
    ]
    assert inline == [
        ("free", None, "2026-11-27"),
        ("pack", "pack-7", None),
        ("payg", None, None),
        (None, None, None),
    ]
    # Read back, each line's part is the one it was funded by.
    for row, charged in zip(lines, receipt.lines, strict=True):
        entry = charge_entry((*row, 0), None)
        assert entry.funding == charged.funding


def test_a_part_that_is_not_all_of_the_line_is_a_funding_entry() -> None:
    usages = [Usage("u-0", "acme-dev", "agent.call", 3, 10)]
    odd = FundingPart("payg", 6_000_000, month="2026-10")  # not the line's month
    receipt = Receipt("ch_1", 1, 99, (line("u-0", (odd,)),))
    lines, funding = charge_rows(
        NewCharge(receipt, "r-1", "h", usages, ["2026-11"], BalanceChanges({}, {}, {}))
    )
    assert dict(zip(LINE_COLUMNS, lines[0], strict=True))["source"] is None
    assert [row[FUNDING_COLUMNS.index("month")] for row in funding] == ["2026-10"]


def test_inline_funding_is_nothing_without_a_source() -> None:
    assert inline_funding(None, 5, None, None, "2026-11") == ()
    assert inline_funding("payg", 5, None, None, "2026-11") == (
        FundingPart("payg", 5, month="2026-11"),
    )

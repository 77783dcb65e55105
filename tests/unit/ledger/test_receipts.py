"""The receipt's stored format and the request's fingerprint (``ledger/receipts.py``)."""

from __future__ import annotations

import json
import zlib

from support import GIB

from rating_server.engine import Usage
from rating_server.ledger import receipts
from rating_server.ledger.model import PACK, ChargedLine, FundingPart, Receipt


def test_a_receipt_stored_in_the_first_format_still_replays() -> None:
    part = FundingPart(PACK, 1_500_000, "pack-1")
    receipt = Receipt(
        "ch_1",
        3,
        1_795_000_000_000_000_000,
        (
            ChargedLine(
                "u-1",
                "acme",
                "acme",
                "agent.call",
                "agent.call",
                "agent",
                1,
                1,
                "call",
                1,
                "call",
                "2",
                2_000_000,
                "coze",
                0,
                funding=(part,),
            ),
        ),
    )
    # The first format: each line's fields, then its funding parts, in one array.
    rows = [
        [
            *(getattr(line, name) for name in receipts._LINE_FIELDS),
            [[p.source, p.micros, p.pack_id, p.day, p.month] for p in line.funding],
        ]
        for line in receipt.lines
    ]
    first = zlib.compress(json.dumps(["ch_1", 3, receipt.commit_time_ns, rows]).encode())
    assert receipts.decode_receipt(first) == receipt
    # The second: each line's fields, then every line's funding parts.
    fields = [row[:-1] for row in rows]
    fundings = [row[-1] for row in rows]
    second = json.dumps(["ch_1", 3, receipt.commit_time_ns, fields, fundings]).encode()
    assert receipts.decode_receipt(zlib.compress(second)) == receipt
    assert receipts.decode_receipt(receipts.encode_receipt(receipt)) == receipt


def test_a_fingerprint_tells_apart_every_value_sent_and_keeps_the_ones_stored_before() -> None:
    sample = Usage("s-1", "acme", "knowledge.storage", GIB, 1_795_000_000 * 10**9, 0)
    calls = Usage("u-1", "acme", "agent.call", 3, 1_795_000_000 * 10**9 + 123, None, {"b": "2"})
    # What a valid request hashed to before the wire's own values were kept.
    assert receipts.request_hash([calls]) == (
        "3917461442ecc6025b648feda3b8d578c82a68da4c84fd65a5b21257b4d3dd58"
    )
    # An invalid duration or instant reaches the usage as 0: the fingerprint is of its
    # (seconds, nanos) as sent, unlike the valid 0 s and unlike another invalid one.
    prints = {
        receipts.request_hash([sample]),
        receipts.request_hash([sample], {(0, "duration"): (1, -1)}),
        receipts.request_hash([sample], {(0, "duration"): (-1, 1)}),
        receipts.request_hash([sample], {(0, "occurred_at"): (1_795_000_000, -1)}),
        receipts.request_hash([sample._replace(duration_ns=None)]),
    }
    assert len(prints) == 5
    # Attributes are hashed by key, in whatever order they came.
    assert receipts.request_hash([calls._replace(attributes={"a": "1", "b": "2"})]) == (
        receipts.request_hash([calls._replace(attributes={"b": "2", "a": "1"})])
    )


def test_a_receipt_holds_each_price_once_and_gives_back_every_line_as_it_was() -> None:
    def line(usage_id: str, sku: str, price: str, **rest: object) -> ChargedLine:
        return ChargedLine(
            usage_id,
            "acme-dev",
            "acme",
            sku.upper(),  # the name the item gave
            sku,
            "model",
            1834,
            2000,
            "token",
            1000,
            "1000 tokens",
            price,
            1_600_000,
            "coze",
            1_790_000_000 * 10**9,
            **rest,  # type: ignore[arg-type]
        )

    split = (FundingPart("free", 600_000, day="2026-11-27"), FundingPart(PACK, 1_000_000, "p-1"))
    lines = (
        line("u-1", "model.a", "0.8", funding=split),
        line("u-2", "model.b", "2", funding=(FundingPart("payg", 1_600_000, month="2026-11"),)),
        line("u-3", "model.a", "0.8", duplicate=True, original_charge_id="ch_0"),
        line("u-4", "model.a", "0.8"),
    )
    receipt = Receipt("ch_1", 7, 1_795_000_000_000_000_123, lines)
    blob = receipts.encode_receipt(receipt)
    assert receipts.decode_receipt(blob) == receipt
    document = json.loads(zlib.decompress(blob))
    assert document[0] == receipts.FORMAT
    assert len(document[4]) == 2  # two prices for four lines
    assert document[5] == [0, 1, 0, 0]

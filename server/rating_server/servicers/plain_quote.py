"""A Quote of plain items, read and rated in one pass, then written.

Nearly every Quote names no account and carries only plain items (``engine.
plain_rater``). For those, this reads each item's fields from the request and rates it
in one loop, checks the batch's ids at once, and only then writes the lines' bytes:
nothing a caller sent reaches the hand-written encoding unchecked. It makes none of the
Usage and RatedLine values the general path makes of each item (``convert.usages``,
``engine.rate_batch``, ``LineWriter.rated``): about a sixth less time per item. Any
other batch, an item that is not plain or ids that are not, returns None, and the
general path rates it, naming every problem. Where this answers, it answers what the
general path does, byte for byte (test_plain_quote).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from rating.v1 import usage_pb2
from rating_server.catalog.model import CatalogSnapshot, PriceVersion, Sku
from rating_server.engine import Limits, plain_rater
from rating_server.ids import all_plain
from rating_server.servicers.encode import LineWriter, quote_response

NANOS = 1_000_000_000


def quote(
    items: Sequence[usage_pb2.UsageItem],
    catalog: CatalogSnapshot,
    limits: Limits,
    now_ns: int | None = None,
) -> tuple[bytes, int] | None:
    """The QuoteResponse's bytes and its number of lines, or None when the batch is not
    all plain. ``now_ns`` (default: the clock) is what "in the future" is measured from."""
    if not items:
        return None
    latest_ns = (time.time_ns() if now_ns is None else now_ns) + limits.max_future_ns
    rate = plain_rater(catalog, limits, latest_ns)
    write = LineWriter().rated_line
    usage_ids: list[str] = []
    account_ids: list[str] = []
    rows: list[tuple[str, str, str, int, Sku, PriceVersion, int, int]] = []
    total = 0
    for item in items:
        stamp = item.occurred_at
        nanos = stamp.nanos
        if not 0 <= nanos < NANOS or item.HasField("duration"):
            return None
        name = item.sku
        quantity = item.quantity
        rated = rate(name, quantity, stamp.seconds * NANOS + nanos, item.attributes)
        if rated is None:
            return None
        sku, price, rated_quantity, micros = rated
        usage_id = item.usage_id
        account_id = item.account_id
        usage_ids.append(usage_id)
        account_ids.append(account_id)
        rows.append((usage_id, account_id, name, quantity, sku, price, rated_quantity, micros))
        total += micros
    if total > limits.max_batch_micros or not (all_plain(usage_ids) and all_plain(account_ids)):
        return None
    out: list[bytes] = []
    for row in rows:
        out += write(*row)
    return quote_response(b"".join(out), total, catalog.version), len(rows)

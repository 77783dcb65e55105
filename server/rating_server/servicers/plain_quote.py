"""A Quote of plain items, read and rated in one pass, then written.

Nearly every Quote names no account and carries only plain items. For those, this
reads each item's fields from the request, rates it by the engine's own rule for a plain
item (``engine.plain_rater``: the SKU, the price in force, the bounds, the increment,
the amount) and writes the part of its line that follows from its SKU, price and
numbers, in one loop; then it checks the batch's ids at once (``ids.all_plain``, as
``engine.rate_batch`` does), and only then writes them, before each line's rest. No rule
is written here: what this adds is where bytes go. Nothing a caller sent reaches the
hand-written bytes unchecked: the requested name only in its price's fragments,
serialized by protobuf (``encode.rated_fragments``), and the ids only once checked. It
makes none of the Usage and RatedLine values the general path makes of each item
(``convert.usages``, ``engine.rate_batch``, ``LineWriter.rated``). Any other batch, an
item that is not plain or ids that are not, returns None, and the general path rates
it, naming every problem. Where this answers, it answers what the general path does,
byte for byte (test_plain_quote).
"""

from __future__ import annotations

from collections.abc import Sequence

from rating.v1 import usage_pb2
from rating_server.catalog.model import CatalogSnapshot, PriceVersion, Sku
from rating_server.engine import Limits, plain_rater
from rating_server.ids import all_plain
from rating_server.servicers.convert import instant_ns
from rating_server.servicers.encode import (
    FIELD_1,
    amounts,
    quote_response,
    rated_fragments,
    varint,
)

_HAS_FIELD = usage_pb2.UsageItem.HasField

#: Numbers whose digits are certain to be fewer than 128 (a one-byte length), however
#: they are rated: larger limits or increments leave the batch to the general path.
_SHORT = 10**60

# Varints of the lengths and quantities below 2^14, looked up, not computed.
_SMALL = 1 << 14
_VARINT = tuple(varint(n) for n in range(_SMALL))
# A line's quantity (field 6, left out when 0) and the tag of its rated_quantity (7),
# for the quantities below 2^14.
_QUANTITY = tuple((b"\x30" + varint(n) if n else b"") + b"\x3a" for n in range(_SMALL))

#: A line's fragments at one price, by requested name: the price they were written for,
#: the fields from sku to category, those from unit to unit_price with the tag of the
#: points, and those after the yuan. None for a SKU whose increment is not short.
_Entry = tuple[PriceVersion, bytes, bytes, bytes] | None

#: Requested names a quoter holds fragments for, at the most (names come from callers:
#: a pattern matches any number of them).
MAX_ENTRIES = 10_000


class _Fragments:
    """The fragments written for one catalog snapshot: by requested name, at the price
    last written for it; at the others, by (name, start of the price)."""

    __slots__ = ("catalog", "newest", "older")

    def __init__(self, catalog: CatalogSnapshot) -> None:
        self.catalog = catalog
        self.newest: dict[str, _Entry] = {}
        self.older: dict[tuple[str, int], _Entry] = {}

    def entry(self, name: str, sku: Sku, price: PriceVersion) -> _Entry:
        """The fragments of a line naming ``name``, rated by ``sku`` at ``price``."""
        if len(self.older) >= MAX_ENTRIES:
            self.older.clear()
        key = (name, price.effective_from_ns)
        if key in self.older:
            entry = self.older[key]
        else:
            entry = self.older[key] = _entry(sku, price, name)
        if len(self.newest) >= MAX_ENTRIES:
            self.newest.clear()
        if price is sku.prices[-1]:
            self.newest[name] = entry
        return entry


def _entry(sku: Sku, price: PriceVersion, name: str) -> _Entry:
    if sku.increment >= _SHORT:
        return None
    head, middle, tail = rated_fragments(sku, price, name)
    return (price, head, middle + b"\x62", tail)


class PlainQuoter:
    """Quotes batches of plain items in one pass, under one ``Limits``. It holds the
    fragments it wrote for the catalog snapshot it last quoted (a memo: what it answers
    depends only on the items, the catalog, the limits and the clock); a servicer owns
    one, for as long as it serves."""

    __slots__ = ("_fragments", "_limits")

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._fragments: _Fragments | None = None

    def _for(self, catalog: CatalogSnapshot) -> _Fragments:
        fragments = self._fragments
        if fragments is None or fragments.catalog is not catalog:
            fragments = self._fragments = _Fragments(catalog)
        return fragments

    def quote(
        self,
        items: Sequence[usage_pb2.UsageItem],
        catalog: CatalogSnapshot,
        now_ns: int | None = None,
    ) -> tuple[bytes, int] | None:
        """The QuoteResponse's bytes and its number of lines, or None when the batch is
        not all plain. ``now_ns`` (default: the clock) is what "in the future" is
        measured from."""
        limits = self._limits
        if not items or limits.max_quantity >= _SHORT or limits.max_line_micros >= _SHORT:
            return None
        rate = plain_rater(catalog, limits, limits.latest_ns(now_ns))
        fragments = self._for(catalog)
        newest, entry_of = fragments.newest, fragments.entry
        has, quantities = _HAS_FIELD, _QUANTITY
        usage_ids: list[str] = []
        account_ids: list[str] = []
        rests: list[bytes] = []
        total = 0
        for item in items:
            name = item.sku
            stamp = item.occurred_at
            at_ns = instant_ns(stamp.seconds, stamp.nanos)
            if at_ns is None or has(item, "duration"):
                return None
            quantity = item.quantity
            rated = rate(name, quantity, at_ns, item.attributes)
            if rated is None:
                return None
            sku, price, rated_quantity, micros = rated
            entry = newest.get(name)
            if entry is None or entry[0] is not price:
                entry = entry_of(name, sku, price)
                if entry is None:
                    return None
            _, head, middle, tail = entry
            total += micros
            points, yuan = amounts(micros)
            rated_text = b"%d" % rated_quantity
            rests.append(
                b"%b%b%c%b%b%c%b\x6a%c%b%b"
                % (
                    head,
                    quantities[quantity] if quantity < _SMALL else b"\x30%b\x3a" % varint(quantity),
                    len(rated_text),
                    rated_text,
                    middle,
                    len(points),
                    points,
                    len(yuan),
                    yuan,
                    tail,
                )
            )
            usage_ids.append(item.usage_id)
            account_ids.append(item.account_id)
        # A batch names a few accounts, each many times: each is checked once.
        if not (
            limits.batch_ok(total) and all_plain(usage_ids) and all_plain(list(set(account_ids)))
        ):
            return None
        lines = _lines(usage_ids, account_ids, rests)
        return quote_response(lines, total, catalog.version), len(rests)


def _lines(usage_ids: list[str], account_ids: list[str], rests: list[bytes]) -> bytes:
    """The lines, from their ids (checked) and the rest of each: a line is its tag, its
    length, then usage_id (field 1) and account_id (2), each its tag, length and bytes,
    then the rest."""
    accounts: dict[str, bytes] = {}
    out: list[bytes] = []
    lengths = _VARINT
    for usage_id, account_id, rest in zip(usage_ids, account_ids, rests, strict=True):
        account = accounts.get(account_id)
        if account is None:
            data = account_id.encode()
            account = accounts[account_id] = b"\x12%b%b" % (varint(len(data)), data)
        uid = usage_id.encode()
        size = len(uid)
        body = len(rest) + len(account) + size + (2 if size < 0x80 else 1 + len(varint(size)))
        out += (
            FIELD_1,
            lengths[body] if body < _SMALL else varint(body),
            b"\x0a",
            lengths[size] if size < _SMALL else varint(size),
            uid,
            account,
            rest,
        )
    return b"".join(out)

"""A Quote of plain items, read and rated in one pass, then written.

Nearly every Quote names no account and carries only plain items. For those, this
reads each item's fields from the request, rates it by the engine's own rule functions
(``PlainQuoter.quote`` names them) and writes the part of its line that follows from its
SKU, price and numbers, in one loop; then it checks the batch's bounds, attributes and
ids at once (``ids.all_plain``, as ``engine.rate_batch`` does), and only then writes the
ids, before each line's rest. No rule is written here: what this adds is where bytes go,
and when each rule function is called. Nothing a caller sent reaches the hand-written
bytes unchecked: the requested name only in its price's fragments, serialized by
protobuf (``encode.rated_fragments``), and the ids only once checked. It makes none of
the Usage and RatedLine values the general path makes of each item (``convert.usages``,
``engine.rate_batch``, ``LineWriter.rated``). Any other batch, an item that is not plain
or ids that are not, returns None, and the general path rates it, naming every problem.
Where this answers, it answers what the general path does, byte for byte
(test_plain_quote).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rating.v1 import usage_pb2
from rating_server.catalog.model import CatalogSnapshot
from rating_server.engine import Limits, plain_sku, rounded_up
from rating_server.ids import all_plain
from rating_server.money import amount
from rating_server.servicers.convert import instant_ns
from rating_server.servicers.encode import (
    FIELD_1,
    amounts,
    quote_response,
    rated_fragments,
    varint,
)
from rating_server.units import FOREVER_NS, NANOS_PER_SECOND

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

#: How a plain item naming one SKU is rated and written while one price is in force: the
#: instants it is in force at, [since, until) (``Sku.price_span``); the SKU's increment;
#: the amount's terms (``Rate.terms``); and its line's fragments: the fields from sku to
#: category, those from unit to unit_price with the tag of the points, and those after
#: the yuan.
_Entry = tuple[int, int, int, int, int, int, bytes, bytes, bytes]

#: Entries a quoter holds at the most, by requested name and by (name, price): names come
#: from callers (a pattern matches any number of them).
MAX_ENTRIES = 10_000


class _Entries:
    """The entries made for one catalog snapshot: by requested name, at the price in
    force when the name was last looked up (nearly always the newest); by (name, start
    of the price), at every price looked up."""

    __slots__ = ("catalog", "newest", "priced")

    def __init__(self, catalog: CatalogSnapshot) -> None:
        self.catalog = catalog
        self.newest: dict[str, _Entry] = {}
        self.priced: dict[tuple[str, int], _Entry] = {}

    def at(self, name: str, at_ns: int) -> _Entry | None:
        """The entry of an item naming ``name`` at ``at_ns``; None when no such item is
        plain (``engine.plain_sku``; no price in force at that instant) or its numbers
        are not short."""
        sku = plain_sku(self.catalog, name)
        span = None if sku is None or sku.increment >= _SHORT else sku.price_span(at_ns)
        if sku is None or span is None:
            return None
        price, since, until = span
        if len(self.priced) >= MAX_ENTRIES:
            self.priced.clear()
        entry = self.priced.get((name, since))
        if entry is None:
            head, middle, tail = rated_fragments(sku, price, name)
            a, b, c = price.rate.terms()
            entry = (since, until, sku.increment, a, b, c, head, middle + b"\x62", tail)
            self.priced[name, since] = entry
        if len(self.newest) >= MAX_ENTRIES:
            self.newest.clear()
        self.newest[name] = entry
        return entry


class PlainQuoter:
    """Quotes batches of plain items in one pass, under one ``Limits``. It holds the
    entries it made for the catalog snapshot it last quoted (a memo: what it answers
    depends only on the items, the catalog, the limits and the clock); a servicer owns
    one, for as long as it serves."""

    __slots__ = ("_entries", "_limits")

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._entries: _Entries | None = None

    def _for(self, catalog: CatalogSnapshot) -> _Entries:
        entries = self._entries
        if entries is None or entries.catalog is not catalog:
            entries = self._entries = _Entries(catalog)
        return entries

    def quote(
        self,
        items: Sequence[usage_pb2.UsageItem],
        catalog: CatalogSnapshot,
        now_ns: int | None = None,
    ) -> tuple[bytes, int] | None:
        """The QuoteResponse's bytes and its number of lines, or None when the batch is
        not all plain. ``now_ns`` (default: the clock) is what "in the future" is
        measured from.

        Each item is rated by the engine's rule functions: the SKU (``plain_sku``) and
        the price in force at its instant (``Sku.price_span``), looked up once per name
        and price; ``rounded_up``; ``amount``; ``Limits.all_attributes_ok``. The bounds are
        intervals, so the batch is in them when its least and greatest Timestamp fields
        (``convert.instant_ns``), quantity and instant, and its greatest line, are
        (``Limits.quantity_ok``, ``instant_ok``, ``line_ok``, ``batch_ok``): each is
        called once the batch is read, not once per item."""
        limits = self._limits
        if not items or limits.max_quantity >= _SHORT or limits.max_line_micros >= _SHORT:
            return None
        entries = self._for(catalog)
        newest, entry_at = entries.newest, entries.at
        least_seconds = least_nanos = FOREVER_NS
        most_seconds = most_nanos = -FOREVER_NS
        attribute_maps: list[Mapping[str, str]] = []
        has, quantities = _HAS_FIELD, _QUANTITY
        usage_ids: list[str] = []
        account_ids: list[str] = []
        rests: list[bytes] = []
        total = least = most = most_micros = 0
        first_ns, last_ns = FOREVER_NS, -FOREVER_NS
        for item in items:
            name = item.sku
            stamp = item.occurred_at
            seconds, nanos = stamp.seconds, stamp.nanos
            if has(item, "duration"):
                return None
            # The extremes of the Timestamps' fields (convert.instant_ns checks them after
            # the loop: a Timestamp is valid when its seconds and its nanos each are).
            if seconds < least_seconds:
                least_seconds = seconds
            if seconds > most_seconds:
                most_seconds = seconds
            if nanos < least_nanos:
                least_nanos = nanos
            if nanos > most_nanos:
                most_nanos = nanos
            at_ns = seconds * NANOS_PER_SECOND + nanos
            entry = newest.get(name) or entry_at(name, at_ns)
            if entry is None:
                return None
            since, until, increment, a, b, c, head, middle, tail = entry
            if not since <= at_ns < until:  # another price is in force: look it up
                entry = entry_at(name, at_ns)
                if entry is None:
                    return None
                since, until, increment, a, b, c, head, middle, tail = entry
            attributes = item.attributes
            if attributes:
                attribute_maps.append(attributes)
            quantity = item.quantity
            rated = rounded_up(quantity, increment)
            micros = amount(rated, a, b, c)
            # The extremes, for the bounds (checked after the loop).
            if quantity < least:
                least = quantity
            elif quantity > most:
                most = quantity
            if at_ns < first_ns:
                first_ns = at_ns
            if at_ns > last_ns:
                last_ns = at_ns
            if micros > most_micros:
                most_micros = micros
            total += micros
            points, yuan = amounts(micros)
            rated_text = b"%d" % rated
            rests.append(
                b"%b%b%c%b%b%c%b\x6a%c%b%b"
                % (
                    head,
                    quantities[quantity]
                    if 0 <= quantity < _SMALL
                    else b"\x30%b\x3a" % varint(quantity),
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
        latest_ns = limits.latest_ns(now_ns)
        # A batch names a few accounts, each many times: each is checked once.
        if not (
            instant_ns(least_seconds, least_nanos) is not None
            and instant_ns(most_seconds, most_nanos) is not None
            and limits.quantity_ok(least)
            and limits.quantity_ok(most)
            and limits.instant_ok(first_ns, latest_ns)
            and limits.instant_ok(last_ns, latest_ns)
            and limits.line_ok(most_micros)
            and limits.batch_ok(total)
            and limits.all_attributes_ok(attribute_maps)
            and all_plain(usage_ids)
            and all_plain(list(set(account_ids)))
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

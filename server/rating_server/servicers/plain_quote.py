"""A Quote of plain items, read and rated in one pass, then written.

Nearly every Quote names no account and carries only plain items (``engine.
plain_rater``). For those, this reads each item's fields from the request, rates it and
writes the part of its line that follows from its SKU, price and numbers, in one loop
with the engine's rules inlined (``engine.plain_price``: the SKU's terms, looked up once
per requested name and price; ``plain_rater``'s bounds); then it checks the batch's ids
at once, and only then writes them, before each line's rest. Nothing a caller sent
reaches the hand-written bytes unchecked: the requested name only in its price's
fragments, serialized by protobuf (``encode.rated_fragments``), and the ids only once
checked. It makes none of the Usage and RatedLine values the general path makes of each
item (``convert.usages``, ``engine.rate_batch``, ``LineWriter.rated``), nor a call per
item. Any other batch, an item that is not plain or ids that are not, returns None, and
the general path rates it, naming every problem. Where this answers, it answers what the
general path does, byte for byte (test_plain_quote).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from rating.v1 import usage_pb2
from rating_server.catalog.model import CatalogSnapshot
from rating_server.engine import (
    Limits,
    PlainPrice,
    plain_attribute_keys,
    plain_price,
    rounded_up,
)
from rating_server.ids import all_plain
from rating_server.money import amount
from rating_server.servicers.encode import FIELD_1, quote_response, rated_fragments, varint

NANOS = 1_000_000_000
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
# Whole points below 1,000, written.
_WHOLE = tuple(b"%d" % n for n in range(1000))

#: How a plain item naming one SKU is rated at one price and written: where the price
#: starts, the increment, the amount's terms (``PlainPrice``), and its line's fragments:
#: the fields from sku to category, those from unit to unit_price with the tag of the
#: points, and those after the yuan.
_Entry = tuple[int, int, int, int, int, bytes, bytes, bytes]

# The entries of the latest catalog snapshot: by requested name, at the SKU's newest
# price; at an older price, by (name, start of the price). Bounded: names come from
# callers (a pattern matches any number of them).
_MAX_ENTRIES = 10_000
_cache: tuple[object, dict[str, _Entry], dict[tuple[str, int], _Entry]] = (None, {}, {})


def _entry(plain: PlainPrice, name: str) -> _Entry:
    head, middle, tail = rated_fragments(plain.sku, plain.price, name)
    return (
        plain.since_ns,
        plain.increment,
        plain.a,
        plain.b,
        plain.c,
        head,
        middle + b"\x62",
        tail,
    )


def _newest(catalog: CatalogSnapshot, entries: dict[str, _Entry], name: str) -> _Entry | None:
    plain = plain_price(catalog, name)
    if plain is None or plain.increment >= _SHORT:
        return None
    if len(entries) >= _MAX_ENTRIES:
        entries.clear()
    entry = entries[name] = _entry(plain, name)
    return entry


def _older(
    catalog: CatalogSnapshot, entries: dict[tuple[str, int], _Entry], name: str, at_ns: int
) -> _Entry | None:
    plain = plain_price(catalog, name, at_ns)
    if plain is None:
        return None
    key = (name, plain.since_ns)
    entry = entries.get(key)
    if entry is None:
        if len(entries) >= _MAX_ENTRIES:
            entries.clear()
        entry = entries[key] = _entry(plain, name)
    return entry


def _entries(
    catalog: CatalogSnapshot,
) -> tuple[object, dict[str, _Entry], dict[tuple[str, int], _Entry]]:
    global _cache
    cache = _cache
    if cache[0] is not catalog:
        cache = _cache = (catalog, {}, {})
    return cache


def quote(
    items: Sequence[usage_pb2.UsageItem],
    catalog: CatalogSnapshot,
    limits: Limits,
    now_ns: int | None = None,
) -> tuple[bytes, int] | None:
    """The QuoteResponse's bytes and its number of lines, or None when the batch is not
    all plain. ``now_ns`` (default: the clock) is what "in the future" is measured from."""
    max_quantity, max_line = limits.max_quantity, limits.max_line_micros
    if not items or max_quantity >= _SHORT or max_line >= _SHORT:
        return None
    latest_ns = (time.time_ns() if now_ns is None else now_ns) + limits.max_future_ns
    earliest_ns = limits.earliest_ns
    max_attributes, max_value = limits.max_attributes, limits.max_attribute_value
    keys = plain_attribute_keys(limits)
    _, entries, older = _entries(catalog)
    has = _HAS_FIELD
    quantities, whole_points = _QUANTITY, _WHOLE
    usage_ids: list[str] = []
    account_ids: list[str] = []
    rests: list[bytes] = []
    total = 0
    # plain_rater's rules, item by item, inlined.
    for item in items:
        name = item.sku
        entry = entries.get(name) or _newest(catalog, entries, name)
        if entry is None:
            return None
        stamp = item.occurred_at
        nanos = stamp.nanos
        at_ns = stamp.seconds * NANOS + nanos
        quantity = item.quantity
        if (
            not 0 <= nanos < NANOS
            or not earliest_ns <= at_ns <= latest_ns
            or not 0 <= quantity <= max_quantity
            or has(item, "duration")
        ):
            return None
        attributes = item.attributes
        if attributes:
            if len(attributes) > max_attributes:
                return None
            for key in attributes:  # a loop reads a protobuf map faster than map()
                if key not in keys or len(attributes[key]) > max_value:
                    return None
        since, increment, a, b, c, head, middle, tail = entry
        if at_ns < since:  # an older price was in force
            found = _older(catalog, older, name, at_ns)
            if found is None:
                return None
            since, increment, a, b, c, head, middle, tail = found
        rated = rounded_up(quantity, increment)
        micros = amount(rated, a, b, c)
        if micros > max_line:
            return None
        total += micros
        # Points and yuan (encode._amount, written out): nearly every line costs less
        # than 1,000 points, so its yuan are 0.xxx and its points' decimals their tail.
        if not micros:
            points = yuan = b"0"
        elif micros < 1_000_000_000:
            yuan = (b"0.%09d" % micros).rstrip(b"0")
            digits = whole_points[micros // 1_000_000]
            points = b"%b.%b" % (digits, yuan[5:]) if len(yuan) > 5 else digits
        else:
            whole, fraction = divmod(micros, 1_000_000)
            points = (b"%d.%06d" % (whole, fraction)).rstrip(b"0") if fraction else b"%d" % whole
            whole, fraction = divmod(micros, 1_000_000_000)
            yuan = (b"%d.%09d" % (whole, fraction)).rstrip(b"0") if fraction else b"%d" % whole
        rated_text = b"%d" % rated
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
        total <= limits.max_batch_micros
        and all_plain(usage_ids)
        and all_plain(list(set(account_ids)))
    ):
        return None
    return quote_response(_lines(usage_ids, account_ids, rests), total, catalog.version), len(rests)


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

"""The bench's workload: the usage it sends and the responses the null server answers with.

Both sides of the bench import this module, so the null server's responses have the
shape and size of the real server's: the same usage mix, rated at the seed catalog's
prices (worked out once here, never per call), echoed ids of the same length.

Requests are built as bytes. A commit needs fresh ids on every call, so its items are
templates (the serialized item around its usage_id) joined with new ids: a 10,000-item
request costs a few milliseconds to build, outside of any timing.

Every request and response also has its columnar form (``UsageColumns`` in, ``RatedColumns``
out) for the same items: accounts, SKU names and attribute sets dictionary-encoded (in
order of first use), numbers packed, ``occurred_at`` as ``seconds * 10^9 + nanos``. It is
built here with plain protobuf, not with the client's builder, so the bench checks the
client's encoding rather than sharing it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from google.protobuf import duration_pb2, timestamp_pb2

from rating.v1 import account_service_pb2, columns_pb2, rating_service_pb2, usage_pb2

QUOTE = "/rating.v1.RatingService/Quote"
COMMIT = "/rating.v1.RatingService/CommitCharges"
BALANCE = "/rating.v1.AccountService/GetBalance"

#: Main accounts, pay-as-you-go on, each with one large pack; items cycle through them.
ACCOUNTS = tuple(f"bench-acct-{number:02d}" for number in range(16))
ACCOUNT_PLAN = "pro"
PACK_POINTS = "1000000000"
#: Labels every item carries, as producers do.
ATTRIBUTES = {"agent_id": "agent-0042", "channel": "api"}
#: The usage ids of quotes (fixed: a quote writes nothing) use this tag; a commit's use the
#: run's random tag, so every id in a run, on every caller, is new. Both are 8 characters.
QUOTE_TAG = "quote000"
MICRO = Decimal("0.000001")
NANOS = 1_000_000_000


#: Base unit: (base units in one price unit, the price unit's label), as the seed has them.
UNITS = {
    "token": (1000, "1000 tokens"),
    "character": (1, "character"),
    "call": (1, "call"),
    "millisecond": (60000, "minute"),
}


@dataclass(frozen=True, slots=True)
class Sample:
    """One kind of usage in the mix, and how the seed catalog rates it."""

    sku: str
    category: int
    unit: str
    unit_price: str
    quantity: int
    #: The name the item gives (an alias, a pattern match); default: the SKU id.
    requested: str = ""
    billed_by: int = usage_pb2.BILLED_BY_COZE

    @property
    def requested_sku(self) -> str:
        return self.requested or self.sku

    @property
    def price_unit(self) -> int:
        return UNITS[self.unit][0]

    @property
    def price_unit_label(self) -> str:
        return UNITS[self.unit][1]

    @property
    def points(self) -> str:
        amount = Decimal(self.quantity) * Decimal(self.unit_price) / self.price_unit
        return canonical(amount.quantize(MICRO, rounding=ROUND_HALF_UP))

    @property
    def micros(self) -> int:
        """The points in micro-points (RatedColumns.micros)."""
        return int(Decimal(self.points) * 1_000_000)

    @property
    def yuan(self) -> str:
        return canonical(Decimal(self.points) / 1000)


def canonical(value: Decimal) -> str:
    """A decimal string without exponent or trailing zeros ("0.3702", "2", "0")."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


_MODEL = usage_pb2.CATEGORY_MODEL
_SPEECH = usage_pb2.CATEGORY_SPEECH
_RTC = usage_pb2.CATEGORY_RTC

#: An agent platform's day: model tokens (by id and by alias), an Ark endpoint, agent
#: calls, speech, and real-time audio and video.
MIX: tuple[Sample, ...] = (
    Sample("model.doubao-pro-32k.input", _MODEL, "token", "0.8", 1834),
    Sample("model.doubao-pro-32k.output", _MODEL, "token", "2", 412),
    Sample("model.doubao-lite-32k.input", _MODEL, "token", "0.3", 1234, "Doubao-lite-32k.input"),
    Sample("model.deepseek-r1.output", _MODEL, "token", "16", 2871),
    Sample(
        "model.ark.input",
        _MODEL,
        "token",
        "0",
        5000,
        "model.ark.ep-20250101-abcde.input",
        usage_pb2.BILLED_BY_ARK,
    ),
    Sample("agent.call", usage_pb2.CATEGORY_AGENT, "call", "2", 1),
    Sample("speech.tts.system_voice", _SPEECH, "character", "0.5", 120),
    Sample("speech.asr.streaming", _SPEECH, "millisecond", "75", 15300),
    Sample("rtc.audio.voice", _RTC, "millisecond", "7", 61000),
    Sample("rtc.video.720p", _RTC, "millisecond", "28", 185000),
)


def sample(index: int) -> Sample:
    return MIX[index % len(MIX)]


def account(index: int) -> str:
    return ACCOUNTS[index % len(ACCOUNTS)]


def usage_id(tag: str, caller: int, seq: int) -> str:
    """22 characters: ``<tag>:<caller>:<seq>``."""
    return f"{tag}:{caller:02d}:{seq:010d}"


def request_id(tag: str, caller: int, seq: int) -> str:
    return f"{tag}:{caller:02d}:r{seq:09d}"


def now_timestamp(ago_seconds: int = 1) -> timestamp_pb2.Timestamp:
    """A recent instant (the server refuses usage from the far future), with nanoseconds
    as a clock gives them, so it is as long on the wire as the server's own times."""
    return timestamp_pb2.Timestamp(seconds=int(time.time()) - ago_seconds, nanos=471_368_214)


def usage_item(
    index: int, uid: str, occurred_at: timestamp_pb2.Timestamp, shift: int = 0
) -> usage_pb2.UsageItem:
    """The batch's item ``index``: its kind of usage by its index, its account by its
    index plus ``shift``."""
    kind = sample(index)
    return usage_pb2.UsageItem(
        usage_id=uid,
        account_id=account(index + shift),
        sku=kind.requested_sku,
        quantity=kind.quantity,
        occurred_at=occurred_at,
        attributes=ATTRIBUTES,
    )


def _dictionary(values: Iterable[str]) -> tuple[list[str], list[int]]:
    """The distinct values in order of first use, and each value's index among them."""
    entries: dict[str, int] = {}
    indices = [entries.setdefault(value, len(entries)) for value in values]
    return list(entries), indices


def unix_nanos(stamp: timestamp_pb2.Timestamp) -> int:
    """UsageColumns.occurred_at_unix_nanos of an instant."""
    return stamp.seconds * NANOS + stamp.nanos


def usage_columns(
    uids: Sequence[str], occurred_at: timestamp_pb2.Timestamp, shift: int = 0
) -> columns_pb2.UsageColumns:
    """The batch's items as columns: item ``i`` is ``usage_item(i, uids[i], occurred_at,
    shift)``."""
    batch = len(uids)
    accounts, account_indices = _dictionary(account(i + shift) for i in range(batch))
    skus, sku_indices = _dictionary(sample(i).requested_sku for i in range(batch))
    return columns_pb2.UsageColumns(
        usage_ids=uids,
        accounts=accounts,
        account_indices=account_indices,
        skus=skus,
        sku_indices=sku_indices,
        quantities=[sample(i).quantity for i in range(batch)],
        occurred_at_unix_nanos=[unix_nanos(occurred_at)] * batch,
        attribute_sets=[columns_pb2.AttributeSet(attributes=ATTRIBUTES)],
        attribute_set_indices=[0] * batch,
    )


def column_items(columns: columns_pb2.UsageColumns) -> list[usage_pb2.UsageItem]:
    """The items columns say, as UsageItem messages (as UsageColumns documents them)."""
    durations = dict(zip(columns.duration_items, columns.durations_nanos, strict=True))
    items = []
    for index, uid in enumerate(columns.usage_ids):
        item = usage_pb2.UsageItem(
            usage_id=uid,
            account_id=columns.accounts[columns.account_indices[index]],
            sku=columns.skus[columns.sku_indices[index]],
            quantity=columns.quantities[index],
        )
        if nanos := columns.occurred_at_unix_nanos[index]:
            seconds, rest = divmod(nanos, NANOS)
            item.occurred_at.CopyFrom(timestamp_pb2.Timestamp(seconds=seconds, nanos=rest))
        if index in durations:
            seconds, rest = divmod(durations[index], NANOS)
            item.duration.CopyFrom(duration_pb2.Duration(seconds=seconds, nanos=rest))
        if columns.attribute_set_indices:
            chosen = columns.attribute_sets[columns.attribute_set_indices[index]]
            item.attributes.update(chosen.attributes)
        if columns.reservation_ids:
            item.reservation_id = columns.reservation_ids[index]
        items.append(item)
    return items


# Requests


def quote_items(
    batch: int, occurred_at: timestamp_pb2.Timestamp | None = None
) -> tuple[list[str], timestamp_pb2.Timestamp]:
    """A quote's usage ids and its items' instant (a minute ago unless given)."""
    uids = [usage_id(QUOTE_TAG, 0, i) for i in range(batch)]
    return uids, occurred_at if occurred_at is not None else now_timestamp(60)


def quote_request(batch: int, occurred_at: timestamp_pb2.Timestamp | None = None) -> bytes:
    """The same request on every call: a quote writes nothing, so it may repeat."""
    uids, occurred_at = quote_items(batch, occurred_at)
    items = [usage_item(i, uid, occurred_at) for i, uid in enumerate(uids)]
    return rating_service_pb2.QuoteRequest(items=items).SerializeToString()


def quote_columns_request(batch: int, occurred_at: timestamp_pb2.Timestamp | None = None) -> bytes:
    """``quote_request``'s items as columns."""
    uids, occurred_at = quote_items(batch, occurred_at)
    columns = usage_columns(uids, occurred_at)
    return rating_service_pb2.QuoteRequest(columns=columns).SerializeToString()


def balance_request(caller: int) -> bytes:
    return account_service_pb2.GetBalanceRequest(account_id=account(caller)).SerializeToString()


def varint(value: int) -> bytes:
    """A non-negative integer as a protobuf varint."""
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field: key, length, payload."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


class CommitRequests:
    """Commit requests with a new request_id and new usage_ids on every call.

    Each item is ``<item key and length><usage_id key and length>`` + usage_id + ``<the
    rest of the item>``; usage ids all have one length, so the templates are built once
    per batch size. ``check`` proves the bytes are the message protobuf would build.

    ``next_columns`` gives the same items as columns: the usage ids (field 1 of
    UsageColumns, which protobuf writes first) followed by the other columns' bytes, built
    once per batch size; ``check_columns`` proves those bytes. Both forms draw on one
    sequence, so no usage_id or request_id is sent twice in a run, in either form.

    A batch smaller than the number of accounts names other accounts on each call (the
    caller's own first, then the next): single items come from many producers for many
    accounts, not all for one (whose commits would take turns on its lock).
    """

    def __init__(self, tag: str, caller: int) -> None:
        self.tag = tag
        self.caller = caller
        self._seq = 0
        self._calls = 0
        self._templates: dict[tuple[int, int], list[tuple[bytes, bytes]]] = {}
        self._column_templates: dict[tuple[int, int], bytes] = {}
        self._occurred_at = now_timestamp()
        self._shift = 0
        self._uid_length = len(usage_id(tag, caller, 0))

    def _template(self, batch: int, shift: int) -> list[tuple[bytes, bytes]]:
        templates = self._templates.get((batch, shift))
        if templates is None:
            uid_length = self._uid_length
            templates = []
            for index in range(batch):
                item = usage_item(index, "", self._occurred_at, shift).SerializeToString()
                size = len(_field(1, b"x" * uid_length)) + len(item)
                head = varint(2 << 3 | 2) + varint(size) + varint(1 << 3 | 2)
                templates.append((head + varint(uid_length), item))
            self._templates[batch, shift] = templates
        return templates

    def _column_template(self, batch: int, shift: int) -> bytes:
        """The columns of a batch but its usage ids, serialized."""
        rest = self._column_templates.get((batch, shift))
        if rest is None:
            columns = usage_columns([""] * batch, self._occurred_at, shift)
            columns.ClearField("usage_ids")
            rest = self._column_templates[batch, shift] = columns.SerializeToString()
        return rest

    def _advance(self, batch: int) -> tuple[int, int, bytes]:
        """The next call's account shift, first sequence number and request_id field."""
        shift = (self.caller + self._calls) % len(ACCOUNTS) if batch < len(ACCOUNTS) else 0
        self._shift = shift
        self._calls += 1
        first = self._seq
        self._seq += batch
        rid = request_id(self.tag, self.caller, self._calls).encode()
        return shift, first, _field(1, rid)

    def next(self, batch: int) -> bytes:
        shift, first, rid = self._advance(batch)
        templates = self._template(batch, shift)
        prefix = f"{self.tag}:{self.caller:02d}:".encode()
        parts = [rid]
        parts.extend(
            head + prefix + b"%010d" % (first + offset) + rest
            for offset, (head, rest) in enumerate(templates)
        )
        return b"".join(parts)

    def next_columns(self, batch: int) -> bytes:
        """The next request, its items as columns (CommitChargesRequest.columns)."""
        shift, first, rid = self._advance(batch)
        rest = self._column_template(batch, shift)
        head = (
            varint(1 << 3 | 2)
            + varint(self._uid_length)
            + f"{self.tag}:{self.caller:02d}:".encode()
        )
        uids = b"".join(head + b"%010d" % seq for seq in range(first, first + batch))
        return rid + _field(3, uids + rest)

    def _expected_items(self, batch: int) -> list[usage_pb2.UsageItem]:
        first = self._seq - batch
        return [
            usage_item(
                i, usage_id(self.tag, self.caller, first + i), self._occurred_at, self._shift
            )
            for i in range(batch)
        ]

    def check(self, batch: int) -> None:
        """Fail unless the templated bytes equal protobuf's own encoding."""
        data = self.next(batch)
        expected = rating_service_pb2.CommitChargesRequest(
            request_id=request_id(self.tag, self.caller, self._calls),
            items=self._expected_items(batch),
        )
        if rating_service_pb2.CommitChargesRequest.FromString(data) != expected:
            raise AssertionError("templated commit request differs from protobuf's")

    def check_columns(self, batch: int) -> None:
        """Fail unless the templated columnar bytes say what protobuf's ``usage_columns``
        says, and those columns the items ``next`` would send."""
        data = self.next_columns(batch)
        items = self._expected_items(batch)
        expected = rating_service_pb2.CommitChargesRequest(
            request_id=request_id(self.tag, self.caller, self._calls),
            columns=usage_columns(
                [item.usage_id for item in items], self._occurred_at, self._shift
            ),
        )
        if rating_service_pb2.CommitChargesRequest.FromString(data) != expected:
            raise AssertionError("templated columnar commit request differs from protobuf's")
        if column_items(expected.columns) != items:
            raise AssertionError("the columnar commit request says other items than the rows")


# Responses of the null server: the real server's, item for item, without the logic.


def rated_line(index: int, uid: str, funded: bool) -> usage_pb2.RatedLine:
    kind = sample(index)
    line = usage_pb2.RatedLine(
        usage_id=uid,
        account_id=account(index),
        sku=kind.sku,
        requested_sku=kind.requested_sku,
        category=kind.category,
        quantity=kind.quantity,
        rated_quantity=str(kind.quantity),
        unit=kind.unit,
        price_unit=kind.price_unit,
        price_unit_label=kind.price_unit_label,
        unit_price=kind.unit_price,
        points=kind.points,
        yuan=kind.yuan,
        billed_by=kind.billed_by,
        price_effective_from=timestamp_pb2.Timestamp(),
    )
    if funded:
        line.billing_account_id = account(index)
        if kind.points != "0":
            line.funding.append(
                usage_pb2.Funding(
                    source=usage_pb2.FUNDING_SOURCE_RESOURCE_PACK,
                    points=kind.points,
                    pack_id=f"pack-{index % len(ACCOUNTS) + 1}",
                )
            )
    return line


def _total(batch: int) -> tuple[str, str]:
    micros = sum(int(Decimal(sample(i).points) * 1_000_000) for i in range(batch))
    points = Decimal(micros) / 1_000_000
    return canonical(points), canonical(points / 1000)


def quote_response(batch: int) -> rating_service_pb2.QuoteResponse:
    points, yuan = _total(batch)
    return rating_service_pb2.QuoteResponse(
        lines=[rated_line(i, usage_id(QUOTE_TAG, 0, i), funded=False) for i in range(batch)],
        total_points=points,
        total_yuan=yuan,
        catalog_version=1,
    )


def commit_response(batch: int) -> rating_service_pb2.CommitChargesResponse:
    points, yuan = _total(batch)
    return rating_service_pb2.CommitChargesResponse(
        charge_id="ch_" + "5f" * 12,
        lines=[rated_line(i, usage_id("c0ffee00", 0, i), funded=True) for i in range(batch)],
        total_points=points,
        total_yuan=yuan,
        catalog_version=1,
        commit_time=now_timestamp(0),
    )


def rated_columns(batch: int, funded: bool) -> columns_pb2.RatedColumns:
    """``rated_line``'s lines as columns: each distinct price once, and per line its price,
    rated quantity and micro-points; ``funded``: each line's funding parts (its pack, for
    a line of any points) and billing account."""
    prices: dict[str, int] = {}
    price_list: list[columns_pb2.LinePrice] = []
    price_indices: list[int] = []
    for index in range(batch):
        kind = sample(index)
        found = prices.get(kind.requested_sku)
        if found is None:
            found = prices[kind.requested_sku] = len(price_list)
            price_list.append(
                columns_pb2.LinePrice(
                    sku=kind.sku,
                    requested_sku=kind.requested_sku,
                    category=kind.category,
                    unit=kind.unit,
                    price_unit=kind.price_unit,
                    price_unit_label=kind.price_unit_label,
                    unit_price=kind.unit_price,
                    billed_by=kind.billed_by,
                    price_effective_from=timestamp_pb2.Timestamp(),
                )
            )
        price_indices.append(found)
    columns = columns_pb2.RatedColumns(
        prices=price_list,
        price_indices=price_indices,
        rated_quantities=[sample(i).quantity for i in range(batch)],
        micros=[sample(i).micros for i in range(batch)],
    )
    if funded:
        lines = [i for i in range(batch) if sample(i).micros]
        packs, pack_indices = _dictionary(f"pack-{i % len(ACCOUNTS) + 1}" for i in lines)
        accounts, account_indices = _dictionary(account(i) for i in range(batch))
        columns.funding_targets.extend(
            columns_pb2.FundingTarget(source=usage_pb2.FUNDING_SOURCE_RESOURCE_PACK, pack_id=pack)
            for pack in packs
        )
        columns.funding_lines.extend(lines)
        columns.funding_target_indices.extend(pack_indices)
        columns.funding_micros.extend(sample(i).micros for i in lines)
        columns.billing_accounts.extend(accounts)
        columns.billing_account_indices.extend(account_indices)
    return columns


def quote_columns_response(batch: int) -> rating_service_pb2.QuoteResponse:
    """``quote_response`` with its lines as columns."""
    points, yuan = _total(batch)
    return rating_service_pb2.QuoteResponse(
        columns=rated_columns(batch, funded=False),
        total_points=points,
        total_yuan=yuan,
        catalog_version=1,
    )


def commit_columns_response(batch: int) -> rating_service_pb2.CommitChargesResponse:
    """``commit_response`` with its lines as columns."""
    points, yuan = _total(batch)
    return rating_service_pb2.CommitChargesResponse(
        charge_id="ch_" + "5f" * 12,
        columns=rated_columns(batch, funded=True),
        total_points=points,
        total_yuan=yuan,
        catalog_version=1,
        commit_time=now_timestamp(0),
    )


def balance_response() -> account_service_pb2.GetBalanceResponse:
    day = time.strftime("%Y-%m-%d")
    created = now_timestamp(30)
    pack = account_service_pb2.ResourcePack(
        pack_id="pack-1",
        account_id=ACCOUNTS[0],
        points=PACK_POINTS,
        remaining_points="999987654.321098",
        price_yuan="1000000",
        valid_from=timestamp_pb2.Timestamp(seconds=946_684_800),
        create_time=created,
    )
    return account_service_pb2.GetBalanceResponse(
        billing_account_id=ACCOUNTS[0],
        day=day,
        free_points_granted="500",
        free_points_used="500",
        free_points_left="0",
        packs=[pack],
        month=day[:7],
        pay_as_you_go_points="0",
        pay_as_you_go_yuan="0",
    )

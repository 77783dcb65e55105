"""Between protobuf messages and domain values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from google.protobuf import duration_pb2, timestamp_pb2
from google.protobuf.message import Message

from rating.v1 import catalog_service_pb2, usage_pb2
from rating_server.catalog.model import BILLERS, CATEGORIES, PriceVersion, Sku
from rating_server.domain_errors import InvalidRequestError, Violation
from rating_server.engine import Usage
from rating_server.ledger.model import FREE, PACK, PAYG, FundingPart
from rating_server.money import canonical, format_points

NANOS = 1_000_000_000
# The range google.protobuf.Timestamp allows: 0001-01-01 to 9999-12-31.
_MIN_SECONDS = -62_135_596_800
_MAX_SECONDS = 253_402_300_799
_MAX_DURATION_SECONDS = 315_576_000_000

CATEGORY: dict[str, usage_pb2.Category] = {
    name: cast("usage_pb2.Category", usage_pb2.Category.Value(f"CATEGORY_{name.upper()}"))
    for name in CATEGORIES
}
CATEGORY_NAME = {number: name for name, number in CATEGORY.items()}
BILLED_BY: dict[str, usage_pb2.BilledBy] = {
    name: cast("usage_pb2.BilledBy", usage_pb2.BilledBy.Value(f"BILLED_BY_{name.upper()}"))
    for name in BILLERS
}


def timestamp(ns: int) -> timestamp_pb2.Timestamp:
    seconds, nanos = divmod(ns, NANOS)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


def canonical_bytes(message: Message) -> bytes:
    """A message's canonical serialization, for its fingerprint: fields by number, map
    entries sorted by key, unknown fields left out (the server ignores them). Two
    serializations of one message, in whatever order their map entries came, give the
    same bytes. It drops the message's unknown fields."""
    message.DiscardUnknownFields()
    return message.SerializeToString(deterministic=True)


def usages(
    items: Sequence[usage_pb2.UsageItem],
    as_sent: dict[tuple[int, str], tuple[int, int]] | None = None,
    named: dict[int, str] | None = None,
) -> tuple[list[Usage], list[Violation]]:
    """Domain usages, and the violations only the wire format can show (bad ranges).

    ``named``, if given, receives the reservation each item names, by item index.

    An invalid Timestamp or Duration becomes 0 in its usage (so the rules can still name
    the item's other problems); ``as_sent``, if given, receives its (seconds, nanos) by
    (item index, field), for a commit's fingerprint (``receipts.request_hash``)."""
    result = []
    violations = []
    for index, item in enumerate(items):
        occurred_at = None
        stamp = item.occurred_at
        seconds, nanos = stamp.seconds, stamp.nanos
        # Any instant but the epoch itself shows the field is set (HasField costs more).
        if seconds or nanos or item.HasField("occurred_at"):
            if _MIN_SECONDS <= seconds <= _MAX_SECONDS and 0 <= nanos < NANOS:
                occurred_at = seconds * NANOS + nanos
            else:
                violations.append(
                    Violation(
                        f"items[{index}].occurred_at",
                        "OCCURRED_AT_INVALID",
                        "occurred_at is not a valid timestamp (years 1 to 9999, nanos 0 to 1e9-1)",
                    )
                )
                occurred_at = 0
                if as_sent is not None:
                    as_sent[index, "occurred_at"] = (seconds, nanos)
        duration = None
        if item.HasField("duration"):
            duration = _duration_ns(item.duration)
            if duration is None:
                violations.append(
                    Violation(
                        f"items[{index}].duration",
                        "DURATION_INVALID",
                        "duration is not a valid google.protobuf.Duration",
                    )
                )
                duration = 0
                if as_sent is not None:
                    as_sent[index, "duration"] = (item.duration.seconds, item.duration.nanos)
        if named is not None and item.reservation_id:
            named[index] = item.reservation_id
        # Positional: a named tuple is made faster so, and one is made per item.
        result.append(
            Usage(
                item.usage_id,
                item.account_id,
                item.sku,
                item.quantity,
                occurred_at,
                duration,
                item.attributes,
            )
        )
    return result, violations


def _duration_ns(duration: duration_pb2.Duration) -> int | None:
    seconds, nanos = duration.seconds, duration.nanos
    if abs(seconds) > _MAX_DURATION_SECONDS or abs(nanos) >= NANOS:
        return None
    if (seconds > 0 and nanos < 0) or (seconds < 0 and nanos > 0):
        return None
    return seconds * NANOS + nanos


FUNDING_SOURCE = {
    FREE: usage_pb2.FUNDING_SOURCE_FREE_POINTS,
    PACK: usage_pb2.FUNDING_SOURCE_RESOURCE_PACK,
    PAYG: usage_pb2.FUNDING_SOURCE_PAY_AS_YOU_GO,
}


# The reason a request's Timestamp or Duration field that is not valid is refused with.
INVALID_REASONS = {
    "end_time": "END_TIME_INVALID",
    "expire_time": "EXPIRE_TIME_INVALID",
    "start_time": "START_TIME_INVALID",
    "ttl": "TTL_INVALID",
    "valid_from": "VALID_FROM_INVALID",
}


def optional_duration_ns(duration: duration_pb2.Duration, present: bool, field: str) -> int | None:
    """A Duration field's nanoseconds, None when unset; InvalidRequestError when it is
    not a valid Duration."""
    if not present:
        return None
    value = _duration_ns(duration)
    if value is None:
        raise InvalidRequestError(
            [
                Violation(
                    field,
                    INVALID_REASONS[field],
                    f"{field} is not a valid google.protobuf.Duration",
                )
            ]
        )
    return value


def funding(part: FundingPart) -> usage_pb2.Funding:
    return usage_pb2.Funding(
        source=FUNDING_SOURCE[part.source],
        points=format_points(part.micros),
        pack_id=part.pack_id,
        day=part.day,
        month=part.month,
    )


# Instants the ledger stores are int64 nanoseconds: 1677-09-21 to 2262-04-11.
_MIN_NS = -(2**63)
_MAX_NS = 2**63 - 1


def optional_ns(stamp: timestamp_pb2.Timestamp, present: bool, field: str) -> int | None:
    """A request's instant in nanoseconds, None when unset; InvalidRequestError when it is
    not a valid Timestamp or lies beyond what the ledger stores."""
    if not present:
        return None
    ns = stamp.seconds * NANOS + stamp.nanos
    if not 0 <= stamp.nanos < NANOS or not _MIN_NS <= ns <= _MAX_NS:
        raise InvalidRequestError(
            [
                Violation(
                    field,
                    INVALID_REASONS[field],
                    f"{field} must be a valid timestamp between 1678 and 2262",
                )
            ]
        )
    return ns


def price_version(price: PriceVersion) -> catalog_service_pb2.PriceVersion:
    return catalog_service_pb2.PriceVersion(
        effective_from=timestamp(price.effective_from_ns),
        unit_price=canonical(price.unit_price),
    )


def sku_message(sku: Sku, now_ns: int) -> catalog_service_pb2.Sku:
    message = catalog_service_pb2.Sku(
        id=sku.id,
        display_name=sku.name,
        category=CATEGORY[sku.category],
        unit=sku.unit,
        price_unit=sku.price_unit,
        price_unit_label=sku.price_unit_label,
        billed_by=BILLED_BY[sku.billed_by],
        increment=sku.increment,
        aliases=sku.aliases,
        patterns=sku.patterns,
        metering=sku.metering,
        price_versions=[price_version(p) for p in sku.prices],
    )
    current = sku.price_at(now_ns)
    if current is not None:
        message.current_price.CopyFrom(price_version(current))
    return message

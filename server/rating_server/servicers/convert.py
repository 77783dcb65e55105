"""Between protobuf messages and domain values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf import duration_pb2, timestamp_pb2

from rating.v1 import catalog_service_pb2, usage_pb2
from rating_server.catalog.model import BILLERS, CATEGORIES, PriceVersion, Sku
from rating_server.engine import RatedLine, Usage, Violation
from rating_server.errors import InvalidRequestError
from rating_server.ledger.model import FREE, PACK, PAYG, ChargedLine, FundingPart
from rating_server.money import canonical, format_points, format_yuan

NANOS = 1_000_000_000
# The range google.protobuf.Timestamp allows: 0001-01-01 to 9999-12-31.
_MIN_SECONDS = -62_135_596_800
_MAX_SECONDS = 253_402_300_799
_MAX_DURATION_SECONDS = 315_576_000_000

CATEGORY = {name: usage_pb2.Category.Value(f"CATEGORY_{name.upper()}") for name in CATEGORIES}
CATEGORY_NAME = {number: name for name, number in CATEGORY.items()}
BILLED_BY = {name: usage_pb2.BilledBy.Value(f"BILLED_BY_{name.upper()}") for name in BILLERS}


def timestamp(ns: int) -> timestamp_pb2.Timestamp:
    seconds, nanos = divmod(ns, NANOS)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


def usages(items: Sequence[usage_pb2.UsageItem]) -> tuple[list[Usage], list[Violation]]:
    """Domain usages, and the violations only the wire format can show (bad ranges)."""
    result = []
    violations = []
    for index, item in enumerate(items):
        occurred_at = None
        if item.HasField("occurred_at"):
            stamp = item.occurred_at
            if _MIN_SECONDS <= stamp.seconds <= _MAX_SECONDS and 0 <= stamp.nanos < NANOS:
                occurred_at = stamp.seconds * NANOS + stamp.nanos
            else:
                violations.append(
                    Violation(
                        f"items[{index}].occurred_at",
                        "OCCURRED_AT_INVALID",
                        "occurred_at is not a valid timestamp (years 1 to 9999, nanos 0 to 1e9-1)",
                    )
                )
                occurred_at = 0
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
        result.append(
            Usage(
                usage_id=item.usage_id,
                account_id=item.account_id,
                sku=item.sku,
                quantity=item.quantity,
                occurred_at_ns=occurred_at,
                duration_ns=duration,
                attributes=item.attributes,
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


def funding(part: FundingPart) -> usage_pb2.Funding:
    return usage_pb2.Funding(
        source=FUNDING_SOURCE[part.source],
        points=format_points(part.micros),
        pack_id=part.pack_id,
        day=part.day,
        month=part.month,
    )


# The fields of a line that follow from its SKU and price version, kept as one message
# per price so a line is that message merged in (C) plus the item's own fields: half
# the cost of building every field of every line.
_PRICE_FIELDS: dict[tuple[object, ...], usage_pb2.RatedLine] = {}
_MAX_PRICE_FIELDS = 100_000


def _price_fields(
    sku: str,
    category: str,
    unit: str,
    price_unit: int,
    label: str,
    unit_price: str,
    billed_by: str,
    effective_from_ns: int,
) -> usage_pb2.RatedLine:
    key = (sku, category, unit, price_unit, label, unit_price, billed_by, effective_from_ns)
    fields = _PRICE_FIELDS.get(key)
    if fields is None:
        if len(_PRICE_FIELDS) >= _MAX_PRICE_FIELDS:
            _PRICE_FIELDS.clear()
        fields = _PRICE_FIELDS[key] = usage_pb2.RatedLine(
            sku=sku,
            category=CATEGORY[category],
            unit=unit,
            price_unit=price_unit,
            price_unit_label=label,
            unit_price=unit_price,
            billed_by=BILLED_BY[billed_by],
            price_effective_from=timestamp(effective_from_ns),
        )
    return fields


def _append(
    lines: Any,
    price_fields: usage_pb2.RatedLine,
    usage_id: str,
    account_id: str,
    requested_sku: str,
    quantity: int,
    rated_quantity: int,
    micros: int,
) -> usage_pb2.RatedLine:
    """Append a line: the price's fields merged in, then the item's own."""
    message = lines.add()
    message.MergeFrom(price_fields)
    message.usage_id = usage_id
    message.account_id = account_id
    message.requested_sku = requested_sku
    message.quantity = quantity
    message.rated_quantity = str(rated_quantity)
    message.points = format_points(micros)
    message.yuan = format_yuan(micros)
    return message


def add_line(lines: Any, line: ChargedLine) -> None:
    """Append ``line`` to a repeated RatedLine field."""
    price_fields = _price_fields(
        line.sku,
        line.category,
        line.unit,
        line.price_unit,
        line.price_unit_label,
        line.unit_price,
        line.billed_by,
        line.price_effective_from_ns,
    )
    message = _append(
        lines,
        price_fields,
        line.usage_id,
        line.account_id,
        line.requested_sku,
        line.quantity,
        line.rated_quantity,
        line.micros,
    )
    if line.funding:
        message.funding.extend(funding(part) for part in line.funding)
    if line.duplicate:
        message.duplicate = True
        message.original_charge_id = line.original_charge_id
    if line.billing_account_id:
        message.billing_account_id = line.billing_account_id


def add_rated_line(lines: Any, line: RatedLine) -> None:
    """Append a rated (not funded) line to a repeated RatedLine field."""
    sku, price, usage = line.sku, line.price, line.usage
    price_fields = _price_fields(
        sku.id,
        sku.category,
        sku.unit,
        sku.price_unit,
        sku.price_unit_label,
        price.unit_price_text,
        sku.billed_by,
        price.effective_from_ns,
    )
    _append(
        lines,
        price_fields,
        usage.usage_id,
        usage.account_id,
        usage.sku,
        usage.quantity,
        line.rated_quantity,
        line.micros,
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
                    f"{field.upper()}_INVALID",
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

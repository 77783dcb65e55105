"""What the client returns: plain values (Decimal points, aware datetimes) and the raw
message each was read from, in ``.raw``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from google.protobuf import timestamp_pb2

from rating.v1 import (
    account_service_pb2,
    catalog_service_pb2,
    rating_service_pb2,
    reservation_pb2,
    usage_pb2,
)

if TYPE_CHECKING:  # the stubs' generic wrapper; at run time there is EnumTypeWrapper only
    from google.protobuf.internal.enum_type_wrapper import _EnumTypeWrapper

T = TypeVar("T")


def _when(stamp: timestamp_pb2.Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def _enum(value: int, enum: _EnumTypeWrapper[Any], prefix: str) -> str:
    return enum.Name(value).removeprefix(prefix).lower()


def _points(text: str) -> Decimal:
    return Decimal(text or "0")


def _optional_points(text: str) -> Decimal | None:
    """Points, or None for "" (not set)."""
    return Decimal(text) if text else None


@dataclass(frozen=True, slots=True)
class Funding:
    """Points of a line drawn from one source: "free_points", "resource_pack" or
    "pay_as_you_go" (negative in a void's reversal)."""

    source: str
    points: Decimal
    pack_id: str
    day: str
    month: str

    @classmethod
    def of(cls, raw: usage_pb2.Funding) -> Funding:
        return cls(
            source=_enum(raw.source, usage_pb2.FundingSource, "FUNDING_SOURCE_"),
            points=_points(raw.points),
            pack_id=raw.pack_id,
            day=raw.day,
            month=raw.month,
        )


@dataclass(frozen=True, slots=True)
class Line:
    """The price (and, for commits, the funding) of one usage item."""

    usage_id: str
    account_id: str
    sku: str
    requested_sku: str
    category: str
    quantity: int
    rated_quantity: int
    unit: str
    price_unit: int
    price_unit_label: str
    unit_price: Decimal
    points: Decimal
    yuan: Decimal
    billed_by: str
    price_effective_from: datetime
    funding: tuple[Funding, ...]
    duplicate: bool
    original_charge_id: str
    billing_account_id: str
    raw: usage_pb2.RatedLine = field(repr=False)

    @classmethod
    def of(cls, raw: usage_pb2.RatedLine) -> Line:
        return cls(
            usage_id=raw.usage_id,
            account_id=raw.account_id,
            sku=raw.sku,
            requested_sku=raw.requested_sku,
            category=_enum(raw.category, usage_pb2.Category, "CATEGORY_"),
            quantity=raw.quantity,
            rated_quantity=int(raw.rated_quantity or 0),
            unit=raw.unit,
            price_unit=raw.price_unit,
            price_unit_label=raw.price_unit_label,
            unit_price=_points(raw.unit_price),
            points=_points(raw.points),
            yuan=_points(raw.yuan),
            billed_by=_enum(raw.billed_by, usage_pb2.BilledBy, "BILLED_BY_"),
            price_effective_from=_when(raw.price_effective_from),
            funding=tuple(Funding.of(f) for f in raw.funding),
            duplicate=raw.duplicate,
            original_charge_id=raw.original_charge_id,
            billing_account_id=raw.billing_account_id,
            raw=raw,
        )


@dataclass(frozen=True, slots=True)
class QuoteFunding:
    account_id: str
    free_points: Decimal
    pack_points: Decimal
    pay_as_you_go_points: Decimal
    covered: bool
    pay_as_you_go_enabled: bool
    shortfall_points: Decimal
    #: Points the account's live reservations hold now, which the quote could not use
    #: (but for the holds of the reservations its items name).
    held_points: Decimal = Decimal(0)
    # With pay-as-you-go on and a monthly budget, ``shortfall_points`` is what would
    # pass what is left of the budget, and ``covered`` whether it is 0.

    @classmethod
    def of(cls, raw: rating_service_pb2.QuoteFunding) -> QuoteFunding:
        return cls(
            account_id=raw.account_id,
            free_points=_points(raw.free_points),
            pack_points=_points(raw.pack_points),
            pay_as_you_go_points=_points(raw.pay_as_you_go_points),
            covered=raw.covered,
            pay_as_you_go_enabled=raw.pay_as_you_go_enabled,
            shortfall_points=_points(raw.shortfall_points),
            held_points=_points(raw.held_points),
        )


@dataclass(frozen=True, slots=True)
class Quote:
    lines: tuple[Line, ...]
    total_points: Decimal
    total_yuan: Decimal
    catalog_version: int
    funding: QuoteFunding | None
    raw: rating_service_pb2.QuoteResponse = field(repr=False)

    @classmethod
    def of(cls, raw: rating_service_pb2.QuoteResponse) -> Quote:
        return cls(
            lines=tuple(Line.of(line) for line in raw.lines),
            total_points=_points(raw.total_points),
            total_yuan=_points(raw.total_yuan),
            catalog_version=raw.catalog_version,
            funding=QuoteFunding.of(raw.funding) if raw.HasField("funding") else None,
            raw=raw,
        )


@dataclass(frozen=True, slots=True)
class Receipt:
    """A commit's result. ``request_id`` is the one sent (generated if not given)."""

    request_id: str
    charge_id: str
    lines: tuple[Line, ...]
    total_points: Decimal
    total_yuan: Decimal
    catalog_version: int
    commit_time: datetime
    raw: rating_service_pb2.CommitChargesResponse = field(repr=False)

    @classmethod
    def of(cls, request_id: str, raw: rating_service_pb2.CommitChargesResponse) -> Receipt:
        return cls(
            request_id=request_id,
            charge_id=raw.charge_id,
            lines=tuple(Line.of(line) for line in raw.lines),
            total_points=_points(raw.total_points),
            total_yuan=_points(raw.total_yuan),
            catalog_version=raw.catalog_version,
            commit_time=_when(raw.commit_time),
            raw=raw,
        )

    @property
    def duplicates(self) -> tuple[Line, ...]:
        """Lines whose usage_id had been committed before, so not charged again."""
        return tuple(line for line in self.lines if line.duplicate)


@dataclass(frozen=True, slots=True)
class VoidResult:
    charge_id: str
    reversals: tuple[Funding, ...]
    void_time: datetime
    already_voided: bool
    raw: rating_service_pb2.VoidChargeResponse = field(repr=False)

    @classmethod
    def of(cls, raw: rating_service_pb2.VoidChargeResponse) -> VoidResult:
        return cls(
            charge_id=raw.charge_id,
            reversals=tuple(Funding.of(f) for f in raw.reversals),
            void_time=_when(raw.void_time),
            already_voided=raw.already_voided,
            raw=raw,
        )


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits the server enforces (``RatingClient.get_limits``): a batch's items and
    amount, an item's quantity and attributes, ids, the largest message in bytes, the
    page sizes (default, largest) and the keepalive policy (the shortest time between
    two pings while no data flows; pinging more often ends in GOAWAY too_many_pings)."""

    max_batch_items: int
    max_quantity: int
    max_line_points: Decimal
    max_batch_points: Decimal
    max_attributes: int
    max_attribute_key_length: int
    max_attribute_value_length: int
    max_id_length: int
    earliest_occurred_at: datetime
    max_future_skew: timedelta
    max_message_bytes: int
    list_skus_page: tuple[int, int]
    list_charges_page: tuple[int, int]
    min_ping_interval: timedelta
    pings_without_calls: bool
    max_ping_strikes: int
    max_reservation_ttl: timedelta
    raw: rating_service_pb2.GetLimitsResponse = field(repr=False)

    @classmethod
    def of(cls, raw: rating_service_pb2.GetLimitsResponse) -> Limits:
        return cls(
            max_batch_items=raw.max_batch_items,
            max_quantity=raw.max_quantity,
            max_line_points=_points(raw.max_line_points),
            max_batch_points=_points(raw.max_batch_points),
            max_attributes=raw.max_attributes,
            max_attribute_key_length=raw.max_attribute_key_length,
            max_attribute_value_length=raw.max_attribute_value_length,
            max_id_length=raw.max_id_length,
            earliest_occurred_at=_when(raw.earliest_occurred_at),
            max_future_skew=raw.max_future_skew.ToTimedelta(),
            max_message_bytes=raw.max_message_bytes,
            list_skus_page=(raw.list_skus_page.default_page_size, raw.list_skus_page.max_page_size),
            list_charges_page=(
                raw.list_charges_page.default_page_size,
                raw.list_charges_page.max_page_size,
            ),
            min_ping_interval=raw.keepalive.min_ping_interval.ToTimedelta(),
            pings_without_calls=raw.keepalive.permit_without_calls,
            max_ping_strikes=raw.keepalive.max_ping_strikes,
            max_reservation_ttl=raw.max_reservation_ttl.ToTimedelta(),
            raw=raw,
        )


_TERM_NAMES = {
    account_service_pb2.CAPACITY_TERM_MONTH: "month",
    account_service_pb2.CAPACITY_TERM_YEAR: "year",
}


@dataclass(frozen=True, slots=True)
class CapacityPurchase:
    """Knowledge-base capacity bought: ``gib`` GiB more free storage for the account
    from ``valid_from`` (inclusive) to ``expire_time`` (exclusive). ``term`` is "month",
    "year", or "" when the grant gave explicit dates."""

    purchase_id: str
    account_id: str
    gib: int
    term: str
    valid_from: datetime
    expire_time: datetime
    price_points: Decimal
    price_yuan: Decimal
    create_time: datetime
    raw: account_service_pb2.CapacityPurchase = field(repr=False)

    @classmethod
    def of(cls, raw: account_service_pb2.CapacityPurchase) -> CapacityPurchase:
        return cls(
            purchase_id=raw.purchase_id,
            account_id=raw.account_id,
            gib=raw.gib,
            term=_TERM_NAMES.get(raw.term, ""),
            valid_from=_when(raw.valid_from),
            expire_time=_when(raw.expire_time),
            price_points=_points(raw.price_points),
            price_yuan=_points(raw.price_yuan),
            create_time=_when(raw.create_time),
            raw=raw,
        )


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    plan: str
    time_zone: str
    parent_account_id: str
    pay_as_you_go: bool
    create_time: datetime
    sub_account_ids: tuple[str, ...]
    #: A main account's capacity purchases, by valid_from (GetAccount only; none for a
    #: sub-account, whose main account holds them).
    capacity_purchases: tuple[CapacityPurchase, ...]
    #: The monthly pay-as-you-go limit in points, or None: quotes and reservations
    #: treat it as the end of funding; commits pass it.
    monthly_budget_points: Decimal | None
    raw: account_service_pb2.Account = field(repr=False)

    @classmethod
    def of(
        cls,
        raw: account_service_pb2.Account,
        subs: tuple[str, ...] = (),
        capacity_purchases: tuple[CapacityPurchase, ...] = (),
    ) -> Account:
        return cls(
            account_id=raw.account_id,
            plan=raw.plan,
            time_zone=raw.time_zone,
            parent_account_id=raw.parent_account_id,
            pay_as_you_go=raw.pay_as_you_go,
            create_time=_when(raw.create_time),
            sub_account_ids=subs,
            capacity_purchases=capacity_purchases,
            monthly_budget_points=_optional_points(raw.monthly_budget_points),
            raw=raw,
        )


@dataclass(frozen=True, slots=True)
class Pack:
    pack_id: str
    account_id: str
    points: Decimal
    remaining_points: Decimal
    price_yuan: Decimal
    valid_from: datetime
    expire_time: datetime | None
    priority: int
    create_time: datetime
    #: Points of ``remaining_points`` held now by live reservations: only the rest
    #: funds other usage.
    held_points: Decimal
    raw: account_service_pb2.ResourcePack = field(repr=False)

    @classmethod
    def of(cls, raw: account_service_pb2.ResourcePack) -> Pack:
        return cls(
            pack_id=raw.pack_id,
            account_id=raw.account_id,
            points=_points(raw.points),
            remaining_points=_points(raw.remaining_points),
            price_yuan=_points(raw.price_yuan),
            valid_from=_when(raw.valid_from),
            expire_time=_when(raw.expire_time) if raw.HasField("expire_time") else None,
            priority=raw.priority,
            create_time=_when(raw.create_time),
            held_points=_points(raw.held_points),
            raw=raw,
        )


@dataclass(frozen=True, slots=True)
class Balance:
    billing_account_id: str
    day: str
    free_points_granted: Decimal
    free_points_used: Decimal
    free_points_left: Decimal
    packs: tuple[Pack, ...]
    month: str
    pay_as_you_go_points: Decimal
    pay_as_you_go_yuan: Decimal
    #: The capacity purchases valid at some instant of the day, and the free storage
    #: quota in bytes (now if the day is today, else at the day's start).
    capacity_purchases: tuple[CapacityPurchase, ...]
    storage_quota_bytes: int
    #: Points of ``free_points_left`` held now by live reservations.
    free_points_held: Decimal
    #: Points live reservations hold on the month's pay-as-you-go bill (not on it yet:
    #: a hold accrues nothing until it is settled).
    pay_as_you_go_held_points: Decimal
    #: The billing account's live reservations (held, not expired), oldest first.
    reservations: tuple[Reservation, ...]
    #: The monthly budget, and what is left of it for the month (the budget less the
    #: bill and what is held on it, never below 0); both None without a budget.
    budget_points: Decimal | None
    budget_left_points: Decimal | None
    raw: account_service_pb2.GetBalanceResponse = field(repr=False)

    @classmethod
    def of(cls, raw: account_service_pb2.GetBalanceResponse) -> Balance:
        return cls(
            billing_account_id=raw.billing_account_id,
            day=raw.day,
            free_points_granted=_points(raw.free_points_granted),
            free_points_used=_points(raw.free_points_used),
            free_points_left=_points(raw.free_points_left),
            packs=tuple(Pack.of(p) for p in raw.packs),
            month=raw.month,
            pay_as_you_go_points=_points(raw.pay_as_you_go_points),
            pay_as_you_go_yuan=_points(raw.pay_as_you_go_yuan),
            free_points_held=_points(raw.free_points_held),
            pay_as_you_go_held_points=_points(raw.pay_as_you_go_held_points),
            reservations=tuple(Reservation.of(r) for r in raw.reservations),
            capacity_purchases=tuple(CapacityPurchase.of(p) for p in raw.capacity_purchases),
            storage_quota_bytes=raw.storage_quota_bytes,
            budget_points=_optional_points(raw.budget_points),
            budget_left_points=_optional_points(raw.budget_left_points),
            raw=raw,
        )


@dataclass(frozen=True, slots=True)
class AlertThresholds:
    """A main account's balance alert thresholds, None (points) or 0 (percents) where
    not set: free points of the day below, a pack below (points, or percent of its
    points), the month's pay-as-you-go bill above (points, or percent of the budget)."""

    account_id: str
    free_points_below: Decimal | None
    pack_points_below: Decimal | None
    pack_percent_below: int
    pay_as_you_go_points_above: Decimal | None
    pay_as_you_go_budget_percent_above: int
    raw: account_service_pb2.AlertThresholds = field(repr=False)

    @classmethod
    def of(cls, raw: account_service_pb2.AlertThresholds) -> AlertThresholds:
        return cls(
            account_id=raw.account_id,
            free_points_below=_optional_points(raw.free_points_below),
            pack_points_below=_optional_points(raw.pack_points_below),
            pack_percent_below=raw.pack_percent_below,
            pay_as_you_go_points_above=_optional_points(raw.pay_as_you_go_points_above),
            pay_as_you_go_budget_percent_above=raw.pay_as_you_go_budget_percent_above,
            raw=raw,
        )


@dataclass(frozen=True, slots=True)
class Reservation:
    """Funding held for a live session (``RatingClient.reserve``).

    ``state`` is "held", "settled", "released" or "expired". ``granted_quantity`` is
    what ``held_points`` pay for, up to ``requested_quantity`` (both in the SKU's base
    unit; 0 when the account could cover none of it), and ``holds`` says where the
    points are held, in draw-down order. ``end_time`` is None until it is settled or
    released; ``settle_charge_id`` names the charge that settled it. ``already_ended``
    is for ``release``: true when it had ended before (released or expired) and
    nothing changed now.
    """

    reservation_id: str
    account_id: str
    billing_account_id: str
    sku: str
    requested_sku: str
    requested_quantity: int
    granted_quantity: int
    held_points: Decimal
    holds: tuple[Funding, ...]
    state: str
    create_time: datetime
    expire_time: datetime
    end_time: datetime | None
    settle_charge_id: str
    already_ended: bool
    raw: reservation_pb2.Reservation = field(repr=False)

    @classmethod
    def of(cls, raw: reservation_pb2.Reservation, already_ended: bool = False) -> Reservation:
        return cls(
            reservation_id=raw.reservation_id,
            account_id=raw.account_id,
            billing_account_id=raw.billing_account_id,
            sku=raw.sku,
            requested_sku=raw.requested_sku,
            requested_quantity=raw.requested_quantity,
            granted_quantity=raw.granted_quantity,
            held_points=_points(raw.held_points),
            holds=tuple(Funding.of(f) for f in raw.holds),
            state=_enum(raw.state, reservation_pb2.ReservationState, "RESERVATION_STATE_"),
            create_time=_when(raw.create_time),
            expire_time=_when(raw.expire_time),
            end_time=_when(raw.end_time) if raw.HasField("end_time") else None,
            settle_charge_id=raw.settle_charge_id,
            already_ended=already_ended,
            raw=raw,
        )


@dataclass(frozen=True, slots=True)
class ChargeEntry:
    charge_id: str
    line_number: int
    usage_id: str
    account_id: str
    billing_account_id: str
    sku: str
    category: str
    quantity: int
    points: Decimal
    billed_by: str
    occurred_at: datetime
    commit_time: datetime
    funding: tuple[Funding, ...]
    voided: bool
    attributes: dict[str, str]
    raw: account_service_pb2.ChargeEntry = field(repr=False)

    @classmethod
    def of(cls, raw: account_service_pb2.ChargeEntry) -> ChargeEntry:
        return cls(
            charge_id=raw.charge_id,
            line_number=raw.line_number,
            usage_id=raw.usage_id,
            account_id=raw.account_id,
            billing_account_id=raw.billing_account_id,
            sku=raw.sku,
            category=_enum(raw.category, usage_pb2.Category, "CATEGORY_"),
            quantity=raw.quantity,
            points=_points(raw.points),
            billed_by=_enum(raw.billed_by, usage_pb2.BilledBy, "BILLED_BY_"),
            occurred_at=_when(raw.occurred_at),
            commit_time=_when(raw.commit_time),
            funding=tuple(Funding.of(f) for f in raw.funding),
            voided=raw.voided,
            attributes=dict(raw.attributes),
            raw=raw,
        )


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list; pass ``next_page_token`` back for the next ("" at the end)."""

    items: tuple[T, ...]
    next_page_token: str


@dataclass(frozen=True, slots=True)
class StatementRow:
    key: str
    quantity: int | None  # per SKU only
    points: Decimal
    free_points: Decimal
    pack_points: Decimal
    pay_as_you_go_points: Decimal
    lines: int

    @classmethod
    def of(cls, raw: account_service_pb2.StatementRow) -> StatementRow:
        return cls(
            key=raw.key,
            quantity=int(raw.quantity) if raw.quantity else None,
            points=_points(raw.points),
            free_points=_points(raw.free_points),
            pack_points=_points(raw.pack_points),
            pay_as_you_go_points=_points(raw.pay_as_you_go_points),
            lines=raw.lines,
        )


@dataclass(frozen=True, slots=True)
class Statement:
    account_id: str
    month: str
    time_zone: str
    by_sku: tuple[StatementRow, ...]
    by_category: tuple[StatementRow, ...]
    by_account: tuple[StatementRow, ...]
    total: StatementRow
    amount_due_yuan: Decimal
    amount_due_yuan_exact: Decimal
    #: The capacity purchases valid for some part of the month, and what the purchases
    #: granted in the month cost, in points.
    capacity_purchases: tuple[CapacityPurchase, ...]
    capacity_paid_points: Decimal
    raw: account_service_pb2.GetStatementResponse = field(repr=False)

    @classmethod
    def of(cls, raw: account_service_pb2.GetStatementResponse) -> Statement:
        return cls(
            account_id=raw.account_id,
            month=raw.month,
            time_zone=raw.time_zone,
            by_sku=tuple(StatementRow.of(r) for r in raw.by_sku),
            by_category=tuple(StatementRow.of(r) for r in raw.by_category),
            by_account=tuple(StatementRow.of(r) for r in raw.by_account),
            total=StatementRow.of(raw.total),
            amount_due_yuan=_points(raw.amount_due_yuan),
            amount_due_yuan_exact=_points(raw.amount_due_yuan_exact),
            capacity_purchases=tuple(CapacityPurchase.of(p) for p in raw.capacity_purchases),
            capacity_paid_points=_points(raw.capacity_paid_points),
            raw=raw,
        )


@dataclass(frozen=True, slots=True)
class PriceVersion:
    effective_from: datetime
    unit_price: Decimal

    @classmethod
    def of(cls, raw: catalog_service_pb2.PriceVersion) -> PriceVersion:
        return cls(effective_from=_when(raw.effective_from), unit_price=_points(raw.unit_price))


@dataclass(frozen=True, slots=True)
class Sku:
    id: str
    display_name: str
    category: str
    unit: str
    price_unit: int
    price_unit_label: str
    billed_by: str
    increment: int
    aliases: tuple[str, ...]
    patterns: tuple[str, ...]
    metering: str
    price_versions: tuple[PriceVersion, ...]
    current_price: PriceVersion | None
    raw: catalog_service_pb2.Sku = field(repr=False)

    @classmethod
    def of(cls, raw: catalog_service_pb2.Sku) -> Sku:
        return cls(
            id=raw.id,
            display_name=raw.display_name,
            category=_enum(raw.category, usage_pb2.Category, "CATEGORY_"),
            unit=raw.unit,
            price_unit=raw.price_unit,
            price_unit_label=raw.price_unit_label,
            billed_by=_enum(raw.billed_by, usage_pb2.BilledBy, "BILLED_BY_"),
            increment=raw.increment,
            aliases=tuple(raw.aliases),
            patterns=tuple(raw.patterns),
            metering=raw.metering,
            price_versions=tuple(PriceVersion.of(p) for p in raw.price_versions),
            current_price=PriceVersion.of(raw.current_price)
            if raw.HasField("current_price")
            else None,
            raw=raw,
        )


@dataclass(frozen=True, slots=True)
class ReservationSettled:
    """A reservation settled by an item of the charge ``charge_id``."""

    reservation_id: str
    charge_id: str

    @classmethod
    def of(cls, raw: account_service_pb2.ReservationSettled) -> ReservationSettled:
        return cls(reservation_id=raw.reservation_id, charge_id=raw.charge_id)


@dataclass(frozen=True, slots=True)
class ChargeVoided:
    """A charge voided: ``reversals`` are this account's funding of it given back
    (negative points)."""

    charge_id: str
    reversals: tuple[Funding, ...]

    @classmethod
    def of(cls, raw: account_service_pb2.ChargeVoided) -> ChargeVoided:
        return cls(charge_id=raw.charge_id, reversals=tuple(Funding.of(f) for f in raw.reversals))


@dataclass(frozen=True, slots=True)
class ChargeEvent:
    """One event of the charges feed (``watch_charges``): exactly one of ``line`` (a
    committed line, as ``list_charges`` has it), ``settlement`` and ``void`` is set;
    ``kind`` names which. ``cursor`` is where it is in the feed: keep it, and a feed
    started again with it resumes after this event."""

    cursor: str
    billing_account_id: str
    event_time: datetime
    line: ChargeEntry | None
    settlement: ReservationSettled | None
    void: ChargeVoided | None
    raw: account_service_pb2.WatchChargesResponse = field(repr=False)

    @property
    def kind(self) -> str:
        """ "line", "settlement" or "void"."""
        return "line" if self.line else "settlement" if self.settlement else "void"

    @classmethod
    def of(cls, raw: account_service_pb2.WatchChargesResponse) -> ChargeEvent:
        """The event of a feed message that has one (``raw.WhichOneof("event")``)."""
        which = raw.WhichOneof("event")
        if which is None:
            raise ValueError("a feed message without an event (the start marker) is no event")
        return cls(
            cursor=raw.cursor,
            billing_account_id=raw.billing_account_id,
            event_time=_when(raw.event_time),
            line=ChargeEntry.of(raw.line) if which == "line" else None,
            settlement=ReservationSettled.of(raw.settlement) if which == "settlement" else None,
            void=ChargeVoided.of(raw.void) if which == "void" else None,
            raw=raw,
        )


@dataclass(frozen=True, slots=True)
class BalanceAlert:
    """A threshold a balance change crossed: ``kind`` is "free_points_below",
    "pack_points_below", "pack_percent_below", "pay_as_you_go_points_above" or
    "pay_as_you_go_budget_percent_above"; the day, pack or month it is of; the threshold
    (points, or a percent for the percent kinds) and the value now, in points."""

    kind: str
    day: str
    pack_id: str
    month: str
    threshold_points: Decimal | None
    threshold_percent: int
    value_points: Decimal

    @classmethod
    def of(cls, raw: account_service_pb2.BalanceAlert) -> BalanceAlert:
        return cls(
            kind=_enum(raw.kind, account_service_pb2.AlertKind, "ALERT_KIND_"),
            day=raw.day,
            pack_id=raw.pack_id,
            month=raw.month,
            threshold_points=_points(raw.threshold_points) if raw.threshold_points else None,
            threshold_percent=raw.threshold_percent,
            value_points=_points(raw.value_points),
        )


@dataclass(frozen=True, slots=True)
class BalanceUpdate:
    """A balance watch's message: the balance after a change (the first: when the watch
    started), the alerts the change crossed, and the charges feed's cursor after it."""

    balance: Balance
    alerts: tuple[BalanceAlert, ...]
    cursor: str
    raw: account_service_pb2.WatchBalanceResponse = field(repr=False)

    @classmethod
    def of(cls, raw: account_service_pb2.WatchBalanceResponse) -> BalanceUpdate:
        return cls(
            balance=Balance.of(raw.balance),
            alerts=tuple(BalanceAlert.of(alert) for alert in raw.alerts),
            cursor=raw.cursor,
            raw=raw,
        )

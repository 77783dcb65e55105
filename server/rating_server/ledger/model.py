"""Ledger values: plain, immutable, and free of SQL and gRPC."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from rating_server.catalog.model import PriceVersion, Sku
from rating_server.engine import RatedLine

FREE = "free"
PACK = "pack"
PAYG = "payg"

# A reservation's state as the ledger keeps it; EXPIRED is never kept: a held
# reservation past its expiry is expired (``Reservation.state_at``).
HELD = "held"
SETTLED = "settled"
RELEASED = "released"
EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    plan: str
    time_zone: str
    parent_account_id: str | None
    pay_as_you_go: bool
    create_time_ns: int
    #: A main account's monthly pay-as-you-go limit in micro-points, or None: quotes
    #: and reservations treat it as the end of funding; commits pass it.
    monthly_budget_micros: int | None = None

    @property
    def billing_account_id(self) -> str:
        """The main account that funds this account's usage."""
        return self.parent_account_id or self.account_id


@dataclass(frozen=True, slots=True)
class Pack:
    pack_id: str
    account_id: str
    micros: int
    remaining_micros: int
    valid_from_ns: int
    expire_time_ns: int | None
    priority: int
    create_time_ns: int
    seq: int

    def funds(self, at_ns: int) -> bool:
        """Whether usage at ``at_ns`` lies in the validity window [valid_from, expiry)."""
        return self.valid_from_ns <= at_ns and (
            self.expire_time_ns is None or at_ns < self.expire_time_ns
        )


@dataclass(frozen=True, slots=True)
class CapacityPurchase:
    """Knowledge-base capacity bought for a main account (``ledger.capacity``): ``gib``
    GiB more free storage while valid, [valid_from, expire_time). ``term`` is "month"
    or "year", or "" for explicit dates; the price paid is in micro-points; ``seq``
    orders purchases as they were granted."""

    purchase_id: str
    account_id: str
    gib: int
    term: str
    valid_from_ns: int
    expire_time_ns: int
    price_micros: int
    create_time_ns: int
    seq: int

    def list_key(self) -> tuple[int, int]:
        """Listing order: by valid_from, then in the order granted."""
        return (self.valid_from_ns, self.seq)


class FundingPart(NamedTuple):
    """Points of one line drawn from one source (negative in a reversal). A named
    tuple, as ``ChargedLine``: one is made for nearly every line."""

    source: str  # FREE, PACK or PAYG
    micros: int
    pack_id: str = ""
    day: str = ""
    month: str = ""


@dataclass(frozen=True, slots=True)
class FundingEntry:
    """A funding part as the ledger keeps it: of which line of its charge, drawn on
    which billing account's balances."""

    line_number: int
    billing_account_id: str
    part: FundingPart


@dataclass(frozen=True, slots=True)
class BalanceChanges:
    """What a charge, or the void of one, changes in the balances kept beside the
    ledger, each keyed by billing account first: micro-points more used of a day's free
    points, more drawn from a pack (its remaining goes down by as much), more on a
    month's pay-as-you-go bill. A void's are negative."""

    free_used: Mapping[tuple[str, str], int]  # (billing account, day)
    pack_drawn: Mapping[tuple[str, str], int]  # (billing account, pack_id)
    payg: Mapping[tuple[str, str], int]  # (billing account, month)


#: A charged line's fields that follow from its price and requested name (the same for
#: every line of one price in a batch): written once per price in a response and in a
#: receipt.
PRICE_FIELDS = (
    "sku",
    "requested_sku",
    "category",
    "unit",
    "price_unit",
    "price_unit_label",
    "unit_price",
    "billed_by",
    "price_effective_from_ns",
)


def price_fields(sku: Sku, price: PriceVersion, requested: str) -> tuple[Any, ...]:
    """The ``PRICE_FIELDS`` of a line rated at ``price`` of ``sku``, asked for as
    ``requested``, in their order."""
    return (
        sku.id,
        requested,
        sku.category,
        sku.unit,
        sku.price_unit,
        sku.price_unit_label,
        price.unit_price_text,
        sku.billed_by,
        price.effective_from_ns,
    )


class ChargedLine(NamedTuple):
    """One line of a receipt, flat, so a receipt can be stored and replayed as it was.

    A named tuple, not a frozen dataclass: a commit makes one per line, and a frozen
    dataclass sets each of its 18 fields through ``object.__setattr__``."""

    usage_id: str
    account_id: str
    billing_account_id: str
    requested_sku: str
    sku: str
    category: str
    quantity: int
    rated_quantity: int
    unit: str
    price_unit: int
    price_unit_label: str
    unit_price: str
    micros: int
    billed_by: str
    price_effective_from_ns: int
    funding: tuple[FundingPart, ...] = ()
    duplicate: bool = False
    original_charge_id: str = ""

    @classmethod
    def of(
        cls,
        line: RatedLine,
        billing_account_id: str = "",
        funding: tuple[FundingPart, ...] = (),
    ) -> ChargedLine:
        """A rated line, flattened, with its funding."""
        sku = line.sku
        usage = line.usage
        price = line.price
        return cls(  # positional, in the fields' order: the fastest way to make one
            usage.usage_id,
            usage.account_id,
            billing_account_id,
            usage.sku,
            sku.id,
            sku.category,
            usage.quantity,
            line.rated_quantity,
            sku.unit,
            sku.price_unit,
            sku.price_unit_label,
            price.unit_price_text,
            line.micros,
            sku.billed_by,
            price.effective_from_ns,
            funding,
        )


@dataclass(frozen=True, slots=True)
class Receipt:
    charge_id: str
    catalog_version: int
    commit_time_ns: int
    lines: tuple[ChargedLine, ...]
    #: True when this is the stored receipt of an earlier request with the same id.
    replayed: bool = False

    @property
    def total_micros(self) -> int:
        return sum(line.micros for line in self.lines if not line.duplicate)


@dataclass(frozen=True, slots=True)
class VoidResult:
    charge_id: str
    reversals: tuple[FundingPart, ...]
    void_time_ns: int
    already_voided: bool


@dataclass(frozen=True, slots=True)
class FundingSummary:
    """How an account would fund a quoted batch now."""

    account_id: str
    free_micros: int
    pack_micros: int
    payg_micros: int
    pay_as_you_go_enabled: bool
    #: What the account's live reservations hold now, and the quote could not use.
    held_micros: int = 0
    #: The monthly budget (None: none), and of ``payg_micros`` what would pass what is
    #: left of it (each month's bill, less what live reservations hold on it).
    budget_micros: int | None = None
    beyond_budget_micros: int = 0

    @property
    def covered(self) -> bool:
        """Whether free points and packs cover the batch, or with pay-as-you-go on and
        a budget, they and what is left of the budget do."""
        return self.shortfall_micros == 0 if self.budgeted else self.payg_micros == 0

    @property
    def budgeted(self) -> bool:
        """Whether a budget ends the funding: pay-as-you-go on, with a budget."""
        return self.pay_as_you_go_enabled and self.budget_micros is not None

    @property
    def shortfall_micros(self) -> int:
        """What nothing funds: with pay-as-you-go off, what would go to the bill; on,
        what would pass the budget (0 without one)."""
        if not self.pay_as_you_go_enabled:
            return self.payg_micros
        return self.beyond_budget_micros if self.budget_micros is not None else 0


@dataclass(frozen=True, slots=True)
class Hold:
    """Points a live reservation holds from one source of its billing account."""

    reservation_id: str
    billing_account_id: str
    part: FundingPart


@dataclass(frozen=True, slots=True)
class Reservation:
    """Funding held for a live session, as kept: ``holds`` in the order they were held
    (Reserve's, then each Extend's), ``state`` HELD, SETTLED or RELEASED."""

    reservation_id: str
    account_id: str
    billing_account_id: str
    sku: str
    requested_sku: str
    requested_quantity: int
    granted_quantity: int
    holds: tuple[FundingPart, ...]
    create_time_ns: int
    expire_time_ns: int
    state: str = HELD
    end_time_ns: int | None = None
    settle_charge_id: str = ""

    @property
    def held_micros(self) -> int:
        return sum(part.micros for part in self.holds)

    def state_at(self, now_ns: int) -> str:
        """HELD, SETTLED, RELEASED, or EXPIRED: held, but not before ``expire_time_ns``."""
        if self.state == HELD and now_ns >= self.expire_time_ns:
            return EXPIRED
        return self.state


def live_condition(now: str) -> str:
    """``Reservation.state_at``'s rule for a live reservation as SQL on a reservations
    row ``r``, ``now`` the parameter's placeholder: held, and not yet at its expiry.
    Both engines query with it, so they and the model cannot disagree."""
    return f"r.state = '{HELD}' AND r.expire_time_ns > {now}"


#: Kinds of event in the charges feed.
CHARGED = "charge"
VOIDED = "void"
SETTLED_EVENT = "settle"


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """An event of the charges feed, as kept: a charge's lines, a void or a settlement,
    for one billing account. ``position`` orders the feed; only its engine reads it."""

    position: tuple[int, int]
    billing_account_id: str
    kind: str  # CHARGED, VOIDED or SETTLED_EVENT
    charge_id: str
    reservation_id: str
    time_ns: int


@dataclass(frozen=True, slots=True)
class Balance:
    billing_account_id: str
    day: str
    free_granted_micros: int
    free_used_micros: int
    packs: tuple[Pack, ...]
    month: str
    payg_micros: int
    #: The capacity purchases valid at some instant of the day, and the free storage
    #: quota in bytes (now if the day is today, else at the day's start).
    capacity: tuple[CapacityPurchase, ...] = ()
    storage_quota_bytes: int = 0
    #: The billing account's live reservations, oldest first.
    reservations: tuple[Reservation, ...] = ()
    #: The monthly pay-as-you-go budget, or None.
    budget_micros: int | None = None

    @property
    def budget_left_micros(self) -> int | None:
        """What is left of the month's budget: the budget less the bill and what live
        reservations hold on it, never below 0; None without a budget."""
        if self.budget_micros is None:
            return None
        return max(0, self.budget_micros - self.payg_micros - self.payg_held_micros)

    @property
    def free_held_micros(self) -> int:
        """Of the day's free points left, those live reservations hold."""
        return self._held(FREE, "day", self.day)

    @property
    def payg_held_micros(self) -> int:
        """What live reservations hold on the month's bill."""
        return self._held(PAYG, "month", self.month)

    def pack_held_micros(self, pack_id: str) -> int:
        return self._held(PACK, "pack_id", pack_id)

    def _held(self, source: str, key: str, value: str) -> int:
        return sum(
            part.micros
            for reservation in self.reservations
            for part in reservation.holds
            if part.source == source and getattr(part, key) == value
        )

    @property
    def free_left_micros(self) -> int:
        return max(0, self.free_granted_micros - self.free_used_micros)


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
    micros: int
    billed_by: str
    occurred_at_ns: int
    commit_time_ns: int
    funding: tuple[FundingPart, ...]
    voided: bool
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StatementRow:
    key: str
    quantity: int = 0
    micros: int = 0
    free_micros: int = 0
    pack_micros: int = 0
    payg_micros: int = 0
    lines: int = 0


@dataclass(frozen=True, slots=True)
class Statement:
    account_id: str
    month: str
    time_zone: str
    by_sku: tuple[StatementRow, ...]
    by_category: tuple[StatementRow, ...]
    by_account: tuple[StatementRow, ...]
    total: StatementRow
    #: The capacity purchases valid for some part of the month, and what those granted
    #: in the month (by create_time, in the account's zone) cost, in micro-points.
    capacity: tuple[CapacityPurchase, ...] = ()
    capacity_paid_micros: int = 0


@dataclass(frozen=True, slots=True)
class AlertThresholds:
    """A main account's alert thresholds (``ledger.alerts``), None or 0 where not set:
    free points of a day below, a pack's remaining below (points, or percent of its
    points), the month's pay-as-you-go bill above (points, or percent of the budget).
    Micro-points; percents 1 to 100."""

    account_id: str
    free_below_micros: int | None = None
    pack_below_micros: int | None = None
    pack_percent_below: int = 0
    payg_above_micros: int | None = None
    payg_budget_percent_above: int = 0

    @property
    def empty(self) -> bool:
        return (
            self.free_below_micros is None
            and self.pack_below_micros is None
            and not self.pack_percent_below
            and self.payg_above_micros is None
            and not self.payg_budget_percent_above
        )

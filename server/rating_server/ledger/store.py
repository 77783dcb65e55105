"""The ledger's store boundary: what the billing rules ask of a database engine.

The rules (``accounts``, ``commits``, ``voids``, ``reports``, ``invariants``) are
written once, against ``LedgerStore`` and ``LedgerTx``; each engine is one package
(``ledger/sqlite/``, ...) that holds all of its SQL and its driver, and nothing else.
Only domain values cross the boundary (``ledger.model``, ``engine.Usage`` and the few
below), never an engine's rows, cursors or errors: a fault of the storage leaves the
store as ``domain_errors.StorageUnavailableError``.

Rules for an engine, so that the ledger can be spread over many nodes and databases:

- Every operation that can name the billing account (the main account that funds the
  usage; a pack's account is one) takes it, so that each statement can filter by it
  and the ledger's tables can lead with it. Those that cannot find one row by a unique
  id: an account by its id, a pack or a capacity purchase by its request_id, a charge
  by its request_id, and a void's first question, which billing accounts a charge has;
  the invariant check reads everything.
- The rules call ``LedgerTx.lock_balances`` with the billing accounts' ids, sorted,
  before they read any balance in a write (a commit, a void). An engine whose
  transactions do not exclude each other locks those accounts there, in that order,
  so two batches mixing accounts never deadlock.
- A commit asks ``LedgerTx.catalog_version`` after ``lock_balances``, and writes
  nothing when a catalog newer than its batch's was imported: no node commits usage
  rated with a catalog older than one another commit may already have used.
- ``LedgerStore.grouped`` may run its work more than once (a transaction retried on a
  serialization failure or a deadlock): the work must do nothing outside the
  transaction it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from rating_server.domain_errors import StorageUnavailableError
from rating_server.engine import Usage
from rating_server.ledger.model import (
    Account,
    AlertThresholds,
    BalanceChanges,
    CapacityPurchase,
    ChargeEntry,
    FeedEvent,
    FundingEntry,
    FundingPart,
    Hold,
    Pack,
    Receipt,
    Reservation,
)

T = TypeVar("T")

#: (charge_id, line_number): one line of one charge.
LineKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class StoredCharge:
    """A committed charge as its request_id finds it: the request's fingerprint and
    the receipt it was answered with."""

    request_hash: str
    receipt: Receipt


@dataclass(frozen=True, slots=True)
class NewCharge:
    """A charge to write: the receipt (its lines in request order, each with its
    billing account and funding; duplicates are not written as lines), the request it
    answers, each line's usage (its instant and attributes) and billing month, and what
    it changes in the balances."""

    receipt: Receipt
    request_id: str
    request_hash: str
    usages: Sequence[Usage]
    months: Sequence[str]
    changes: BalanceChanges


@dataclass(frozen=True, slots=True)
class StatementLine:
    """A committed, not voided, line of a month's statement, with what funded it:
    micro-points by source (``model.FREE``, ``PACK``, ``PAYG``), reversals left out."""

    sku: str
    category: str
    account_id: str
    quantity: int
    micros: int
    funded: dict[str, int]


@dataclass(frozen=True, slots=True)
class BalanceSums:
    """A kind of balance two ways, by the same keys: as kept, and as the ledger's
    entries sum to (a key missing from one is 0 there)."""

    kept: dict[tuple[Any, ...], int]
    summed: dict[tuple[Any, ...], int]


class LedgerTx(Protocol):
    """One transaction of the ledger, read-only or writing, over one consistent
    snapshot. Every method takes and returns domain values."""

    # -- accounts ------------------------------------------------------------------------

    def accounts(self, account_ids: Collection[str]) -> list[Account]:
        """The accounts among these ids (any number of ids), in no order."""
        ...

    def account(self, account_id: str) -> Account | None: ...

    def sub_account_ids(self, account_id: str) -> list[str]:
        """The ids of a main account's sub-accounts, sorted."""
        ...

    def insert_account(self, account: Account) -> None: ...

    def set_plan(self, main_account_id: str, plan: str) -> None:
        """The plan of a main account and of every one of its sub-accounts."""
        ...

    def set_pay_as_you_go(self, main_account_id: str, pay_as_you_go: bool) -> None: ...

    def set_monthly_budget(self, main_account_id: str, micros: int | None) -> None:
        """A main account's monthly pay-as-you-go budget; None removes it."""
        ...

    # -- alert thresholds ------------------------------------------------------------------

    def alert_thresholds(self, main_account_id: str) -> AlertThresholds | None:
        """A main account's alert thresholds; None when none is set."""
        ...

    def set_alert_thresholds(self, thresholds: AlertThresholds) -> None:
        """Replace all of a main account's thresholds with these (none kept when
        ``thresholds.empty``)."""
        ...

    # -- packs ---------------------------------------------------------------------------

    def pack_by_request(self, request_id: str) -> Pack | None:
        """The pack granted by the request with this (non-empty) request_id."""
        ...

    def insert_pack(
        self,
        account_id: str,
        micros: int,
        valid_from_ns: int,
        expire_time_ns: int | None,
        priority: int,
        create_time_ns: int,
        request_id: str,
    ) -> Pack:
        """A new pack of a main account, all of it left; the store gives it its id
        (unique) and ``seq`` (after every earlier pack's: the last of the draw-down
        order's ties). An empty ``request_id`` is none."""
        ...

    def packs(self, account_ids: Collection[str], only_left: bool = False) -> list[Pack]:
        """The packs of these main accounts (with something left, if ``only_left``),
        in no order."""
        ...

    # -- knowledge-base capacity -----------------------------------------------------------

    def capacity_by_request(self, request_id: str) -> CapacityPurchase | None:
        """The capacity purchase granted by the request with this (non-empty) request_id."""
        ...

    def insert_capacity(
        self,
        account_id: str,
        gib: int,
        term: str,
        valid_from_ns: int,
        expire_time_ns: int,
        price_micros: int,
        create_time_ns: int,
        request_id: str,
    ) -> CapacityPurchase:
        """A new capacity purchase of a main account; the store gives it its id (unique)
        and ``seq`` (after every earlier purchase's). An empty ``request_id`` is none."""
        ...

    def capacity_purchases(
        self, account_ids: Collection[str], start_ns: int | None = None, end_ns: int | None = None
    ) -> list[CapacityPurchase]:
        """The capacity purchases of these main accounts (any number), in no order; with
        ``start_ns`` and ``end_ns``, only those valid at some instant of [start, end)."""
        ...

    # -- balances ------------------------------------------------------------------------

    def lock_balances(self, billing_account_ids: Sequence[str]) -> None:
        """Take these billing accounts' balances for this write transaction, in the
        order given (sorted by the rules), before any of them is read."""
        ...

    def free_used(self, billing_account_id: str, day: str) -> int:
        """Micro-points of the day's free points used (0 when none)."""
        ...

    def payg(self, billing_account_id: str, month: str) -> int:
        """Micro-points on the month's pay-as-you-go bill (0 when none)."""
        ...

    # -- the catalog ---------------------------------------------------------------------

    def catalog_version(self) -> int:
        """The newest catalog version imported into the database (0 when none). In a
        write, no import may commit a newer one from this call until this transaction
        ends: an engine whose writers run at once (PostgreSQL) takes a shared lock
        that an import's new version waits for."""
        ...

    # -- charges -------------------------------------------------------------------------

    def charge_by_request(self, request_id: str) -> StoredCharge | None: ...

    def committed(self, usage_ids: Mapping[str, Sequence[str]]) -> dict[tuple[str, str], str]:
        """Of the usage_ids by billing account (any number), those committed before for
        it, as (billing account, usage_id), each with the id of the charge that has it.
        Every account's at once: an engine asks them all in one round trip."""
        ...

    def write_charge(self, charge: NewCharge) -> None:
        """Write a charge: its receipt and request, its lines (not the duplicates) and
        their funding, and its balance changes."""
        ...

    # -- voids ---------------------------------------------------------------------------

    def charge_billing_accounts(self, charge_id: str) -> list[str] | None:
        """The billing accounts a charge's funding draws on, sorted (none when nothing
        funds it); None when there is no such charge."""
        ...

    def charge_funding(self, charge_id: str, billing_account_id: str) -> list[FundingEntry]:
        """A charge's funding entries for a billing account, reversals left out, in the
        order they were written (line by line, each line's parts in order)."""
        ...

    def void_time(self, charge_id: str) -> int | None:
        """When the charge was voided; None when it was not."""
        ...

    def write_reversals(
        self,
        charge_id: str,
        billing_account_id: str,
        reversals: Sequence[FundingEntry],
        changes: BalanceChanges,
    ) -> None:
        """Write the reversal entries (negative) of a charge's funding for a billing
        account, and give its balances back (``changes``, negative)."""
        ...

    def write_void(self, charge_id: str, void_time_ns: int, reason: str) -> None: ...

    # -- reservations ----------------------------------------------------------------------

    def holds(self, billing_account_ids: Collection[str], now_ns: int) -> list[Hold]:
        """The holds of these billing accounts' live reservations (held, expiring after
        ``now_ns``), in no order."""
        ...

    def reservations(self, reservation_ids: Collection[str]) -> list[Reservation]:
        """The reservations among these ids, as kept (state HELD, SETTLED or RELEASED),
        with their holds in order; in no order."""
        ...

    def reservations_of(self, billing_account_id: str, now_ns: int) -> list[Reservation]:
        """A billing account's live reservations, in no order."""
        ...

    def reservation_request(self, request_id: str) -> tuple[str, str] | None:
        """The fingerprint and answer (``reservations.encode``) of the Reserve or Extend
        with this request_id."""
        ...

    def insert_reservation(
        self, reservation: Reservation, request_id: str, fingerprint: str, answer: str
    ) -> None:
        """A new reservation with its holds, and the request that made it."""
        ...

    def extend_reservation(
        self,
        reservation: Reservation,
        new_holds: Sequence[FundingPart],
        request_id: str,
        fingerprint: str,
        answer: str,
    ) -> None:
        """A reservation's new quantities and expiry, the holds added to its own (the
        last of ``reservation.holds``), and the request that extended it."""
        ...

    def end_reservations(
        self, reservation_ids: Collection[str], state: str, end_time_ns: int, charge_id: str
    ) -> None:
        """Settle (``charge_id``: the charge that did) or release these reservations."""
        ...

    # -- the charges feed ------------------------------------------------------------------

    def feed_events(
        self, after: tuple[int, int], billing_account_id: str | None, limit: int
    ) -> list[FeedEvent]:
        """Up to ``limit`` events of the feed after the position ``after`` ((0, 0): from
        the first), of one billing account or (None) of all, in feed order. Never one
        that a later call could find before an event returned: an engine whose commits
        can become visible out of position order returns only the events of commits
        that no running transaction can precede."""
        ...

    def feed_end(self, billing_account_id: str | None) -> tuple[int, int]:
        """The position of the last event ``feed_events`` can return now ((0, 0) when
        none): a feed that starts now starts after it."""
        ...

    def charge_entries(self, billing_account_id: str, charge_id: str) -> list[ChargeEntry]:
        """A charge's lines of a billing account, by line number, each with its funding
        (reversals left out)."""
        ...

    # -- reports -------------------------------------------------------------------------

    def charge_lines(
        self,
        billing_account_id: str,
        account_id: str | None,
        after: int,
        start_ns: int | None,
        end_ns: int | None,
        limit: int,
    ) -> list[tuple[int, ChargeEntry]]:
        """Up to ``limit`` committed lines of a billing account (only ``account_id``'s,
        for a sub-account), in commit order, after the cursor ``after`` (0: from the
        first), usage in [start, end) only when given; each with its cursor, an int in
        [1, 2^63) that only this store reads. Their ``funding`` is empty
        (``line_funding``)."""
        ...

    def line_funding(
        self, billing_account_id: str, lines: Collection[LineKey]
    ) -> dict[LineKey, tuple[FundingPart, ...]]:
        """The funding parts of these lines of a billing account, reversals left out, in
        order; a line funded by nothing is missing."""
        ...

    def statement_lines(self, billing_account_id: str, month: str) -> list[StatementLine]:
        """The lines of a billing account's month (the month of the usage), voided
        charges left out, in no order."""
        ...

    # -- the invariant check ---------------------------------------------------------------

    def free_day_sums(self) -> BalanceSums:
        """By (billing account, day): free points used, and the free funding entries."""
        ...

    def pack_sums(self) -> BalanceSums:
        """By (pack_id,): micro-points drawn (granted less remaining), and the pack
        funding entries."""
        ...

    def payg_sums(self) -> BalanceSums:
        """By (billing account, month): the bill, and the pay-as-you-go funding entries."""
        ...

    def line_funding_sums(self, funded_billed_by: str) -> BalanceSums:
        """By (charge_id, line_number): what each line should be funded with (its
        micro-points when billed by ``funded_billed_by`` and not voided, else 0), and
        its funding entries, reversals included."""
        ...

    def negative_free_days(self) -> list[tuple[str, str, int]]:
        """(billing account, day, used) of every day whose free points used are < 0."""
        ...

    def negative_packs(self) -> list[tuple[str, int]]:
        """(pack_id, remaining) of every pack whose remaining is < 0."""
        ...

    def overheld_packs(self, now_ns: int) -> list[tuple[str, int, int]]:
        """(pack_id, remaining, held) of every pack whose live reservations hold more
        than it has left."""
        ...

    def unsettled_settlements(self) -> list[tuple[str, str]]:
        """(reservation_id, charge_id) of every settled reservation whose charge is not
        in the ledger."""
        ...


class LedgerStore(Protocol):
    """The ledger's database.

    A storage fault (the database down, read-only, full, damaged, gone, a lock held too
    long) leaves ``read``, ``write`` and ``grouped`` as a StorageUnavailableError, with
    nothing written; any other error of the work is raised as it is, and its
    transaction rolled back."""

    #: Told ``(False, the fault)`` when a write fails for a storage fault and
    #: ``(True, None)`` when one succeeds again, in the order they happened.
    on_writable: Callable[[bool, StorageUnavailableError | None], object] | None

    @property
    def writable(self) -> bool:
        """Whether the last write succeeded."""
        ...

    def read(self) -> AbstractContextManager[LedgerTx]:
        """A read-only transaction over one consistent snapshot."""
        ...

    def write(self) -> AbstractContextManager[LedgerTx]:
        """One write transaction, committed at the end, or rolled back on an error."""
        ...

    def grouped(self, work: Callable[[LedgerTx], T]) -> T:
        """``work``'s result, run in a write transaction and committed: the hot path
        of commits. ``work`` must be safe to run again from the start: it may do
        nothing outside the transaction it is given.

        An engine may share one transaction among the calls waiting together (SQLite:
        group commit, one sync for all), each call's work isolated (an error rolls
        back its own writes only; nobody gets a result before the commit succeeds), or
        run each in its own transaction, retried a bounded number of times on a
        serialization failure or deadlock."""
        ...

    def probe(self) -> None:
        """Write something outside the ledger to learn whether the database takes
        writes: StorageUnavailableError when it does not. ``writable`` and
        ``on_writable`` hear of it as of any write."""
        ...

    def start_probing(self) -> None:
        """Probe in a thread of its own, until ``close``, while no write has succeeded
        for a while, and more often while writes fail."""
        ...

    def close(self) -> None: ...

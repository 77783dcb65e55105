"""Random sequences of grants, commits, retries, voids and reservations keep the ledger exact.

A hypothesis state machine drives the ledger API (no gRPC) against a fresh database per run,
on each engine (SQLite, PostgreSQL), and keeps its own model of what must be true: which
(billing account, usage_id) keys are committed, what each line costs (computed here from
the seed's prices, exactly), and where each line's points must come from (the free points
of the day in the billing account's zone, packs by priority, expiry and creation, then the
month's pay-as-you-go bill). After every step the balances and statements must equal the
model, and every balance must equal what its ledger entries sum to (``invariants.check``).

Reservations are made, extended, released and settled at the machine's clock (every
rule's ``time.time_ns``), which only moves forward, across the instants usage happens
at: the model holds their points apart from every draw until they end or expire.
"""

from __future__ import annotations

import bisect
import dataclasses
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from support import LedgerReader, seeded_database

from rating_server.catalog.model import CatalogSnapshot
from rating_server.catalog.snapshots import load_snapshot
from rating_server.catalog.stores import open_catalog
from rating_server.domain_errors import FailedPreconditionError, InvalidUsageError
from rating_server.engine import Limits, Usage
from rating_server.ledger import accounts, commits, invariants, reports, reservations, voids
from rating_server.ledger.model import FREE, PACK, PAYG, Receipt
from rating_server.ledger.store import LedgerStore
from rating_server.ledger.stores import open_ledger

NANOS = 1_000_000_000
MICROS_PER_POINT = 1_000_000
DAILY_FREE_MICROS = 500 * MICROS_PER_POINT

MAIN = "acct-main"
SUB = "acct-sub"  # a sub-account of MAIN: its usage draws on MAIN
OTHER = "acct-other"
BILLING_ACCOUNT = {MAIN: MAIN, SUB: MAIN, OTHER: OTHER}
MAIN_ACCOUNTS = (MAIN, OTHER)
# Each main account's days and months are in its own time zone. Neither zone has daylight
# saving time in November and December, so a fixed offset from UTC gives the local day.
TIME_ZONES = {MAIN: "Asia/Shanghai", OTHER: "Europe/London"}
UTC_OFFSETS = {MAIN: timedelta(hours=8), OTHER: timedelta(0)}

# The seed's prices (server/catalog/seed.toml), written out here so the test does not trust the
# engine: SKU -> (points per price-unit, base units per price-unit, largest quantity drawn).
PRICES: dict[str, tuple[Fraction, int, int]] = {
    "model.doubao-lite-32k.input": (Fraction("0.3"), 1000, 1_000_000),
    "model.deepseek-r1.output": (Fraction(16), 1000, 60_000),
    "agent.call": (Fraction(2), 1, 200),
    "speech.tts.system_voice": (Fraction("0.5"), 1, 1000),
    "rtc.audio.voice": (Fraction(7), 60_000, 8_400_000),
    "model.ark.my-endpoint.output": (Fraction(0), 1000, 50_000),  # billed by Ark: 0 here
}
SKUS = sorted(PRICES)
UNPRICED = "plugin.web-search"  # the seed's plugins have no price: such an item is refused


def utc_ns(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp()) * NANOS


# 16:00 UTC is midnight in Asia/Shanghai. Instants just around it on a few days, one of
# them the November/December month boundary (2026-11-30T16:00Z is 2026-12-01 locally).
MIDNIGHTS = [utc_ns(2026, 11, day, 16) for day in (26, 27, 30)] + [utc_ns(2026, 12, 1, 16)]
OFFSETS_NS = [-1, 0, 1800 * NANOS]
INSTANTS = sorted(midnight + offset for midnight in MIDNIGHTS for offset in OFFSETS_NS)
EARLY = utc_ns(2026, 11, 1)
LATE = utc_ns(2027, 1, 1)
# The rules hold whenever usage happens; these instants may be ahead of the clock.
ANY_TIME = Limits(max_future_ns=10**18)
WINDOW_EDGES = [EARLY, *INSTANTS, LATE]


def local_day(at_ns: int, billing_account_id: str) -> str:
    """The calendar day of an instant in a main account's zone, without the server's code."""
    utc = datetime.fromtimestamp(at_ns // NANOS, UTC)
    return (utc + UTC_OFFSETS[billing_account_id]).strftime("%Y-%m-%d")


DAYS = {account: sorted({local_day(at, account) for at in INSTANTS}) for account in MAIN_ACCOUNTS}
MONTHS = {account: sorted({day[:7] for day in days}) for account, days in DAYS.items()}


def line_micros(sku: str, quantity: int) -> int:
    """quantity x price / price-unit, rounded once half-up to a micro-point."""
    price, price_unit, _ = PRICES[sku]
    exact = Fraction(quantity) * price * MICROS_PER_POINT / price_unit
    return int(exact + Fraction(1, 2))


def points_text(micros: int, padded: bool) -> str:
    """Micro-points as a decimal string of points: "12.5", or padded "12.500000"."""
    text = f"{micros // MICROS_PER_POINT}.{micros % MICROS_PER_POINT:06d}"
    return text if padded else text.rstrip("0").rstrip(".")


@dataclass(frozen=True)
class ItemSpec:
    account_id: str
    sku: str
    quantity: int
    occurred_at_ns: int
    reuse: int | None  # index into usage_ids sent before, or None for a fresh usage_id


# Zero, small (rounding) and large quantities: large ones exhaust the day's free points and
# the packs, so lines split and reach the pay-as-you-go bill.
QUANTITIES = {
    sku: st.one_of(st.just(0), st.integers(1, 1000), st.integers(largest // 4, largest))
    for sku, (_, _, largest) in PRICES.items()
}
USAGE_ACCOUNTS = st.sampled_from([MAIN, SUB, OTHER])
OCCURRED_AT = st.sampled_from(INSTANTS)
REUSE = st.one_of(st.none(), st.none(), st.none(), st.integers(0, 10_000))


@st.composite
def item_specs(draw: st.DrawFn) -> ItemSpec:
    sku = UNPRICED if draw(st.integers(0, 24)) == 0 else draw(st.sampled_from(SKUS))
    return ItemSpec(
        account_id=draw(USAGE_ACCOUNTS),
        sku=sku,
        quantity=draw(QUANTITIES.get(sku, QUANTITIES["agent.call"])),
        occurred_at_ns=draw(OCCURRED_AT),
        reuse=draw(REUSE),
    )


batches = st.lists(item_specs(), min_size=1, max_size=8)


@dataclass(frozen=True)
class PackGrant:
    micros: int
    padded: bool  # points written "12.500000" rather than "12.5"
    valid_from_ns: int
    expire_time_ns: int | None
    priority: int


@st.composite
def pack_grants(draw: st.DrawFn) -> PackGrant:
    """Packs whose validity starts and ends on the instants usage happens at (or far off);
    two priorities, so packs often tie on priority and are ordered by expiry, then age."""
    start = draw(st.integers(0, len(WINDOW_EDGES) - 2))
    return PackGrant(
        micros=draw(st.integers(1, 400 * MICROS_PER_POINT)),
        padded=draw(st.booleans()),
        valid_from_ns=WINDOW_EDGES[start],
        expire_time_ns=draw(st.one_of(st.none(), st.sampled_from(WINDOW_EDGES[start + 1 :]))),
        priority=draw(st.integers(0, 1)),
    )


@dataclass
class ModelPack:
    pack_id: str
    account_id: str
    granted: int
    remaining: int
    valid_from_ns: int
    expire_time_ns: int | None
    priority: int
    create_time_ns: int
    seq: int

    def draw_key(self) -> tuple[int, int | float, int, int]:
        expiry = self.expire_time_ns if self.expire_time_ns is not None else float("inf")
        return (self.priority, expiry, self.create_time_ns, self.seq)

    def funds(self, at_ns: int) -> bool:
        return self.valid_from_ns <= at_ns and (
            self.expire_time_ns is None or at_ns < self.expire_time_ns
        )


@dataclass
class CommittedCharge:
    request_id: str
    usages: tuple[Usage, ...]
    receipt: Receipt
    expected_micros: tuple[int, ...]  # per line, as this test rates it
    voided: bool = False
    named: dict[int, str] = field(default_factory=dict)  # item index -> reservation settled


Part = tuple[str, int, str, str, str]  # source, micros, pack_id, day, month


@dataclass
class ModelReservation:
    account_id: str
    billing_account_id: str
    sku: str
    requested: int
    granted: int
    parts: list[Part]
    expire_ns: int
    state: str = "held"  # or "settled", "released"

    def live(self, now_ns: int) -> bool:
        return self.state == "held" and now_ns < self.expire_ns

    def state_at(self, now_ns: int) -> str:
        return "expired" if self.state == "held" and now_ns >= self.expire_ns else self.state

    @property
    def held(self) -> int:
        return sum(part[1] for part in self.parts)


#: The machine's clock, which every rule reads as ``time.time_ns`` (the test patches it).
CLOCK = [0]
#: Where a run's clock starts: ten seconds before the first instant usage happens at.
CLOCK_START = INSTANTS[0] - 10 * NANOS
TTLS_NS = [NANOS, 60 * NANOS, 3600 * NANOS]
# Steps of the clock: a nanosecond, a second, a minute, an hour, or to the next instant
# of usage (0).
CLOCK_STEPS = [1, NANOS, 60 * NANOS, 3600 * NANOS, 0]


@dataclass(frozen=True)
class LedgerView:
    """The balances a console can read, for every main account and day the test uses."""

    free_used: dict[tuple[str, str], int]
    pack_remaining: dict[str, int]
    pack_granted: dict[str, int]
    payg: dict[tuple[str, str], int]
    rows: dict[str, int] = field(default_factory=dict)


class LedgerMachine(RuleBasedStateMachine):
    charges_made = Bundle("charges_made")

    def __init__(self, fresh_ledger: FreshLedger) -> None:
        super().__init__()
        CLOCK[0] = CLOCK_START
        self.opened = fresh_ledger()
        self.catalog: CatalogSnapshot = self.opened.catalog
        self.db = self.opened.store
        self.reader = self.opened.reader
        accounts.create_account(
            self.db, self.catalog, MAIN, plan="pro", time_zone=TIME_ZONES[MAIN], pay_as_you_go=True
        )
        accounts.create_account(self.db, self.catalog, SUB, parent_account_id=MAIN)
        accounts.create_account(
            self.db, self.catalog, OTHER, plan="basic", time_zone=TIME_ZONES[OTHER]
        )
        # The model.
        self.free_used: Counter[tuple[str, str]] = Counter()
        self.packs: dict[str, ModelPack] = {}
        self.payg: Counter[tuple[str, str]] = Counter()
        self.committed: dict[tuple[str, str], str] = {}  # (billing account, usage_id) -> charge
        self.charges: dict[str, CommittedCharge] = {}
        self.usage_ids_sent: list[str] = []
        self.next_id = 0
        #: In the order made: rules draw from it in that order (the ids are random).
        self.reservations: dict[str, ModelReservation] = {}

    def teardown(self) -> None:
        self.opened.close()

    # -- helpers ---------------------------------------------------------------------------

    def fresh(self, prefix: str) -> str:
        self.next_id += 1
        return f"{prefix}-{self.next_id}"

    def usages_of(self, specs: Sequence[ItemSpec]) -> tuple[Usage, ...]:
        usages = []
        for spec in specs:
            if spec.reuse is not None and self.usage_ids_sent:
                usage_id = self.usage_ids_sent[spec.reuse % len(self.usage_ids_sent)]
            else:
                usage_id = self.fresh("u")
            usages.append(
                Usage(usage_id, spec.account_id, spec.sku, spec.quantity, spec.occurred_at_ns)
            )
        return tuple(usages)

    def read_ledger(self) -> LedgerView:
        free_used: dict[tuple[str, str], int] = {}
        payg: dict[tuple[str, str], int] = {}
        pack_remaining: dict[str, int] = {}
        pack_granted: dict[str, int] = {}
        for account_id in MAIN_ACCOUNTS:
            for day in DAYS[account_id]:
                balance = reports.balance(self.db, self.catalog, account_id, day)
                assert balance.billing_account_id == account_id
                assert balance.free_granted_micros == DAILY_FREE_MICROS
                free_used[(account_id, day)] = balance.free_used_micros
                payg[(account_id, day[:7])] = balance.payg_micros
                for pack in balance.packs:
                    assert pack.account_id == account_id
                    pack_remaining[pack.pack_id] = pack.remaining_micros
                    pack_granted[pack.pack_id] = pack.micros
        rows = {
            table: self.reader.value(f"SELECT count(*) FROM {table}")
            for table in ("charges", "charge_lines", "funding_entries", "packs")
        }
        # Voided charges: PostgreSQL keeps a charge's void beside each billing account's
        # lines, SQLite once.
        rows["voids"] = self.reader.value("SELECT count(DISTINCT charge_id) FROM voids")
        return LedgerView(free_used, pack_remaining, pack_granted, payg, rows)

    def model_view(self) -> LedgerView:
        return LedgerView(
            free_used={
                (a, day): self.free_used[(a, day)] for a in MAIN_ACCOUNTS for day in DAYS[a]
            },
            pack_remaining={p.pack_id: p.remaining for p in self.packs.values()},
            pack_granted={p.pack_id: p.granted for p in self.packs.values()},
            payg={(a, month): self.payg[(a, month)] for a in MAIN_ACCOUNTS for month in MONTHS[a]},
        )

    @property
    def now(self) -> int:
        return CLOCK[0]

    def held(self, billing_account_id: str, source: str, key: str) -> int:
        """What live reservations hold of a day's free points, a pack, or a month's bill."""
        index = {FREE: 3, PACK: 2, PAYG: 4}[source]
        return sum(
            part[1]
            for reservation in self.reservations.values()
            if reservation.billing_account_id == billing_account_id and reservation.live(self.now)
            for part in reservation.parts
            if part[0] == source and part[index] == key
        )

    def available(self, billing_account_id: str, at_ns: int) -> int:
        """What free points and packs could fund at ``at_ns`` beyond the holds."""
        day = local_day(at_ns, billing_account_id)
        free = DAILY_FREE_MICROS - self.free_used[(billing_account_id, day)]
        total = max(0, free - self.held(billing_account_id, FREE, day))
        for pack in self.packs.values():
            if pack.account_id == billing_account_id and pack.funds(at_ns):
                total += max(0, pack.remaining - self.held(billing_account_id, PACK, pack.pack_id))
        return total

    def draw(
        self, billing_account_id: str, micros: int, at_ns: int, hold: bool = False
    ) -> list[Part]:
        """The draw-down, on the model: free points, packs, then the month's bill,
        each beyond what live reservations hold. A ``hold`` changes no balance."""
        if micros == 0:
            return []
        day = local_day(at_ns, billing_account_id)
        parts: list[Part] = []
        rest = micros
        free_left = (
            DAILY_FREE_MICROS
            - self.free_used[(billing_account_id, day)]
            - self.held(billing_account_id, FREE, day)
        )
        if free_left > 0:
            take = min(rest, free_left)
            if not hold:
                self.free_used[(billing_account_id, day)] += take
            parts.append((FREE, take, "", day, ""))
            rest -= take
        usable = sorted(
            (
                p
                for p in self.packs.values()
                if p.account_id == billing_account_id and p.remaining and p.funds(at_ns)
            ),
            key=ModelPack.draw_key,
        )
        for pack in usable:
            if not rest:
                break
            left = pack.remaining - self.held(billing_account_id, PACK, pack.pack_id)
            if left <= 0:
                continue
            take = min(rest, left)
            if not hold:
                pack.remaining -= take
            parts.append((PACK, take, pack.pack_id, "", ""))
            rest -= take
        if rest:
            if not hold:
                self.payg[(billing_account_id, day[:7])] += rest
            parts.append((PAYG, rest, "", "", day[:7]))
        return parts

    def grant(self, reservation: ModelReservation, wanted: int) -> tuple[int, list[Part]]:
        """The model's grant: up to ``wanted`` in all, what its price costs beyond what
        is held, held from the funding now; within what is free with pay-as-you-go off
        (OTHER's)."""
        billing, held = reservation.billing_account_id, reservation.held

        def more(quantity: int) -> int:
            return max(0, line_micros(reservation.sku, quantity) - held)

        granted = wanted
        if billing == OTHER:
            free = self.available(billing, self.now)
            low = reservation.granted
            # The last quantity in [low, wanted] whose price beyond the hold is free.
            granted = low - 1 + bisect.bisect_right(range(low, wanted + 1), free, key=more)
        return granted, self.draw(billing, more(granted), self.now, hold=True)

    def ended_reason(self, reservation: ModelReservation) -> str:
        return f"RESERVATION_{reservation.state_at(self.now).upper()}"

    def attempt_commit(
        self, request_id: str, usages: tuple[Usage, ...], named: dict[int, str] | None = None
    ) -> Receipt | None:
        """Commit as the model predicts: a receipt, or None when the batch must be refused.
        ``named``: the reservation an item settles, by index (each live, its own)."""
        named = named or {}
        keys = [(BILLING_ACCOUNT[u.account_id], u.usage_id) for u in usages]
        refusals = {
            (f"items[{index}].sku", "SKU_UNPRICED")
            for index, usage in enumerate(usages)
            if usage.sku == UNPRICED
        } | {
            (f"items[{index}].usage_id", "USAGE_ID_REPEATED")
            for index, key in enumerate(keys)
            if key in keys[:index]
        }
        if refusals:
            # All or nothing: every bad item is named and nothing is written.
            before = self.read_ledger()
            with pytest.raises(InvalidUsageError) as refused:
                commits.commit(self.db, self.catalog, request_id, usages, limits=ANY_TIME)
            assert {(v.field, v.reason) for v in refused.value.violations} == refusals
            assert self.read_ledger() == before
            return None
        receipt = commits.commit(
            self.db, self.catalog, request_id, usages, limits=ANY_TIME, named=named
        )
        assert receipt.charge_id not in self.charges
        assert len(receipt.lines) == len(usages)
        expected_micros = []
        for index, (line, usage, key) in enumerate(zip(receipt.lines, usages, keys, strict=True)):
            micros = line_micros(usage.sku, usage.quantity)
            expected_micros.append(micros)
            assert (line.usage_id, line.account_id, line.requested_sku, line.quantity) == (
                usage.usage_id,
                usage.account_id,
                usage.sku,
                usage.quantity,
            )
            assert line.billing_account_id == key[0]
            assert line.micros == micros
            assert line.billed_by == ("ark" if ".ark." in usage.sku else "coze")
            if key in self.committed:
                assert line.duplicate, f"{key} was committed by {self.committed[key]}"
                assert line.original_charge_id == self.committed[key]
                assert line.funding == ()
                continue
            assert not line.duplicate, f"{key} was never committed, yet is a duplicate"
            if index in named:  # its hold freed just before its own draw
                self.reservations[named[index]].state = "settled"
            expected = self.draw(key[0], micros, usage.occurred_at_ns)
            got = [(p.source, p.micros, p.pack_id, p.day, p.month) for p in line.funding]
            assert got == expected, f"line {usage.usage_id} funded {got}, expected {expected}"
            assert sum(p.micros for p in line.funding) == line.micros
            assert bool(line.funding) == (micros > 0), "zero-point lines draw nothing"
            self.committed[key] = receipt.charge_id
        for usage in usages:
            if usage.usage_id not in self.usage_ids_sent:
                self.usage_ids_sent.append(usage.usage_id)
        self.charges[receipt.charge_id] = CommittedCharge(
            request_id, usages, receipt, tuple(expected_micros), named=dict(named)
        )
        return receipt

    # -- rules -----------------------------------------------------------------------------

    @rule(
        account_id=st.sampled_from(MAIN_ACCOUNTS),
        grants=st.lists(pack_grants(), min_size=1, max_size=3),
    )
    def grant_packs(self, account_id: str, grants: list[PackGrant]) -> None:
        for grant in grants:
            pack = accounts.grant_pack(
                self.db,
                account_id,
                points=points_text(grant.micros, grant.padded),
                valid_from_ns=grant.valid_from_ns,
                expire_time_ns=grant.expire_time_ns,
                priority=grant.priority,
            )
            assert pack.pack_id not in self.packs
            assert (pack.account_id, pack.micros, pack.remaining_micros) == (
                account_id,
                grant.micros,
                grant.micros,
            )
            assert (pack.valid_from_ns, pack.expire_time_ns, pack.priority) == (
                grant.valid_from_ns,
                grant.expire_time_ns,
                grant.priority,
            )
            self.packs[pack.pack_id] = ModelPack(
                pack.pack_id,
                account_id,
                grant.micros,
                grant.micros,
                grant.valid_from_ns,
                grant.expire_time_ns,
                grant.priority,
                pack.create_time_ns,
                pack.seq,
            )

    @rule(target=charges_made, specs=batches)
    def commit_a_batch(self, specs: list[ItemSpec]) -> object:
        receipt = self.attempt_commit(self.fresh("req"), self.usages_of(specs))
        return multiple() if receipt is None else receipt.charge_id

    @rule(charge_id=charges_made, times=st.integers(1, 3))
    def retrying_a_commit_returns_the_original_receipt(self, charge_id: str, times: int) -> None:
        original = self.charges[charge_id]
        before = self.read_ledger()
        for _ in range(times):
            again = commits.commit(
                self.db,
                self.catalog,
                original.request_id,
                original.usages,
                limits=ANY_TIME,
                named=original.named,
            )
            assert again.replayed
            assert dataclasses.replace(again, replayed=False) == original.receipt
        assert self.read_ledger() == before

    @rule(target=charges_made, charge_id=charges_made)
    def committed_items_under_a_new_request_id_are_all_duplicates(self, charge_id: str) -> str:
        original = self.charges[charge_id]
        receipt = self.attempt_commit(self.fresh("req"), original.usages)
        assert receipt is not None
        assert all(line.duplicate for line in receipt.lines)
        assert receipt.total_micros == 0
        return receipt.charge_id

    @rule(charge_id=charges_made, specs=batches)
    def reusing_a_request_id_with_other_items_is_refused(
        self, charge_id: str, specs: list[ItemSpec]
    ) -> None:
        original = self.charges[charge_id]
        usages = self.usages_of(specs)
        before = self.read_ledger()
        if usages == original.usages and not original.named:  # the same items: a retry
            again = commits.commit(
                self.db, self.catalog, original.request_id, usages, limits=ANY_TIME
            )
            assert again.replayed
            assert dataclasses.replace(again, replayed=False) == original.receipt
        else:
            with pytest.raises(FailedPreconditionError) as refused:
                commits.commit(self.db, self.catalog, original.request_id, usages, limits=ANY_TIME)
            assert refused.value.reason == "REQUEST_ID_REUSED"
        assert self.read_ledger() == before

    @rule(charge_id=charges_made, twice=st.booleans())
    def voiding_a_charge_returns_its_funding(self, charge_id: str, twice: bool) -> None:
        charge = self.charges[charge_id]
        funding = [
            part for line in charge.receipt.lines if not line.duplicate for part in line.funding
        ]
        reversed_parts = [(p.source, -p.micros, p.pack_id, p.day, p.month) for p in funding]
        before = self.read_ledger()
        result = voids.void(self.db, charge_id)
        after = self.read_ledger()
        assert result.charge_id == charge_id
        assert [
            (p.source, p.micros, p.pack_id, p.day, p.month) for p in result.reversals
        ] == reversed_parts
        if charge.voided:
            assert result.already_voided
            assert after == before
            return
        assert not result.already_voided
        # Every balance moves back by exactly what this charge drew from it.
        free_back: Counter[tuple[str, str]] = Counter()
        pack_back: Counter[str] = Counter()
        payg_back: Counter[tuple[str, str]] = Counter()
        for line in charge.receipt.lines:
            for part in () if line.duplicate else line.funding:
                if part.source == FREE:
                    free_back[(line.billing_account_id, part.day)] += part.micros
                elif part.source == PACK:
                    pack_back[part.pack_id] += part.micros
                else:
                    payg_back[(line.billing_account_id, part.month)] += part.micros
        assert after.free_used == {k: v - free_back[k] for k, v in before.free_used.items()}
        assert after.pack_remaining == {
            k: v + pack_back[k] for k, v in before.pack_remaining.items()
        }
        assert after.payg == {k: v - payg_back[k] for k, v in before.payg.items()}
        assert after.rows["funding_entries"] == before.rows["funding_entries"] + len(funding)
        assert after.rows["voids"] == before.rows["voids"] + 1
        self.free_used.subtract(free_back)
        self.payg.subtract(payg_back)
        for pack_id, micros in pack_back.items():
            self.packs[pack_id].remaining += micros
        charge.voided = True
        if twice:
            again = voids.void(self.db, charge_id)
            assert again.already_voided
            assert again.void_time_ns == result.void_time_ns
            assert self.read_ledger() == after

    @precondition(lambda self: any(charge.voided for charge in self.charges.values()))
    @rule(data=st.data())
    def a_voided_usage_id_stays_committed(self, data: st.DataObject) -> None:
        """usage_id is unique per billing account forever; voiding does not free it (a rule)."""
        voided = [charge for charge in self.charges.values() if charge.voided]
        charge = data.draw(st.sampled_from(voided))
        line = data.draw(st.sampled_from(charge.receipt.lines))
        usage = Usage(line.usage_id, line.account_id, line.requested_sku, 1, INSTANTS[0])
        receipt = self.attempt_commit(self.fresh("req"), (usage,))
        assert receipt is not None and receipt.lines[0].duplicate

    # -- reservations ----------------------------------------------------------------------

    @rule(step=st.sampled_from(CLOCK_STEPS))
    def the_clock_moves_on(self, step: int) -> None:
        if step == 0:  # to the next instant usage happens at, if any is left
            later = [at for at in INSTANTS if at > self.now]
            step = later[0] - self.now if later else NANOS
        CLOCK[0] += step

    @rule(
        account_id=USAGE_ACCOUNTS,
        sku=st.sampled_from(SKUS),
        data=st.data(),
        ttl=st.sampled_from(TTLS_NS),
    )
    def reserve(self, account_id: str, sku: str, data: st.DataObject, ttl: int) -> None:
        quantity = data.draw(QUANTITIES[sku].filter(bool))
        billing = BILLING_ACCOUNT[account_id]
        model = ModelReservation(account_id, billing, sku, quantity, 0, [], self.now + ttl)
        model.granted, model.parts = self.grant(model, quantity)
        request_id = self.fresh("rsv-req")
        made = reservations.reserve(
            self.db, self.catalog, request_id, account_id, sku, quantity, ttl
        )
        got = [(p.source, p.micros, p.pack_id, p.day, p.month) for p in made.holds]
        assert (made.granted_quantity, got) == (model.granted, model.parts)
        assert (made.requested_quantity, made.expire_time_ns) == (quantity, model.expire_ns)
        assert made.billing_account_id == billing
        self.reservations[made.reservation_id] = model
        again = reservations.reserve(
            self.db, self.catalog, request_id, account_id, sku, quantity, ttl
        )
        assert again == made

    @precondition(lambda self: self.reservations)
    @rule(data=st.data(), more=st.booleans(), ttl=st.one_of(st.none(), st.sampled_from(TTLS_NS)))
    def extend(self, data: st.DataObject, more: bool, ttl: int | None) -> None:
        reservation_id = data.draw(st.sampled_from(list(self.reservations)))
        model = self.reservations[reservation_id]
        quantity = data.draw(QUANTITIES[model.sku].filter(bool)) if more or ttl is None else 0
        request_id = self.fresh("ext-req")
        if not model.live(self.now):
            with pytest.raises(FailedPreconditionError) as refused:
                reservations.extend(
                    self.db, self.catalog, request_id, reservation_id, quantity, ttl
                )
            assert refused.value.reason == self.ended_reason(model)
            return
        if quantity:
            granted, parts = self.grant(model, model.granted + quantity)
            model.granted, model.requested = granted, model.requested + quantity
            model.parts += parts
        if ttl is not None:
            model.expire_ns = max(model.expire_ns, self.now + ttl)
        extended = reservations.extend(
            self.db, self.catalog, request_id, reservation_id, quantity, ttl
        )
        got = [(p.source, p.micros, p.pack_id, p.day, p.month) for p in extended.holds]
        assert (extended.granted_quantity, extended.requested_quantity) == (
            model.granted,
            model.requested,
        )
        assert (got, extended.expire_time_ns) == (model.parts, model.expire_ns)

    @precondition(lambda self: self.reservations)
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        reservation_id = data.draw(st.sampled_from(list(self.reservations)))
        model = self.reservations[reservation_id]
        if model.state == "settled":
            with pytest.raises(FailedPreconditionError) as refused:
                reservations.release(self.db, reservation_id)
            assert refused.value.reason == "RESERVATION_SETTLED"
            return
        released, before = reservations.release(self.db, reservation_id)
        assert before == (not model.live(self.now))
        assert released.state == ("released" if model.live(self.now) else model.state_at(self.now))
        if model.live(self.now):
            model.state = "released"

    @precondition(lambda self: self.reservations)
    @rule(data=st.data())
    def settle(self, data: st.DataObject) -> None:
        """One item of the reservation's account and SKU, now, naming it; an ended one is
        refused and nothing is written."""
        reservation_id = data.draw(st.sampled_from(list(self.reservations)))
        model = self.reservations[reservation_id]
        quantity = data.draw(QUANTITIES[model.sku])
        usage = Usage(self.fresh("u"), model.account_id, model.sku, quantity, self.now)
        if not model.live(self.now):
            before = self.read_ledger()
            with pytest.raises(FailedPreconditionError) as refused:
                commits.commit(
                    self.db,
                    self.catalog,
                    self.fresh("req"),
                    (usage,),
                    limits=ANY_TIME,
                    named={0: reservation_id},
                )
            assert refused.value.reason == self.ended_reason(model)
            assert self.read_ledger() == before
            return
        receipt = self.attempt_commit(self.fresh("req"), (usage,), {0: reservation_id})
        assert receipt is not None

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def what_reservations_hold_is_what_the_model_holds(self) -> None:
        for account_id in MAIN_ACCOUNTS:
            today = local_day(self.now, account_id)
            balance = reports.balance(self.db, self.catalog, account_id, today)
            live = {
                reservation_id
                for reservation_id, model in self.reservations.items()
                if model.billing_account_id == account_id and model.live(self.now)
            }
            assert {r.reservation_id for r in balance.reservations} == live
            assert balance.free_held_micros == self.held(account_id, FREE, today)
            assert balance.payg_held_micros == self.held(account_id, PAYG, today[:7])
            for pack in balance.packs:
                held = self.held(account_id, PACK, pack.pack_id)
                assert balance.pack_held_micros(pack.pack_id) == held
                assert held <= pack.remaining_micros

    @invariant()
    def every_balance_equals_its_ledger_entries(self) -> None:
        assert invariants.check(self.db) == []

    @invariant()
    def balances_equal_the_model_and_stay_within_their_grants(self) -> None:
        view = self.read_ledger()
        model = self.model_view()
        assert view.free_used == model.free_used
        assert view.pack_remaining == model.pack_remaining
        assert view.pack_granted == model.pack_granted
        assert view.payg == model.payg
        for key, used in view.free_used.items():
            assert 0 <= used <= DAILY_FREE_MICROS, f"free points of {key}: used {used}"
        for pack_id, remaining in view.pack_remaining.items():
            assert 0 <= remaining <= view.pack_granted[pack_id], f"pack {pack_id}: {remaining}"
        # A sub-account reads its main account's balance.
        day = DAYS[MAIN][1]
        assert reports.balance(self.db, self.catalog, SUB, day) == reports.balance(
            self.db, self.catalog, MAIN, day
        )

    @invariant()
    def funding_of_live_lines_sums_to_their_amounts(self) -> None:
        funded = owed = 0
        for charge in self.charges.values():
            if charge.voided:
                continue
            for line, micros in zip(charge.receipt.lines, charge.expected_micros, strict=True):
                if line.duplicate:
                    continue
                line_funding = sum(p.micros for p in line.funding)
                assert line_funding == line.micros == micros
                assert bool(line.funding) == (micros > 0)
                funded += line_funding
                owed += micros
        assert funded == owed
        # A line's one part is in its row; a split line's parts are funding entries.
        assert (
            self.reader.value(
                "SELECT (SELECT coalesce(sum(micros), 0) FROM funding_entries) + "
                "(SELECT coalesce(sum(micros), 0) FROM charge_lines WHERE source IS NOT NULL)"
            )
            == owed
        )
        assert (
            self.reader.value(
                "SELECT sum(l.micros) FROM charge_lines l WHERE NOT EXISTS "
                "(SELECT 1 FROM voids v WHERE v.charge_id = l.charge_id)"
            )
            or 0
        ) == owed

    @invariant()
    def monthly_statements_show_the_live_lines_and_their_funding(self) -> None:
        # (billing account, month) -> account -> [quantity, micros, free, pack, payg, lines]
        expected: dict[tuple[str, str], dict[str, list[int]]] = {}
        for charge in self.charges.values():
            if charge.voided:
                continue
            for line, usage in zip(charge.receipt.lines, charge.usages, strict=True):
                if line.duplicate:
                    continue
                month = local_day(usage.occurred_at_ns, line.billing_account_id)[:7]
                row = expected.setdefault((line.billing_account_id, month), {}).setdefault(
                    line.account_id, [0, 0, 0, 0, 0, 0]
                )
                sources: Counter[str] = Counter()
                for part in line.funding:
                    sources[part.source] += part.micros
                for position, value in enumerate(
                    (line.quantity, line.micros, sources[FREE], sources[PACK], sources[PAYG], 1)
                ):
                    row[position] += value
        for account_id in MAIN_ACCOUNTS:
            for month in MONTHS[account_id]:
                shown = reports.statement(self.db, account_id, month)
                by_account = {
                    row.key: [
                        row.quantity,
                        row.micros,
                        row.free_micros,
                        row.pack_micros,
                        row.payg_micros,
                        row.lines,
                    ]
                    for row in shown.by_account
                }
                assert by_account == expected.get((account_id, month), {})
                assert shown.total.payg_micros == self.payg[(account_id, month)]


# -- the engines ---------------------------------------------------------------------------


@dataclass
class OpenedLedger:
    """A run's fresh database: the ledger's store on it, the catalog it holds, a reader
    of its tables; ``close`` closes them and throws the database away."""

    store: LedgerStore
    catalog: CatalogSnapshot
    reader: LedgerReader
    close: Callable[[], None]


FreshLedger = Callable[[], OpenedLedger]


def open_seeded(database: str, discard: Callable[[], None]) -> OpenedLedger:
    catalog_store = open_catalog(database)
    try:
        catalog = load_snapshot(catalog_store)
    finally:
        catalog_store.close()
    store = open_ledger(database)
    reader = LedgerReader(database)

    def close() -> None:
        reader.close()
        store.close()
        discard()

    return OpenedLedger(store, catalog, reader, close)


def fresh_sqlite_ledger() -> OpenedLedger:
    """A SQLite file in a temporary folder, the seed catalog imported."""
    folder = Path(tempfile.mkdtemp(prefix="ledger-properties-"))
    path = seeded_database(folder / "rating.db")
    return open_seeded(str(path), lambda: shutil.rmtree(folder, ignore_errors=True))


# Each example is a fresh database and up to 40 steps. PostgreSQL's steps are round trips
# to a server (about 50 transactions a step, 1.7 s an example of 40 steps), some 8 times
# SQLite's: fewer examples, of the same strategies, keep its half near 30 s.
EXAMPLES = {"sqlite": 100, "postgres": 16}


@pytest.mark.slow
def test_random_grants_commits_retries_voids_and_reservations_keep_the_ledger_exact(
    engine: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "time_ns", lambda: CLOCK[0])
    if engine == "sqlite":
        fresh: FreshLedger = fresh_sqlite_ledger
    else:
        copies = request.getfixturevalue("postgres_seeded_copies")

        def fresh() -> OpenedLedger:
            """A new database of the session's cluster, copied from the seeded template."""
            url = copies.take()
            return open_seeded(url, lambda: copies.discard(url))

    run_state_machine_as_test(
        lambda: LedgerMachine(fresh),
        settings=settings(max_examples=EXAMPLES[engine], stateful_step_count=40),
    )

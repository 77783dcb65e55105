"""Reservations for live sessions: funding held before a session, settled by the commit
of its usage, released, or left to expire. Plain Python, no SQL.

Rules:

- A reservation is for one account and one SKU metered by quantity (a call's minutes,
  a recognition's milliseconds); knowledge-base storage is sampled, not reserved.
- Reserve rates the expected quantity at the price in force now and holds its points
  in draw-down order (``funding.Drawdown``): the billing account's free points of
  today (in its time zone), packs valid now, then this month's pay-as-you-go bill when
  pay-as-you-go is on. Only what no other live reservation holds is held.
- With pay-as-you-go off and too little free, the grant is partial: the largest
  quantity whose price the free points and packs cover (0 when nothing is free).
  With pay-as-you-go on and a monthly budget, likewise within free points, packs and
  what is left of the budget: the budget less this month's bill and what other live
  reservations hold on it (``Drawdown.available``).
- Extend adds quantity (the price of the new total, at the price in force now, less
  what is held already, held the same way, partially if need be) or time (the
  expiry moves to now + ttl, never earlier), on a reservation still held.
- A reservation is live from its creation until its ``expire_time`` (exclusive), or
  until it is settled or released. An expired reservation holds nothing: every read
  treats it so, with no job to run first. Its row stays, in state held.
- Release frees the hold. Releasing a released or expired reservation answers it as
  it is; a settled one cannot be released.
- A CommitCharges item naming a reservation settles it (``commits``): the item must be
  the reservation's account and SKU, the reservation live, and named by one item. The
  hold is released just before the line draws, so the held points fund it first, and
  what the usage costs beyond them is drawn as any line's is; what it costs less is
  free again. A line whose usage was committed before (a duplicate) settles nothing.
- Reserve and Extend are idempotent by request_id: a retry with the same fields gets
  the first answer as it was; other fields, REQUEST_ID_REUSED.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
import time
from collections.abc import Callable, Mapping, Sequence

from rating_server.catalog.model import CatalogSnapshot, Sku
from rating_server.domain_errors import (
    FailedPreconditionError,
    InvalidRequestError,
    InvalidUsageError,
    NotFoundError,
    Violation,
)
from rating_server.engine import DEFAULT_LIMITS, Limits, Usage, plain_rater
from rating_server.ids import check_id, shown
from rating_server.ledger.accounts import find_accounts, packs_of
from rating_server.ledger.funding import Drawdown, local_day
from rating_server.ledger.model import (
    EXPIRED,
    HELD,
    RELEASED,
    SETTLED,
    Account,
    FundingPart,
    Reservation,
)
from rating_server.ledger.store import LedgerStore, LedgerTx

NANOS = 1_000_000_000
MIN_TTL_NS = NANOS
MAX_TTL_NS = 24 * 3600 * NANOS


def reserve(
    store: LedgerStore,
    catalog: CatalogSnapshot,
    request_id: str,
    account_id: str,
    sku: str,
    quantity: int,
    ttl_ns: int | None,
    limits: Limits = DEFAULT_LIMITS,
) -> Reservation:
    """Hold funding for a session's expected ``quantity`` of ``sku``; the reservation,
    with its state as of now (a retry: as first answered)."""
    violations: list[Violation] = []
    check_id("request_id", request_id, violations)
    check_id("account_id", account_id, violations)
    _check_quantity("quantity", quantity, 1, limits, violations)
    _check_ttl(ttl_ns, violations, required=True)
    found = _reservable(catalog, sku, violations)
    if violations:
        raise InvalidRequestError(violations)
    assert found is not None and ttl_ns is not None
    fingerprint = _fingerprint("reserve", account_id, sku, quantity, ttl_ns)

    def work(tx: LedgerTx) -> Reservation:
        earlier = _replayed(tx, request_id, fingerprint)
        if earlier is not None:
            return earlier
        now = time.time_ns()
        accounts = find_accounts(tx, [account_id])
        if account_id not in accounts:
            raise NotFoundError("account", account_id, "ACCOUNT_NOT_FOUND")
        main = accounts[accounts[account_id].billing_account_id]
        tx.lock_balances([main.account_id])
        cost = _coster(catalog, found, limits, now)
        granted, parts = _grant(tx, catalog, main, now, cost, 0, 0, quantity)
        reservation = Reservation(
            reservation_id="rsv_" + secrets.token_hex(12),
            account_id=account_id,
            billing_account_id=main.account_id,
            sku=found.id,
            requested_sku=sku,
            requested_quantity=quantity,
            granted_quantity=granted,
            holds=parts,
            create_time_ns=now,
            expire_time_ns=now + ttl_ns,
        )
        tx.insert_reservation(reservation, request_id, fingerprint, encode(reservation))
        return reservation

    return store.grouped(work)


def extend(
    store: LedgerStore,
    catalog: CatalogSnapshot,
    request_id: str,
    reservation_id: str,
    quantity: int = 0,
    ttl_ns: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Reservation:
    """Hold more for a live reservation (``quantity`` more), keep it longer (``ttl_ns``
    from now), or both; the reservation as of now."""
    violations: list[Violation] = []
    check_id("request_id", request_id, violations)
    check_id("reservation_id", reservation_id, violations)
    _check_quantity("quantity", quantity, 0, limits, violations)
    _check_ttl(ttl_ns, violations, required=False)
    if not violations and not quantity and ttl_ns is None:
        violations.append(
            Violation("quantity", "NOTHING_TO_EXTEND", "give more quantity, a ttl, or both")
        )
    if violations:
        raise InvalidRequestError(violations)
    fingerprint = _fingerprint("extend", reservation_id, quantity, ttl_ns)

    def work(tx: LedgerTx) -> Reservation:
        earlier = _replayed(tx, request_id, fingerprint)
        if earlier is not None:
            return earlier
        now = time.time_ns()
        held = _locked(tx, reservation_id)
        _check_live(held, now, "extended")
        total = held.granted_quantity + quantity
        if total > limits.max_quantity:
            raise InvalidRequestError(
                [
                    Violation(
                        "quantity",
                        "QUANTITY_TOO_LARGE",
                        f"the reservation would pass {limits.max_quantity:,} base units",
                    )
                ]
            )
        granted = held.granted_quantity
        parts: tuple[FundingPart, ...] = ()
        if quantity:
            sku = catalog.resolve(held.sku)
            if sku is None or sku.price_at(now) is None:
                raise FailedPreconditionError(
                    "SKU_UNPRICED", f"SKU {held.sku!r} has no price in force now"
                )
            main = find_accounts(tx, [held.billing_account_id])[held.billing_account_id]
            cost = _coster(catalog, sku, limits, now)
            granted, parts = _grant(
                tx, catalog, main, now, cost, held.held_micros, held.granted_quantity, total
            )
        expire = held.expire_time_ns if ttl_ns is None else max(held.expire_time_ns, now + ttl_ns)
        extended = dataclasses.replace(
            held,
            requested_quantity=held.requested_quantity + quantity,
            granted_quantity=granted,
            holds=held.holds + parts,
            expire_time_ns=expire,
        )
        tx.extend_reservation(extended, parts, request_id, fingerprint, encode(extended))
        return extended

    return store.grouped(work)


def release(store: LedgerStore, reservation_id: str) -> tuple[Reservation, bool]:
    """End a reservation without usage; it, as of now, and whether it had ended before
    (released or expired: nothing changed)."""
    violations: list[Violation] = []
    check_id("reservation_id", reservation_id, violations)
    if violations:
        raise InvalidRequestError(violations)

    def work(tx: LedgerTx) -> tuple[Reservation, bool]:
        now = time.time_ns()
        held = _locked(tx, reservation_id)
        state = held.state_at(now)
        if state == SETTLED:
            raise FailedPreconditionError(
                "RESERVATION_SETTLED",
                f"reservation {reservation_id!r} was settled by {held.settle_charge_id!r}; "
                "void that charge to give its funding back",
            )
        if state in (RELEASED, EXPIRED):
            return dataclasses.replace(held, state=state), True
        tx.end_reservations([reservation_id], RELEASED, now, "")
        return dataclasses.replace(held, state=RELEASED, end_time_ns=now), False

    return store.grouped(work)


def live_reservations(tx: LedgerTx, billing_account_id: str, now_ns: int) -> list[Reservation]:
    """A billing account's live reservations, oldest first."""
    found = tx.reservations_of(billing_account_id, now_ns)
    return sorted(found, key=lambda r: (r.create_time_ns, r.reservation_id))


# -- settling, for commits ---------------------------------------------------------------


def check_named(named: Mapping[int, str], violations: list[Violation]) -> None:
    """The problems of the reservation ids a batch's items name, found without the ledger:
    a malformed id, or a reservation named by two items."""
    first: dict[str, int] = {}
    for index, reservation_id in sorted(named.items()):
        field = f"items[{index}].reservation_id"
        if not check_id(field, reservation_id, violations):
            continue
        earlier = first.setdefault(reservation_id, index)
        if earlier != index:
            violations.append(
                Violation(
                    field,
                    "RESERVATION_REPEATED",
                    f"reservation {reservation_id!r} is also settled by items[{earlier}]",
                )
            )


def settlements(
    tx: LedgerTx,
    settling: Mapping[int, str],
    usages: Sequence[Usage],
    skus: Sequence[str],
    now_ns: int,
) -> None:
    """Check that each item of ``settling`` (its index, the reservation it names) may
    settle it now: the reservation exists (else INVALID_ARGUMENT naming the item, with
    every other such item), is for the item's account and SKU (``skus``: each line's
    canonical SKU id), and is live (else FAILED_PRECONDITION)."""
    if not settling:
        return
    found = {r.reservation_id: r for r in tx.reservations(set(settling.values()))}
    problems: list[Violation] = []
    ended: list[tuple[int, Reservation, str]] = []
    for index, reservation_id in sorted(settling.items()):
        field = f"items[{index}].reservation_id"
        reservation = found.get(reservation_id)
        usage = usages[index]
        if reservation is None:
            problems.append(
                Violation(
                    field,
                    "RESERVATION_NOT_FOUND",
                    f"no reservation {reservation_id!r}",
                    resource=reservation_id,
                )
            )
        elif reservation.account_id != usage.account_id or reservation.sku != skus[index]:
            problems.append(
                Violation(
                    field,
                    "RESERVATION_MISMATCH",
                    f"reservation {reservation_id!r} is for {reservation.account_id!r} and "
                    f"SKU {reservation.sku!r}, not {usage.account_id!r} and {skus[index]!r}",
                )
            )
        else:
            state = reservation.state_at(now_ns)
            if state != HELD:
                ended.append((index, reservation, state))
    if problems:
        raise InvalidUsageError(problems)
    if ended:
        index, reservation, state = ended[0]
        said = _how_it_ended(reservation, state)
        others = f" (and {len(ended) - 1} more items' reservations ended)" if len(ended) > 1 else ""
        raise FailedPreconditionError(
            ENDED_REASONS[state],
            f"items[{index}] settles reservation {reservation.reservation_id!r}, which {said}"
            f"{others}; commit the usage without reservation_id, or reserve again. "
            "Nothing was written",
        )


# -- the grant -----------------------------------------------------------------------------


def _grant(
    tx: LedgerTx,
    catalog: CatalogSnapshot,
    main: Account,
    now: int,
    cost: Callable[[int], int],
    held_micros: int,
    granted: int,
    wanted: int,
) -> tuple[int, tuple[FundingPart, ...]]:
    """The quantity granted, from ``granted`` (held for already with ``held_micros``) up
    to ``wanted``, and the new holds that pay for it: what its price costs beyond what is
    held, drawn from the billing account's funding now, within what is free unless
    pay-as-you-go is on, and then within what is left of the budget, if any
    (``Drawdown.available``). The balances are locked."""
    day = local_day(now, main.time_zone)
    budget = main.monthly_budget_micros
    key = (main.account_id, day[:7])
    drawdown = Drawdown(
        daily_free={main.account_id: catalog.plans[main.plan].daily_free_micros},
        free_used={(main.account_id, day): tx.free_used(main.account_id, day)},
        packs=packs_of(tx, [main.account_id], only_left=True),
        holds=tx.holds([main.account_id], now),
        budgets={} if budget is None else {main.account_id: budget},
        billed={} if budget is None else {key: tx.payg(*key)},
    )

    def more(quantity: int) -> int:
        return max(0, cost(quantity) - held_micros)

    funds = drawdown.available(main.account_id, now, day, main.pay_as_you_go)
    if funds is not None and more(wanted) > funds:
        wanted = _most(more, granted, wanted, funds)
        if more(wanted) > funds:  # the price rose since: what is held covers less
            return granted, ()
    return wanted, drawdown.draw(main.account_id, more(wanted), now, day)


def _most(cost: Callable[[int], int], low: int, high: int, budget: int) -> int:
    """The largest quantity in [low, high] whose ``cost`` (never decreasing) is within
    ``budget``, given that ``low``'s is (or ``low`` itself)."""
    while low < high:
        middle = (low + high + 1) // 2
        if cost(middle) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def _coster(catalog: CatalogSnapshot, sku: Sku, limits: Limits, now: int) -> Callable[[int], int]:
    """Micro-points of a quantity of ``sku`` at the price in force at ``now``, by the
    engine's rule for an item (the SKU's increment, one rounding); InvalidRequestError
    for one that would cost more than a line may."""
    rate = plain_rater(catalog, limits, now)

    def cost(quantity: int) -> int:
        rated = rate(sku.id, quantity, now, {})
        if rated is None:  # the quantity is in range, the SKU priced: the amount is not
            raise InvalidRequestError(
                [
                    Violation(
                        "quantity",
                        "AMOUNT_TOO_LARGE",
                        f"the reservation would cost more than "
                        f"{limits.max_line_micros // 10**6:,} points",
                    )
                ]
            )
        return rated[3]

    return cost


def _reservable(catalog: CatalogSnapshot, name: str, violations: list[Violation]) -> Sku | None:
    if not name:
        violations.append(Violation("sku", "SKU_MISSING", "sku is required"))
        return None
    sku = catalog.resolve(name)
    if sku is None:
        violations.append(
            Violation("sku", "SKU_UNKNOWN", f"no SKU, alias or pattern is named {shown(name)}")
        )
        return None
    if sku.metering == "storage":
        violations.append(
            Violation(
                "sku",
                "SKU_NOT_RESERVABLE",
                f"SKU {sku.id!r} is knowledge-base storage, which is sampled, not reserved",
            )
        )
        return None
    if sku.price_at(time.time_ns()) is None:
        violations.append(
            Violation("sku", "SKU_UNPRICED", f"SKU {sku.id!r} has no price in force now")
        )
        return None
    return sku


def _check_quantity(
    field: str, quantity: int, least: int, limits: Limits, violations: list[Violation]
) -> None:
    if not least <= quantity <= limits.max_quantity:
        violations.append(
            Violation(
                field,
                "QUANTITY_INVALID",
                f"{field} must be {least} to {limits.max_quantity:,} base units",
            )
        )


def _check_ttl(ttl_ns: int | None, violations: list[Violation], required: bool) -> None:
    if ttl_ns is None:
        if required:
            violations.append(Violation("ttl", "TTL_MISSING", "ttl is required"))
        return
    if not MIN_TTL_NS <= ttl_ns <= MAX_TTL_NS:
        violations.append(Violation("ttl", "TTL_INVALID", "ttl must be 1 second to 24 hours"))


def _locked(tx: LedgerTx, reservation_id: str) -> Reservation:
    """The reservation, read again once its billing account's balances are locked."""
    for attempt in range(2):
        found = tx.reservations([reservation_id])
        if not found:
            raise NotFoundError("reservation", reservation_id, "RESERVATION_NOT_FOUND")
        if attempt == 0:
            tx.lock_balances([found[0].billing_account_id])
    return found[0]


# The reason a reservation that has ended is refused with, by how it ended.
ENDED_REASONS = {
    SETTLED: "RESERVATION_SETTLED",
    RELEASED: "RESERVATION_RELEASED",
    EXPIRED: "RESERVATION_EXPIRED",
}


def _check_live(reservation: Reservation, now: int, done: str) -> None:
    state = reservation.state_at(now)
    if state == HELD:
        return
    raise FailedPreconditionError(
        ENDED_REASONS[state],
        f"reservation {reservation.reservation_id!r} {_how_it_ended(reservation, state)}; "
        f"it cannot be {done}",
    )


def _how_it_ended(reservation: Reservation, state: str) -> str:
    """The end of "reservation R ..." for one in ``state`` (SETTLED, RELEASED, EXPIRED)."""
    if state == SETTLED:
        return f"was settled by {reservation.settle_charge_id!r}"
    return "was released" if state == RELEASED else "expired"


# -- idempotency ---------------------------------------------------------------------------


def _fingerprint(*fields: object) -> str:
    return hashlib.sha256(json.dumps(fields, separators=(",", ":")).encode()).hexdigest()


def _replayed(tx: LedgerTx, request_id: str, fingerprint: str) -> Reservation | None:
    stored = tx.reservation_request(request_id)
    if stored is None:
        return None
    if stored[0] != fingerprint:
        raise FailedPreconditionError(
            "REQUEST_ID_REUSED",
            f"request_id {request_id!r} was used before with other fields; nothing was written",
        )
    return decode(stored[1])


_FIELDS = [field.name for field in dataclasses.fields(Reservation)]


def encode(reservation: Reservation) -> str:
    """The reservation as text, to answer a retry with."""
    values = dataclasses.astuple(reservation)
    return json.dumps(dict(zip(_FIELDS, values, strict=True)), separators=(",", ":"))


def decode(text: str) -> Reservation:
    values = json.loads(text)
    values["holds"] = tuple(FundingPart(*part) for part in values["holds"])
    return Reservation(**values)

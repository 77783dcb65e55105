"""Committing usage exactly once, and previewing how a batch would be funded: the
batch's checks, its rating per account, and the funding of its lines."""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from rating_server.catalog.model import CatalogSnapshot
from rating_server.domain_errors import (
    CatalogChangedError,
    FailedPreconditionError,
    InvalidUsageError,
    Violation,
)
from rating_server.engine import (
    DEFAULT_LIMITS,
    Limits,
    RatedBatch,
    RatedLine,
    Usage,
    add_new_fields,
    check_fields,
    in_item_order,
    rate_batch,
)
from rating_server.ids import check_id, id_problem
from rating_server.ledger import capacity, reservations
from rating_server.ledger.accounts import find_accounts, load_account, packs_of
from rating_server.ledger.funding import Drawdown, LocalDays
from rating_server.ledger.model import (
    FREE,
    PACK,
    PAYG,
    SETTLED,
    Account,
    CapacityPurchase,
    ChargedLine,
    FundingPart,
    FundingSummary,
    Receipt,
)
from rating_server.ledger.receipts import AsSent, request_hash, same_request, sent_hash
from rating_server.ledger.store import LedgerStore, LedgerTx, NewCharge


class _Quotas:
    """The free storage quota of an account at an instant (``rate_batch``'s
    ``free_storage_bytes``): its main account's plan's, plus the capacity purchases valid
    then (``ledger.capacity``); an account that does not exist, the default plan's.

    The purchases are read in ``tx`` (the transaction that read ``accounts``) when the
    engine asks the first quota, for every main account with storage in the batch at
    once: a batch without storage reads none."""

    def __init__(
        self,
        tx: LedgerTx,
        catalog: CatalogSnapshot,
        usages: Sequence[Usage],
        accounts: dict[str, Account],
    ) -> None:
        self._tx, self._catalog, self._usages, self._accounts = tx, catalog, usages, accounts
        #: The purchases read, by main account (each with storage in the batch); None
        #: while no quota was asked.
        self.capacity: dict[str, tuple[CapacityPurchase, ...]] | None = None

    def __call__(self, account_id: str, at_ns: int) -> int:
        account = self._accounts.get(account_id)
        if account is None:
            return self._catalog.default_plan.free_storage_bytes
        main = self._accounts[account.billing_account_id]
        free = self._catalog.plans[main.plan].free_storage_bytes
        if self.capacity is None:
            self.capacity = self.read(self._tx)
        return free + capacity.extra_bytes(self.capacity.get(main.account_id, ()), at_ns)

    def read(self, tx: LedgerTx) -> dict[str, tuple[CapacityPurchase, ...]]:
        """The purchases of the main accounts with storage in the batch, valid at some
        instant from its first storage item's to its last's, by main account."""
        resolve, accounts = self._catalog.resolve, self._accounts
        spans: dict[str, tuple[int, int]] = {}
        for usage in self._usages:
            account = accounts.get(usage.account_id)
            at_ns = usage.occurred_at_ns
            if account is None or at_ns is None or not usage.sku:
                continue
            sku = resolve(usage.sku)
            if sku is None or sku.metering != "storage":
                continue
            main_id = account.billing_account_id
            first, last = spans.get(main_id, (at_ns, at_ns))
            spans[main_id] = (min(first, at_ns), max(last, at_ns))
        if not spans:
            return {}
        start = min(first for first, _ in spans.values())
        end = max(last for _, last in spans.values()) + 1
        found: dict[str, list[CapacityPurchase]] = {main_id: [] for main_id in spans}
        for purchase in tx.capacity_purchases(sorted(spans), start, end):
            found[purchase.account_id].append(purchase)
        return {main_id: tuple(capacity.listed(bought)) for main_id, bought in found.items()}


#: How a batch's items are priced: ``engine.rate_batch``'s signature (the catalog, the
#: items, each account's free storage at an instant, the limits). A columnar batch is
#: priced by ``columns.rate_columns`` instead, by the same rules, a column at a time.
Rater = Callable[[CatalogSnapshot, Sequence[Usage], Callable[[str, int], int], Limits], RatedBatch]


def rows_rater(
    catalog: CatalogSnapshot,
    usages: Sequence[Usage],
    quota: Callable[[str, int], int],
    limits: Limits,
) -> RatedBatch:
    return rate_batch(catalog, usages, free_storage_bytes=quota, limits=limits)


def _rate_for_accounts(
    catalog: CatalogSnapshot,
    usages: Sequence[Usage],
    violations: list[Violation],
    limits: Limits,
    quota: _Quotas,
    rate: Rater,
) -> RatedBatch | None:
    """Rate with each account's own storage quota; collect violations instead of raising."""
    try:
        return rate(catalog, usages, quota, limits)
    except InvalidUsageError as error:
        add_new_fields(violations, error.violations)
        return None


def _fund(
    tx: LedgerTx,
    catalog: CatalogSnapshot,
    accounts: dict[str, Account],
    lines: Sequence[RatedLine],
    skip: Sequence[bool],
    settling: Mapping[int, str],
    now_ns: int,
    budgets: Mapping[str, int] | None = None,
) -> tuple[list[tuple[str, str, tuple[FundingPart, ...]]], Drawdown]:
    """Per line (billing account, local day, funding), drawn from the balances now,
    beyond what live reservations hold; a line whose ``skip`` is true is funded by
    nothing; a line of ``settling`` (by index: the reservation it settles) frees that
    reservation's hold just before it draws. ``budgets`` (a quote's: by billing
    account) are read with the bills of the lines' months, for
    ``Drawdown.beyond_budget``; a commit gives none and reads no bill here."""
    billing_of = {
        account_id: accounts[account.billing_account_id] for account_id, account in accounts.items()
    }
    billing = [billing_of[line.usage.account_id] for line in lines]
    local_day = LocalDays()
    days = [
        local_day(line.usage.occurred_at_ns or 0, account.time_zone)
        for line, account in zip(lines, billing, strict=True)
    ]
    skip = skip or [False] * len(lines)
    keys = {
        (account.account_id, day)
        for line, account, day, skipped in zip(lines, billing, days, skip, strict=True)
        if line.micros and not skipped
    }
    free_used = {(account_id, day): tx.free_used(account_id, day) for account_id, day in keys}
    main_ids = {account.account_id for account in billing_of.values()}
    budgets = budgets or {}
    months = {(account_id, day[:7]) for account_id, day in keys if account_id in budgets}
    drawdown = Drawdown(
        daily_free={a: catalog.plans[accounts[a].plan].daily_free_micros for a in main_ids},
        free_used=free_used,
        packs=packs_of(tx, main_ids, only_left=True),
        holds=tx.holds(main_ids, now_ns) if main_ids else (),
        budgets=budgets,
        billed={key: tx.payg(*key) for key in sorted(months)},
    )
    draw = drawdown.draw
    funded = []
    for index, (line, account, day, skipped) in enumerate(
        zip(lines, billing, days, skip, strict=True)
    ):
        billing_id = account.account_id
        if settling and index in settling:
            drawdown.release(settling[index])
        parts = (
            () if skipped else draw(billing_id, line.micros, line.usage.occurred_at_ns or 0, day)
        )
        funded.append((billing_id, day, parts))
    return funded, drawdown


def _check_and_rate(
    catalog: CatalogSnapshot,
    usages: Sequence[Usage],
    accounts: dict[str, Account],
    problems: list[Violation],
    limits: Limits,
    quota: _Quotas,
    rate: Rater = rows_rater,
) -> tuple[RatedBatch, list[tuple[str, str]]]:
    """Rate a batch for commit (or its preview): every account known, each usage_id once
    per billing account, storage sampled on main accounts, each against the quota in
    force at its instant; the (billing account, usage_id) key of each line.
    InvalidUsageError names every problem."""
    _check_accounts(usages, accounts, problems)
    first_seen: dict[tuple[str, str], int] = {}
    for index, usage in enumerate(usages):
        account = accounts.get(usage.account_id)
        if account is None or not usage.usage_id:
            continue
        earlier = first_seen.setdefault((account.billing_account_id, usage.usage_id), index)
        if earlier != index:
            problems.append(
                Violation(
                    f"items[{index}].usage_id",
                    "USAGE_ID_REPEATED",
                    f"usage_id {usage.usage_id!r} is also items[{earlier}] of this batch",
                )
            )
        if not account.parent_account_id or not usage.sku:
            continue  # storage is refused on sub-accounts only
        sku = catalog.resolve(usage.sku)
        if sku is not None and sku.metering == "storage":
            problems.append(
                Violation(
                    f"items[{index}].account_id",
                    "STORAGE_ON_SUB_ACCOUNT",
                    "the free storage quota is per main account: sample storage for the main "
                    f"account {account.parent_account_id!r}",
                )
            )
    batch = _rate_for_accounts(catalog, usages, problems, limits, quota, rate)
    if problems or batch is None:
        raise InvalidUsageError(in_item_order(problems))
    return batch, list(first_seen)


def _funded_lines(
    tx: LedgerTx,
    catalog: CatalogSnapshot,
    accounts: dict[str, Account],
    batch: RatedBatch,
    keys: list[tuple[str, str]],
    named: Mapping[int, str],
    now_ns: int,
    budgets: Mapping[str, int] | None = None,
) -> tuple[list[ChargedLine], list[str], Drawdown, list[str]]:
    """The batch's lines funded from the balances now, each line's billing month, the
    draw-down, and the reservations the lines settle (``named``: by index, the one each
    item names). Usage committed before (by its key) is marked duplicate, funded by
    nothing, and settles nothing."""
    originals = _committed(tx, keys)
    duplicates = [key in originals for key in keys] if originals else [False] * len(keys)
    settling = {index: rid for index, rid in named.items() if not duplicates[index]}
    if settling:
        usages = [line.usage for line in batch.lines]
        skus = [line.sku.id for line in batch.lines]
        reservations.settlements(tx, settling, usages, skus, now_ns)
    funded, drawdown = _fund(
        tx, catalog, accounts, batch.lines, duplicates, settling, now_ns, budgets
    )
    of = ChargedLine.of
    lines = [
        of(line, billing_id, parts)
        for line, (billing_id, _day, parts) in zip(batch.lines, funded, strict=True)
    ]
    if originals:
        for index, key in enumerate(keys):
            if key in originals:
                lines[index] = lines[index]._replace(
                    duplicate=True, original_charge_id=originals[key]
                )
    return lines, [day[:7] for _, day, _ in funded], drawdown, sorted(settling.values())


def _check_accounts(
    usages: Sequence[Usage], accounts: dict[str, Account], violations: list[Violation]
) -> None:
    # A batch names a few accounts, each many times: each is asked about once.
    unknown = {
        account_id
        for account_id in {usage.account_id for usage in usages}
        if account_id
        and id_problem(account_id) is None  # else the engine names what is wrong
        and account_id not in accounts
    }
    if not unknown:
        return
    for index, usage in enumerate(usages):
        if usage.account_id in unknown:
            violations.append(
                Violation(
                    f"items[{index}].account_id",
                    "ACCOUNT_NOT_FOUND",
                    f"no account {usage.account_id!r}; create it first",
                    resource=usage.account_id,
                )
            )


def commit(
    store: LedgerStore,
    catalog: CatalogSnapshot,
    request_id: str,
    usages: Sequence[Usage],
    violations: Sequence[Violation] = (),
    limits: Limits = DEFAULT_LIMITS,
    *,
    as_sent: AsSent | None = None,
    sent: bytes | None = None,
    named: Mapping[int, str] | None = None,
    rate: Rater = rows_rater,
) -> Receipt:
    """Charge the usage exactly once and draw it down; the receipt.

    ``rate`` prices the items (``Rater``).

    ``named`` gives, by item index, the reservation an item settles
    (``reservations``): its hold pays for the line first, and it is settled with the
    charge.

    ``violations`` are problems found before (in the wire format); with any, or any
    found here, nothing is written and InvalidUsageError names them all. The request's
    fingerprint is of ``sent``, its canonical bytes, when given (``sent_hash``), else of
    the usages, with ``as_sent`` holding the wire values they could not
    (``request_hash``).

    A retry (a request_id committed before) is checked as a new request is, but for
    what depends on the catalog, the accounts and the clock (``check_fields``): an
    invalid request is refused whatever its request_id. Then its fingerprint must be
    the first's, and it gets the first's receipt.

    CatalogChangedError, writing nothing, when a catalog newer than ``catalog`` was
    imported: rate the batch again with it (reload the cache first).

    A batch of ``RATE_AHEAD_ITEMS`` or more is rated before its write transaction, and
    again in it only if its accounts, or the capacity purchases its storage was rated
    with, changed in between.

    The work may run more than once (``LedgerStore.grouped``): it changes nothing but
    its transaction.
    """
    before: list[Violation] = []
    request_id_usable = check_id("request_id", request_id, before)  # named first
    before.extend(violations)
    named = named or {}
    if named:
        reservations.check_named(named, before)
    digest = request_hash(usages, as_sent, named) if sent is None else sent_hash(sent)
    account_ids = {u.account_id for u in usages if u.account_id}
    ahead = _rate_ahead(store, catalog, usages, account_ids, before, limits, rate)

    def work(tx: LedgerTx) -> Receipt:
        problems = list(before)
        if request_id_usable:
            stored = tx.charge_by_request(request_id)
            if stored is not None:
                add_new_fields(problems, check_fields(usages, limits))
                if problems:
                    raise InvalidUsageError(in_item_order(problems))
                if stored.request_hash != digest and not same_request(
                    stored.request_hash, sent, usages, as_sent, named
                ):
                    raise FailedPreconditionError(
                        "REQUEST_ID_REUSED",
                        f"request_id {request_id!r} was used before with other items; "
                        "nothing was written",
                    )
                return dataclasses.replace(stored.receipt, replayed=True)
        accounts = find_accounts(tx, account_ids)
        quota = _Quotas(tx, catalog, usages, accounts)
        if ahead is not None and ahead.holds(tx, accounts, quota):
            batch, keys = ahead.result()
        else:  # rated with accounts or capacity that changed since, or not rated yet
            batch, keys = _check_and_rate(catalog, usages, accounts, problems, limits, quota, rate)
        tx.lock_balances(sorted({billing_id for billing_id, _ in keys}))
        newest = tx.catalog_version()
        if newest > catalog.version:  # another node may have committed with it already
            raise CatalogChangedError(catalog.version, newest)
        now = time.time_ns()
        lines, months, drawdown, settled = _funded_lines(
            tx, catalog, accounts, batch, keys, named, now
        )
        _check_accruals(tx, drawdown)
        charge_id = "ch_" + secrets.token_hex(12)
        receipt = Receipt(charge_id, batch.catalog_version, now, tuple(lines))
        tx.write_charge(NewCharge(receipt, request_id, digest, usages, months, drawdown.changes()))
        if settled:
            tx.end_reservations(settled, SETTLED, now, charge_id)
        return receipt

    return store.grouped(work)


#: Batches of at least this many items are rated before the write transaction begins.
RATE_AHEAD_ITEMS = 64


@dataclass(frozen=True, slots=True)
class _Ahead:
    """A batch rated before its write transaction, with the accounts and the capacity
    purchases it was rated with (None: no storage quota was asked): its rating, or the
    InvalidUsageError that named its problems."""

    accounts: dict[str, Account]
    capacity: dict[str, tuple[CapacityPurchase, ...]] | None
    rated: tuple[RatedBatch, list[tuple[str, str]]] | None
    error: InvalidUsageError | None

    def holds(self, tx: LedgerTx, accounts: dict[str, Account], quota: _Quotas) -> bool:
        """Whether the rating still holds in ``tx``: the same accounts, and the same
        purchases for the storage it rated (read again, into ``quota``)."""
        if self.accounts != accounts:
            return False
        if self.capacity is None:
            return True
        quota.capacity = quota.read(tx)
        return quota.capacity == self.capacity

    def result(self) -> tuple[RatedBatch, list[tuple[str, str]]]:
        if self.error is not None:
            raise self.error
        assert self.rated is not None
        return self.rated


def _rate_ahead(
    store: LedgerStore,
    catalog: CatalogSnapshot,
    usages: Sequence[Usage],
    account_ids: set[str],
    before: Sequence[Violation],
    limits: Limits,
    rate: Rater,
) -> _Ahead | None:
    """A big batch rated outside the write transaction, so that the writer's turn (one
    at a time, over every process) is not spent on it; the work uses it only if the
    accounts are unchanged when it runs. A small batch: None (rating it costs less than
    the read)."""
    if len(usages) < RATE_AHEAD_ITEMS:
        return None
    with store.read() as tx:  # the storage's purchases are read in it, as it is rated
        accounts = find_accounts(tx, account_ids)
        quota = _Quotas(tx, catalog, usages, accounts)
        try:
            rated = _check_and_rate(catalog, usages, accounts, list(before), limits, quota, rate)
        except InvalidUsageError as error:
            return _Ahead(accounts, quota.capacity, None, error)
    return _Ahead(accounts, quota.capacity, rated, None)


# A month's pay-as-you-go bill may not pass 2^62 micro-points (4.6 billion yuan), so
# its sum, with reversals, always fits SQLite's int64 INTEGER.
MAX_ACCRUAL_MICROS = 2**62


def _check_accruals(tx: LedgerTx, drawdown: Drawdown) -> None:
    for (account_id, month), micros in drawdown.payg.items():
        if tx.payg(account_id, month) + micros > MAX_ACCRUAL_MICROS:
            raise FailedPreconditionError(
                "ACCRUAL_LIMIT",
                f"the {month} bill of {account_id!r} would pass {MAX_ACCRUAL_MICROS // 10**9:,} "
                "yuan; nothing was written",
            )


def _committed(tx: LedgerTx, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The (billing account, usage_id) keys already committed, with their charge ids."""
    by_account: dict[str, list[str]] = {}
    for account_id, usage_id in keys:
        by_account.setdefault(account_id, []).append(usage_id)
    return tx.committed(by_account)


def preview(
    store: LedgerStore,
    catalog: CatalogSnapshot,
    account_id: str,
    usages: Sequence[Usage],
    violations: Sequence[Violation] = (),
    limits: Limits = DEFAULT_LIMITS,
    named: Mapping[int, str] | None = None,
    rate: Rater = rows_rater,
) -> tuple[RatedBatch, list[ChargedLine], FundingSummary]:
    """Rate a batch for an account and say how it would be funded now, each item that
    names a reservation (``named``) as its settlement would be. Writes nothing."""
    problems = list(violations)
    named = named or {}
    if named:
        reservations.check_named(named, problems)
    account_problems: list[Violation] = []
    check_id("account_id", account_id, account_problems)
    if account_problems:  # no account to check the items against
        raise InvalidUsageError([*account_problems, *problems])
    with store.read() as tx:
        account = load_account(tx, account_id)
        main_id = account.billing_account_id
        accounts = find_accounts(tx, {u.account_id for u in usages if u.account_id} | {main_id})
        for index, usage in enumerate(usages):
            item_account = accounts.get(usage.account_id)
            if item_account is not None and item_account.billing_account_id != main_id:
                problems.append(
                    Violation(
                        f"items[{index}].account_id",
                        "ACCOUNT_MISMATCH",
                        f"{usage.account_id!r} is not {main_id!r} or one of its sub-accounts",
                    )
                )
        quota = _Quotas(tx, catalog, usages, accounts)
        batch, keys = _check_and_rate(catalog, usages, accounts, problems, limits, quota, rate)
        budget = accounts[main_id].monthly_budget_micros
        lines, _months, drawdown, _settled = _funded_lines(
            tx,
            catalog,
            accounts,
            batch,
            keys,
            named,
            time.time_ns(),
            budgets={} if budget is None else {main_id: budget},
        )
    sums = {FREE: 0, PACK: 0, PAYG: 0}
    for line in lines:
        for part in line.funding:
            sums[part.source] += part.micros
    main = accounts[main_id]
    summary = FundingSummary(
        main_id,
        sums[FREE],
        sums[PACK],
        sums[PAYG],
        main.pay_as_you_go,
        drawdown.held_micros(main_id),
        budget_micros=main.monthly_budget_micros,
        beyond_budget_micros=drawdown.beyond_budget(main_id),
    )
    return batch, lines, summary

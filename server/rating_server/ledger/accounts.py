"""Accounts and resource packs: create, read, change, grant (capacity: ``capacity``)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from rating_server import time_zones
from rating_server.catalog.model import CatalogSnapshot
from rating_server.domain_errors import (
    ConflictError,
    FailedPreconditionError,
    InvalidRequestError,
    NotFoundError,
    Violation,
)
from rating_server.ids import check_id, require_ids, shown
from rating_server.ledger.model import Account, AlertThresholds, CapacityPurchase, Pack
from rating_server.ledger.store import LedgerStore, LedgerTx
from rating_server.money import MICROS_PER_POINT, exact_micros, parse_decimal

DEFAULT_PLAN = "basic"
DEFAULT_TIME_ZONE = "Asia/Shanghai"
MAX_PACK_MICROS = 10**12 * MICROS_PER_POINT - 1  # under 10^12 points


def find_accounts(tx: LedgerTx, ids: Iterable[str]) -> dict[str, Account]:
    """The accounts among ``ids``, with the main accounts of the sub-accounts among them."""
    found: dict[str, Account] = {}
    wanted = set(ids)
    while wanted:
        accounts = tx.accounts(wanted)
        wanted = set()
        for account in accounts:
            found[account.account_id] = account
        for account in accounts:
            if account.parent_account_id and account.parent_account_id not in found:
                wanted.add(account.parent_account_id)
    return found


def get_account(
    store: LedgerStore, account_id: str
) -> tuple[Account, list[str], list[CapacityPurchase]]:
    """An account, the ids of its sub-accounts and, for a main account, every capacity
    purchase of it, in listing order (a sub-account holds none: its main account does)."""
    require_ids(account_id=account_id)
    with store.read() as tx:
        account = load_account(tx, account_id)
        bought = [] if account.parent_account_id else tx.capacity_purchases([account_id])
        bought.sort(key=CapacityPurchase.list_key)
        return account, tx.sub_account_ids(account_id), bought


def load_account(tx: LedgerTx, account_id: str) -> Account:
    account = tx.account(account_id)
    if account is None:
        raise NotFoundError("account", account_id, "ACCOUNT_NOT_FOUND")
    return account


def load_main_account(tx: LedgerTx, account_id: str, what: str) -> Account:
    """A main account; FailedPreconditionError for a sub-account, naming its main account.

    ``what`` finishes the sentence "only a main account ...", e.g. "holds packs".
    """
    account = load_account(tx, account_id)
    if account.parent_account_id:
        raise FailedPreconditionError(
            "SUB_ACCOUNT",
            f"{account_id!r} is a sub-account of {account.parent_account_id!r}; "
            f"only a main account {what}",
        )
    return account


def create_account(
    store: LedgerStore,
    catalog: CatalogSnapshot,
    account_id: str,
    plan: str = "",
    time_zone: str = "",
    parent_account_id: str = "",
    pay_as_you_go: bool = False,
    monthly_budget_points: str = "",
) -> Account:
    violations: list[Violation] = []
    check_id("account_id", account_id, violations)
    budget = None
    if parent_account_id and monthly_budget_points:
        violations.append(
            Violation(
                "monthly_budget_points",
                "SET_ON_MAIN_ACCOUNT",
                "a sub-account's usage counts against its main account's budget",
            )
        )
    elif monthly_budget_points:
        budget = parse_points("monthly_budget_points", monthly_budget_points, violations)
    if parent_account_id:
        check_id("parent_account_id", parent_account_id, violations)
        for name, value in (("plan", plan), ("time_zone", time_zone)):
            if value:
                violations.append(
                    Violation(
                        name,
                        "SET_ON_MAIN_ACCOUNT",
                        f"a sub-account uses its main account's {name}",
                    )
                )
        if pay_as_you_go:
            violations.append(
                Violation(
                    "pay_as_you_go",
                    "SET_ON_MAIN_ACCOUNT",
                    "a sub-account uses its main account's pay-as-you-go setting",
                )
            )
    else:
        plan = plan or DEFAULT_PLAN
        time_zone = time_zone or DEFAULT_TIME_ZONE
        _check_plan(catalog, plan, violations)
        _check_time_zone(time_zone, violations)
    if violations:
        raise InvalidRequestError(violations)
    with store.write() as tx:
        if tx.account(account_id) is not None:
            raise ConflictError("ACCOUNT_EXISTS", f"account {account_id!r} already exists")
        if parent_account_id:
            parent = load_account(tx, parent_account_id)
            if parent.parent_account_id:
                raise FailedPreconditionError(
                    "PARENT_IS_SUB_ACCOUNT",
                    f"{parent_account_id!r} is itself a sub-account; sub-accounts hang off "
                    "a main account",
                )
            plan, time_zone, pay_as_you_go = parent.plan, parent.time_zone, False
        account = Account(
            account_id,
            plan,
            time_zone,
            parent_account_id or None,
            pay_as_you_go,
            time.time_ns(),
            budget,
        )
        tx.insert_account(account)
    return account


def update_account(
    store: LedgerStore,
    catalog: CatalogSnapshot,
    account_id: str,
    plan: str | None = None,
    pay_as_you_go: bool | None = None,
    monthly_budget_points: str | None = None,
) -> Account:
    """Change what is given: the plan, pay-as-you-go, the monthly budget ("" removes
    it)."""
    violations: list[Violation] = []
    check_id("account_id", account_id, violations)
    if plan is not None:
        _check_plan(catalog, plan, violations)
    budget = None
    if monthly_budget_points:
        budget = parse_points("monthly_budget_points", monthly_budget_points, violations)
    if violations:
        raise InvalidRequestError(violations)
    with store.write() as tx:
        load_main_account(
            tx, account_id, "has a plan, a pay-as-you-go setting and a monthly budget"
        )
        if plan is not None:
            tx.set_plan(account_id, plan)
        if pay_as_you_go is not None:
            tx.set_pay_as_you_go(account_id, pay_as_you_go)
        if monthly_budget_points is not None:
            tx.set_monthly_budget(account_id, budget)
        return load_account(tx, account_id)


def set_alert_thresholds(
    store: LedgerStore,
    account_id: str,
    free_points_below: str = "",
    pack_points_below: str = "",
    pack_percent_below: int = 0,
    pay_as_you_go_points_above: str = "",
    pay_as_you_go_budget_percent_above: int = 0,
) -> AlertThresholds:
    """Replace all of a main account's alert thresholds ("" and 0: not set); the
    thresholds now. The budget percent needs a monthly budget (FAILED_PRECONDITION,
    BUDGET_MISSING)."""
    violations: list[Violation] = []
    check_id("account_id", account_id, violations)

    def points(field: str, text: str) -> int | None:
        return parse_points(field, text, violations) if text else None

    thresholds = AlertThresholds(
        account_id,
        free_below_micros=points("free_points_below", free_points_below),
        pack_below_micros=points("pack_points_below", pack_points_below),
        pack_percent_below=pack_percent_below,
        payg_above_micros=points("pay_as_you_go_points_above", pay_as_you_go_points_above),
        payg_budget_percent_above=pay_as_you_go_budget_percent_above,
    )
    for field, percent in (
        ("pack_percent_below", pack_percent_below),
        ("pay_as_you_go_budget_percent_above", pay_as_you_go_budget_percent_above),
    ):
        if not 0 <= percent <= 100:
            violations.append(
                Violation(field, "PERCENT_INVALID", f"{field} must be 1 to 100, or 0 for none")
            )
    if violations:
        raise InvalidRequestError(violations)
    with store.write() as tx:
        account = load_main_account(tx, account_id, "has alert thresholds")
        if pay_as_you_go_budget_percent_above and account.monthly_budget_micros is None:
            raise FailedPreconditionError(
                "BUDGET_MISSING",
                f"{account_id!r} has no monthly budget for pay_as_you_go_budget_percent_above "
                "to be a percent of; set monthly_budget_points first. Nothing was written",
            )
        tx.set_alert_thresholds(thresholds)
    return thresholds


def get_alert_thresholds(store: LedgerStore, account_id: str) -> AlertThresholds:
    """A main account's alert thresholds (all unset when none was set)."""
    require_ids(account_id=account_id)
    with store.read() as tx:
        load_main_account(tx, account_id, "has alert thresholds")
        return tx.alert_thresholds(account_id) or AlertThresholds(account_id)


def _check_plan(catalog: CatalogSnapshot, plan: str, violations: list[Violation]) -> None:
    if plan not in catalog.plans:
        violations.append(
            Violation(
                "plan",
                "PLAN_UNKNOWN",
                f"no plan {plan!r}; the catalog has {', '.join(sorted(catalog.plans))}",
            )
        )


def _check_time_zone(time_zone: str, violations: list[Violation]) -> None:
    """Only a zone of tzdata's list (``time_zones``), which means the same on every host:
    not the host's "localtime", "posixrules", "posix/..." or "right/...", nor "Factory"."""
    if time_zone not in time_zones.names():
        violations.append(
            Violation(
                "time_zone",
                "TIME_ZONE_UNKNOWN",
                f"{shown(time_zone)} is not an IANA time zone (such as Asia/Shanghai)",
            )
        )


def parse_points(field: str, text: str, violations: list[Violation]) -> int:
    """A positive decimal string of points with at most 6 decimals, as micro-points.

    The syntax is ``money.parse_decimal``'s: digits with an optional point, no spaces,
    sign, "_" or exponent.
    """
    try:
        value = parse_decimal(text)
    except ValueError:
        violations.append(
            Violation(
                field,
                "POINTS_INVALID",
                f"{shown(text)} is not a plain decimal number (digits, an optional point)",
            )
        )
        return 0
    try:
        micros = exact_micros(value)
    except ValueError as error:
        violations.append(Violation(field, "POINTS_INVALID", f"points {error}"))
        return 0
    if micros <= 0:
        violations.append(Violation(field, "POINTS_INVALID", "points must be positive"))
        return 0
    if micros > MAX_PACK_MICROS:  # 10^12 points: beyond any pack
        violations.append(Violation(field, "POINTS_INVALID", "points are too large"))
        return 0
    return micros


def grant_pack(
    store: LedgerStore,
    account_id: str,
    points: str,
    valid_from_ns: int | None = None,
    expire_time_ns: int | None = None,
    priority: int = 0,
    request_id: str = "",
) -> Pack:
    violations: list[Violation] = []
    check_id("account_id", account_id, violations)
    micros = parse_points("points", points, violations)
    now = time.time_ns()
    valid_from = now if valid_from_ns is None else valid_from_ns
    if expire_time_ns is not None and expire_time_ns <= valid_from:
        violations.append(
            Violation(
                "expire_time", "EXPIRY_NOT_AFTER_START", "expire_time must be after valid_from"
            )
        )
    if request_id:
        check_id("request_id", request_id, violations)
    if violations:
        raise InvalidRequestError(violations)
    with store.write() as tx:
        load_main_account(tx, account_id, "holds resource packs")
        if request_id:
            earlier = tx.pack_by_request(request_id)
            if earlier is not None:
                # A pack granted without valid_from is valid from its creation: only such
                # a pack is the retry of a request without one (its "now" is later).
                same = (
                    earlier.account_id == account_id
                    and earlier.micros == micros
                    and earlier.valid_from_ns
                    == (earlier.create_time_ns if valid_from_ns is None else valid_from_ns)
                    and earlier.expire_time_ns == expire_time_ns
                    and earlier.priority == priority
                )
                if not same:
                    raise FailedPreconditionError(
                        "REQUEST_ID_REUSED",
                        f"request_id {request_id!r} granted a different pack before",
                    )
                return earlier
        return tx.insert_pack(
            account_id, micros, valid_from, expire_time_ns, priority, now, request_id
        )


def packs_of(tx: LedgerTx, account_ids: Iterable[str], only_left: bool = False) -> list[Pack]:
    """The packs of these main accounts (with something left, if ``only_left``), in
    draw-down order."""
    return sorted(tx.packs(list(account_ids), only_left), key=Pack.draw_key)

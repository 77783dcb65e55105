"""Committing usage exactly once, voiding it, and previewing how a batch would be funded."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import operator
import secrets
import sqlite3
import time
import zlib
from collections.abc import Callable, Mapping, Sequence

from rating_server.catalog.model import CatalogSnapshot
from rating_server.engine import (
    DEFAULT_LIMITS,
    InvalidUsageError,
    Limits,
    RatedBatch,
    RatedLine,
    Usage,
    Violation,
    add_new_fields,
    check_fields,
    in_item_order,
    rate_batch,
)
from rating_server.errors import (
    FailedPreconditionError,
    InvalidRequestError,
    NotFoundError,
    check_id,
)
from rating_server.ids import id_problem
from rating_server.ledger.accounts import find_accounts, load_account, packs_of
from rating_server.ledger.database import LedgerDatabase
from rating_server.ledger.funding import Drawdown, LocalDays
from rating_server.ledger.model import (
    FREE,
    PACK,
    PAYG,
    Account,
    ChargedLine,
    FundingPart,
    FundingSummary,
    Receipt,
    VoidResult,
)

#: The wire values of fields an invalid request held that a Usage cannot (an invalid
#: Timestamp or Duration, converted to 0), as (seconds, nanos) by (item index, field).
AsSent = Mapping[tuple[int, str], tuple[int, int]]

_HASHED_FIELDS = {"occurred_at": 4, "duration": 5}


def request_hash(usages: Sequence[Usage], as_sent: AsSent | None = None) -> str:
    """The request's fingerprint, so a retry can be told from a reuse of its request_id.

    It is exact for every value sent: the items in order, each field's value as the
    domain holds it (strings, the quantity, instants and durations in nanoseconds, which
    every valid Timestamp and Duration maps to one to one; unset is null), and the wire's
    own (seconds, nanos) where a value is invalid and was converted (``as_sent``). It is
    not a hash of the request's bytes: protobuf writes map entries in no set order, so
    another client library's retry may serialize the attributes in another; they are
    hashed sorted by key (a key appears once: the last entry sent wins, as in the parsed
    request). Unknown fields are left out, as the server ignores them. A valid request
    hashes as it always has, so receipts stored before keep their retries.
    """
    rows = [
        [
            u.usage_id,
            u.account_id,
            u.sku,
            u.quantity,
            u.occurred_at_ns,
            u.duration_ns,
            sorted(u.attributes.items()),
        ]
        for u in usages
    ]
    for (index, field), (seconds, nanos) in (as_sent or {}).items():
        # An object, which no valid value (a number or null) can be.
        rows[index][_HASHED_FIELDS[field]] = {"seconds": seconds, "nanos": nanos}
    canonical = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


_LINE_FIELDS = tuple(f.name for f in dataclasses.fields(ChargedLine) if f.name != "funding")
_PART_FIELDS = tuple(f.name for f in dataclasses.fields(FundingPart))
_line_fields = operator.attrgetter(*_LINE_FIELDS)
_part_fields = operator.attrgetter(*_PART_FIELDS)


def encode_receipt(receipt: Receipt) -> bytes:
    """A receipt as compressed JSON, to return byte for byte on a retry: the charge,
    each line's fields as an array (in ``_LINE_FIELDS`` order), and each line's funding
    parts as arrays. The arrays are read out in C (attrgetter), not field by field."""
    lines = receipt.lines
    document = [
        receipt.charge_id,
        receipt.catalog_version,
        receipt.commit_time_ns,
        list(map(_line_fields, lines)),
        [list(map(_part_fields, line.funding)) for line in lines],
    ]
    return zlib.compress(json.dumps(document, separators=(",", ":")).encode(), 1)


def decode_receipt(blob: bytes) -> Receipt:
    document = json.loads(zlib.decompress(blob))
    if len(document) == 4:  # written before the funding had its own arrays
        charge_id, catalog_version, commit_time_ns, rows = document
        fundings = [row[-1] for row in rows]
        rows = [row[:-1] for row in rows]
    else:
        charge_id, catalog_version, commit_time_ns, rows, fundings = document
    return Receipt(
        charge_id,
        catalog_version,
        commit_time_ns,
        tuple(
            ChargedLine(
                **dict(zip(_LINE_FIELDS, row, strict=True)),
                funding=tuple(FundingPart(*part) for part in parts),
            )
            for row, parts in zip(rows, fundings, strict=True)
        ),
    )


def _rate_for_accounts(
    catalog: CatalogSnapshot,
    usages: Sequence[Usage],
    accounts: dict[str, Account],
    violations: list[Violation],
    limits: Limits,
) -> RatedBatch | None:
    """Rate with each account's own storage quota; collect violations instead of raising."""

    def quota(account_id: str) -> int:
        account = accounts.get(account_id)
        if account is None:
            return catalog.default_plan.free_storage_bytes
        return catalog.plans[accounts[account.billing_account_id].plan].free_storage_bytes

    try:
        return rate_batch(catalog, usages, free_storage_bytes=quota, limits=limits)
    except InvalidUsageError as error:
        add_new_fields(violations, error.violations)
        return None


def _fund(
    conn: sqlite3.Connection,
    catalog: CatalogSnapshot,
    accounts: dict[str, Account],
    lines: Sequence[RatedLine],
    skip: Callable[[int], bool] = lambda _index: False,
) -> tuple[list[tuple[str, str, tuple[FundingPart, ...]]], Drawdown]:
    """Per line (billing account, local day, funding), drawn from the balances now."""
    billing = [accounts[accounts[line.usage.account_id].billing_account_id] for line in lines]
    local_day = LocalDays()
    days = [
        local_day(line.usage.occurred_at_ns or 0, account.time_zone)
        for line, account in zip(lines, billing, strict=True)
    ]
    keys = {
        (account.account_id, day)
        for index, (line, account, day) in enumerate(zip(lines, billing, days, strict=True))
        if line.micros and not skip(index)
    }
    free_used = {}
    for account_id, day in keys:
        row = conn.execute(
            "SELECT used_micros FROM free_days WHERE billing_account_id = ? AND day = ?",
            [account_id, day],
        ).fetchone()
        free_used[(account_id, day)] = row[0] if row else 0
    main_ids = {account_id for account_id, _ in keys}
    drawdown = Drawdown(
        daily_free={a: catalog.plans[accounts[a].plan].daily_free_micros for a in main_ids},
        free_used=free_used,
        packs=packs_of(conn, main_ids, only_left=True),
    )
    funded = []
    for index, (line, account, day) in enumerate(zip(lines, billing, days, strict=True)):
        parts = (
            ()
            if skip(index)
            else drawdown.draw(account.account_id, line.micros, line.usage.occurred_at_ns or 0, day)
        )
        funded.append((account.account_id, day, parts))
    return funded, drawdown


def _check_and_rate(
    catalog: CatalogSnapshot,
    usages: Sequence[Usage],
    accounts: dict[str, Account],
    problems: list[Violation],
    limits: Limits,
) -> tuple[RatedBatch, list[tuple[str, str]]]:
    """Rate a batch for commit (or its preview): every account known, each usage_id once
    per billing account, storage sampled on main accounts; the (billing account,
    usage_id) key of each line. InvalidUsageError names every problem."""
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
    batch = _rate_for_accounts(catalog, usages, accounts, problems, limits)
    if problems or batch is None:
        raise InvalidUsageError(in_item_order(problems))
    return batch, list(first_seen)


def _funded_lines(
    conn: sqlite3.Connection,
    catalog: CatalogSnapshot,
    accounts: dict[str, Account],
    batch: RatedBatch,
    keys: list[tuple[str, str]],
) -> tuple[list[ChargedLine], list[str], Drawdown]:
    """The batch's lines funded from the balances now, each line's billing month, and
    the draw-down. Usage committed before (by its key) is marked duplicate and funded
    by nothing."""
    originals = _committed(conn, dict.fromkeys(keys))
    funded, drawdown = _fund(
        conn, catalog, accounts, batch.lines, skip=lambda index: keys[index] in originals
    )
    lines = []
    for key, line, (billing_id, _day, parts) in zip(keys, batch.lines, funded, strict=True):
        charged = ChargedLine.of(line, billing_id, parts)
        if key in originals:
            charged = dataclasses.replace(
                charged, duplicate=True, original_charge_id=originals[key]
            )
        lines.append(charged)
    return lines, [day[:7] for _, day, _ in funded], drawdown


def _check_accounts(
    usages: Sequence[Usage], accounts: dict[str, Account], violations: list[Violation]
) -> None:
    for index, usage in enumerate(usages):
        if (
            usage.account_id
            and id_problem(usage.account_id) is None  # else the engine names what is wrong
            and usage.account_id not in accounts
        ):
            violations.append(
                Violation(
                    f"items[{index}].account_id",
                    "ACCOUNT_UNKNOWN",
                    f"no account {usage.account_id!r}; create it first",
                )
            )


def commit(
    db: LedgerDatabase,
    catalog: CatalogSnapshot,
    request_id: str,
    usages: Sequence[Usage],
    violations: Sequence[Violation] = (),
    limits: Limits = DEFAULT_LIMITS,
    *,
    as_sent: AsSent | None = None,
) -> Receipt:
    """Charge the usage exactly once and draw it down; the receipt.

    ``violations`` are problems found before (in the wire format); with any, or any
    found here, nothing is written and InvalidUsageError names them all. ``as_sent``
    holds the wire values the usages could not (``request_hash``).

    A retry (a request_id committed before) is checked as a new request is, but for
    what depends on the catalog, the accounts and the clock (``check_fields``): an
    invalid request is refused whatever its request_id. Then its fingerprint must be
    the first's, and it gets the first's receipt.
    """
    problems = list(violations)
    problem = id_problem(request_id)
    if problem:
        problems.insert(0, Violation("request_id", "REQUEST_ID_INVALID", f"request_id {problem}"))
    digest = request_hash(usages, as_sent)

    def work(conn: sqlite3.Connection) -> Receipt:
        if not problem:
            row = conn.execute(
                "SELECT request_hash, receipt FROM charges WHERE request_id = ?", [request_id]
            ).fetchone()
            if row is not None:
                found = list(problems)
                add_new_fields(found, check_fields(usages, limits))
                if found:
                    raise InvalidUsageError(in_item_order(found))
                if row[0] != digest:
                    raise FailedPreconditionError(
                        "REQUEST_ID_REUSED",
                        f"request_id {request_id!r} was used before with other items; "
                        "nothing was written",
                    )
                return dataclasses.replace(decode_receipt(row[1]), replayed=True)
        accounts = find_accounts(conn, {u.account_id for u in usages if u.account_id})
        batch, keys = _check_and_rate(catalog, usages, accounts, problems, limits)
        lines, months, drawdown = _funded_lines(conn, catalog, accounts, batch, keys)
        _check_accruals(conn, drawdown)
        charge_id = "ch_" + secrets.token_hex(12)
        receipt = Receipt(charge_id, batch.catalog_version, time.time_ns(), tuple(lines))
        _write(conn, receipt, request_id, digest, usages, months, drawdown)
        return receipt

    return db.grouped(work)


MAX_REASON_LENGTH = 512

# A month's pay-as-you-go bill may not pass 2^62 micro-points (4.6 billion yuan), so
# its sum, with reversals, always fits SQLite's int64 INTEGER.
MAX_ACCRUAL_MICROS = 2**62


def _check_accruals(conn: sqlite3.Connection, drawdown: Drawdown) -> None:
    for (account_id, month), micros in drawdown.payg.items():
        row = conn.execute(
            "SELECT micros FROM payg_months WHERE billing_account_id = ? AND month = ?",
            [account_id, month],
        ).fetchone()
        if (row[0] if row else 0) + micros > MAX_ACCRUAL_MICROS:
            raise FailedPreconditionError(
                "ACCRUAL_LIMIT",
                f"the {month} bill of {account_id!r} would pass {MAX_ACCRUAL_MICROS // 10**9:,} "
                "yuan; nothing was written",
            )


def _committed(
    conn: sqlite3.Connection, keys: dict[tuple[str, str], None]
) -> dict[tuple[str, str], str]:
    """The (billing account, usage_id) keys already committed, with their charge ids."""
    by_account: dict[str, list[str]] = {}
    for account_id, usage_id in keys:
        by_account.setdefault(account_id, []).append(usage_id)
    found = {}
    for account_id, usage_ids in by_account.items():
        for start in range(0, len(usage_ids), 500):
            chunk = usage_ids[start : start + 500]
            for usage_id, charge_id in conn.execute(
                "SELECT usage_id, charge_id FROM charge_lines WHERE billing_account_id = ? "
                f"AND usage_id IN ({','.join('?' * len(chunk))})",
                [account_id, *chunk],
            ):
                found[(account_id, usage_id)] = charge_id
    return found


def _write(
    conn: sqlite3.Connection,
    receipt: Receipt,
    request_id: str,
    digest: str,
    usages: Sequence[Usage],
    months: Sequence[str],
    drawdown: Drawdown,
) -> None:
    charge_id = receipt.charge_id
    conn.execute(
        "INSERT INTO charges (charge_id, request_id, request_hash, catalog_version, "
        "commit_time_ns, receipt) VALUES (?, ?, ?, ?, ?, ?)",
        [
            charge_id,
            request_id,
            digest,
            receipt.catalog_version,
            receipt.commit_time_ns,
            encode_receipt(receipt),
        ],
    )
    line_rows = []
    funding_rows = []
    # Items of a batch mostly carry the same few labels: each set is written once.
    attribute_json: dict[tuple[tuple[str, str], ...], str] = {}
    for number, (line, usage, month) in enumerate(zip(receipt.lines, usages, months, strict=True)):
        if line.duplicate:
            continue
        line_rows.append(
            (
                charge_id,
                number,
                line.usage_id,
                line.account_id,
                line.billing_account_id,
                line.sku,
                line.category,
                line.quantity,
                line.micros,
                line.billed_by,
                usage.occurred_at_ns,
                month,
                receipt.commit_time_ns,
                _attributes_json(usage.attributes, attribute_json) if usage.attributes else None,
            )
        )
        funding_rows.extend(
            (
                charge_id,
                number,
                line.billing_account_id,
                part.source,
                part.micros,
                part.pack_id or None,
                part.day or None,
                part.month or None,
            )
            for part in line.funding
        )
    conn.executemany(
        "INSERT INTO charge_lines (charge_id, line_number, usage_id, account_id, "
        "billing_account_id, sku, category, quantity, micros, billed_by, occurred_at_ns, month, "
        "commit_time_ns, attributes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        line_rows,
    )
    conn.executemany(
        "INSERT INTO funding_entries (charge_id, line_number, billing_account_id, source, micros, "
        "pack_id, day, month) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        funding_rows,
    )
    conn.executemany(
        "INSERT INTO free_days (billing_account_id, day, used_micros) VALUES (?, ?, ?) "
        "ON CONFLICT (billing_account_id, day) DO UPDATE SET used_micros = excluded.used_micros",
        [(*key, drawdown.free_used[key]) for key in drawdown.touched_days],
    )
    conn.executemany(
        "UPDATE pack_balances SET remaining_micros = ? WHERE pack_id = ?",
        [(drawdown.remaining[pack_id], pack_id) for pack_id in drawdown.touched_packs],
    )
    conn.executemany(
        "INSERT INTO payg_months (billing_account_id, month, micros) VALUES (?, ?, ?) "
        "ON CONFLICT (billing_account_id, month) DO UPDATE SET micros = micros + excluded.micros",
        [(*key, micros) for key, micros in drawdown.payg.items()],
    )


def _attributes_json(
    attributes: Mapping[str, str], written: dict[tuple[tuple[str, str], ...], str]
) -> str:
    key = tuple(attributes.items())
    text = written.get(key)
    if text is None:
        text = written[key] = json.dumps(dict(key), ensure_ascii=False)
    return text


def void(db: LedgerDatabase, charge_id: str, reason: str = "") -> VoidResult:
    """Reverse a charge's funding; a second void changes nothing and says so."""
    violations: list[Violation] = []
    check_id("charge_id", charge_id, violations)
    if len(reason) > MAX_REASON_LENGTH:
        violations.append(
            Violation(
                "reason",
                "REASON_TOO_LONG",
                f"reason is longer than {MAX_REASON_LENGTH} characters",
            )
        )
    if violations:
        raise InvalidRequestError(violations)
    with db.write() as conn:
        if (
            conn.execute("SELECT 1 FROM charges WHERE charge_id = ?", [charge_id]).fetchone()
            is None
        ):
            raise NotFoundError("charge", charge_id, "CHARGE_NOT_FOUND")
        entries = conn.execute(
            "SELECT line_number, billing_account_id, source, micros, pack_id, day, month "
            "FROM funding_entries WHERE charge_id = ? AND reversal = 0 ORDER BY seq",
            [charge_id],
        ).fetchall()
        reversals = tuple(
            FundingPart(source, -micros, pack_id or "", day or "", month or "")
            for _, _, source, micros, pack_id, day, month in entries
        )
        voided = conn.execute(
            "SELECT void_time_ns FROM voids WHERE charge_id = ?", [charge_id]
        ).fetchone()
        if voided is not None:
            return VoidResult(charge_id, reversals, voided[0], already_voided=True)
        now = time.time_ns()
        conn.executemany(
            "INSERT INTO funding_entries (charge_id, line_number, billing_account_id, source, "
            "micros, pack_id, day, month, reversal) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)",
            [
                (charge_id, line, account, source, -micros, pack_id, day, month)
                for line, account, source, micros, pack_id, day, month in entries
            ],
        )
        for _, account, source, micros, pack_id, day, month in entries:
            if source == FREE:
                conn.execute(
                    "UPDATE free_days SET used_micros = used_micros - ? "
                    "WHERE billing_account_id = ? AND day = ?",
                    [micros, account, day],
                )
            elif source == PACK:
                conn.execute(
                    "UPDATE pack_balances SET remaining_micros = remaining_micros + ? "
                    "WHERE pack_id = ?",
                    [micros, pack_id],
                )
            elif source == PAYG:
                conn.execute(
                    "UPDATE payg_months SET micros = micros - ? "
                    "WHERE billing_account_id = ? AND month = ?",
                    [micros, account, month],
                )
        conn.execute(
            "INSERT INTO voids (charge_id, void_time_ns, reason) VALUES (?, ?, ?)",
            [charge_id, now, reason],
        )
        return VoidResult(charge_id, reversals, now, already_voided=False)


def preview(
    db: LedgerDatabase,
    catalog: CatalogSnapshot,
    account_id: str,
    usages: Sequence[Usage],
    violations: Sequence[Violation] = (),
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[RatedBatch, list[ChargedLine], FundingSummary]:
    """Rate a batch for an account and say how it would be funded now. Writes nothing."""
    problems = list(violations)
    account_problems: list[Violation] = []
    check_id("account_id", account_id, account_problems)
    if account_problems:  # no account to check the items against
        raise InvalidUsageError([*account_problems, *problems])
    with db.read() as conn:
        account = load_account(conn, account_id)
        main_id = account.billing_account_id
        accounts = find_accounts(conn, {u.account_id for u in usages if u.account_id} | {main_id})
        for index, usage in enumerate(usages):
            named = accounts.get(usage.account_id)
            if named is not None and named.billing_account_id != main_id:
                problems.append(
                    Violation(
                        f"items[{index}].account_id",
                        "ACCOUNT_MISMATCH",
                        f"{usage.account_id!r} is not {main_id!r} or one of its sub-accounts",
                    )
                )
        batch, keys = _check_and_rate(catalog, usages, accounts, problems, limits)
        lines, _months, _drawdown = _funded_lines(conn, catalog, accounts, batch, keys)
    sums = {FREE: 0, PACK: 0, PAYG: 0}
    for line in lines:
        for part in line.funding:
            sums[part.source] += part.micros
    main = accounts[main_id]
    summary = FundingSummary(main_id, sums[FREE], sums[PACK], sums[PAYG], main.pay_as_you_go)
    return batch, lines, summary

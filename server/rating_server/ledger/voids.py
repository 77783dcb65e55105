"""Voiding a charge: its funding reversed, its balances given back, once."""

from __future__ import annotations

import time
from collections.abc import Sequence

from rating_server.domain_errors import InvalidRequestError, NotFoundError, Violation
from rating_server.ids import check_id
from rating_server.ledger.model import FREE, PACK, BalanceChanges, FundingEntry, VoidResult
from rating_server.ledger.store import LedgerStore, LedgerTx

MAX_REASON_LENGTH = 512


def void(store: LedgerStore, charge_id: str, reason: str = "") -> VoidResult:
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
    with store.write() as tx:
        billing_ids = tx.charge_billing_accounts(charge_id)
        if billing_ids is None:
            raise NotFoundError("charge", charge_id, "CHARGE_NOT_FOUND")
        tx.lock_balances(billing_ids)
        reversals = reversal_entries(tx, charge_id, billing_ids)
        parts = tuple(reversal.part for reversal in reversals)
        voided = tx.void_time(charge_id)
        if voided is not None:
            return VoidResult(charge_id, parts, voided, already_voided=True)
        now = time.time_ns()
        for billing_id in billing_ids:
            own = [r for r in reversals if r.billing_account_id == billing_id]
            tx.write_reversals(charge_id, billing_id, own, _given_back(own))
        tx.write_void(charge_id, now, reason)
        return VoidResult(charge_id, parts, now, already_voided=False)


def reversal_entries(
    tx: LedgerTx, charge_id: str, billing_ids: Sequence[str]
) -> list[FundingEntry]:
    """The entries that reverse a charge's funding for these billing accounts (negative),
    in the order the funding was written: line by line (each line has one billing
    account), each line's parts in order."""
    entries = [e for billing_id in billing_ids for e in tx.charge_funding(charge_id, billing_id)]
    entries.sort(key=lambda entry: entry.line_number)
    return [
        FundingEntry(e.line_number, e.billing_account_id, e.part._replace(micros=-e.part.micros))
        for e in entries
    ]


def _given_back(reversals: Sequence[FundingEntry]) -> BalanceChanges:
    """What reversal entries (negative) change in the balances."""
    free: dict[tuple[str, str], int] = {}
    packs: dict[tuple[str, str], int] = {}
    payg: dict[tuple[str, str], int] = {}
    for entry in reversals:
        part = entry.part
        if part.source == FREE:
            sums, key = free, (entry.billing_account_id, part.day)
        elif part.source == PACK:
            sums, key = packs, (entry.billing_account_id, part.pack_id)
        else:
            sums, key = payg, (entry.billing_account_id, part.month)
        sums[key] = sums.get(key, 0) + part.micros
    return BalanceChanges(free_used=free, pack_drawn=packs, payg=payg)

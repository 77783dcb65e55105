"""Between AccountService messages and ledger values."""

from __future__ import annotations

from rating.v1 import account_service_pb2
from rating_server.ledger import alerts, feed
from rating_server.ledger.balance_watch import BalanceChange
from rating_server.ledger.capacity import MONTH, YEAR
from rating_server.ledger.feed import FeedItem
from rating_server.ledger.model import (
    Account,
    AlertThresholds,
    Balance,
    CapacityPurchase,
    ChargeEntry,
    Pack,
    Statement,
    StatementRow,
)
from rating_server.money import format_points, format_yuan, format_yuan_in_fen
from rating_server.servicers.convert import BILLED_BY, CATEGORY, funding, timestamp
from rating_server.servicers.reservation_convert import reservation

#: Capacity terms by their domain name ("" for explicit dates).
CAPACITY_TERM = {
    "": account_service_pb2.CAPACITY_TERM_UNSPECIFIED,
    MONTH: account_service_pb2.CAPACITY_TERM_MONTH,
    YEAR: account_service_pb2.CAPACITY_TERM_YEAR,
}
_TERM_NAME: dict[int, str] = {number: name for name, number in CAPACITY_TERM.items()}


def capacity_term_name(number: int) -> str:
    """A request's CapacityTerm as the domain's term; a number this server does not
    know as itself, which the rules refuse (``TERM_INVALID``)."""
    return _TERM_NAME.get(number, str(number))


def account(value: Account) -> account_service_pb2.Account:
    return account_service_pb2.Account(
        account_id=value.account_id,
        plan=value.plan,
        time_zone=value.time_zone,
        parent_account_id=value.parent_account_id or "",
        pay_as_you_go=value.pay_as_you_go,
        create_time=timestamp(value.create_time_ns),
        monthly_budget_points=_optional_points(value.monthly_budget_micros),
    )


def _optional_points(micros: int | None) -> str:
    return "" if micros is None else format_points(micros)


def alert_thresholds(value: AlertThresholds) -> account_service_pb2.AlertThresholds:
    return account_service_pb2.AlertThresholds(
        account_id=value.account_id,
        free_points_below=_optional_points(value.free_below_micros),
        pack_points_below=_optional_points(value.pack_below_micros),
        pack_percent_below=value.pack_percent_below,
        pay_as_you_go_points_above=_optional_points(value.payg_above_micros),
        pay_as_you_go_budget_percent_above=value.payg_budget_percent_above,
    )


def pack(value: Pack) -> account_service_pb2.ResourcePack:
    message = account_service_pb2.ResourcePack(
        pack_id=value.pack_id,
        account_id=value.account_id,
        points=format_points(value.micros),
        remaining_points=format_points(value.remaining_micros),
        price_yuan=format_yuan(value.micros),
        valid_from=timestamp(value.valid_from_ns),
        priority=value.priority,
        create_time=timestamp(value.create_time_ns),
    )
    if value.expire_time_ns is not None:
        message.expire_time.CopyFrom(timestamp(value.expire_time_ns))
    return message


def capacity_purchase(value: CapacityPurchase) -> account_service_pb2.CapacityPurchase:
    return account_service_pb2.CapacityPurchase(
        purchase_id=value.purchase_id,
        account_id=value.account_id,
        gib=value.gib,
        term=CAPACITY_TERM[value.term],
        valid_from=timestamp(value.valid_from_ns),
        expire_time=timestamp(value.expire_time_ns),
        price_points=format_points(value.price_micros),
        price_yuan=format_yuan(value.price_micros),
        create_time=timestamp(value.create_time_ns),
    )


def balance(value: Balance) -> account_service_pb2.GetBalanceResponse:
    packs = []
    for held_pack in value.packs:
        message = pack(held_pack)
        message.held_points = format_points(value.pack_held_micros(held_pack.pack_id))
        packs.append(message)
    return account_service_pb2.GetBalanceResponse(
        billing_account_id=value.billing_account_id,
        day=value.day,
        free_points_granted=format_points(value.free_granted_micros),
        free_points_used=format_points(value.free_used_micros),
        free_points_left=format_points(value.free_left_micros),
        packs=packs,
        month=value.month,
        pay_as_you_go_points=format_points(value.payg_micros),
        pay_as_you_go_yuan=format_yuan(value.payg_micros),
        capacity_purchases=[capacity_purchase(p) for p in value.capacity],
        storage_quota_bytes=value.storage_quota_bytes,
        free_points_held=format_points(value.free_held_micros),
        pay_as_you_go_held_points=format_points(value.payg_held_micros),
        reservations=[reservation(r) for r in value.reservations],
        budget_points=_optional_points(value.budget_micros),
        budget_left_points=_optional_points(value.budget_left_micros),
    )


def charge_entry(value: ChargeEntry) -> account_service_pb2.ChargeEntry:
    return account_service_pb2.ChargeEntry(
        charge_id=value.charge_id,
        line_number=value.line_number,
        usage_id=value.usage_id,
        account_id=value.account_id,
        billing_account_id=value.billing_account_id,
        sku=value.sku,
        category=CATEGORY[value.category],
        quantity=value.quantity,
        points=format_points(value.micros),
        billed_by=BILLED_BY[value.billed_by],
        occurred_at=timestamp(value.occurred_at_ns),
        commit_time=timestamp(value.commit_time_ns),
        funding=[funding(part) for part in value.funding],
        voided=value.voided,
        attributes=value.attributes,
    )


def statement_row(
    row: StatementRow, with_quantity: bool = False
) -> account_service_pb2.StatementRow:
    return account_service_pb2.StatementRow(
        key=row.key,
        quantity=str(row.quantity) if with_quantity else "",
        points=format_points(row.micros),
        free_points=format_points(row.free_micros),
        pack_points=format_points(row.pack_micros),
        pay_as_you_go_points=format_points(row.payg_micros),
        lines=row.lines,
    )


def statement(value: Statement) -> account_service_pb2.GetStatementResponse:
    due = value.total.payg_micros
    return account_service_pb2.GetStatementResponse(
        account_id=value.account_id,
        month=value.month,
        time_zone=value.time_zone,
        by_sku=[statement_row(r, with_quantity=True) for r in value.by_sku],
        by_category=[statement_row(r) for r in value.by_category],
        by_account=[statement_row(r) for r in value.by_account],
        total=statement_row(value.total),
        amount_due_yuan_exact=format_yuan(due),
        amount_due_yuan=format_yuan_in_fen(due),
        capacity_purchases=[capacity_purchase(p) for p in value.capacity],
        capacity_paid_points=format_points(value.capacity_paid_micros),
    )


def feed_item(item: FeedItem, account_id: str) -> account_service_pb2.WatchChargesResponse:
    """An item of the charges feed, with its cursor for the feed of ``account_id``."""
    message = account_service_pb2.WatchChargesResponse(
        cursor=feed.token_of(item.cursor, account_id),
        billing_account_id=item.billing_account_id,
        event_time=timestamp(item.time_ns),
    )
    if item.line is not None:
        message.line.CopyFrom(charge_entry(item.line))
    elif item.settled is not None:
        message.settlement.reservation_id, message.settlement.charge_id = item.settled
    elif item.voided is not None:
        charge_id, reversals = item.voided
        message.void.charge_id = charge_id
        message.void.reversals.extend(funding(part) for part in reversals)
    return message


ALERT_KIND = {
    alerts.FREE_POINTS_BELOW: account_service_pb2.ALERT_KIND_FREE_POINTS_BELOW,
    alerts.PACK_POINTS_BELOW: account_service_pb2.ALERT_KIND_PACK_POINTS_BELOW,
    alerts.PACK_PERCENT_BELOW: account_service_pb2.ALERT_KIND_PACK_PERCENT_BELOW,
    alerts.PAY_AS_YOU_GO_POINTS_ABOVE: account_service_pb2.ALERT_KIND_PAY_AS_YOU_GO_POINTS_ABOVE,
    alerts.PAY_AS_YOU_GO_BUDGET_PERCENT_ABOVE: (
        account_service_pb2.ALERT_KIND_PAY_AS_YOU_GO_BUDGET_PERCENT_ABOVE
    ),
}


def balance_change(
    change: BalanceChange, billing_account_id: str
) -> account_service_pb2.WatchBalanceResponse:
    """A balance after a change, its alerts, and the billing account's feed cursor."""
    return account_service_pb2.WatchBalanceResponse(
        balance=balance(change.balance),
        alerts=[
            account_service_pb2.BalanceAlert(
                kind=ALERT_KIND[alert.kind],
                day=alert.day,
                pack_id=alert.pack_id,
                month=alert.month,
                threshold_points=format_points(alert.threshold_micros)
                if not alert.threshold_percent
                else "",
                threshold_percent=alert.threshold_percent,
                value_points=format_points(alert.value_micros),
            )
            for alert in change.alerts
        ],
        cursor=feed.token_of(change.cursor, billing_account_id) if change.cursor else "",
    )

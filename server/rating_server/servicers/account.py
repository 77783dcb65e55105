"""rating.v1.AccountService."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

import grpc
from google.rpc import code_pb2

from rating.v1 import account_service_pb2, account_service_pb2_grpc
from rating_server.catalog.cache import CatalogCache
from rating_server.feed_bell import FeedBell
from rating_server.guard import CALLER
from rating_server.ledger import accounts, capacity, feed, reports
from rating_server.ledger.balance_watch import BalanceWatch
from rating_server.ledger.store import LedgerStore
from rating_server.servicers import account_convert
from rating_server.servicers.convert import optional_ns
from rating_server.servicers.statuses import abort, domain_errors, domain_errors_of

Message = TypeVar("Message")

#: Seconds a caught-up stream waits for its account's ring before it looks again anyway
#: (the bell follows the feed itself: this is only a backstop).
WAIT_SECONDS = 10.0


class AccountServicer(account_service_pb2_grpc.AccountServiceServicer):
    def __init__(self, catalog: CatalogCache, ledger: LedgerStore, bell: FeedBell) -> None:
        self._catalog = catalog
        self._ledger = ledger
        self._bell = bell

    @domain_errors
    def CreateAccount(
        self, request: account_service_pb2.CreateAccountRequest, context: grpc.ServicerContext
    ) -> account_service_pb2.CreateAccountResponse:
        created = accounts.create_account(
            self._ledger,
            self._catalog.snapshot,
            request.account_id,
            plan=request.plan,
            time_zone=request.time_zone,
            parent_account_id=request.parent_account_id,
            pay_as_you_go=request.pay_as_you_go,
            monthly_budget_points=request.monthly_budget_points,
        )
        return account_service_pb2.CreateAccountResponse(account=account_convert.account(created))

    @domain_errors
    def GetAccount(
        self, request: account_service_pb2.GetAccountRequest, context: grpc.ServicerContext
    ) -> account_service_pb2.GetAccountResponse:
        found, subs, bought = accounts.get_account(self._ledger, request.account_id)
        return account_service_pb2.GetAccountResponse(
            account=account_convert.account(found),
            sub_account_ids=subs,
            capacity_purchases=[account_convert.capacity_purchase(p) for p in bought],
        )

    @domain_errors
    def UpdateAccount(
        self, request: account_service_pb2.UpdateAccountRequest, context: grpc.ServicerContext
    ) -> account_service_pb2.UpdateAccountResponse:
        updated = accounts.update_account(
            self._ledger,
            self._catalog.snapshot,
            request.account_id,
            plan=request.plan if request.HasField("plan") else None,
            pay_as_you_go=request.pay_as_you_go if request.HasField("pay_as_you_go") else None,
            monthly_budget_points=request.monthly_budget_points
            if request.HasField("monthly_budget_points")
            else None,
        )
        return account_service_pb2.UpdateAccountResponse(account=account_convert.account(updated))

    @domain_errors
    def GrantResourcePack(
        self,
        request: account_service_pb2.GrantResourcePackRequest,
        context: grpc.ServicerContext,
    ) -> account_service_pb2.GrantResourcePackResponse:
        pack = accounts.grant_pack(
            self._ledger,
            request.account_id,
            request.points,
            valid_from_ns=optional_ns(
                request.valid_from, request.HasField("valid_from"), "valid_from"
            ),
            expire_time_ns=optional_ns(
                request.expire_time, request.HasField("expire_time"), "expire_time"
            ),
            priority=request.priority,
            request_id=request.request_id,
        )
        return account_service_pb2.GrantResourcePackResponse(pack=account_convert.pack(pack))

    @domain_errors
    def GrantCapacity(
        self,
        request: account_service_pb2.GrantCapacityRequest,
        context: grpc.ServicerContext,
    ) -> account_service_pb2.GrantCapacityResponse:
        price = request.WhichOneof("price")
        purchase = capacity.grant(
            self._ledger,
            request.account_id,
            request.gib,
            term=account_convert.capacity_term_name(request.term),
            valid_from_ns=optional_ns(
                request.valid_from, request.HasField("valid_from"), "valid_from"
            ),
            expire_time_ns=optional_ns(
                request.expire_time, request.HasField("expire_time"), "expire_time"
            ),
            price_points=request.price_points if price == "price_points" else None,
            price_yuan=request.price_yuan if price == "price_yuan" else None,
            request_id=request.request_id,
        )
        return account_service_pb2.GrantCapacityResponse(
            purchase=account_convert.capacity_purchase(purchase)
        )

    @domain_errors
    def GetBalance(
        self, request: account_service_pb2.GetBalanceRequest, context: grpc.ServicerContext
    ) -> account_service_pb2.GetBalanceResponse:
        return account_convert.balance(
            reports.balance(self._ledger, self._catalog.snapshot, request.account_id, request.day)
        )

    @domain_errors
    def ListCharges(
        self, request: account_service_pb2.ListChargesRequest, context: grpc.ServicerContext
    ) -> account_service_pb2.ListChargesResponse:
        entries, token = reports.list_charges(
            self._ledger,
            request.account_id,
            start_ns=optional_ns(request.start_time, request.HasField("start_time"), "start_time"),
            end_ns=optional_ns(request.end_time, request.HasField("end_time"), "end_time"),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return account_service_pb2.ListChargesResponse(
            charges=[account_convert.charge_entry(e) for e in entries], next_page_token=token
        )

    @domain_errors
    def GetStatement(
        self, request: account_service_pb2.GetStatementRequest, context: grpc.ServicerContext
    ) -> account_service_pb2.GetStatementResponse:
        return account_convert.statement(
            reports.statement(self._ledger, request.account_id, request.month)
        )

    def WatchCharges(
        self, request: account_service_pb2.WatchChargesRequest, context: grpc.ServicerContext
    ) -> Iterator[account_service_pb2.WatchChargesResponse]:
        """The feed after the request's cursor, then each event as it comes, until the
        caller goes or the server stops (UNAVAILABLE: resume from the last cursor)."""
        caller = CALLER.get()
        if not request.account_id and "admin" not in caller.roles:
            abort(
                context,
                code_pb2.PERMISSION_DENIED,
                f"{caller.name!r} may not watch every account's charges: it needs the "
                "'admin' role (or name an account_id)",
                "ROLE_MISSING",
                metadata={"principal": caller.name, "role": "admin"},
            )
        with domain_errors_of(context):
            billing, start = feed.start(self._ledger, request.account_id, request.cursor)
        if not request.cursor:  # where it starts, for the caller to keep
            yield account_service_pb2.WatchChargesResponse(
                cursor=feed.token_of(start, request.account_id)
            )
        cursor = [start]

        def events() -> list[account_service_pb2.WatchChargesResponse]:
            items = feed.read(self._ledger, billing, cursor[0])
            if items:
                cursor[0] = items[-1].cursor
            return [account_convert.feed_item(item, request.account_id) for item in items]

        yield from self._follow(context, events, billing)

    def WatchBalance(
        self, request: account_service_pb2.WatchBalanceRequest, context: grpc.ServicerContext
    ) -> Iterator[account_service_pb2.WatchBalanceResponse]:
        """The balance now, then after each change that crosses a threshold (every
        change, with ``every_change``), until the caller goes or the server stops."""
        with domain_errors_of(context):
            watch = BalanceWatch(self._ledger, lambda: self._catalog.snapshot, request.account_id)
            first = watch.start()
        billing = watch.billing_account_id
        yield account_convert.balance_change(first, billing)

        def changes() -> list[account_service_pb2.WatchBalanceResponse]:
            sent = []
            while (change := watch.next_change()) is not None:
                if change.alerts or request.every_change:
                    sent.append(account_convert.balance_change(change, billing))
            return sent

        yield from self._follow(context, changes, billing)

    def _follow(
        self,
        context: grpc.ServicerContext,
        step: Callable[[], list[Message]],
        billing: str | None,
    ) -> Iterator[Message]:
        """What ``step`` finds, each time the feed may have moved for ``billing`` (None:
        for any account), until the caller goes or the server stops (UNAVAILABLE: the
        caller resumes, from its cursor)."""
        while context.is_active():
            seen = self._bell.rung(billing)
            with domain_errors_of(context):
                found = step()
            yield from found
            if found:
                continue
            if not self._bell.wait(billing, seen, timeout=WAIT_SECONDS):
                abort(
                    context,
                    code_pb2.UNAVAILABLE,
                    "the server is stopping: reconnect (with the cursor of the last event)",
                    "SERVER_STOPPING",
                )

    @domain_errors
    def SetAlertThresholds(
        self,
        request: account_service_pb2.SetAlertThresholdsRequest,
        context: grpc.ServicerContext,
    ) -> account_service_pb2.SetAlertThresholdsResponse:
        thresholds = account_convert.alert_thresholds(
            accounts.set_alert_thresholds(
                self._ledger,
                request.account_id,
                free_points_below=request.free_points_below,
                pack_points_below=request.pack_points_below,
                pack_percent_below=request.pack_percent_below,
                pay_as_you_go_points_above=request.pay_as_you_go_points_above,
                pay_as_you_go_budget_percent_above=request.pay_as_you_go_budget_percent_above,
            )
        )
        return account_service_pb2.SetAlertThresholdsResponse(thresholds=thresholds)

    @domain_errors
    def GetAlertThresholds(
        self,
        request: account_service_pb2.GetAlertThresholdsRequest,
        context: grpc.ServicerContext,
    ) -> account_service_pb2.GetAlertThresholdsResponse:
        thresholds = account_convert.alert_thresholds(
            accounts.get_alert_thresholds(self._ledger, request.account_id)
        )
        return account_service_pb2.GetAlertThresholdsResponse(thresholds=thresholds)

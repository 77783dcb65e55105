"""What the tests of security share: the access file, its principals and tokens,
and the certificates made for a test."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import grpc
from google.protobuf import duration_pb2
from google.protobuf.message import Message
from support import item

from rating.v1 import (
    account_service_pb2,
    catalog_service_pb2,
    rating_service_pb2,
    usage_pb2,
)

CALL_TIMEOUT = 30.0  # generous: a loaded 2-core machine may be slow, never this slow
CLI_TIMEOUT = 30.0
SKU = "model.doubao-lite-32k.input"
# A moment safely in the past whenever the tests run, so no occurred_at bound moves.
PAST = datetime(2025, 6, 2, 4, 0, tzinfo=UTC)
NO_ACCOUNT = "acct-that-does-not-exist"
OK = grpc.StatusCode.OK
NOT_FOUND = grpc.StatusCode.NOT_FOUND
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
Metadata = tuple[tuple[str, str], ...]


def sha256_hex(token: str) -> str:
    """Computed here, not with the server's own helper, so both are checked."""
    return hashlib.sha256(token.encode()).hexdigest()


def usage_item(account_id: str = "acct-1", usage_id: str = "u-1") -> usage_pb2.UsageItem:
    return item(SKU, 1234, account_id=account_id, usage_id=usage_id, occurred_at=PAST)


def quote_request() -> rating_service_pb2.QuoteRequest:
    return rating_service_pb2.QuoteRequest(items=[usage_item()])


# ---------------------------------------------------------------------------
# Principals and the access file
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """A principal of the access file that authenticates with a bearer token."""

    name: str
    roles: tuple[str, ...]

    @property
    def token(self) -> str:
        return f"secret-token-of-{self.name}-7c1e9a"

    @property
    def metadata(self) -> Metadata:
        return (("authorization", f"Bearer {self.token}"),)

    def entry(self) -> Entry:
        return Entry(self.name, self.roles, token=self.token)


@dataclass(frozen=True)
class Entry:
    """One ``[[principals]]`` table: a token (stored as its hash) or a certificate name."""

    name: str
    roles: Sequence[str]
    token: str | None = None
    certificate: str | None = None


def write_access_file(path: Path, entries: Iterable[Entry], *, reflection: bool = True) -> Path:
    lines = [] if reflection else ["[settings]", "reflection = false", ""]
    for entry in entries:
        lines += ["[[principals]]", f"name = {json.dumps(entry.name)}"]
        if entry.token is not None:
            lines.append(f'token_sha256 = "{sha256_hex(entry.token)}"')
        if entry.certificate is not None:
            lines.append(f"certificate = {json.dumps(entry.certificate)}")
        lines += [f"roles = {json.dumps(list(entry.roles))}", ""]
    path.write_text("\n".join(lines))
    return path


QUOTER = Caller("quote-only", ("quote",))
WRONG_TOKEN = "secret-token-nobody-holds-41d0b2"


# ---------------------------------------------------------------------------
# Every RPC, the role it needs and its outcome once past the guard
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rpc:
    path: str
    role: str
    request: Message
    # The code the call ends with once the guard lets it through. No request below
    # changes the ledger, so the matrix gives the same codes in any order.
    passed: grpc.StatusCode

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


RATING = "/rating.v1.RatingService/"
ACCOUNT = "/rating.v1.AccountService/"
CATALOG = "/rating.v1.CatalogService/"
RPCS = (
    Rpc(RATING + "Quote", "quote", quote_request(), OK),
    Rpc(
        RATING + "CommitCharges",
        "charge",
        rating_service_pb2.CommitChargesRequest(
            request_id="req-matrix", items=[usage_item(account_id=NO_ACCOUNT)]
        ),
        NOT_FOUND,  # an unknown account is NOT_FOUND, whichever call names it
    ),
    Rpc(
        RATING + "VoidCharge",
        "charge",
        rating_service_pb2.VoidChargeRequest(charge_id="ch_missing"),
        NOT_FOUND,
    ),
    Rpc(
        ACCOUNT + "CreateAccount",
        "admin",
        account_service_pb2.CreateAccountRequest(account_id=""),
        INVALID_ARGUMENT,
    ),
    Rpc(
        ACCOUNT + "GetAccount",
        "read",
        account_service_pb2.GetAccountRequest(account_id=NO_ACCOUNT),
        NOT_FOUND,
    ),
    Rpc(
        ACCOUNT + "UpdateAccount",
        "admin",
        account_service_pb2.UpdateAccountRequest(account_id=NO_ACCOUNT, plan="pro"),
        NOT_FOUND,
    ),
    Rpc(
        ACCOUNT + "GrantResourcePack",
        "admin",
        account_service_pb2.GrantResourcePackRequest(
            account_id=NO_ACCOUNT, points="100", request_id="req-matrix-pack"
        ),
        NOT_FOUND,
    ),
    Rpc(
        ACCOUNT + "GetBalance",
        "read",
        account_service_pb2.GetBalanceRequest(account_id=NO_ACCOUNT),
        NOT_FOUND,
    ),
    Rpc(
        ACCOUNT + "ListCharges",
        "read",
        account_service_pb2.ListChargesRequest(account_id=NO_ACCOUNT),
        NOT_FOUND,
    ),
    Rpc(
        ACCOUNT + "GetStatement",
        "read",
        account_service_pb2.GetStatementRequest(account_id=NO_ACCOUNT, month="2025-06"),
        NOT_FOUND,
    ),
    Rpc(CATALOG + "ListSkus", "quote", catalog_service_pb2.ListSkusRequest(page_size=1), OK),
    Rpc(CATALOG + "GetSku", "quote", catalog_service_pb2.GetSkuRequest(sku=SKU), OK),
    Rpc(
        RATING + "Reserve",
        "charge",
        rating_service_pb2.ReserveRequest(
            request_id="req-matrix-reserve",
            account_id=NO_ACCOUNT,
            sku=SKU,
            quantity=1,
            ttl=duration_pb2.Duration(seconds=60),
        ),
        NOT_FOUND,
    ),
    Rpc(
        RATING + "Extend",
        "charge",
        rating_service_pb2.ExtendRequest(
            request_id="req-matrix-extend", reservation_id="rsv_none", quantity=1
        ),
        NOT_FOUND,
    ),
    Rpc(
        RATING + "Release",
        "charge",
        rating_service_pb2.ReleaseRequest(reservation_id="rsv_none"),
        NOT_FOUND,
    ),
    Rpc(
        ACCOUNT + "WatchCharges",
        "read",
        account_service_pb2.WatchChargesRequest(account_id=NO_ACCOUNT),
        NOT_FOUND,
    ),
    Rpc(
        ACCOUNT + "WatchBalance",
        "read",
        account_service_pb2.WatchBalanceRequest(account_id=NO_ACCOUNT),
        NOT_FOUND,
    ),
    Rpc(
        ACCOUNT + "GrantCapacity",
        "admin",
        account_service_pb2.GrantCapacityRequest(
            account_id=NO_ACCOUNT,
            gib=5,
            term=account_service_pb2.CAPACITY_TERM_MONTH,
            price_yuan="30",
            request_id="req-matrix-capacity",
        ),
        NOT_FOUND,
    ),
    Rpc(
        ACCOUNT + "SetAlertThresholds",
        "admin",
        account_service_pb2.SetAlertThresholdsRequest(
            account_id=NO_ACCOUNT, free_points_below="100"
        ),
        NOT_FOUND,
    ),
    Rpc(
        ACCOUNT + "GetAlertThresholds",
        "read",
        account_service_pb2.GetAlertThresholdsRequest(account_id=NO_ACCOUNT),
        NOT_FOUND,
    ),
    Rpc(RATING + "GetLimits", "quote", rating_service_pb2.GetLimitsRequest(), OK),
)


def call(channel: grpc.Channel, rpc: Rpc, metadata: Metadata = ()) -> grpc.RpcError | None:
    """Call ``rpc`` on ``channel``; the error it failed with, or None."""
    method = channel.unary_unary(
        rpc.path, request_serializer=lambda message: message.SerializeToString()
    )
    try:
        method(rpc.request, timeout=CALL_TIMEOUT, metadata=metadata)
    except grpc.RpcError as error:
        return error
    return None


def code_of(error: grpc.RpcError | None) -> grpc.StatusCode:
    return OK if error is None else cast(grpc.Call, error).code()

"""The client's calls, one for each unary RPC of the three services, for the tests that
make every call (its deadline, its token); and the streams, which have no deadline."""

from __future__ import annotations

from collections.abc import Callable

from rating import RatingClient

from .fake import ITEM

CALLS: list[tuple[str, Callable[[RatingClient], object]]] = [
    ("Quote", lambda c: c.quote([ITEM])),
    ("CommitCharges", lambda c: c.commit([ITEM])),
    ("VoidCharge", lambda c: c.void_charge("ch-1")),
    ("Reserve", lambda c: c.reserve("acme", "rtc.audio", 60_000, 60)),
    ("Extend", lambda c: c.extend("rsv-1", ttl=60)),
    ("Release", lambda c: c.release("rsv-1")),
    ("CreateAccount", lambda c: c.create_account("acme")),
    ("GetAccount", lambda c: c.get_account("acme")),
    ("UpdateAccount", lambda c: c.update_account("acme", plan="pro")),
    ("GrantResourcePack", lambda c: c.grant_pack("acme", 1)),
    ("GrantCapacity", lambda c: c.grant_capacity("acme", 5, term="month", price_points=0)),
    ("GetBalance", lambda c: c.get_balance("acme")),
    ("ListCharges", lambda c: c.list_charges("acme")),
    ("GetStatement", lambda c: c.get_statement("acme", "2026-11")),
    ("SetAlertThresholds", lambda c: c.set_alert_thresholds("acme", pack_percent_below=10)),
    ("GetAlertThresholds", lambda c: c.get_alert_thresholds("acme")),
    ("ListSkus", lambda c: c.list_skus()),
    ("GetSku", lambda c: c.get_sku("agent.call")),
    ("GetLimits", lambda c: c.get_limits()),
]
#: The same RPCs, with the items sent as columns.
COLUMN_CALLS: list[tuple[str, Callable[[RatingClient], object]]] = [
    ("Quote", lambda c: c.quote_columns([ITEM])),
    ("CommitCharges", lambda c: c.commit_columns([ITEM])),
]
CALL_IDS = [method for method, _ in CALLS] + [f"{method}-columns" for method, _ in COLUMN_CALLS]
CALLS += COLUMN_CALLS

#: The streams: no deadline (they never end while the server runs); the feed's own
#: tests check their token and their resumption.
STREAMS = ["WatchCharges", "WatchBalance"]

"""servicers/plain_quote.py: a PlainQuoter's answer depends on its inputs only, not on
what it (or any other quoter, or the engine) quoted before."""

from __future__ import annotations

from support import NOON

from rating.v1 import usage_pb2
from rating_server.catalog.model import CatalogSnapshot
from rating_server.engine import Limits
from rating_server.servicers.plain_quote import PlainQuoter

NOON_S = int(NOON.timestamp())
NOW_NS = (NOON_S + 3600) * 10**9


def good(
    usage_id: str = "u-1", sku: str = "agent.call", quantity: int = 1, nanos: int = 0
) -> usage_pb2.UsageItem:
    item = usage_pb2.UsageItem(usage_id=usage_id, account_id="acct-1", sku=sku, quantity=quantity)
    item.occurred_at.seconds, item.occurred_at.nanos = NOON_S, nanos
    return item


def _batch(**attributes: str) -> list[usage_pb2.UsageItem]:
    item = good(sku="model.doubao-lite-32k.input", quantity=1234)
    item.attributes.update(attributes)
    return [item, good(usage_id="u-2")]


def test_the_same_batch_gets_the_same_bytes_from_a_new_quoter_and_a_used_one(
    seed: CatalogSnapshot,
) -> None:
    batch = _batch(agent_id="a-1", api="chat")
    fresh = PlainQuoter(Limits()).quote(batch, seed, now_ns=NOW_NS)
    used = PlainQuoter(Limits())
    for other in (_batch(), _batch(**{"a b": "c"}), _batch(**{f"k{n}": "v" for n in range(32)})):
        used.quote(other, seed, now_ns=NOW_NS)
    assert fresh is not None
    assert used.quote(batch, seed, now_ns=NOW_NS) == fresh


def test_a_quoter_answers_a_new_key_at_once_without_the_engine_having_seen_it(
    seed: CatalogSnapshot,
) -> None:
    quoted = PlainQuoter(Limits()).quote(_batch(never_seen_before="v"), seed, now_ns=NOW_NS)
    assert quoted is not None and quoted[1] == 2


def test_a_bad_key_is_left_to_the_general_path_every_time(seed: CatalogSnapshot) -> None:
    quoter = PlainQuoter(Limits())
    for _ in range(2):
        assert quoter.quote(_batch(**{"a b": "c"}), seed, now_ns=NOW_NS) is None


def test_an_invalid_timestamp_is_left_to_the_general_path(seed: CatalogSnapshot) -> None:
    batch = [good(nanos=-1)]
    assert PlainQuoter(Limits()).quote(batch, seed, now_ns=NOW_NS) is None

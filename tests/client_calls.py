"""What the tests of the client against a real server share: the client of a
server and its usage."""

from __future__ import annotations

import time
from datetime import datetime

from support import NOON

from rating import RatingClient, usage
from rating.errors import (
    UnavailableError,
)
from rating.types import ChargeEvent, Receipt
from rating.v1 import usage_pb2

DAY = "2026-11-27"  # NOON's day in Asia/Shanghai
# How long a caller keeps retrying a commit while a restarted server comes back.
COMING_BACK = 60.0


def calls(
    count: int, usage_id: str, account_id: str = "acme", when: datetime = NOON
) -> usage_pb2.UsageItem:
    """``count`` agent calls, 2 points each."""
    return usage.agent_calls(count, usage_id=usage_id, account_id=account_id, occurred_at=when)


def commit_until_up(
    client: RatingClient, items: list[usage_pb2.UsageItem], request_id: str
) -> Receipt:
    """What a caller does: resend the commit, with its request_id, while UNAVAILABLE."""
    deadline = time.monotonic() + COMING_BACK
    while True:
        try:
            return client.commit(items, request_id=request_id)
        except UnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


# The charges feed: watch_charges against the server, across a stop and a kill -9


def usage_ids_of(events: list[ChargeEvent]) -> list[str]:
    return [event.line.usage_id for event in events if event.line is not None]

"""The limits a caller must respect, in one place.

The server's gRPC options (message size, keepalive policy) are set from ``ServiceLimits``
and ``GetLimits`` serves the same values, so what the server enforces and what it says
cannot drift apart. Per-item bounds are ``engine.Limits``; the message size and the
keepalive numbers are the client package's (``rating.options``), which enforces them on
its side too.
"""

from __future__ import annotations

from dataclasses import dataclass

from rating.options import MAX_MESSAGE_BYTES, SERVER_MIN_PING_INTERVAL_MS
from rating_server.domain_errors import Violation
from rating_server.engine import DEFAULT_LIMITS, MAX_BATCH_ITEMS, Limits
from rating_server.ids import MAX_ID_LENGTH
from rating_server.ledger.reservations import MAX_TTL_NS

#: Pings too early that gRPC lets pass before it sends GOAWAY (too_many_pings): gRPC's
#: default, set explicitly so that GetLimits tells what is in force.
MAX_PING_STRIKES = 2


@dataclass(frozen=True, slots=True)
class PageLimits:
    """A List call's page size when none is asked, and the largest."""

    default: int
    largest: int

    def size(self, asked: int) -> int:
        """The page size of a call that asked for ``asked`` (0: the default; more than
        the largest: the largest). A negative size is refused (``size_problems``)."""
        return min(asked or self.default, self.largest)

    @staticmethod
    def size_problems(asked: int) -> list[Violation]:
        """What is wrong with a call's page_size: only a negative one is."""
        if asked < 0:
            return [Violation("page_size", "PAGE_SIZE_NEGATIVE", "page_size cannot be negative")]
        return []


SKU_PAGES = PageLimits(default=50, largest=1000)
CHARGE_PAGES = PageLimits(default=100, largest=1000)


@dataclass(frozen=True, slots=True)
class ServiceLimits:
    usage: Limits = DEFAULT_LIMITS
    max_batch_items: int = MAX_BATCH_ITEMS
    max_id_length: int = MAX_ID_LENGTH
    max_message_bytes: int = MAX_MESSAGE_BYTES
    sku_pages: PageLimits = SKU_PAGES
    charge_pages: PageLimits = CHARGE_PAGES
    #: The shortest time between two pings while no data flows.
    min_ping_interval_ms: int = SERVER_MIN_PING_INTERVAL_MS
    permit_pings_without_calls: bool = True
    max_ping_strikes: int = MAX_PING_STRIKES
    max_reservation_ttl_ns: int = MAX_TTL_NS

    def grpc_options(self) -> list[tuple[str, int]]:
        """The gRPC server options these limits are enforced by."""
        return [
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.keepalive_permit_without_calls", int(self.permit_pings_without_calls)),
            ("grpc.http2.min_ping_interval_without_data_ms", self.min_ping_interval_ms),
            ("grpc.http2.max_ping_strikes", self.max_ping_strikes),
        ]

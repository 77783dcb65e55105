"""The units of time the service counts in, as integers: one definition each.

Instants and durations are integer nanoseconds everywhere (since the Unix epoch for an
instant); these are the factors between them and the units the API and the rules name.
"""

from __future__ import annotations

NANOS_PER_SECOND = 1_000_000_000
NANOS_PER_MILLI = 1_000_000
NANOS_PER_MINUTE = 60 * NANOS_PER_SECOND
NANOS_PER_HOUR = 3600 * NANOS_PER_SECOND
NANOS_PER_DAY = 24 * NANOS_PER_HOUR

#: Past every instant there is (int64 nanoseconds end in 2262): the end of what never
#: ends (a price not yet followed by another, a pack without expiry).
FOREVER_NS = 2**63

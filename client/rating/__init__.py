"""The rating service's client package.

- ``rating.v1``: the generated API (messages, gRPC stubs, ``.pyi`` type stubs).
- ``RatingClient`` / ``AsyncRatingClient``: the hand-written clients.
- ``rating.usage``: builders for usage items.
- ``rating.columns``: a batch as columns (``UsageColumns``), and the column results.
- ``rating.errors``: one exception per family of status codes, with the rich details.
- ``BatchCommitter``: buffers usage and commits it in batches, exactly once.
- ``rating.session``: ``client.session(...)``, funding held for a live call, settled once.
"""

from rating import columns, errors, usage
from rating.aio import AsyncRatingClient
from rating.client import RatingClient
from rating.committer import BatchCommitter
from rating.options import ClientOptions

__all__ = [
    "AsyncRatingClient",
    "BatchCommitter",
    "ClientOptions",
    "RatingClient",
    "columns",
    "errors",
    "usage",
]

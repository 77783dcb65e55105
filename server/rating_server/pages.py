"""AIP-158 page tokens: opaque to callers, bound to the filters they were made for."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any, TypeVar

from rating_server.domain_errors import InvalidRequestError, Violation

T = TypeVar("T")


def make_token(after: object, filters: list[Any]) -> str:
    """A token for the page after ``after`` (the last key of this page)."""
    raw = json.dumps({"after": after, "filters": filters}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def read_token(token: str, filters: list[Any], valid: Callable[[object], bool]) -> Any:
    """The key a token continues after; InvalidRequestError when it is not a token this
    call returned for the same filters, or its key is not ``valid``."""
    try:
        padded = token + "=" * (-len(token) % 4)
        body = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if isinstance(body, dict) and body.get("filters") == filters and valid(body.get("after")):
            return body["after"]
    except (ValueError, UnicodeError, RecursionError):
        pass
    raise InvalidRequestError(
        [
            Violation(
                "page_token",
                "PAGE_TOKEN_INVALID",
                "page_token is not one this call returned for the same filters",
            )
        ]
    )

"""What an id (usage_id, account_id, request_id, ...) may be."""

from __future__ import annotations

import re

MAX_ID_LENGTH = 128


# No whitespace (which covers every separator) and, with isprintable(), no control,
# format or unassigned characters: checked in C, on the hot path of every usage item.
_NO_SPACE = re.compile(r"\S+")


def id_problem(value: str) -> str | None:
    """Why ``value`` is not a usable id, or None: 1 to 128 printable, non-space characters."""
    if not value:
        return "is required"
    if len(value) > MAX_ID_LENGTH:
        return f"is longer than {MAX_ID_LENGTH} characters"
    if not (value.isprintable() and _NO_SPACE.fullmatch(value)):
        return "must not hold whitespace or control characters"
    return None


def shown(value: str, limit: int = 64) -> str:
    """A caller's value, quoted and cut short, for an error message."""
    return repr(value if len(value) <= limit else value[:limit] + "...")

"""What an id (usage_id, account_id, request_id, ...) may be."""

from __future__ import annotations

MAX_ID_LENGTH = 128


def id_problem(value: str) -> str | None:
    """Why ``value`` is not a usable id, or None: 1 to 128 printable, non-space characters."""
    if not value:
        return "is required"
    if len(value) > MAX_ID_LENGTH:
        return f"is longer than {MAX_ID_LENGTH} characters"
    if not value.isprintable() or any(c.isspace() for c in value):
        return "must not hold whitespace or control characters"
    return None


def shown(value: str, limit: int = 64) -> str:
    """A caller's value, quoted and cut short, for an error message."""
    return repr(value if len(value) <= limit else value[:limit] + "...")

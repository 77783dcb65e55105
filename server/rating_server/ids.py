"""What an id (usage_id, account_id, request_id, ...) may be."""

from __future__ import annotations

from collections.abc import Sequence

MAX_ID_LENGTH = 128


def id_problem(value: str) -> str | None:
    """Why ``value`` is not a usable id, or None: 1 to 128 printable, non-space characters."""
    if not value:
        return "is required"
    if len(value) > MAX_ID_LENGTH:
        return f"is longer than {MAX_ID_LENGTH} characters"
    # isprintable() refuses control, format, unassigned and separator characters but
    # " ", and every whitespace character is one of those: so no " " means no whitespace.
    if not (value.isprintable() and " " not in value):
        return "must not hold whitespace or control characters"
    return None


def all_plain(values: Sequence[str]) -> bool:
    """Whether every value is a usable id (``id_problem`` is None for each), checked
    over the whole sequence at once, in C: the usual batch, where every id is good,
    costs a join and three scans instead of a call per id."""
    if not values:
        return True
    joined = "".join(values)
    return (
        joined.isprintable()  # no control, format, separator (but " ") or unassigned ...
        and " " not in joined  # ... so, with no " ", no whitespace at all
        and min(map(len, values)) > 0
        and max(map(len, values)) <= MAX_ID_LENGTH
    )


def shown(value: str, limit: int = 64) -> str:
    """A caller's value, quoted and cut short, for an error message."""
    return repr(value if len(value) <= limit else value[:limit] + "...")

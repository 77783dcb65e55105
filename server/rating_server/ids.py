"""What an id (usage_id, account_id, request_id, ...) may be, and how a request's
ids are checked: the one rule (``id_problem``; ``all_plain`` for many at once) and the
violations it gives (``check_id``, ``require_ids``)."""

from __future__ import annotations

from collections.abc import Sequence

from rating_server.domain_errors import InvalidRequestError, Violation

MAX_ID_LENGTH = 128

# The reason an unusable id of each request field is refused with: each a value of
# rating.v1.ErrorReason, written out so that the reasons the server gives can be read
# off its source (tests/unit/test_error_reasons.py).
ID_INVALID_REASONS = {
    "account_id": "ACCOUNT_ID_INVALID",
    "charge_id": "CHARGE_ID_INVALID",
    "parent_account_id": "PARENT_ACCOUNT_ID_INVALID",
    "request_id": "REQUEST_ID_INVALID",
    "reservation_id": "RESERVATION_ID_INVALID",
}


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


def check_id(field: str, value: str, violations: list[Violation]) -> bool:
    """Whether ``value`` is a usable id (``id_problem``); if not, ``{NAME}_INVALID``
    (``ID_INVALID_REASONS`` of the field's name: ``reservation_id`` for
    ``items[3].reservation_id``) is added to ``violations``. Every id a request names
    goes through here before it is looked up, so an empty or malformed one is the
    caller's mistake (INVALID_ARGUMENT), never a NOT_FOUND."""
    problem = id_problem(value)
    if problem:
        name = field.rpartition(".")[2]
        violations.append(Violation(field, ID_INVALID_REASONS[name], f"{field} {problem}"))
    return problem is None


def require_ids(**ids: str) -> None:
    """InvalidRequestError naming each of these id fields that is not a usable id."""
    violations: list[Violation] = []
    for field, value in ids.items():
        check_id(field, value, violations)
    if violations:
        raise InvalidRequestError(violations)


#: The printable ASCII characters but the space: what an ASCII id may hold.
_VISIBLE_ASCII = bytes(range(0x21, 0x7F))


def all_plain(values: Sequence[str]) -> bool:
    """Whether every value is a usable id (``id_problem`` is None for each), checked
    over the whole sequence at once, in C: the usual batch, where every id is good,
    costs a join and a few scans instead of a call per id."""
    if not values:
        return True
    joined = "".join(values)
    if joined.isascii():  # known without a scan: a str knows it holds only ASCII
        # Nothing is left of it once the visible characters are taken out: no control
        # character and no space (isprintable() and " " in, in one scan of half the cost).
        characters_ok = not joined.encode().translate(None, _VISIBLE_ASCII)
    else:
        # isprintable() refuses control, format, separator (but " ") and unassigned
        # characters, so, with no " " either, there is no whitespace at all.
        characters_ok = joined.isprintable() and " " not in joined
    return characters_ok and "" not in values and max(map(len, values)) <= MAX_ID_LENGTH


def shown(value: str, limit: int = 64) -> str:
    """A caller's value, quoted and cut short, for an error message."""
    return repr(value if len(value) <= limit else value[:limit] + "...")

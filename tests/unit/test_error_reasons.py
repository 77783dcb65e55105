"""Every error reason the server gives is a value of rating.v1.ErrorReason, each value is
given somewhere, and the error tables of docs/errors.md name exactly the enum's values.

The reasons are read off the server's source: every argument in a reason's place of
the calls that make errors (``Violation(field, reason, ...)``, ``abort(..., reason)``,
the domain errors' constructors, ``reason=``) is a string literal, a lookup in a
module-level dict of literals (``ID_INVALID_REASONS[field]``), or a ``reason`` passed
through; anything else (an f-string) fails here, as it would hide a reason.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2
from google.rpc import code_pb2, error_details_pb2

from rating.v1 import error_reason_pb2
from rating_server import ids
from rating_server.servicers import convert, statuses

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "server" / "rating_server"
ErrorReason = error_reason_pb2.ErrorReason
VALUES = set(ErrorReason.keys()) - {"ERROR_REASON_UNSPECIFIED"}

# Where the reason goes in the calls that make an error: its positional index.
REASON_AT = {
    "Violation": 1,
    "bad": 1,  # the engine's and the ledger's local Violation makers
    "abort": 3,
    "abort_bad": 2,
    "abort_invalid": 2,
    "abort_not_found": 3,
    "NotFoundError": 2,
    "ConflictError": 0,
    "FailedPreconditionError": 0,
}


def _called(node: ast.Call) -> str | None:
    function = node.func
    if isinstance(function, ast.Name):
        return function.id
    return function.attr if isinstance(function, ast.Attribute) else None


def _module_dicts(tree: ast.Module) -> dict[str, ast.Dict]:
    found: dict[str, ast.Dict] = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Dict):
            for target in statement.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = statement.value
    return found


def source_reasons() -> tuple[dict[str, list[str]], list[str]]:
    """Every reason the server's source gives, with where; and what hides a reason."""
    reasons: dict[str, list[str]] = {}
    hidden: list[str] = []
    for path in sorted(SERVER.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        dicts = _module_dicts(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _called(node)
            given = [k.value for k in node.keywords if k.arg == "reason"]
            if name in REASON_AT and len(node.args) > REASON_AT[name]:
                given.append(node.args[REASON_AT[name]])
            for argument in given:
                where = f"{path.relative_to(ROOT)}:{argument.lineno}"
                literals: list[ast.expr] = [argument]
                if isinstance(argument, ast.Subscript) and isinstance(argument.value, ast.Name):
                    table = dicts.get(argument.value.id)
                    if table is None:
                        hidden.append(f"{where}: {ast.unparse(argument)}")
                        continue
                    literals = [value for value in table.values if value is not None]
                elif (isinstance(argument, ast.Name) and argument.id == "reason") or (
                    isinstance(argument, ast.Attribute) and argument.attr == "reason"
                ):
                    continue  # a reason passed through: its literal is where it is made
                for literal in literals:
                    if isinstance(literal, ast.Constant) and isinstance(literal.value, str):
                        reasons.setdefault(literal.value, []).append(where)
                    else:
                        hidden.append(f"{where}: {ast.unparse(literal)}")
    return reasons, hidden


def test_every_reason_the_server_gives_is_an_error_reason_value_written_out() -> None:
    reasons, hidden = source_reasons()
    assert hidden == [], "write each reason out as a literal"
    assert len(reasons) > 80  # the collector finds them: about 90
    outside = {reason: where for reason, where in reasons.items() if reason not in VALUES}
    assert outside == {}, "add them to protos/rating/v1/error_reason.proto"
    # The wire's string is the value's name, in every language's generated code.
    assert ErrorReason.Name(ErrorReason.Value("ACCOUNT_NOT_FOUND")) == "ACCOUNT_NOT_FOUND"


def test_every_error_reason_value_is_given_somewhere() -> None:
    reasons, _ = source_reasons()
    assert sorted(VALUES - set(reasons)) == [], "raise it, or reserve its name in the proto"


def test_the_retired_reasons_are_reserved_names_not_values() -> None:
    file = descriptor_pb2.FileDescriptorProto()
    error_reason_pb2.DESCRIPTOR.CopyToProto(file)
    (enum,) = file.enum_type
    assert set(enum.reserved_name) == {"ACCOUNT_UNKNOWN", "RESERVATION_UNKNOWN"}
    assert set(enum.reserved_name).isdisjoint(VALUES)


def test_each_id_and_instant_field_checked_has_its_own_reason() -> None:
    """The fields named to ``check_id``, ``require_ids``, ``optional_ns`` and
    ``optional_duration_ns`` all have an entry in the tables their reasons come from,
    so that no bad id or instant is refused with a reason the enum lacks."""
    tables = {
        "check_id": ids.ID_INVALID_REASONS,
        "optional_ns": convert.INVALID_REASONS,
        "optional_duration_ns": convert.INVALID_REASONS,
    }
    field_at = {"check_id": 0, "optional_ns": 2, "optional_duration_ns": 2}
    named: dict[str, set[str]] = {name: set() for name in tables}
    for path in sorted(SERVER.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = _called(node)
            if name == "require_ids":
                named["check_id"].update(k.arg for k in node.keywords if k.arg)
            elif name in field_at and len(node.args) > field_at[name]:
                field = node.args[field_at[name]]
                if isinstance(field, ast.Constant):
                    named[name].add(field.value)
    for name, fields in named.items():
        assert fields, name
        assert fields <= set(tables[name]), name
    for table in tables.values():
        assert set(table.values()) <= VALUES


def documented_table_reasons() -> dict[str, int]:
    """The reasons in the first column of each table of docs/errors.md whose first
    column is headed "reason", with how many times each is named."""
    section = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    named: dict[str, int] = {}
    in_reasons_table = False
    for line in section.splitlines():
        if not line.startswith("|"):
            in_reasons_table = False
            continue
        first = line.split("|")[1].strip()
        if first.startswith("reason"):
            in_reasons_table = True
            continue
        if in_reasons_table and not set(first) <= set("-: "):
            for reason in re.findall(r"`([A-Z][A-Z0-9_]*)`", first):
                named[reason] = named.get(reason, 0) + 1
    return named


def test_the_documented_error_tables_name_every_reason_and_only_error_reason_values() -> None:
    named = documented_table_reasons()
    assert sorted(VALUES - set(named)) == [], "add them to the error tables of docs/errors.md"
    assert sorted(set(named) - VALUES) == [], "not rating.v1.ErrorReason values"


@pytest.mark.parametrize(
    ("reason", "violation"),
    [("NO_SUCH_REASON", "SKU_UNKNOWN"), ("INVALID_USAGE", "NO_SUCH_REASON")],
    ids=["error-info", "field-violation"],
)
def test_an_error_with_a_reason_outside_the_enum_is_never_sent(reason: str, violation: str) -> None:
    bad_request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field="items[0].sku", reason=violation)
        ]
    )
    with pytest.raises(ValueError, match="NO_SUCH_REASON"):
        statuses.error_status(code_pb2.INVALID_ARGUMENT, "bad", reason, details=[bad_request])
    good = statuses.error_status(
        code_pb2.INVALID_ARGUMENT, "bad", "INVALID_USAGE", details=[bad_request.__class__()]
    )
    assert good.code == code_pb2.INVALID_ARGUMENT

"""The client's errors (``rating/errors.py``): each status code mapped to its error
class, with the rich details the server sends."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from rating import RatingClient, errors

from .fake import ITEM, Fake, connect, fail, fail_with, rich_status

# Errors.

ERROR_CLASSES: dict[grpc.StatusCode, tuple[type[errors.RatingError], bool]] = {
    grpc.StatusCode.CANCELLED: (errors.CancelledError, False),
    grpc.StatusCode.UNKNOWN: (errors.InternalError, False),
    grpc.StatusCode.INVALID_ARGUMENT: (errors.InvalidArgumentError, False),
    grpc.StatusCode.DEADLINE_EXCEEDED: (errors.DeadlineExceededError, True),
    grpc.StatusCode.NOT_FOUND: (errors.NotFoundError, False),
    grpc.StatusCode.ALREADY_EXISTS: (errors.AlreadyExistsError, False),
    grpc.StatusCode.PERMISSION_DENIED: (errors.PermissionDeniedError, False),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (errors.ResourceExhaustedError, True),
    grpc.StatusCode.FAILED_PRECONDITION: (errors.FailedPreconditionError, False),
    grpc.StatusCode.ABORTED: (errors.AbortedError, True),
    grpc.StatusCode.OUT_OF_RANGE: (errors.InvalidArgumentError, False),
    grpc.StatusCode.UNIMPLEMENTED: (errors.InternalError, False),
    grpc.StatusCode.INTERNAL: (errors.InternalError, False),
    grpc.StatusCode.UNAVAILABLE: (errors.UnavailableError, True),
    grpc.StatusCode.DATA_LOSS: (errors.InternalError, False),
    grpc.StatusCode.UNAUTHENTICATED: (errors.UnauthenticatedError, False),
}
CODES = list(ERROR_CLASSES)


def test_the_error_table_covers_every_status_code_but_ok() -> None:
    assert set(ERROR_CLASSES) == set(grpc.StatusCode) - {grpc.StatusCode.OK}


@pytest.mark.parametrize("code", CODES, ids=lambda code: code.name)
def test_each_status_code_maps_to_its_error_class_with_the_error_info(
    fake: Fake, code: grpc.StatusCode
) -> None:
    info = error_details_pb2.ErrorInfo(
        reason="SOME_REASON", domain="rating", metadata={"account_id": "acme"}
    )
    fake.script("GetSku", fail_with(rich_status(code, f"{code.name} happened", info)))
    with connect(fake, max_attempts=1) as client, pytest.raises(errors.RatingError) as caught:
        client.get_sku("agent.call")

    error = caught.value
    expected, retryable = ERROR_CLASSES[code]
    assert type(error) is expected
    assert error.code == code
    assert error.retryable is retryable
    assert error.message == f"{code.name} happened"
    assert (error.reason, error.domain, error.metadata) == (
        "SOME_REASON",
        "rating",
        {"account_id": "acme"},
    )
    assert str(error) == f"{code.name} [SOME_REASON]: {code.name} happened"


@pytest.mark.parametrize("code", CODES, ids=lambda code: code.name)
def test_an_error_without_rich_details_maps_by_code_with_its_message(
    fake: Fake, code: grpc.StatusCode
) -> None:
    fake.script("GetSku", fail(code, "plain words"))
    with connect(fake, max_attempts=1) as client, pytest.raises(errors.RatingError) as caught:
        client.get_sku("agent.call")
    error = caught.value
    assert type(error) is ERROR_CLASSES[code][0]
    assert (error.code, error.message) == (code, "plain words")
    assert (error.reason, error.domain, dict(error.metadata)) == ("", "", {})
    assert error.violations == ()
    assert (error.resource_type, error.resource_name) == ("", "")


def test_an_error_without_a_message_is_named_by_its_code(fake: Fake, client: RatingClient) -> None:
    fake.script("GetSku", fail(grpc.StatusCode.NOT_FOUND, ""))
    with pytest.raises(errors.NotFoundError) as caught:
        client.get_sku("x")
    assert caught.value.message == "NOT_FOUND"


def test_a_bad_request_reports_every_field_violation_with_its_item_index(
    fake: Fake, client: RatingClient
) -> None:
    violation = error_details_pb2.BadRequest.FieldViolation
    status = rich_status(
        grpc.StatusCode.INVALID_ARGUMENT,
        "items[2].sku: no SKU 'x'",
        error_details_pb2.ErrorInfo(
            reason="INVALID_USAGE", domain="rating", metadata={"violations": "4"}
        ),
        error_details_pb2.BadRequest(
            field_violations=[
                violation(field="items[2].sku", reason="SKU_UNKNOWN", description="no SKU 'x'"),
                violation(field="items[0].quantity", reason="QUANTITY_NEGATIVE", description="-1"),
                violation(field="items[12].usage_id", reason="USAGE_ID_MISSING", description="!"),
                violation(field="request_id", reason="REQUEST_ID_MISSING", description="?"),
            ]
        ),
        error_details_pb2.RetryInfo(),  # a detail the client does not read: ignored
    )
    fake.script("Quote", fail_with(status))

    with pytest.raises(errors.InvalidArgumentError) as caught:
        client.quote([ITEM])

    error = caught.value
    assert (error.reason, error.domain, error.metadata) == (
        "INVALID_USAGE",
        "rating",
        {"violations": "4"},
    )
    assert error.message == "items[2].sku: no SKU 'x'"
    assert [(v.field, v.reason, v.description, v.item_index) for v in error.violations] == [
        ("items[2].sku", "SKU_UNKNOWN", "no SKU 'x'", 2),
        ("items[0].quantity", "QUANTITY_NEGATIVE", "-1", 0),
        ("items[12].usage_id", "USAGE_ID_MISSING", "!", 12),
        ("request_id", "REQUEST_ID_MISSING", "?", None),
    ]
    assert not error.retryable


def test_a_not_found_error_names_the_missing_resource(fake: Fake, client: RatingClient) -> None:
    status = rich_status(
        grpc.StatusCode.NOT_FOUND,
        "no account 'acme'",
        error_details_pb2.ErrorInfo(reason="ACCOUNT_NOT_FOUND", domain="rating"),
        error_details_pb2.ResourceInfo(resource_type="account", resource_name="acme"),
    )
    fake.script("GetAccount", fail_with(status))
    with pytest.raises(errors.NotFoundError) as caught:
        client.get_account("acme")
    assert (caught.value.resource_type, caught.value.resource_name) == ("account", "acme")
    assert caught.value.reason == "ACCOUNT_NOT_FOUND"


def test_every_error_class_is_a_rating_error() -> None:
    for expected, _ in ERROR_CLASSES.values():
        assert issubclass(expected, errors.RatingError)
        assert issubclass(expected, Exception)

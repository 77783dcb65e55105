"""Bad Quote requests: INVALID_ARGUMENT with every bad field named, over the wire."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2
from support import (
    item,
    rich_error,
    wire_size,
)

from rating.v1 import account_service_pb2, rating_service_pb2, usage_pb2
from rating_server.servicers import statuses


def quote_error(rating, items) -> tuple:
    with pytest.raises(grpc.RpcError) as caught:
        rating.Quote(rating_service_pb2.QuoteRequest(items=items), timeout=30)
    error = rich_error(caught.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert (error.info.reason, error.info.domain) == ("INVALID_USAGE", "rating")
    return error, [(v.field, v.reason) for v in error.violations]


@pytest.mark.parametrize(
    ("bad_item", "field", "reason"),
    [
        (item("no.such.sku", 1), "items[1].sku", "SKU_UNKNOWN"),
        (item("plugin.weather", 1), "items[1].sku", "SKU_UNPRICED"),
        (item("agent.call", -5), "items[1].quantity", "QUANTITY_NEGATIVE"),
        (item("agent.call", 1, occurred_at=None), "items[1].occurred_at", "OCCURRED_AT_MISSING"),
        # Set, to the epoch itself: present (not missing), and too old.
        (
            usage_pb2.UsageItem(
                usage_id="u-2",
                account_id="acct-1",
                sku="agent.call",
                quantity=1,
                occurred_at=timestamp_pb2.Timestamp(),
            ),
            "items[1].occurred_at",
            "OCCURRED_AT_TOO_OLD",
        ),
        (item("knowledge.storage", 1), "items[1].duration", "DURATION_MISSING"),
        (item("agent.call", 1, duration_ms=10), "items[1].duration", "DURATION_NOT_ALLOWED"),
        (item("agent.call", 1, usage_id=""), "items[1].usage_id", "USAGE_ID_MISSING"),
        (item("agent.call", 1, account_id=""), "items[1].account_id", "ACCOUNT_ID_MISSING"),
        (item("", 1), "items[1].sku", "SKU_MISSING"),
    ],
)
def test_each_kind_of_bad_item_is_named_by_index_and_field(rating, bad_item, field, reason):
    error, violations = quote_error(rating, [item("agent.call", 1), bad_item])
    assert violations == [(field, reason)]
    assert error.message.startswith(field)
    assert error.info.metadata["violations"] == "1"


def test_every_bad_item_of_a_batch_is_named_in_request_order(rating):
    error, violations = quote_error(
        rating,
        [
            item("plugin.search", 1),
            item("agent.call", 1),
            item("model.nope.input", -1, usage_id="", occurred_at=None),
            item("knowledge.storage", 2**40),
        ],
    )
    assert violations == [
        ("items[0].sku", "SKU_UNPRICED"),
        ("items[2].usage_id", "USAGE_ID_MISSING"),
        ("items[2].quantity", "QUANTITY_NEGATIVE"),
        ("items[2].occurred_at", "OCCURRED_AT_MISSING"),
        ("items[2].sku", "SKU_UNKNOWN"),
        ("items[3].duration", "DURATION_MISSING"),
    ]
    assert error.info.metadata["violations"] == "6"
    assert "and 5 more" in error.message


def test_timestamps_and_durations_outside_their_valid_range_are_refused(rating):
    bad_time = item("agent.call", 1)
    bad_time.occurred_at.CopyFrom(timestamp_pb2.Timestamp(seconds=1, nanos=1_000_000_000))
    bad_duration = item("knowledge.storage", 2**40)
    bad_duration.duration.CopyFrom(duration_pb2.Duration(seconds=5, nanos=-1))
    _, violations = quote_error(rating, [bad_time, bad_duration])
    assert violations == [
        ("items[0].occurred_at", "OCCURRED_AT_INVALID"),
        ("items[1].duration", "DURATION_INVALID"),
    ]


def test_empty_and_oversized_batches_are_refused(rating):
    _, empty = quote_error(rating, [])
    assert empty == [("items", "ITEMS_EMPTY")]
    _, full = quote_error(rating, [item("agent.call", 1)] * 10_001)
    assert full == [("items", "ITEMS_TOO_MANY")]


def test_a_refused_batch_does_not_stop_the_server(rating):
    quote_error(rating, [item("no.such.sku", 1)])
    response = rating.Quote(
        rating_service_pb2.QuoteRequest(items=[item("agent.call", 1)] * 10_000), timeout=30
    )
    assert response.total_points == "20000"


def test_ten_thousand_bad_items_still_get_invalid_argument_with_the_first_that_fit_named(
    rating,
):
    error, violations = quote_error(rating, [item("no.such.sku", 1)] * 10_000)
    shown = len(violations)
    assert 10 <= shown <= statuses.MAX_VIOLATIONS
    assert violations == [(f"items[{i}].sku", "SKU_UNKNOWN") for i in range(shown)]
    assert error.info.metadata["violations"] == "10000"
    assert error.info.metadata["violations_shown"] == str(shown)


def on_the_wire(error: grpc.RpcError) -> int:
    """The bytes an error's status took in the trailers."""
    details = dict(error.trailing_metadata())["grpc-status-details-bin"]  # type: ignore[attr-defined]
    return wire_size(error.details(), details)  # type: ignore[attr-defined]


@pytest.mark.parametrize("method", ["Quote", "CommitCharges"])
@pytest.mark.parametrize(
    "letter", ["价", "😀", "\u00e9", "x"], ids=["cjk", "emoji", "latin", "ascii"]
)
def test_many_long_unknown_skus_in_any_script_get_invalid_argument_within_the_trailer_budget(
    rating, account_service, method: str, letter: str
) -> None:
    account_service.CreateAccount(
        account_service_pb2.CreateAccountRequest(account_id="acct-1"), timeout=30
    )
    items = [item(f"{letter * 100}{n}", 1, usage_id=f"u-{n}") for n in range(60)]
    for attempt in range(5):  # the limit gRPC enforces on trailers is a matter of chance
        with pytest.raises(grpc.RpcError) as caught:
            if method == "Quote":
                rating.Quote(rating_service_pb2.QuoteRequest(items=items), timeout=30)
            else:
                rating.CommitCharges(
                    rating_service_pb2.CommitChargesRequest(request_id=f"r-{attempt}", items=items),
                    timeout=30,
                )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()  # type: ignore[attr-defined]
        assert on_the_wire(caught.value) <= statuses.TRAILER_BUDGET
        error = rich_error(caught.value)
        shown = len(error.violations)
        assert shown >= 1
        assert [(v.field, v.reason) for v in error.violations] == [
            (f"items[{n}].sku", "SKU_UNKNOWN") for n in range(shown)
        ]
        assert error.info.metadata["violations"] == "60"
        assert error.info.metadata.get("violations_shown", "60") == str(shown)
        assert "and 59 more" in error.message


def test_a_huge_sku_is_cut_short_in_the_error(rating):
    error, violations = quote_error(rating, [item("x" * 9000, 1)])
    assert violations == [("items[0].sku", "SKU_UNKNOWN")]
    assert len(error.message) < 200
    assert "..." in error.violations[0].description


def test_far_too_many_items_are_refused_before_they_are_decoded(rating):
    _, violations = quote_error(rating, [item("agent.call", 1)] * 100_000)
    assert violations == [("items", "ITEMS_TOO_MANY")]


def test_a_fault_in_the_server_is_internal_and_tells_the_caller_no_internals(
    rating, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rating_server.servicers.rating as servicer

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret internals: /srv/rating.db")

    monkeypatch.setattr(servicer, "rate_batch", broken)  # both paths a Quote may take
    monkeypatch.setattr(servicer.plain_quote.PlainQuoter, "quote", broken)
    with pytest.raises(grpc.RpcError) as caught:
        rating.Quote(rating_service_pb2.QuoteRequest(items=[item("agent.call", 1)]), timeout=30)
    error = rich_error(caught.value)
    assert (error.code, error.info.reason) == (grpc.StatusCode.INTERNAL, "INTERNAL")
    assert "secret" not in error.message
    monkeypatch.undo()
    assert (
        rating.Quote(
            rating_service_pb2.QuoteRequest(items=[item("agent.call", 1)]), timeout=30
        ).total_points
        == "2"
    )


# Either side of the lengths a varint writes in two bytes (and in three), in bytes.
LONG = [16_383, 16_384, 2**21]


@pytest.mark.parametrize("length", LONG)
@pytest.mark.parametrize(
    ("make", "field", "reason"),
    [
        (lambda n: item("agent.call", 1, usage_id="x" * n), "usage_id", "USAGE_ID_INVALID"),
        (lambda n: item("agent.call", 1, usage_id="é" * (n // 2)), "usage_id", "USAGE_ID_INVALID"),
        (lambda n: item("agent.call", 1, account_id="x" * n), "account_id", "ACCOUNT_ID_INVALID"),
        (lambda n: item("x" * n, 1), "sku", "SKU_UNKNOWN"),
        (lambda n: item(f"model.ark.{'x' * n}.output", 1), "sku", "SKU_UNKNOWN"),
        (lambda n: item("agent.call", 1, **{"x" * n: "v"}), "attributes", "ATTRIBUTE_KEY_INVALID"),
        (
            lambda n: item("agent.call", 1, channel="x" * n),
            "attributes",
            "ATTRIBUTE_VALUE_TOO_LONG",
        ),
    ],
    ids=["usage_id", "usage_id-bytes", "account_id", "sku", "sku-pattern", "key", "value"],
)
def test_a_field_of_any_length_is_refused_as_invalid_never_internal(
    rating, make, field, reason, length
):
    _, violations = quote_error(rating, [item("agent.call", 1), make(length)])
    assert violations == [(f"items[1].{field}", reason)]

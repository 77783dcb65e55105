"""The server's settings (``config.py``): each one it cannot use is named, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from rating_server.config import SettingError, Settings, database_label


def test_an_empty_environment_gives_the_documented_defaults() -> None:
    settings = Settings.from_env({})
    assert (settings.listen, settings.db_path, settings.workers) == (
        "127.0.0.1:50051",
        "rating.db",
        1,
    )
    assert (settings.max_concurrent_rpcs, settings.max_future_seconds) == (64, 300)
    assert settings.metrics_listen is None
    assert settings.insecure is False


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("RATING_WORKERS", "two", "RATING_WORKERS (--workers) must be a whole number, 1 to 32"),
        ("RATING_WORKERS", "0", "RATING_WORKERS (--workers) must be 1 to 32, not 0"),
        ("RATING_WORKERS", "33", "RATING_WORKERS (--workers) must be 1 to 32, not 33"),
        ("RATING_WORKERS", "٣", "RATING_WORKERS (--workers) must be a whole number"),
        ("RATING_MAX_CONCURRENT_RPCS", "-1", "RATING_MAX_CONCURRENT_RPCS must be a whole number"),
        ("RATING_MAX_FUTURE_SECONDS", "1e3", "RATING_MAX_FUTURE_SECONDS must be a whole number"),
        ("RATING_METRICS_LISTEN", "nonsense", "RATING_METRICS_LISTEN must be host:port"),
        ("RATING_METRICS_LISTEN", "127.0.0.1:99999", "RATING_METRICS_LISTEN must be host:port"),
        ("RATING_LISTEN", "localhost", "RATING_LISTEN (--listen) must be host:port"),
        ("RATING_LISTEN", ":50051", "RATING_LISTEN (--listen) must be host:port"),
        ("RATING_INSECURE", "maybe", "RATING_INSECURE (--insecure) must be 1 or 0"),
    ],
)
def test_a_setting_it_cannot_use_is_refused_naming_it_and_what_it_takes(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(SettingError) as refused:
        Settings.from_env({variable: value})
    assert str(refused.value).startswith(message), refused.value


@pytest.mark.parametrize(("value", "on"), [("1", True), ("yes", True), ("0", False), ("", False)])
def test_insecure_is_a_switch(value: str, on: bool) -> None:
    assert Settings.from_env({"RATING_INSECURE": value}).insecure is on


def test_a_database_path_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingError, match=r"RATING_DB .* not a directory"):
        Settings.from_env({"RATING_DB": str(tmp_path)})


def test_a_urls_password_is_hidden_wherever_the_database_is_shown() -> None:
    assert database_label("postgresql://u:pw@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert database_label("postgresql://u@h/d") == "postgresql://u@h/d"
    assert database_label("rating.db") == "rating.db"

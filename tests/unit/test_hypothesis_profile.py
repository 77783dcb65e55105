"""No hypothesis test fails by timing, and CI draws the same examples every run.

The profile is set in conftest.py for every test; a test's own @settings must not
bring a deadline or the too_slow health check back.
"""

from __future__ import annotations

import ast
import os
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TESTS = Path(__file__).parents[1]

# Longer than hypothesis's default deadline (200 ms, 250 ms while generating), as an
# example takes on a loaded machine; a sleep lasts at least this long.
SLOWER_THAN_THE_DEFAULT_DEADLINE = 0.3


@settings(max_examples=2)
@given(st.integers())
def test_an_example_slower_than_hypothesis_default_deadline_does_not_fail(_number: int) -> None:
    time.sleep(SLOWER_THAN_THE_DEFAULT_DEADLINE)


def test_the_profile_has_no_deadline_no_speed_check_and_the_same_examples_every_run() -> None:
    repeatable = settings.get_profile("repeatable")
    assert repeatable.deadline is None
    assert HealthCheck.too_slow in repeatable.suppress_health_check
    assert repeatable.derandomize is True
    assert repeatable.database is None  # nothing remembered from an earlier run
    if not os.environ.get("HYPOTHESIS_PROFILE"):  # what make test runs
        assert (settings().derandomize, settings().deadline) == (True, None)


def test_the_explore_profile_draws_random_examples_and_more_of_them_but_is_not_timed() -> None:
    explore = settings.get_profile("explore")
    assert explore.derandomize is False
    assert explore.max_examples > settings.get_profile("repeatable").max_examples
    assert explore.deadline is None
    assert HealthCheck.too_slow in explore.suppress_health_check
    if os.environ.get("HYPOTHESIS_PROFILE") == "explore":
        assert (settings().derandomize, settings().max_examples) == (False, explore.max_examples)


def test_no_test_module_sets_a_deadline_or_the_too_slow_check_of_its_own() -> None:
    found = []
    for module in sorted(TESTS.rglob("*.py")):
        if module.name == "conftest.py" or module == Path(__file__):
            continue
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "deadline":
                found.append(f"{module.relative_to(TESTS)}:{node.value.lineno}: deadline=")
            if isinstance(node, ast.Attribute) and node.attr == "too_slow":
                found.append(f"{module.relative_to(TESTS)}:{node.lineno}: HealthCheck.too_slow")
    assert found == []

"""The tests' own settings, taken out of the environment as soon as the tests start.

They share the FLEETSCOPE_ prefix with the product's variables, which the CLI checks strictly
(an unknown FLEETSCOPE_* variable is an error); removed here, they never reach the product's
settings parser, in this process or in the `fleetscope` processes tests start."""

from __future__ import annotations

import os

TEST_ONLY = ("FLEETSCOPE_FIXTURES", "FLEETSCOPE_TEST_POSTGRES_URL", "FLEETSCOPE_TEST_REDIS_URL")
_VALUES = {name: os.environ.pop(name) for name in TEST_ONLY if name in os.environ}


def variable_for_tests(name: str, default: str) -> str:
    """A test-only variable's value as the run started, or `default`."""
    assert name in TEST_ONLY, name
    return _VALUES.get(name, default)

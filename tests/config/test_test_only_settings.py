"""The tests' own variables (FLEETSCOPE_FIXTURES, FLEETSCOPE_TEST_*) never reach the product's
settings parser (issue 14, item 11): the CLI refuses unknown FLEETSCOPE_* variables, so a test
that starts `fleetscope` under them used to exit 2."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO_ROOT
from tests.env import TEST_ONLY


def test_the_cli_runs_in_the_tests_environment() -> None:
    assert not any(name in os.environ for name in TEST_ONLY)
    result = subprocess.run(
        [sys.executable, "-m", "fleetscope.cli", "collectors"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_a_run_with_every_test_variable_set_starts_the_cli() -> None:
    env = {
        **os.environ,
        "FLEETSCOPE_FIXTURES": str(REPO_ROOT.parent / "shared" / "fixtures"),
        "FLEETSCOPE_TEST_POSTGRES_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        "FLEETSCOPE_TEST_REDIS_URL": "redis://127.0.0.1:6379/0",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"{__file__}::test_the_cli_runs_in_the_tests_environment",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:]

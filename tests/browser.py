"""Waiting on the page's state in browser tests. The dashboard's CSP forbids evaluating strings
(no 'unsafe-eval'), and playwright's wait_for_function evaluates its predicate that way, so the
tests poll with page.evaluate (a function call through the debugging protocol, not an eval)."""

from __future__ import annotations

import time
from typing import Any


def wait_true(page: Any, function: str, arg: object = None, timeout: float = 30.0) -> Any:
    """Call the JavaScript `function` (source text of a function of one argument) until it
    returns something truthy, and return that; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = page.evaluate(function, arg)
        if found:
            return found
        assert time.monotonic() < deadline, f"not true after {timeout} s: {function}"
        time.sleep(0.1)

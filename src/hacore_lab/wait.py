"""Waiting on a condition with a deadline: the only way tests and the lab synchronise."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(pred: Callable[[], object], timeout_s: float, what: str, interval_s: float = 0.02) -> object:
    """Poll pred until it returns something true; TimeoutError naming `what` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = pred()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(interval_s)


def holds_for(pred: Callable[[], object], duration_s: float, what: str, interval_s: float = 0.05) -> None:
    """Check that pred stays true for duration_s: how a test shows that something does not happen."""
    deadline = time.monotonic() + duration_s
    while time.monotonic() < deadline:
        if not pred():
            raise AssertionError(f"no longer true: {what}")
        time.sleep(interval_s)

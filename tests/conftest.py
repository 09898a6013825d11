"""Shared test settings. HACORE_NO_SKIP=1 (set by .ci/run) turns every
"capability missing" skip into a failure, so CI cannot pass by skipping."""

from __future__ import annotations

import os

import pytest

from hacore.native import strict


def need(condition: bool, why: str) -> None:
    """Skip when a capability is missing; fail instead where HACORE_NO_SKIP=1."""
    if condition:
        return
    if strict():
        pytest.fail(f"{why} (HACORE_NO_SKIP=1: a missing capability is an error here)")
    pytest.skip(why)


def is_root() -> bool:
    return os.geteuid() == 0

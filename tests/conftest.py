"""Shared test settings. HACORE_NO_SKIP=1 (set by .ci/run) turns every
"capability missing" skip into a failure, so CI cannot pass by skipping."""

from __future__ import annotations

import os

import pytest

import hacore


def strict() -> bool:
    """True where a missing capability must fail rather than skip (CI)."""
    return os.environ.get("HACORE_NO_SKIP") == "1"


if strict() and not hacore.has_fastpath:  # a broken build must not pass as a slow one
    raise ImportError("hacore._fastpath is not built (HACORE_NO_SKIP=1 makes this an error): run tools/setup.sh")


def need(condition: bool, why: str) -> None:
    """Skip when a capability is missing; fail instead where HACORE_NO_SKIP=1."""
    if condition:
        return
    if strict():
        pytest.fail(f"{why} (HACORE_NO_SKIP=1: a missing capability is an error here)")
    pytest.skip(why)


def is_root() -> bool:
    return os.geteuid() == 0

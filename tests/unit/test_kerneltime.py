"""Kernel receive stamps on the monotonic clock."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from hacore.support import kerneltime


def test_a_stamp_is_put_on_the_monotonic_clock_and_one_missing_is_none() -> None:
    offset = kerneltime.real_minus_mono_ns()
    assert abs(offset - (time.time_ns() - time.monotonic_ns())) < 5_000_000  # the two clocks' distance
    stamp = struct.pack("@qq", 1_700_000_000, 250)
    anc = [(socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT, struct.pack("@i", 255)),
           (socket.SOL_SOCKET, kerneltime.SO_TIMESTAMPNS, stamp)]
    assert kerneltime.stamped_ns(anc, 1_000) == 1_700_000_000 * 1_000_000_000 + 250 - 1_000
    assert kerneltime.stamped_ns(anc[:1], 0) is None


def test_the_offset_is_taken_from_the_tightest_bracket(monkeypatch: pytest.MonkeyPatch) -> None:
    """A switch between the reads (here 5 ms inside the first bracket) does not shift the offset."""
    mono = iter([0, 5_000_000, 10_000_000, 10_000_010])  # bracket 1: 5 ms wide; bracket 2: 10 us
    real = iter([1_000_000_000, 1_010_000_000])
    monkeypatch.setattr(kerneltime.time, "monotonic_ns", lambda: next(mono))
    monkeypatch.setattr(kerneltime.time, "time_ns", lambda: next(real))
    assert kerneltime.real_minus_mono_ns() == 1_010_000_000 - 10_000_005

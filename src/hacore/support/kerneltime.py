"""The kernel's receive time of a datagram, on our monotonic clock.

The kernel stamps what it receives on CLOCK_REALTIME (SO_TIMESTAMPNS);
our timers run on CLOCK_MONOTONIC. A datagram's age must be measured from
that stamp, not from when a busy loop got round to reading it: the time it
waited in our own socket is ours, not the network's.

Rules: pure apart from reading the two clocks.
"""

from __future__ import annotations

import socket
import struct
import time

SO_TIMESTAMPNS = 35  # <asm-generic/socket.h>; not exported by Python's socket module
CMSG_SPACE = socket.CMSG_SPACE(16)  # one struct timespec


def real_minus_mono_ns(tries: int = 5, tight_ns: int = 20_000) -> int:
    """CLOCK_REALTIME - CLOCK_MONOTONIC now, as the tightest of a few bracketed samples: a thread switch
    between two bare reads (the GIL going to a busy worker, or preemption) shifted every arrival by as
    much - milliseconds under load, enough to make fresh adverts look stale and time a live peer out."""
    best_width, best = -1, 0
    for _ in range(tries):
        m1 = time.monotonic_ns()
        r = time.time_ns()
        m2 = time.monotonic_ns()
        if best_width < 0 or m2 - m1 < best_width:
            best_width, best = m2 - m1, r - (m1 + m2) // 2
        if best_width <= tight_ns:
            break
    return best


def stamped_ns(anc: list[tuple[int, int, bytes]], offset_ns: int) -> int | None:
    """The SO_TIMESTAMPNS stamp among a recvmsg()'s ancillary data, on the monotonic clock (None without)."""
    for level, kind, value in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
            sec, nsec = struct.unpack("@qq", value[:16])
            return int(sec) * 1_000_000_000 + int(nsec) - offset_ns
    return None

"""A deadline on the loop that fires to the microsecond: a timerfd read by
the loop, for the election's timer.

Why: asyncio waits in epoll_wait, whose timeout has a resolution of one
millisecond and is rounded up, so a call_at() fires up to 1 ms late - at a
0.01 s delay a tenth of it, on every takeover. A timerfd armed at the
deadline on CLOCK_MONOTONIC (the clock of time.monotonic and the loop)
makes its descriptor readable at that instant, and epoll wakes on a
readable descriptor at once.

Rules: Linux only (timerfd since 2.6.25); one deadline at a time, re-armed
or disarmed at will; a firing that was disarmed before the loop got to it
calls nothing. Python has os.timerfd_create from 3.13 on; until then libc's,
through ctypes.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
from collections.abc import Callable

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.timerfd_settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Itimerspec), ctypes.c_void_p]


class Deadline:
    """Calls fire() on the loop once CLOCK_MONOTONIC reaches the armed instant."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fire: Callable[[], None]):
        fd = _libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), f"timerfd_create: {os.strerror(ctypes.get_errno())}")
        self.fd = fd
        self._loop = loop
        self._fire = fire
        loop.add_reader(fd, self._readable)

    def arm(self, at_us: int) -> None:
        """Fire at at_us (monotonic microseconds; one already past fires at once)."""
        self._set(max(1, at_us))  # an it_value of zero would disarm

    def disarm(self) -> None:
        self._set(0)

    def close(self) -> None:
        self._loop.remove_reader(self.fd)
        os.close(self.fd)

    def _set(self, at_us: int) -> None:
        spec = _Itimerspec(_Timespec(0, 0), _Timespec(at_us // 1_000_000, at_us % 1_000_000 * 1000))
        if _libc.timerfd_settime(self.fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None) < 0:
            raise OSError(ctypes.get_errno(), f"timerfd_settime: {os.strerror(ctypes.get_errno())}")

    def _readable(self) -> None:
        try:
            os.read(self.fd, 8)  # the count of expirations; reading it makes the descriptor quiet again
        except BlockingIOError:
            return  # re-armed or disarmed after epoll saw it fire: not due any more
        self._fire()

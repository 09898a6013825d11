"""The spare's election loop at real-time priority
(`node.timing.realtime_spare`), made safe to run there.

Why: the spare decides that the master is dead on its asyncio loop, so a
loop kept waiting by other work delays the takeover (bench/README.md, at
each stack's floor: at 0.01 s the spare's first GARP came 11.2-11.4 ms
after the master's last advert with the loop up here, 11.6-21.9 ms
without).

Rules:
- Only while backup: the spare's loop takes the decision; a master's loop
  handles the table's events in bursts and must not starve the kernel's
  own threads (ksoftirqd forwards under load), so as master it runs at
  normal priority; so it does while the daemon starts (its one-off work,
  imports and first checks, is no loop turn): until the daemon says it
  has started, SETTLE_S at most.
- One below the sender thread, so the loop never holds an advert back.
- SCHED_RESET_ON_FORK: the threads and processes the loop starts (the
  executor, notify hooks) begin at normal priority instead of inheriting it.
- Helpers share the loop's priority: a worker that runs Python for the
  spare (the conntrack writer) takes the GIL, which inherits no priority.
  At normal priority, preempted by busy processes while it held it, the
  writer kept the real-time loop waiting up to 39 ms at 0.01 s under every
  load at once; sharing it, 5.6 ms (one minute each, bench/README.md).
- A runaway guard: RLIMIT_RTTIME has the kernel send SIGXCPU when a
  real-time thread ran RUNAWAY_US of CPU without blocking; the loop then
  drops to normal priority at once (counted, logged) and goes back up only
  after CALM_S without another.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import signal
import threading
import time
from typing import Any

from hacore.config.model import Realtime, Timing
from hacore.support.logfmt import log

logger = logging.getLogger("hacore.spareloop")
RUNAWAY_US = 200_000  # twenty delays at 0.01 s of CPU without a blocking call: no loop turn, a runaway
CALM_S = 10.0
SETTLE_S = 5.0
_POLICY = {Realtime.FIFO: os.SCHED_FIFO, Realtime.RR: os.SCHED_RR}


class SpareLoop:
    """The scheduling of the calling (loop) thread, following the node's role."""

    def __init__(self, timing: Timing, settle_s: float = SETTLE_S):
        self.wanted = timing.realtime_spare and timing.realtime != Realtime.OFF
        self.policy = _POLICY.get(timing.realtime, os.SCHED_OTHER)
        self.priority = timing.realtime_priority - 1
        self.name = f"{timing.realtime} priority {self.priority}"
        self.tid = threading.get_native_id()
        self.settle_s = settle_s
        self.state = "off (not configured)"
        self.demotions = 0
        self._backup = False
        self._rt = False
        self._not_before = 0.0  # monotonic: no real-time priority before (the start settling, a runaway's calm)
        self._held = ""  # why not before then
        self._settling = False
        self._old_handler: Any = None
        self._old_rttime: tuple[int, int] | None = None
        self._helpers: set[int] = set()  # worker threads (kernel ids) that share the loop's scheduling
        self._lock = threading.RLock()  # helpers join from their own threads; RLock: SIGXCPU runs on ours

    def start(self) -> None:
        if self.wanted:
            self._old_handler = signal.signal(signal.SIGXCPU, self._runaway)  # before the limit: SIGXCPU kills
            self._old_rttime = resource.getrlimit(resource.RLIMIT_RTTIME)
            self._not_before = time.monotonic() + self.settle_s
            self._settling = True
            self._held = f"while the daemon starts (at most {self.settle_s:g} s)"
            self.state = f"normal {self._held}; {self.name} as backup"

    def settled(self) -> None:
        """The daemon's start is done (a node restarted later has nothing of it to wait for)."""
        if self._settling:
            self._settling = False
            self._not_before = 0.0
            self._apply()

    def follow(self, backup: bool) -> None:
        """The role changed (on the loop thread)."""
        self._backup = backup
        self._apply()

    async def keep(self) -> None:
        """Goes up once the start settled, and again CALM_S after a runaway (a supervised task)."""
        while True:
            await asyncio.sleep(1.0)
            if self.wanted and self._backup and not self._rt and time.monotonic() >= self._not_before:
                self._apply()
                if self._rt:
                    log(logger, "spare_loop_realtime", state=self.state)

    def close(self) -> None:
        self._backup = False
        self._apply()
        if self._old_rttime is not None:  # the limit first: with the old handler back, SIGXCPU would kill
            resource.setrlimit(resource.RLIMIT_RTTIME, self._old_rttime)
            self._old_rttime = None
        if self._old_handler is not None:
            signal.signal(signal.SIGXCPU, self._old_handler)
            self._old_handler = None

    def info(self) -> dict[str, Any]:
        return {"state": self.state, "runaway_demotions": self.demotions, "helper_tids": sorted(self._helpers)}

    def join(self, tid: int) -> None:
        """A worker thread (its kernel id) that runs Python for the spare: it takes the loop's scheduling,
        now and at every change, until it leaves."""
        with self._lock:
            self._helpers.add(tid)
            if self._rt:
                self._set_helper(tid, True)

    def leave(self, tid: int) -> None:
        with self._lock:
            self._helpers.discard(tid)

    def _set_helper(self, tid: int, rt: bool) -> None:
        try:
            self._set(tid, rt)
        except OSError:
            self._helpers.discard(tid)  # ended (ESRCH): the loop's own answer decides `wanted`

    def _set(self, tid: int, rt: bool) -> None:
        if rt:
            os.sched_setscheduler(tid, self.policy | os.SCHED_RESET_ON_FORK, os.sched_param(self.priority))
        else:
            os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))

    def _apply(self) -> None:
        want = self.wanted and self._backup and time.monotonic() >= self._not_before
        if want != self._rt:
            try:
                if want:
                    _arm_rttime()
                self._set(self.tid, want)
            except OSError as exc:
                self.wanted = False  # not asked again: the answer would be the same
                self.state = f"not in force: {exc.strerror or exc} (needs CAP_SYS_NICE or LimitRTPRIO)"
                return
            self._rt = want
            self._set_helpers()
        if self.wanted:
            self.state = (f"{self.name} (backup)" if self._rt else "normal (not backup)" if not self._backup
                          else f"normal {self._held}; {self.name} after that")

    def _set_helpers(self) -> None:
        with self._lock:
            for tid in list(self._helpers):
                self._set_helper(tid, self._rt)

    def _runaway(self, _signum: int, _frame: object) -> None:
        """SIGXCPU: a real-time thread ran RUNAWAY_US without blocking; runs on the loop's own thread."""
        if not self._rt:
            return  # not the loop: the sender thread blocks every period, so this is nobody's to handle
        os.sched_setscheduler(self.tid, os.SCHED_OTHER, os.sched_param(0))
        self._rt = False
        self._set_helpers()
        self._not_before = time.monotonic() + CALM_S
        self._settling = False
        self.demotions += 1
        self._held = f"for {CALM_S:g} s: demoted after {RUNAWAY_US // 1000} ms of CPU without blocking"
        self.state = f"normal {self._held}; {self.name} after that"
        log(logger, "spare_loop_runaway", logging.WARNING, ran_ms=RUNAWAY_US // 1000, demotions=self.demotions)


def _arm_rttime() -> None:
    """The kernel raises the soft limit by a second each time it signals; set it back before going up."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_RTTIME)
    resource.setrlimit(resource.RLIMIT_RTTIME, (RUNAWAY_US if hard == resource.RLIM_INFINITY
                                                else min(RUNAWAY_US, hard), hard))


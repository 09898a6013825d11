"""The advert sender thread (hacore._fastpath.AdvertSender) as the daemon
uses it: its lease, its counters' reserve, and the scheduling a node opts
into (real-time priority, CPU affinity, locked memory), and the daemon's
share of the normal scheduler.

Rules: the thread decides nothing; the machine says which priority and
how often, and renews the lease with every advert it would have sent. What
was asked of the kernel and what it granted is kept, so `cluster info` can
say which settings are in force and why the others are not.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

from hacore.config.model import Realtime, Timing
from hacore.native import fastpath
from hacore.security.replay import CounterSource
from hacore.vrrp import timing

_POLICY = {Realtime.FIFO: os.SCHED_FIFO, Realtime.RR: os.SCHED_RR}
# Without real-time priority the thread still asks for the largest share of the normal scheduler, as
# keepalived's vrrp_priority -20 does: it sleeps between adverts, so the share costs nothing, and at nice 0
# under every load at once it was held 163 ms at 0.03 s - five times the spare's wait (bench/README.md).
NICE = -20


def available() -> bool:
    return fastpath is not None


class FastSender:
    """One AdvertSender thread with the node's scheduling applied."""

    def __init__(self, key: bytes, counter: CounterSource | None, timing: Timing):
        assert fastpath is not None
        self.timing = timing
        self.thread = fastpath.AdvertSender()
        self.counter = counter
        if counter is not None:
            self.thread.set_hmac(key, counter.base, counter.mono0, counter.last)
        self.scheduling: dict[str, str] = {}

    def rekey(self, key: bytes) -> None:
        """Seal with key from the next advert on; the counters go on."""
        if self.counter is not None:
            self.thread.set_hmac(key, self.counter.base, self.counter.mono0, self.counter.last)

    def start(self) -> None:
        self.thread.start()
        self.scheduling = apply_thread(self.thread.tid, self.timing)

    def go(self, priority: int, period_us: int, update_trigger_delay_us: int) -> bool:
        return bool(self.thread.go(priority, period_us * 1000, timing.lease_us(update_trigger_delay_us) * 1000))

    def quiet(self) -> None:
        self.thread.quiet()

    def stop(self) -> None:
        """Priority 0 once more if it was sending, then the thread is joined."""
        self.thread.stop()

    def set_targets(self, targets: list[tuple[int, bytes, bytes, bytes, int, bytes]]) -> None:
        self.thread.set_targets(targets)

    def reserve(self) -> None:
        """Before the high-water mark is computed: the thread's counters count as used."""
        if self.counter is not None:
            self.counter.observe(self.thread.counter_last)

    def persisted(self, hwm: int) -> None:
        """The mark is on disk: counters up to it may be used."""
        self.thread.set_counter_limit(hwm)

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.thread.stats()
        return stats | {"tid": self.thread.tid}


def apply_thread(tid: int, timing: Timing) -> dict[str, str]:
    """Real-time policy (or, without it, nice NICE) and CPU affinity for the sender thread; each setting says
    what came of it."""
    out: dict[str, str] = {}
    if timing.realtime == Realtime.OFF:
        out["realtime"] = "off (not configured)"
        try:
            os.setpriority(os.PRIO_PROCESS, tid, NICE)  # a thread id: this thread alone
            out["nice"] = str(os.getpriority(os.PRIO_PROCESS, tid))
        except OSError as exc:
            out["nice"] = f"not in force: {_why(exc, 'CAP_SYS_NICE or LimitNICE')}"
    else:
        try:
            os.sched_setscheduler(tid, _POLICY[timing.realtime], os.sched_param(timing.realtime_priority))
            out["realtime"] = f"{timing.realtime} priority {timing.realtime_priority}"
        except OSError as exc:
            out["realtime"] = f"not in force: {_why(exc, 'CAP_SYS_NICE or LimitRTPRIO')}"
    if not timing.cpu_affinity:
        out["cpu_affinity"] = "any CPU (not configured)"
    else:
        try:
            os.sched_setaffinity(tid, set(timing.cpu_affinity))
            out["cpu_affinity"] = ",".join(map(str, sorted(os.sched_getaffinity(tid))))
        except OSError as exc:
            out["cpu_affinity"] = f"not in force: {_why(exc, 'CPUs of this cpuset')}"
    return out


AUTOGROUP = Path("/proc/self/autogroup")
AUTOGROUP_ENABLED = Path("/proc/sys/kernel/sched_autogroup_enabled")


def share_group() -> str:
    """The daemon's scheduling group at nice NICE; what came of it.

    With autogroups on (Debian's default), the normal scheduler shares the CPUs between sessions first
    and by nice only within one, and a daemon runs in a session of its own (systemd, `hacore lab`): the
    sender at nice -20 in a group at nice 0 waited runnable up to 390 ms under every load at once, 19
    false failovers in two minutes at 0.03 s; with the group at -20 too, none (bench/README.md). As
    keepalived's vrrp_priority and conntrackd's Nice do for their whole process. A cpu cgroup (systemd's
    CPUWeight=) takes the autogroup's place where one is set."""
    try:
        if AUTOGROUP_ENABLED.read_text().strip() == "0":
            return "off (the kernel's autogroups are off: the sender thread's nice holds)"
    except FileNotFoundError:
        return "off (no autogroups in this kernel: the sender thread's nice holds)"
    if os.getsid(0) != os.getpid():
        return "not in force: the daemon shares its session's group (start it in a session of its own)"
    try:
        AUTOGROUP.write_text(f"{NICE}\n")
        return AUTOGROUP.read_text().strip()
    except OSError as exc:
        return f"not in force: {_why(exc, 'CAP_SYS_NICE')}"


def lock_memory(timing: Timing) -> str:
    """mlockall for the whole daemon, when configured; what came of it."""
    if not timing.lock_memory:
        return "off (not configured)"
    if fastpath is None:
        return "not in force: hacore._fastpath is not built"
    err = fastpath.lock_memory()
    if err:
        return f"not in force: {_why(OSError(err, os.strerror(err)), 'CAP_IPC_LOCK or LimitMEMLOCK')}"
    return "locked (current and future pages)"


def _why(exc: OSError, needs: str) -> str:
    if exc.errno in (errno.EPERM, errno.EACCES, errno.ENOMEM):
        return f"{exc.strerror} (needs {needs})"
    return exc.strerror or str(exc)

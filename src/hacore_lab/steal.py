"""The time the hypervisor took this machine's virtual CPUs away (steal time,
/proc/stat), sampled while a bench runs, and set beside the advert gaps it
measured: a vCPU that is not running cannot send, whatever its priority.

/proc/stat counts steal in USER_HZ ticks (10 ms here), so a sample says only
that the count crossed a tick between two reads; a gap "has steal" when such
an interval overlaps it. The base rate is the same question asked of every
window of the same length in the run: how often steal lands there by
chance. Rules: bounded by the caller's stop(); the attribution is pure.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Iterable

PERIOD_S = 0.005
TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def read_steal_ticks(text: str) -> int:
    """All CPUs' steal (the aggregate `cpu` line's eighth value) from /proc/stat's text."""
    for line in text.splitlines():
        if line.startswith("cpu "):
            fields = line.split()
            return int(fields[8]) if len(fields) > 8 else 0
    return 0


class StealSampler:
    """Reads /proc/stat every PERIOD_S on a thread; keeps each interval (wall-clock ns) in which steal grew."""

    def __init__(self) -> None:
        self.grew: list[tuple[int, int, int]] = []  # (after ns, by ns, ticks)
        self.start_ns = self.end_ns = 0
        self.ticks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="steal-sampler", daemon=True)

    def start(self) -> StealSampler:
        self.start_ns = time.time_ns()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.end_ns = time.time_ns()

    def _run(self) -> None:
        with open("/proc/stat") as f:
            last, last_ns = read_steal_ticks(f.read()), time.time_ns()
            while not self._stop.wait(PERIOD_S):
                f.seek(0)
                now, now_ns = read_steal_ticks(f.read()), time.time_ns()
                if now > last:
                    self.grew.append((last_ns, now_ns, now - last))
                    self.ticks += now - last
                last, last_ns = now, now_ns

    def steal_ms(self) -> float:
        return round(self.ticks * TICK_MS, 1)


def _overlaps(a: int, b: int, grew: Iterable[tuple[int, int, int]]) -> bool:
    return any(s < b and e > a for s, e, _ in grew)


def attribute(arrivals_ns: list[int], over_ns: int, grew: list[tuple[int, int, int]], start_ns: int,
              end_ns: int) -> dict[str, float | int]:
    """The gaps between arrivals of over_ns or more, how many overlap an interval in which steal grew, and
    the share of all windows of their median length that do (the chance of it)."""
    long = [(a, b) for a, b in itertools.pairwise(arrivals_ns) if b - a >= over_ns]
    out: dict[str, float | int] = {"long_gaps": len(long),
                                   "long_gaps_with_steal": sum(_overlaps(a, b, grew) for a, b in long)}
    if long and end_ns > start_ns:
        d = sorted(b - a for a, b in long)[len(long) // 2]
        # A window [x, x + d] meets steal that grew in [s, e] when s - d < x < e: the union of those.
        covered, edge, last = 0, start_ns, end_ns - d
        for s, e, _ in sorted(grew):
            lo, hi = max(s - d, edge), min(e, last)
            if hi > lo:
                covered += hi - lo
                edge = hi
        out["steal_chance_pct"] = round(100 * covered / max(1, last - start_ns), 1)
    return out

"""How late the daemon's asyncio loop runs: a timer every PERIOD_S, and how
long after its deadline each wake-up came. Everything the loop serves (the
CLI, netlink, conntrack sync, the election's own timers when adverts are
sent from the loop) waits that long too.

Rules: the histogram is pure (Lateness); the monitor only samples. The
advert sender thread (hacore._fastpath) counts its lateness in these same
buckets, so the two can be read side by side.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections import deque
from typing import Any

from hacore.support.stats import percentile

PERIOD_S = 0.05  # 20 wake-ups a second: cheap, and finer than any delay worth configuring
BUCKETS_US = (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000)
RECENT = 1200  # the last minute of samples for the recent p99


def bucket_names() -> list[str]:
    return [f"<{b}us" for b in BUCKETS_US] + [f">={BUCKETS_US[-1]}us"]


class Lateness:
    def __init__(self) -> None:
        self.hist = [0] * (len(BUCKETS_US) + 1)
        self.worst_us = 0.0
        self.samples = 0
        self.recent: deque[float] = deque(maxlen=RECENT)

    def note(self, late_us: float) -> None:
        late_us = max(0.0, late_us)
        self.hist[bisect_right(BUCKETS_US, late_us)] += 1
        self.samples += 1
        self.worst_us = max(self.worst_us, late_us)
        self.recent.append(late_us)

    def info(self) -> dict[str, Any]:
        p99 = percentile(self.recent, 99)
        return {"samples": self.samples, "worst_ms": round(self.worst_us / 1e3, 3),
                "p99_last_minute_ms": round(p99 / 1e3, 3),
                "histogram": {n: c for n, c in zip(bucket_names(), self.hist, strict=True) if c}}


async def monitor(lateness: Lateness) -> None:
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + PERIOD_S
        await asyncio.sleep(PERIOD_S)
        lateness.note((loop.time() - due) * 1e6)

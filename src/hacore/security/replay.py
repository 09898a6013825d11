"""Message counters that no restart, crash or clock step can make repeat,
and the receiver's window that refuses replays, also after it restarts.

Sender: counter = base + time elapsed on CLOCK_MONOTONIC since start, where
base is at least a high-water mark persisted *before* any counter beyond it
is used (reserved RESERVE_US ahead). A crash or power loss therefore never
reuses a counter, and wall-clock steps on the sender change nothing: the
counter advances at the rate of real time.

Receiver, per sender: (1) a counter must exceed the last one accepted, and
the last one survives restarts (persisted about once a second); (2) a
counter must keep pace with real time: its lead over our monotonic clock may
fall at most TOLERANCE_US (network and queueing delay) plus DRIFT_PPM of the
elapsed time behind the best lead seen. (2) is why a replay is bounded even
when (1) forgets: captured adverts fall behind real time as they are held
back, so an attacker replaying after our restart gains at most the span of
counters newer than the persisted one plus the tolerance - never the
minute-old capture that would keep us backup for as long as it lasts. A
clock window against our wall clock was rejected: it breaks on any clock
step on either node, and without NTP on both.

Rules: pure; times are integer microseconds passed in; callers persist.
"""

from __future__ import annotations

from dataclasses import dataclass

RESERVE_US = 60_000_000  # counters reserved per persisted high-water mark
TOLERANCE_US = 2_000_000  # delay a genuine message may have on the way
DRIFT_PPM = 1_000  # worst rate difference of two monotonic clocks (NTP slews at most 500 ppm each)


class CounterSource:
    """The sender's counters. The caller writes .hwm to disk before the first next(), and each value
    want_hwm() returns, so no counter is ever used past a mark that is not on disk."""

    def __init__(self, stored_hwm: int, now_mono_us: int, now_real_us: int):
        self.base = max(stored_hwm, now_real_us)  # wall clock only as a floor when nothing is stored
        self.mono0 = now_mono_us
        self.last = self.base - 1
        self.hwm = self.base + RESERVE_US  # the caller persists this before the first next()

    def next(self, now_mono_us: int) -> int:
        self.last = max(self.last + 1, self.base + now_mono_us - self.mono0)
        return self.last

    def observe(self, used: int) -> None:
        """A counter drawn elsewhere from the same base (the advert sender thread) counts as used."""
        self.last = max(self.last, used)

    def want_hwm(self) -> int | None:
        """A new high-water mark to persist once half the reserve is used, else None."""
        if self.last + RESERVE_US // 2 < self.hwm:
            return None
        self.hwm = self.last + RESERVE_US
        return self.hwm


@dataclass
class _Sender:
    last: int
    lead_ref: int | None = None  # best counter - now seen, decayed by DRIFT_PPM from lead_at
    lead_at: int = 0


class ReplayWindow:
    """Accepts each sender's counters once, in order, and only while they keep pace with real time."""

    def __init__(self, persisted: dict[str, int] | None = None, tolerance_us: int = TOLERANCE_US):
        self.tolerance_us = tolerance_us
        self.senders = {k: _Sender(v) for k, v in (persisted or {}).items()}
        self.dirty = False

    def check(self, sender: str, counter: int, now_us: int) -> str:
        """'ok' (and remembered), 'replay' (not newer) or 'stale' (fallen behind real time)."""
        s = self.senders.get(sender)
        if s is not None and counter <= s.last:
            return "replay"
        lead = counter - now_us
        if s is not None and s.lead_ref is not None:
            ref = s.lead_ref - (now_us - s.lead_at) * DRIFT_PPM // 1_000_000
            if lead < ref - self.tolerance_us:
                return "stale"
            if lead <= ref:
                s.last, self.dirty = counter, True
                return "ok"
        if s is None:
            s = self.senders[sender] = _Sender(counter)
        s.last, s.lead_ref, s.lead_at, self.dirty = counter, lead, now_us, True
        return "ok"

    def snapshot(self) -> dict[str, int]:
        """What to persist: the last counter of every sender."""
        self.dirty = False
        return {k: s.last for k, s in self.senders.items()}

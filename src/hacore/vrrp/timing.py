"""Advert timing: every formula that turns the failover delay
(UPDATE_TRIGGER_DELAY) into an interval, in one place.

The backup waits the whole delay (the seed's promise: the switchover comes
that long after the failure, no skew added). The adverts announce a third
of it as their Max Adver Int, so a peer (or keepalived) that waits three
announced intervals waits the delay; we send every quarter, which puts a
fourth advert inside that wait: three adverts in a row may be lost, or one
may be late by three quarters of the delay, before the backup moves.
Sending every third (RFC 5798 with no skew) left a margin of zero: the third
advert was due at the very instant the backup gave up, and every false
failover in the soak of issue 9 was such an advert.

Rules: pure; integer microseconds in and out (seconds only where a caller
sleeps in seconds); imports only the codec's field limits.
"""

from __future__ import annotations

from hacore.vrrp.codec import V3_MAX_INTERVAL_CS

# The lease: how long the thread keeps sending without hearing from the control plane. A lease the
# loop can miss while merely busy turns load into the very false failover the thread exists to prevent.
# The asyncio loop woke up to 119 ms late under a forwarding flood (issue 9's soak), and up to 357 ms
# under busy CPUs + a flood + 40k/s conntrack churn (issue 21's floor soak, where a 250 ms lease lapsed:
# 66 false failovers a minute at 0.01 s); a second is the floor. Above it, one delay: a wedged control
# plane is silent within about a second more than a dead node would be.
LEASE_MIN_US = 1_000_000
ADVERTS_PER_DELAY = 4  # adverts sent within one delay
ANNOUNCED_PER_DELAY = 3  # the announced Max Adver Int is a third of the delay


def advert_interval_us(delay_us: int) -> int:
    """How often a master sends."""
    return delay_us // ADVERTS_PER_DELAY


def announced_interval_cs(delay_us: int, version: int) -> int:
    """The Max Adver Int we announce: a third of the delay, in centiseconds (VRRPv2: whole seconds)."""
    if version == 2:
        return max(1, round(delay_us / (ANNOUNCED_PER_DELAY * 1_000_000))) * 100
    return max(1, min(V3_MAX_INTERVAL_CS, round(delay_us / (ANNOUNCED_PER_DELAY * 10_000))))


FLOOR_INTERVAL_US = 10_000  # the shortest Max Adver Int a VRRPv3 packet carries: one centisecond


def master_down_us(delay_us: int, peer_interval_us: int) -> int:
    """How long a backup waits after the peer's last advert: our delay, but never shorter than three of
    the peer's announced intervals (a peer with a longer interval must not look dead between two). A
    peer announcing the one-centisecond floor may send faster than it can say (any delay under 45 ms
    announces it): there the pair's shared delay decides, and a peer that truly sends every 10 ms
    (keepalived at its floor) needs a delay of 0.03 s or more."""
    if peer_interval_us <= FLOOR_INTERVAL_US:
        return delay_us
    return max(delay_us, ANNOUNCED_PER_DELAY * peer_interval_us)


def lease_us(delay_us: int) -> int:
    """How long the advert sender thread keeps sending without word from the control plane."""
    return max(LEASE_MIN_US, delay_us)


def status_interval_s(delay_s: float) -> float:
    """How often a node sends its status on the hotwire: as often as the announced advert interval."""
    return delay_s / ANNOUNCED_PER_DELAY

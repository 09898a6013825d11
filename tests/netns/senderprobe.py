"""Drives the compiled advert sender against a real raw socket, inside a
namespace the test made (veth snd0 <-> snd1, 192.0.2.1 and .2). Prints one JSON
document of what it saw; the test asserts on it. Every wait is on a
condition with a deadline.

    ip netns exec NS python -m tests.netns.senderprobe
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from ipaddress import ip_address

from hacore import _fastpath
from hacore.security.replay import CounterSource, ReplayWindow
from hacore.vrrp import codec
from hacore.vrrp.auth import Verifier
from hacore.vrrp.codec import Advert, Expect
from hacore.vrrp.drops import Checksum, Drop
from hacore.vrrp.sockets import LinkSockets

KEY = b"k" * 32
PERIOD_NS = 20_000_000


def wait(cond: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    end = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > end:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.002)


def main() -> None:
    tx = LinkSockets("snd0", socket.if_nametoindex("snd0"), socket.AF_INET, "192.0.2.1")
    rx = LinkSockets("snd1", socket.if_nametoindex("snd1"), socket.AF_INET, "192.0.2.2")
    expect = Expect(version=3, vrid=50, checksum=Checksum.PSEUDO, trailer_len=24)
    verifier = Verifier(KEY, ReplayWindow())
    got: list[dict[str, int]] = []

    def pump() -> None:
        for r in rx.drain():
            parts = codec.split_ipv4(r.data)
            assert not isinstance(parts, Drop)
            src, dst, ttl, payload = parts
            adv = codec.decode(payload, src, dst, ttl, expect)
            verdict = verifier.check("a", payload, src, dst, r.arrival_mono_ns // 1000)
            got.append({"priority": -1 if isinstance(adv, Drop) else adv.priority, "verdict": int(verdict),
                        "tos": r.data[1], "ttl": ttl})

    def heard(n: int) -> Callable[[], bool]:
        def cond() -> bool:
            pump()
            return len(got) >= n
        return cond

    threads_before = len(os.listdir("/proc/self/task"))
    counter = CounterSource(0, time.monotonic_ns() // 1000, time.time_ns() // 1000)
    s = _fastpath.AdvertSender()
    s.set_hmac(KEY, counter.base, counter.mono0, counter.last)
    msg = codec.encode(Advert(3, 50, 0, 2, (ip_address("192.0.2.100"),)), tx.src, tx.dst)
    s.set_targets([(tx.tx.fileno(), tx.sockaddr(), tx.src, tx.dst, int(Checksum.PSEUDO), msg)])
    s.start()
    out: dict[str, object] = {"tid_running": s.tid != 0,
                              "threads_while_running": len(os.listdir("/proc/self/task")) - threads_before}
    s.go(100, PERIOD_NS, 10 * PERIOD_NS)
    wait(lambda: s.stats()["wakeups"] >= 1, "a wake-up")
    out["before_persisted"] = {"received": heard(1)(), "counter_exhausted": s.stats()["counter_exhausted"]}
    s.set_counter_limit(counter.hwm)  # the reserve is "on disk" now
    s.go(100, PERIOD_NS, 10 * PERIOD_NS)
    wait(heard(5), "five adverts")
    s.go(150, PERIOD_NS, 10 * PERIOD_NS)
    n = len(got)
    wait(heard(n + 1), "the new priority")
    out["new_priority_first"] = got[n]["priority"]
    # The lease: no renewal, the thread falls silent and says so.
    wait(lambda: s.stats()["lease_expiries"] == 1, "the lease to lapse", 2.0)
    pump()
    sent, wakeups, heard_then = s.stats()["sent"], s.stats()["wakeups"], len(got)
    wait(lambda: s.stats()["wakeups"] >= wakeups + 3, "three more deadlines")
    pump()
    out["after_lease"] = {"sent": s.stats()["sent"] - sent, "received": len(got) - heard_then}
    s.go(150, PERIOD_NS, 10 * PERIOD_NS)
    wait(heard(len(got) + 2), "adverts again after renewal")
    s.stop()
    n = len(got)
    wait(heard(n + 1), "the last advert")
    wait(lambda: len(os.listdir("/proc/self/task")) == threads_before, "the thread to end")
    out["last_priority"] = got[-1]["priority"]
    out["priorities"] = sorted({g["priority"] for g in got})
    out["verdicts"] = sorted({g["verdict"] for g in got})
    out["tos"] = sorted({g["tos"] for g in got})
    out["ttl"] = sorted({g["ttl"] for g in got})
    out["stats"] = s.stats()
    out["threads_after_stop"] = len(os.listdir("/proc/self/task")) - threads_before
    out["counter_last_above_base"] = s.counter_last > counter.base
    print(json.dumps(out))


if __name__ == "__main__":
    main()

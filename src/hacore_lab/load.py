"""Bounded load for `hacore bench adverts`, run inside a lab namespace:

    python -m hacore_lab.load busy --seconds 60           # one CPU spinning
    python -m hacore_lab.load udp --dst 198.19.0.10 --seconds 60      # forwarding flood
    python -m hacore_lab.load junk --src 198.19.0.10 --ifname eth0 --seconds 60   # junk VRRP
    python -m hacore_lab.load churn --rate 40000 --seconds 60   # new NATed conntrack entries (on a node)

Each exits after --seconds and prints what it did as JSON (packets sent).
The junk is VRRP the receive filter drops: TTL 254 and a source outside the
HA subnet, in turn.
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import subprocess
import sys
import time
from ipaddress import ip_address

from hacore.vrrp.codec import Advert, encode
from hacore.vrrp.sockets import GROUP4
from hacore_lab import netns
from hacore_lab.topology import Lab


def start(lab: Lab, role: str, *args: str, seconds: float) -> subprocess.Popen[bytes]:
    """One of the loads below in a lab namespace, from the benches' side: bounded by seconds, and ended by
    `lab down` too."""
    argv = [sys.executable, "-m", "hacore_lab.load", *args, "--seconds", str(seconds)]
    return subprocess.Popen(netns.exec_argv(lab, role, argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def busy(seconds: float) -> int:
    end, n = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        n += 1
    return n


def udp(dst: str, seconds: float) -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    payload, end, n = bytes(18), time.monotonic() + seconds, 0
    while time.monotonic() < end:
        for port in range(9000, 9064):  # 64 flows: the forwarding path spreads them like real traffic
            try:
                s.sendto(payload, (dst, port))
                n += 1
            except OSError:  # a full queue: the point of a flood
                pass
    return n


def junk(src: str, ifname: str, seconds: float, vrid: int) -> int:
    socks = []
    for ttl in (254, 255):
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                     struct.pack("4s4si", bytes(4), bytes(4), socket.if_nametoindex(ifname)))
        s.bind((src, 0))
        socks.append(s)
    msg = encode(Advert(3, vrid, 255, 1, (ip_address("198.51.100.101"),)), ip_address(src).packed,
                 ip_address(GROUP4).packed)
    end, n = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        for s in socks:
            try:
                s.sendto(msg, (GROUP4, 0))
                n += 1
            except OSError:
                pass
    return n


CHURN_CYCLE = 500_000  # distinct flows the churn goes round: each is long expired before it comes again
# 100 entries a write at 40,000/s. Traffic makes entries one at a time, in softirq; one netlink write of
# 2,000 held a CPU in the kernel long enough (this kernel does not preempt there) to keep a real-time
# thread waiting up to 100 ms - a load no traffic makes, so the generator does not either.
CHURN_STEP_S = 0.0025


def churn(rate: int, seconds: float) -> int:
    """About rate new NATed conntrack entries a second, each expiring 2 s later: on a master, every one
    is an event its sync replicates (and so is its end)."""
    from hacore.ctsync.ctnetlink import Writer
    from hacore_lab.ctfill import flows

    w, batch, first, n = Writer(), max(1, round(rate * CHURN_STEP_S)), 0, 0
    start = time.monotonic()
    while time.monotonic() < start + seconds:
        w.write(flows(batch, first, timeout=2))
        n, first = n + batch, (first + batch) % CHURN_CYCLE
        time.sleep(max(0.0, start + n / rate - time.monotonic()))  # the pace, not a synchronisation
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=("busy", "udp", "junk", "churn"))
    ap.add_argument("--rate", type=int, default=40_000)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--dst", default="")
    ap.add_argument("--src", default="")
    ap.add_argument("--ifname", default="")
    ap.add_argument("--vrid", type=int, default=50)
    a = ap.parse_args()
    if a.kind == "busy":
        n = busy(a.seconds)
    elif a.kind == "udp":
        n = udp(a.dst, a.seconds)
    elif a.kind == "churn":
        n = churn(a.rate, a.seconds)
    else:
        n = junk(a.src, a.ifname, a.seconds, a.vrid)
    print(json.dumps({"kind": a.kind, "count": n, "seconds": a.seconds}))


if __name__ == "__main__":
    main()

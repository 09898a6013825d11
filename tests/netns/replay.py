"""Captures VRRP packets on a lab segment and replays them later, whole
(IP header included, so the source is the original node's). Run inside a
lab namespace:

    python -m tests.netns.replay capture --dev eth0 --count 5 --out FILE
    python -m tests.netns.replay replay --dev eth0 --file FILE --rounds 20 --interval 0.05

Bounded: capture stops after --count packets or --timeout seconds; replay
sends --rounds times the captured packets, then exits.
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import time

GROUP = "224.0.0.18"


def capture(dev: str, count: int, timeout_s: float, out: str) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())
    index = socket.if_nametoindex(dev)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                 struct.pack("4s4si", socket.inet_aton(GROUP), b"\0" * 4, index))
    s.settimeout(timeout_s)
    packets: list[str] = []
    deadline = time.monotonic() + timeout_s
    while len(packets) < count and time.monotonic() < deadline:
        try:
            packets.append(s.recv(65535).hex())
        except TimeoutError:
            break
    with open(out, "w") as f:
        json.dump(packets, f)


def replay(dev: str, path: str, rounds: int, interval_s: float) -> None:
    with open(path) as f:
        packets = [bytes.fromhex(p) for p in json.load(f)]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)  # IP_HDRINCL: the source is kept
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                 struct.pack("4s4si", socket.inet_aton(GROUP), b"\0" * 4, socket.if_nametoindex(dev)))
    for _ in range(rounds):
        for p in packets:
            s.sendto(p, (GROUP, 0))
            time.sleep(interval_s)


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="verb", required=True)
    c = sub.add_parser("capture")
    c.add_argument("--dev", required=True)
    c.add_argument("--count", type=int, default=5)
    c.add_argument("--timeout", type=float, default=10.0)
    c.add_argument("--out", required=True)
    r = sub.add_parser("replay")
    r.add_argument("--dev", required=True)
    r.add_argument("--file", required=True)
    r.add_argument("--rounds", type=int, default=10)
    r.add_argument("--interval", type=float, default=0.05)
    a = ap.parse_args()
    if a.verb == "capture":
        capture(a.dev, a.count, a.timeout, a.out)
    else:
        replay(a.dev, a.file, a.rounds, a.interval)


if __name__ == "__main__":
    main()

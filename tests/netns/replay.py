"""Captures packets on a lab segment and replays them later, as an attacker
on the wire would. Run inside a lab namespace:

    python -m tests.netns.replay capture --dev eth0 --count 5 --out FILE
    python -m tests.netns.replay replay --dev eth0 --file FILE --rounds 20 --interval 0.05
    python -m tests.netns.replay capture-udp --dev lan3 --port 3780 --src 198.18.0.3 --count 3 --out FILE
    (capture-udp --prefix HCS1 keeps only peer statuses: conntrack sync shares the port)
    python -m tests.netns.replay replay-udp --src 198.18.0.3 --to 198.18.0.2 --port 3780 --file FILE

VRRP is replayed whole (IP header included, so the source is the original
node's); UDP payloads are sent again from the original source address.
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


def capture_udp(dev: str, port: int, src: str, count: int, timeout_s: float, out: str, prefix: bytes) -> None:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))  # IPv4, link header removed
    s.bind((dev, 0))
    s.settimeout(timeout_s)
    payloads: list[str] = []
    deadline = time.monotonic() + timeout_s
    while len(payloads) < count and time.monotonic() < deadline:
        try:
            pkt = s.recv(65535)
        except TimeoutError:
            break
        ihl = (pkt[0] & 0x0F) * 4
        if pkt[9] != 17 or socket.inet_ntoa(pkt[12:16]) != src:
            continue
        if struct.unpack("!H", pkt[ihl + 2 : ihl + 4])[0] == port and pkt[ihl + 8 :].startswith(prefix):
            payloads.append(pkt[ihl + 8 :].hex())
    with open(out, "w") as f:
        json.dump(payloads, f)


def replay_udp(src: str, to: str, port: int, path: str, rounds: int, interval_s: float) -> None:
    with open(path) as f:
        payloads = [bytes.fromhex(p) for p in json.load(f)]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    for _ in range(rounds):
        for p in payloads:
            s.sendto(p, (to, port))
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
    cu = sub.add_parser("capture-udp")
    cu.add_argument("--dev", required=True)
    cu.add_argument("--port", type=int, required=True)
    cu.add_argument("--src", required=True)
    cu.add_argument("--count", type=int, default=3)
    cu.add_argument("--timeout", type=float, default=10.0)
    cu.add_argument("--out", required=True)
    cu.add_argument("--prefix", default="", help="keep only payloads that start with this (e.g. a magic)")
    ru = sub.add_parser("replay-udp")
    ru.add_argument("--src", required=True)
    ru.add_argument("--to", required=True)
    ru.add_argument("--port", type=int, required=True)
    ru.add_argument("--file", required=True)
    ru.add_argument("--rounds", type=int, default=10)
    ru.add_argument("--interval", type=float, default=0.05)
    a = ap.parse_args()
    if a.verb == "capture":
        capture(a.dev, a.count, a.timeout, a.out)
    elif a.verb == "replay":
        replay(a.dev, a.file, a.rounds, a.interval)
    elif a.verb == "capture-udp":
        capture_udp(a.dev, a.port, a.src, a.count, a.timeout, a.out, a.prefix.encode())
    else:
        replay_udp(a.src, a.to, a.port, a.file, a.rounds, a.interval)


if __name__ == "__main__":
    main()

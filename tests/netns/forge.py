"""Sends VRRP adverts from a namespace that is not a cluster node: forged
takeovers and malformed packets. Run inside a lab namespace:

    python -m tests.netns.forge --src 198.51.100.1 --priority 255 --count 40

Bounded: --count packets, --interval seconds apart, then it exits.
"""

from __future__ import annotations

import argparse
import os
import socket
import struct
import time
from ipaddress import ip_address

from hacore.vrrp.codec import Advert, encode

GROUP = "224.0.0.18"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True)
    ap.add_argument("--vrid", type=int, default=50)
    ap.add_argument("--priority", type=int, default=255)
    ap.add_argument("--vip", default="198.51.100.101")
    ap.add_argument("--trailer", type=int, default=0, help="random bytes after the addresses (a fake HMAC)")
    ap.add_argument("--ttl", type=int, default=255)
    ap.add_argument("--ifname", help="send out of this interface (for a source on another one)")
    ap.add_argument("--malformed", action="store_true", help="send a mix of broken adverts instead")
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--interval", type=float, default=0.05)
    a = ap.parse_args()
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, a.ttl)
    if a.ifname:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                     struct.pack("4s4si", bytes(4), bytes(4), socket.if_nametoindex(a.ifname)))
    s.bind((a.src, 0))
    src, dst = ip_address(a.src).packed, ip_address(GROUP).packed
    good = encode(Advert(3, a.vrid, a.priority, 20, (ip_address(a.vip),), trailer=os.urandom(a.trailer)), src, dst)
    broken = [good[:5], good[:-1] + bytes([good[-1] ^ 0xFF]), b"\x21" + good[1:], bytes(64), good + b"\0" * 3]
    for n in range(a.count):
        s.sendto(broken[n % len(broken)] if a.malformed else good, (GROUP, 0))
        time.sleep(a.interval)


if __name__ == "__main__":
    main()

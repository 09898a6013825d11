"""Records when a node's VRRP adverts arrive, by the kernel's receive
timestamps, for `hacore bench adverts`. Run inside a lab namespace:

    python -m hacore_lab.advertcap --ifname lan1 --src 198.51.100.102 --seconds 60

Prints one JSON document: the arrival times (ns, CLOCK_REALTIME as the kernel
stamps them: only differences are used) of every advert from --src with a
priority above 0. Bounded by --seconds.
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import time

from hacore.support.kerneltime import SO_TIMESTAMPNS
from hacore.vrrp.sockets import GROUP4


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ifname", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--seconds", type=float, required=True)
    a = ap.parse_args()
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, a.ifname.encode())
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                 struct.pack("4s4si", socket.inet_aton(GROUP4), bytes(4), socket.if_nametoindex(a.ifname)))
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    src = socket.inet_aton(a.src)
    out: list[int] = []
    end = time.monotonic() + a.seconds
    while (left := end - time.monotonic()) > 0:
        s.settimeout(left)
        try:
            data, anc, _flags, _addr = s.recvmsg(2048, socket.CMSG_SPACE(16))
        except TimeoutError:
            break
        ihl = (data[0] & 0x0F) * 4
        if data[12:16] != src or len(data) < ihl + 3 or data[ihl + 2] == 0:
            continue
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("@qq", value[:16])
                out.append(sec * 1_000_000_000 + nsec)
    print(json.dumps({"arrivals_ns": out}))


if __name__ == "__main__":
    main()

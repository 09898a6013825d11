"""Raw VRRP sockets on one HA link: send adverts, receive them with the
kernel's arrival time.

An Instance is one VRRP instance: one HA link, one address family, its
sockets and what its adverts must look like.

Rules: socket plumbing only; no decoding, no decisions. Two sockets per link
and family: the sender is bound to our source address (the pseudo-header
checksum needs it), the receiver is not (a raw socket bound to an address
would not see the multicast group).
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from hacore.support import kerneltime
from hacore.vrrp import sockfilter
from hacore.vrrp.codec import Expect
from hacore.vrrp.receive import Received

IPPROTO_VRRP = 112
GROUP4 = "224.0.0.18"
GROUP6 = "ff02::12"
TOS_CS6 = 0xC0  # DSCP CS6 (network control), as keepalived marks its adverts: queued ahead of bulk traffic
SO_RCVBUFFORCE = 33  # <asm-generic/socket.h>: root may pass net.core.rmem_max
# A stalled loop must find the newest adverts when it comes back, not a full queue that dropped them: the
# default buffer held about 255 adverts (0.6 s at 0.01 s), and the spare, reading only old ones, took over
# from a live master (bench/README.md, the detection floor). 1 MiB (the kernel counts it twice) holds
# seconds of them; a drain reads up to DRAIN_MAX, as many as the buffer can hold.
RX_BUF = 1 << 20
DRAIN_MAX = 4096
_CMSG_SPACE = socket.CMSG_SPACE(16) + socket.CMSG_SPACE(20) + socket.CMSG_SPACE(4)


def _mreqn(group: str, ifindex: int) -> bytes:
    return struct.pack("4s4si", socket.inet_aton(group), b"\0\0\0\0", ifindex)


def _mreq6(group: str, ifindex: int) -> bytes:
    return socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", ifindex)


class LinkSockets:
    """The receive and send sockets of one (link, family)."""

    def __init__(self, ifname: str, ifindex: int, family: int, src: str):
        self.ifname, self.ifindex, self.family = ifname, ifindex, family
        self.src = socket.inet_pton(family, src)
        self.group = GROUP4 if family == socket.AF_INET else GROUP6
        self.dst = socket.inet_pton(family, self.group)
        opened: list[socket.socket] = []
        try:
            opened.append(self._open())
            opened.append(self._open())
            self.rx, self.tx = opened
            self._setup(src)
        except OSError as exc:
            for s in opened:
                s.close()
            raise OSError(exc.errno, f"VRRP sockets on {ifname} from {src}: {exc.strerror}") from None

    def _setup(self, src: str) -> None:
        family, ifindex = self.family, self.ifindex
        if family == socket.AF_INET:
            self.rx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, _mreqn(GROUP4, ifindex))
            self.tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, _mreqn(GROUP4, ifindex))
            self.tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
            self.tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
            self.tx.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, TOS_CS6)
            self.tx.bind((src, 0))
        else:
            self.rx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, _mreq6(GROUP6, ifindex))
            self.rx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
            self.rx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
            self.tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
            self.tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
            self.tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
            self.tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, TOS_CS6)
            self.tx.bind((src, 0, 0, ifindex))
        self.rx.setsockopt(socket.SOL_SOCKET, kerneltime.SO_TIMESTAMPNS, 1)
        self.rx.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RX_BUF)
        # The sender reads nothing, but an IPv6 raw socket bound to a link-local source still gets every
        # VRRP multicast (it joined no group, so the kernel's group check lets all in): its queue sat full.
        sockfilter.attach(self.tx, [(sockfilter.RET_K, 0, 0, 0)])

    def _open(self) -> socket.socket:
        s = socket.socket(self.family, socket.SOCK_RAW, IPPROTO_VRRP)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.ifname.encode())
        s.setblocking(False)
        return s

    def send(self, message: bytes) -> None:
        if self.family == socket.AF_INET:
            self.tx.sendto(message, (self.group, 0))
        else:
            self.tx.sendto(message, (self.group, 0, 0, self.ifindex))

    def sockaddr(self) -> bytes:
        """The group as a struct sockaddr_in / sockaddr_in6, for the compiled sender's sendto()."""
        if self.family == socket.AF_INET:
            return struct.pack("@H", socket.AF_INET) + struct.pack("!H", 0) + self.dst + bytes(8)
        scope = struct.pack("@I", self.ifindex)
        return struct.pack("@H", socket.AF_INET6) + struct.pack("!HI", 0, 0) + self.dst + scope

    def drain(self, limit: int = DRAIN_MAX) -> list[Received]:
        """Everything queued now (bounded), oldest first; never blocks."""
        out: list[Received] = []
        offset = kerneltime.real_minus_mono_ns()
        for _ in range(limit):
            try:
                data, anc, _flags, addr = self.rx.recvmsg(65535, _CMSG_SPACE)
            except BlockingIOError:
                break
            out.append(self._received(data, anc, addr, offset))
        return out

    def _received(self, data: bytes, anc: list[tuple[int, int, bytes]], addr: tuple[Any, ...],
                  offset_ns: int) -> Received:
        mono_ns = time.monotonic_ns()
        arrival = kerneltime.stamped_ns(anc, offset_ns) or mono_ns
        ttl, dst = -1, self.dst
        for level, kind, value in anc:
            if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT:
                ttl = struct.unpack("@i", value[:4])[0]
            elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO:
                dst = value[:16]
        src = socket.inet_pton(self.family, addr[0].split("%")[0])
        return Received(data, src, dst, ttl, min(arrival, mono_ns))

    def fileno(self) -> int:
        return self.rx.fileno()

    def close(self) -> None:
        self.rx.close()
        self.tx.close()


@dataclass
class Instance:
    """One VRRP instance: one HA link, one address family."""

    link: str
    family: int
    vrid: int
    addresses: tuple[IPv4Address | IPv6Address, ...]  # the VIPs this instance advertises
    sockets: LinkSockets
    expect: Expect

"""Gratuitous ARP and unsolicited neighbour advertisements for the VIPs, so
switches and neighbours learn the new master's MAC at once (seed: "The used
switches and routers support gratuitous ARP").

Rules: frame building is pure. Sockets stay open for the election's
lifetime: closing a packet socket waits for an RCU grace period
(packet_release calls synchronize_net), 15-25 ms measured here, which a
takeover cannot afford; the ICMPv6 socket of an interface is kept too, its
source address given per message (IPV6_PKTINFO), and it receives nothing.
"""

from __future__ import annotations

import socket
import struct

ETH_P_ARP = 0x0806
BROADCAST = b"\xff" * 6
ALL_NODES6 = "ff02::1"
ND_NA = 136
NA_FLAG_OVERRIDE = 0x20000000
ND_OPT_TARGET_LL = 2
ICMP6_FILTER = 1  # linux/icmpv6.h; a filter of all ones blocks every type: the socket only sends


def garp_frame(mac: bytes, ip4: bytes) -> bytes:
    """Ethernet broadcast ARP request with sender = target = the VIP (RFC 5227 announcement)."""
    eth = BROADCAST + mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + ip4 + b"\0" * 6 + ip4
    return eth + arp


def na_message(mac: bytes, ip6: bytes) -> bytes:
    """ICMPv6 unsolicited NA (RFC 4861 7.2.6), override set; the kernel fills the checksum."""
    return struct.pack("!BBHI", ND_NA, 0, 0, NA_FLAG_OVERRIDE) + ip6 + struct.pack("!BB", ND_OPT_TARGET_LL, 1) + mac


class Announcer:
    """Sends the announcements; one send-only packet socket per interface, opened on first use."""

    def __init__(self) -> None:
        self._packet: dict[str, socket.socket] = {}
        self._icmp6: dict[str, socket.socket] = {}

    def open(self, ifname: str, ifindex: int, ipv6: bool) -> None:
        """Open an interface's sockets ahead of a takeover (each costs 0.1-0.2 ms the first time)."""
        self._arp(ifname)
        if ipv6:
            self._nd(ifname, ifindex)

    def _arp(self, ifname: str) -> socket.socket:
        s = self._packet.get(ifname)
        if s is None:
            # Protocol 0: send-only, so the socket never queues the ARP traffic it would otherwise see.
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            s.bind((ifname, 0))
            self._packet[ifname] = s
        return s

    def _nd(self, ifname: str, ifindex: int) -> socket.socket:
        s = self._icmp6.get(ifname)
        if s is None:
            s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
            s.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, b"\xff" * 32)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)  # RFC 4861: hop limit 255
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
            self._icmp6[ifname] = s
        return s

    def garp(self, ifname: str, mac: bytes, ip4: str) -> None:
        self._arp(ifname).send(garp_frame(mac, socket.inet_aton(ip4)))

    def na(self, ifname: str, ifindex: int, mac: bytes, ip6: str) -> None:
        s = self._nd(ifname, ifindex)
        src = socket.inet_pton(socket.AF_INET6, ip6)
        pktinfo = src + struct.pack("=I", ifindex)  # struct in6_pktinfo: the VIP as the source
        s.sendmsg([na_message(mac, src)], [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, pktinfo)],
                  0, (ALL_NODES6, 0, 0, ifindex))

    def forget(self, ifname: str) -> None:
        """Drop the sockets of an interface that was deleted or re-created (bound to the old index)."""
        for table in (self._packet, self._icmp6):
            s = table.pop(ifname, None)
            if s is not None:
                s.close()

    def close(self) -> None:
        for table in (self._packet, self._icmp6):
            for s in table.values():
                s.close()
            table.clear()

"""Gratuitous ARP and unsolicited neighbour advertisements for the VIPs, so
switches and neighbours learn the new master's MAC at once (seed: "The used
switches and routers support gratuitous ARP").

Rules: frame building is pure. Packet sockets stay open for the election's
lifetime: closing one waits for an RCU grace period (packet_release calls
synchronize_net), 15-25 ms measured here, which a takeover cannot afford.
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

    def garp(self, ifname: str, mac: bytes, ip4: str) -> None:
        s = self._packet.get(ifname)
        if s is None:
            # Protocol 0: send-only, so the socket never queues the ARP traffic it would otherwise see.
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            s.bind((ifname, 0))
            self._packet[ifname] = s
        s.send(garp_frame(mac, socket.inet_aton(ip4)))

    def na(self, ifname: str, ifindex: int, mac: bytes, ip6: str) -> None:
        send_na(ifname, ifindex, mac, ip6)

    def forget(self, ifname: str) -> None:
        """Drop the socket of an interface that was deleted or re-created (it is bound to the old index)."""
        s = self._packet.pop(ifname, None)
        if s is not None:
            s.close()

    def close(self) -> None:
        for s in self._packet.values():
            s.close()
        self._packet.clear()


def send_na(ifname: str, ifindex: int, mac: bytes, ip6: str) -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
        s.bind((ip6, 0, 0, ifindex))
        s.sendto(na_message(mac, socket.inet_pton(socket.AF_INET6, ip6)), (ALL_NODES6, 0, 0, ifindex))

"""Gratuitous ARP and unsolicited neighbour advertisements for the VIPs, so
switches and neighbours learn the new master's MAC at once (seed: "The used
switches and routers support gratuitous ARP").

Both go out whole, as Ethernet frames built once per VIP and MAC, on one
send-only packet socket per interface: an NA handed to an ICMPv6 socket went
through the IPv6 output path and its netfilter hooks first, 187 against 113
us a send here (keepalived sends its NA on a packet socket too).

Rules: frame building is pure. Sockets stay open for the election's
lifetime: closing a packet socket waits for an RCU grace period
(packet_release calls synchronize_net), 15-25 ms measured here, which a
takeover cannot afford.
"""

from __future__ import annotations

import functools
import socket
import struct

from hacore.support.checksum import fold, inet_sum

ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
BROADCAST = b"\xff" * 6
ALL_NODES6 = socket.inet_pton(socket.AF_INET6, "ff02::1")
ALL_NODES6_MAC = b"\x33\x33\x00\x00\x00\x01"  # RFC 2464 7: 33:33 and the group's last four bytes
IPPROTO_ICMPV6 = 58
ND_NA = 136
NA_FLAG_OVERRIDE = 0x20000000
ND_OPT_TARGET_LL = 2
ND_HOP_LIMIT = 255  # RFC 4861 7.1.2: a receiver drops an NA that crossed a router


@functools.cache
def garp_frame(mac: bytes, ip4: bytes) -> bytes:
    """Ethernet broadcast ARP request with sender = target = the VIP (RFC 5227 announcement)."""
    eth = BROADCAST + mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + ip4 + b"\0" * 6 + ip4
    return eth + arp


def na_message(mac: bytes, ip6: bytes, checksum: int = 0) -> bytes:
    """ICMPv6 unsolicited NA (RFC 4861 7.2.6) for ip6, override set, with its target's MAC."""
    return (struct.pack("!BBHI", ND_NA, 0, checksum, NA_FLAG_OVERRIDE) + ip6
            + struct.pack("!BB", ND_OPT_TARGET_LL, 1) + mac)


@functools.cache
def na_frame(mac: bytes, ip6: bytes) -> bytes:
    """The NA whole, from the VIP to all nodes: Ethernet, IPv6 (hop limit 255) and ICMPv6 with its checksum
    over the pseudo-header (RFC 8200 8.1)."""
    body = na_message(mac, ip6)
    pseudo = ip6 + ALL_NODES6 + struct.pack("!I3xB", len(body), IPPROTO_ICMPV6)
    body = na_message(mac, ip6, fold(inet_sum(pseudo + body)))
    ip = struct.pack("!IHBB", 6 << 28, len(body), IPPROTO_ICMPV6, ND_HOP_LIMIT) + ip6 + ALL_NODES6
    return ALL_NODES6_MAC + mac + struct.pack("!H", ETH_P_IPV6) + ip + body


class Announcer:
    """Sends the announcements; one send-only packet socket per interface, opened on first use."""

    def __init__(self) -> None:
        self._packet: dict[str, socket.socket] = {}

    def open(self, ifname: str) -> None:
        """Open an interface's socket ahead of a takeover (0.1-0.2 ms the first time)."""
        self._socket(ifname)

    def _socket(self, ifname: str) -> socket.socket:
        s = self._packet.get(ifname)
        if s is None:
            # Protocol 0: send-only, so the socket never queues the traffic it would otherwise see.
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            s.bind((ifname, 0))
            self._packet[ifname] = s
        return s

    def garp(self, ifname: str, mac: bytes, ip4: bytes) -> None:
        self._socket(ifname).send(garp_frame(mac, ip4))

    def na(self, ifname: str, mac: bytes, ip6: bytes) -> None:
        self._socket(ifname).send(na_frame(mac, ip6))

    def forget(self, ifname: str) -> None:
        """Drop the socket of an interface that was deleted or re-created (bound to the old index)."""
        s = self._packet.pop(ifname, None)
        if s is not None:
            s.close()

    def close(self) -> None:
        for s in self._packet.values():
            s.close()
        self._packet.clear()

"""Pure parts of the effects: VIP requests, announcement frames."""

from __future__ import annotations

import errno
import socket
import struct
from ipaddress import ip_address

from pyroute2.netlink.rtnl import RTM_DELADDR, RTM_NEWADDR
from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_NODAD, ifaddrmsg

from hacore.effects.announce import garp_frame, na_frame, na_message
from hacore.effects.vips import Vip, encode, outcome
from hacore.support.checksum import fold, inet_sum

A = Vip.of("lan1", "198.51.100.101/24")
B = Vip.of("lan2", "2001:db8:200:0::1/64")
KEY = bytes(range(32))


def test_the_kernels_answer_says_what_changed() -> None:
    assert outcome(True, 0) == outcome(False, 0) == "changed"
    assert outcome(True, errno.EEXIST) == "unchanged"  # applying twice changes nothing
    assert outcome(False, errno.EADDRNOTAVAIL) == outcome(False, errno.ENODEV) == "unchanged"  # its link is gone
    assert outcome(True, errno.ENODEV) == outcome(False, errno.EEXIST) == "failed"


def test_vip_requests_decode_as_the_kernel_reads_them() -> None:
    v4 = ifaddrmsg(bytes(encode(A, 7, add=True)))
    v4.decode()
    assert (v4["header"]["type"], v4["family"], v4["prefixlen"], v4["index"], v4["flags"]) == (
        RTM_NEWADDR, socket.AF_INET, 24, 7, 0)
    assert v4.get_attr("IFA_LOCAL") == v4.get_attr("IFA_ADDRESS") == "198.51.100.101"
    v6 = ifaddrmsg(bytes(encode(B, 8, add=True)))
    v6.decode()
    assert (v6["family"], v6["prefixlen"], v6["flags"]) == (socket.AF_INET6, 64, IFA_F_NODAD)  # no DAD: works at once
    assert v6.get_attr("IFA_ADDRESS") == "2001:db8:200::1"
    gone = ifaddrmsg(bytes(encode(B, 8, add=False)))
    gone.decode()
    assert gone["header"]["type"] == RTM_DELADDR and gone["flags"] == 0


def test_vip_normalises_ipv6_spelling() -> None:
    assert B.cidr == "2001:db8:200::1/64"


def test_garp_is_a_broadcast_announcement_of_the_vip() -> None:
    mac = bytes.fromhex("02aabbccddee")
    f = garp_frame(mac, socket.inet_aton("198.51.100.101"))
    assert f[:6] == b"\xff" * 6 and f[6:12] == mac and f[12:14] == b"\x08\x06"
    htype, ptype, hlen, plen, op = struct.unpack("!HHBBH", f[14:22])
    assert (htype, ptype, hlen, plen, op) == (1, 0x0800, 6, 4, 1)
    assert f[28:32] == f[38:42] == socket.inet_aton("198.51.100.101")  # sender IP = target IP


def test_unsolicited_na_overrides_with_our_mac() -> None:
    mac = bytes.fromhex("02aabbccddee")
    m = na_message(mac, ip_address("2001:db8:200::1").packed)
    assert m[0] == 136 and struct.unpack("!I", m[4:8])[0] & 0x20000000
    assert m[8:24] == ip_address("2001:db8:200::1").packed and m[24:26] == b"\x02\x01" and m[26:32] == mac




def test_the_na_frame_is_what_a_neighbour_accepts() -> None:
    """RFC 4861 7.1.2's checks a receiver makes, on the frame as it leaves (the kernel checks none of it)."""
    mac, vip = bytes.fromhex("02aabbccddee"), ip_address("2001:db8:200::1").packed
    f = na_frame(mac, vip)
    assert f[:6] == bytes.fromhex("333300000001") and f[6:12] == mac and f[12:14] == b"\x86\xdd"
    ip, icmp = f[14:54], f[54:]
    assert ip[0] >> 4 == 6 and struct.unpack("!H", ip[4:6])[0] == len(icmp) == 32
    assert (ip[6], ip[7]) == (58, 255)  # ICMPv6, hop limit 255
    assert ip[8:24] == vip and ip[24:40] == ip_address("ff02::1").packed
    pseudo = ip[8:40] + struct.pack("!I3xB", len(icmp), 58)
    assert fold(inet_sum(pseudo + icmp)) == 0  # the checksum holds
    assert icmp[4:] == na_message(mac, vip)[4:]

"""Pure-Python reference codec for VRRP adverts: VRRPv3 (RFC 5798) for IPv4
and IPv6, VRRPv2 (RFC 3768) with PASS authentication.

Rules: no I/O, no clock. Decoding never raises on peer input; it returns a
Drop. Addresses cross as packed bytes (4 or 16 long), as the kernel gives them.
The compiled twin in hacore._fastpath must agree with this file byte for byte.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

from hacore.support.checksum import fold, inet_sum
from hacore.vrrp.drops import AuthType, Checksum, Drop

IPPROTO_VRRP = 112
VRRP_TTL = 255
HDR_LEN = 8
V2_AUTH_LEN = 8
V3_MAX_INTERVAL_CS = 4095  # 12 bits of centiseconds
IPV4_MIN_HDR = 20

IPAddress = IPv4Address | IPv6Address


@dataclass(frozen=True, slots=True)
class Advert:
    """One decoded advertisement.

    interval_cs is Max Adver Int for v3 and Adver Int x 100 for v2 (whole
    seconds on the wire), so callers handle one unit.
    """

    version: int
    vrid: int
    priority: int
    interval_cs: int
    addresses: tuple[IPAddress, ...]
    auth_type: AuthType = AuthType.NONE
    auth_data: bytes = b""
    trailer: bytes = b""  # v3: bytes after the addresses (hacore's HMAC), inside the checksum


@dataclass(frozen=True, slots=True)
class Expect:
    """What the receiving instance runs; an advert that differs is dropped."""

    version: int = 3
    vrid: int = -1  # -1: any VRID (the caller demultiplexes)
    checksum: Checksum = Checksum.PSEUDO
    auth_type: AuthType = AuthType.NONE  # v2 only
    auth_key: bytes = b""  # v2 PASS: up to 8 bytes, zero padded
    trailer_len: int = 0  # v3: exact length of the trailer after the addresses


def _pseudo_sum(src: bytes, dst: bytes, length: int) -> int:
    if len(src) == 4:  # IPv4: src, dst, zero, protocol, length
        return inet_sum(src + dst + struct.pack("!BBH", 0, IPPROTO_VRRP, length))
    # IPv6 (RFC 8200 8.1): src, dst, 32-bit length, 3 zero bytes, next header
    return inet_sum(src + dst + struct.pack("!I3xB", length, IPPROTO_VRRP))


def _checksum_base(version: int, src: bytes, dst: bytes, length: int, mode: Checksum) -> int:
    if version == 2 or (len(src) == 4 and mode == Checksum.NO_PSEUDO):
        return 0
    return _pseudo_sum(src, dst, length)


def pad_key(key: bytes) -> bytes:
    """A PASS key as it travels: cut to 8 bytes, zero padded (RFC 2338 5.3.10)."""
    return key[:V2_AUTH_LEN].ljust(V2_AUTH_LEN, b"\0")


def encode(adv: Advert, src: bytes, dst: bytes, mode: Checksum = Checksum.PSEUDO) -> bytes:
    """Build the VRRP message (without IP header) for adv sent from src to dst.

    Raises ValueError for local misuse: fields out of range, or addresses of
    a family other than src's.
    """
    alen = len(src)
    if alen not in (4, 16) or len(dst) != alen:
        raise ValueError("src and dst must both be 4 or 16 packed bytes")
    if not 1 <= adv.vrid <= 255 or not 0 <= adv.priority <= 255:
        raise ValueError("vrid must be 1..255 and priority 0..255")
    if not 1 <= len(adv.addresses) <= 255:
        raise ValueError("an advert carries 1..255 addresses")
    packed = b"".join(a.packed for a in adv.addresses)
    if len(packed) != alen * len(adv.addresses):
        raise ValueError("every address must be of the same family as src")
    if adv.version == 3:
        if not 1 <= adv.interval_cs <= V3_MAX_INTERVAL_CS:
            raise ValueError("v3 interval must be 1..4095 centiseconds")
        head = struct.pack("!BBBBH", 0x31, adv.vrid, adv.priority, len(adv.addresses), adv.interval_cs)
        body = packed + adv.trailer
    elif adv.version == 2:
        seconds, rest = divmod(adv.interval_cs, 100)
        if alen != 4 or rest or not 1 <= seconds <= 255 or adv.trailer:
            raise ValueError("v2 is IPv4 only, with 1..255 whole seconds and no trailer")
        auth = pad_key(adv.auth_data) if adv.auth_type == AuthType.PASS else bytes(V2_AUTH_LEN)
        head = struct.pack("!BBBBBB", 0x21, adv.vrid, adv.priority, len(adv.addresses), adv.auth_type, seconds)
        body = packed + auth
    else:
        raise ValueError("version must be 2 or 3")
    msg = head + b"\0\0" + body
    csum = fold(inet_sum(msg, _checksum_base(adv.version, src, dst, len(msg), mode)))
    return msg[:6] + struct.pack("!H", csum) + msg[8:]


def decode(data: bytes, src: bytes, dst: bytes, ttl: int, expect: Expect) -> Advert | Drop:
    """Validate and parse one VRRP message received from src to dst with ttl."""
    if len(data) < HDR_LEN:
        return Drop.SHORT
    if ttl != VRRP_TTL:
        return Drop.BAD_TTL
    version, kind = data[0] >> 4, data[0] & 0x0F
    alen = len(src)
    if version != expect.version or (version == 2 and alen != 4):
        return Drop.BAD_VERSION
    if kind != 1:
        return Drop.BAD_TYPE
    vrid, priority, count = data[1], data[2], data[3]
    trailer = V2_AUTH_LEN if version == 2 else expect.trailer_len
    if count == 0 or len(data) != HDR_LEN + count * alen + trailer:
        return Drop.BAD_ADDR_COUNT
    if fold(inet_sum(data, _checksum_base(version, src, dst, len(data), expect.checksum))) != 0:
        return Drop.BAD_CHECKSUM
    if expect.vrid >= 0 and vrid != expect.vrid:
        return Drop.WRONG_VRID
    if version == 3:
        interval_cs = ((data[4] & 0x0F) << 8) | data[5]
        auth_type, auth_data = AuthType.NONE, b""
        tail = data[len(data) - trailer :] if trailer else b""
    else:
        interval_cs = data[5] * 100
        auth_data = data[-V2_AUTH_LEN:]
        if data[4] != expect.auth_type or (
            expect.auth_type == AuthType.PASS and auth_data != pad_key(expect.auth_key)
        ):
            return Drop.BAD_AUTH
        auth_type = AuthType(data[4])
        tail = b""
    if interval_cs == 0:
        return Drop.BAD_INTERVAL
    raw = data[HDR_LEN : HDR_LEN + count * alen]
    addresses = tuple(ip_address(raw[i : i + alen]) for i in range(0, len(raw), alen))
    return Advert(version, vrid, priority, interval_cs, addresses, auth_type, auth_data, tail)


def split_ipv4(packet: bytes) -> tuple[bytes, bytes, int, bytes] | Drop:
    """Split an IPv4 packet as a raw socket returns it into (src, dst, ttl, payload)."""
    if len(packet) < IPV4_MIN_HDR:
        return Drop.SHORT
    ihl = (packet[0] & 0x0F) * 4
    total = struct.unpack_from("!H", packet, 2)[0]
    if packet[0] >> 4 != 4 or ihl < IPV4_MIN_HDR or total < ihl or len(packet) < total:
        return Drop.BAD_IP_HEADER
    if packet[9] != IPPROTO_VRRP:
        return Drop.BAD_PROTO
    return packet[12:16], packet[16:20], packet[8], packet[ihl:total]


def decode_ipv4(packet: bytes, expect: Expect) -> Advert | Drop:
    """Decode a whole IPv4 packet (header included) carrying VRRP."""
    parts = split_ipv4(packet)
    if isinstance(parts, Drop):
        return parts
    src, dst, ttl, payload = parts
    return decode(payload, src, dst, ttl, expect)

"""The compiled codec behind the same interface as hacore.vrrp.codec.

Only the argument shaping lives here; the work is in _fastpath. Importing this
module without the extension raises ImportError (hacore.native decides
whether that is an error or a fallback).
"""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any

import numpy as np

from hacore.native import fastpath
from hacore.vrrp.codec import Advert, Expect, pad_key
from hacore.vrrp.drops import AuthType, Checksum, Drop

if fastpath is None:
    raise ImportError("hacore._fastpath is not built")
_fp: Any = fastpath

_MAX_LEN = 8 + 255 * 16 + 8


def encode(adv: Advert, src: bytes, dst: bytes, mode: Checksum = Checksum.PSEUDO) -> bytes:
    # C sees only the packed bytes, where 16 could be one IPv6 or four IPv4 addresses.
    if any(a.version != (4 if len(src) == 4 else 6) for a in adv.addresses):
        raise ValueError("every address must be of the same family as src")
    out = bytearray(_MAX_LEN)
    packed = b"".join(a.packed for a in adv.addresses)
    n = _fp.encode_advert(
        out, adv.version, adv.vrid, adv.priority, adv.interval_cs, packed, src, dst, int(mode),
        int(adv.auth_type), pad_key(adv.auth_data), adv.trailer,
    )
    return bytes(out[:n])


def _advert(buf: bytes, f: np.ndarray, alen: int, trailer_len: int) -> Advert:
    start = int(f[_fp.F_ADDR_OFFSET])
    count = int(f[_fp.F_COUNT])
    addresses = tuple(ip_address(buf[i : i + alen]) for i in range(start, start + count * alen, alen))
    version = int(f[_fp.F_VERSION])
    end = start + count * alen
    auth_data = buf[end : end + 8] if version == 2 else b""
    trailer = buf[end : end + trailer_len] if version == 3 else b""
    return Advert(
        version, int(f[_fp.F_VRID]), int(f[_fp.F_PRIORITY]), int(f[_fp.F_INTERVAL_CS]), addresses,
        AuthType(int(f[_fp.F_AUTH_TYPE])), auth_data, trailer,
    )


def decode(data: bytes, src: bytes, dst: bytes, ttl: int, expect: Expect) -> Advert | Drop:
    f = np.zeros(_fp.FIELDS_LEN, dtype=np.uint32)
    rc = _fp.decode_advert(
        data, src, dst, ttl, expect.version, expect.vrid, int(expect.checksum), int(expect.auth_type),
        pad_key(expect.auth_key), expect.trailer_len, f,
    )
    return _advert(data, f, len(src), expect.trailer_len) if rc == 0 else Drop(rc)


def decode_ipv4(packet: bytes, expect: Expect) -> Advert | Drop:
    f = np.zeros(_fp.FIELDS_LEN, dtype=np.uint32)
    rc = _fp.decode_ipv4(
        packet, expect.version, expect.vrid, int(expect.checksum), int(expect.auth_type),
        pad_key(expect.auth_key), expect.trailer_len, f,
    )
    return _advert(packet, f, 4, expect.trailer_len) if rc == 0 else Drop(rc)

"""The Internet checksum (RFC 1071), for the frames and messages hacore
builds itself: VRRP adverts and unsolicited neighbour advertisements.

Rules: pure.
"""

from __future__ import annotations

import struct


def inet_sum(data: bytes, acc: int = 0) -> int:
    """One's complement sum of data added to acc, not yet folded."""
    if len(data) % 2:
        data += b"\0"
    words: tuple[int, ...] = struct.unpack(f"!{len(data) // 2}H", data)
    return acc + sum(words)


def fold(acc: int) -> int:
    """Fold carries and complement: the value to put in a checksum field."""
    while acc >> 16:
        acc = (acc & 0xFFFF) + (acc >> 16)
    return ~acc & 0xFFFF

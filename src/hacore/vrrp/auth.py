"""Authenticated adverts (auth = "hmac", the default): VRRPv3 plus a trailer
of an 8-byte counter and a 16-byte truncated HMAC-SHA256 over source,
destination, the message (checksum zeroed) and the counter. The trailer sits
inside the VRRP checksum, so captures still decode as VRRP.

Rules: pure; the caller passes the counter (hacore.security.replay.CounterSource)
and the arrival time. Without the passphrase nobody on an HA segment can
forge a takeover, and hacore.security.replay.ReplayWindow refuses a captured advert,
also after a restart of either node.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import replace

from hacore.security.keys import BAD_AUTH, KeyChoice
from hacore.security.replay import ReplayWindow
from hacore.vrrp.codec import Advert
from hacore.vrrp.drops import Checksum, Drop

COUNTER_LEN = 8
MAC_LEN = 16
TRAILER_LEN = COUNTER_LEN + MAC_LEN

Encoder = Callable[[Advert, bytes, bytes, Checksum], bytes]


def _mac(key: bytes, src: bytes, dst: bytes, message: bytes, counter: bytes) -> bytes:
    zeroed = message[:6] + b"\0\0" + message[8:]
    return hmac.new(key, src + dst + zeroed + counter, hashlib.sha256).digest()[:MAC_LEN]


def seal(key: bytes, adv: Advert, src: bytes, dst: bytes, mode: Checksum, counter: int, encode: Encoder) -> bytes:
    """The advert on the wire with its trailer: counter, then the MAC."""
    ctr = counter.to_bytes(COUNTER_LEN, "big")
    message = encode(replace(adv, trailer=b""), src, dst, mode)
    return encode(replace(adv, trailer=ctr + _mac(key, src, dst, message, ctr)), src, dst, mode)


class Verifier:
    """Checks the trailer of decoded adverts; replays are refused per link and sender."""

    def __init__(self, key: bytes, window: ReplayWindow):
        self.keys = KeyChoice(key)
        self.window = window

    def check(self, link: str, data: bytes, src: bytes, dst: bytes, arrival_us: int) -> Drop:
        """data: the whole VRRP message as received, trailer included (already decoded)."""
        if len(data) < 8 + TRAILER_LEN:
            return Drop.BAD_AUTH
        message, ctr, mac = data[:-TRAILER_LEN], data[-TRAILER_LEN:-MAC_LEN], data[-MAC_LEN:]
        if self.keys.first(lambda k: True if hmac.compare_digest(mac, _mac(k, src, dst, message, ctr))
                           else BAD_AUTH) == BAD_AUTH:
            return Drop.BAD_AUTH
        verdict = self.window.check(f"{link}|{src.hex()}", int.from_bytes(ctr, "big"), arrival_us)
        return Drop.OK if verdict == "ok" else Drop.REPLAY

"""Authenticated adverts (auth = "hmac", the default): VRRPv3 plus a trailer
of an 8-byte counter and a 16-byte truncated HMAC-SHA256 over source,
destination, the message (checksum zeroed) and the counter. The trailer sits
inside the VRRP checksum, so captures still decode as VRRP.

Rules: pure; the caller passes the wall clock for the counter. Without the
passphrase nobody on an HA segment can forge a takeover, and since the
counter only grows, a captured advert cannot be replayed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import replace

from hacore.vrrp.codec import Advert
from hacore.vrrp.drops import Checksum, Drop

COUNTER_LEN = 8
MAC_LEN = 16
TRAILER_LEN = COUNTER_LEN + MAC_LEN
_SALT = b"hacore-vrrp-hmac-v1"
_ROUNDS = 100_000  # key derivation runs once per start or passphrase change

Encoder = Callable[[Advert, bytes, bytes, Checksum], bytes]


def derive_key(passphrase: str) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", passphrase.encode(), _SALT, _ROUNDS)


def _mac(key: bytes, src: bytes, dst: bytes, message: bytes, counter: bytes) -> bytes:
    zeroed = message[:6] + b"\0\0" + message[8:]
    return hmac.new(key, src + dst + zeroed + counter, hashlib.sha256).digest()[:MAC_LEN]


class Signer:
    """Seals outgoing adverts; the counter is the wall clock in microseconds,
    or one more than the last, so it keeps growing across restarts."""

    def __init__(self, key: bytes):
        self.key = key
        self.counter = 0

    def seal(self, adv: Advert, src: bytes, dst: bytes, mode: Checksum, now_realtime_us: int,
             encode: Encoder) -> bytes:
        self.counter = max(self.counter + 1, now_realtime_us)
        ctr = self.counter.to_bytes(COUNTER_LEN, "big")
        message = encode(replace(adv, trailer=b""), src, dst, mode)
        return encode(replace(adv, trailer=ctr + _mac(self.key, src, dst, message, ctr)), src, dst, mode)


class Verifier:
    """Checks the trailer of decoded adverts and rejects replays, per link and sender."""

    def __init__(self, key: bytes):
        self.key = key
        self.last: dict[tuple[str, bytes], int] = {}

    def check(self, link: str, data: bytes, src: bytes, dst: bytes) -> Drop:
        """data: the whole VRRP message as received, trailer included (already decoded)."""
        if len(data) < 8 + TRAILER_LEN:
            return Drop.BAD_AUTH
        message, ctr, mac = data[:-TRAILER_LEN], data[-TRAILER_LEN:-MAC_LEN], data[-MAC_LEN:]
        if not hmac.compare_digest(mac, _mac(self.key, src, dst, message, ctr)):
            return Drop.BAD_AUTH
        counter = int.from_bytes(ctr, "big")
        if counter <= self.last.get((link, src), -1):
            return Drop.REPLAY
        self.last[(link, src)] = counter
        return Drop.OK

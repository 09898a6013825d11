"""The one envelope of every datagram on the hotwire (UDP/3780), whichever
channel it carries:

    body | counter:u64 | mac:16

The body starts with its channel's magic (peer status "HCS1", conntrack
sync "HCT"), so one channel's message can never pass for another's. The MAC
is HMAC-SHA256, truncated, over body and counter, keyed with the hotwire
subkey (hacore.security.keys). The counter comes from the node's
CounterSource and is checked by one ReplayWindow per peer, before any
channel sees the body: a replayed or reordered datagram is refused, also
across restarts (hacore.security.replay).

Rules: pure; open() returns a reason string on bad input, never raises.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

from hacore.security.keys import KeyChoice
from hacore.security.replay import ReplayWindow

PORT = 3780
MAC_LEN = 16
TRAILER = struct.Struct("!Q")
OVERHEAD = TRAILER.size + MAC_LEN  # beside the body
MAX_LEN = 65507  # the largest UDP payload


def _mac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()[:MAC_LEN]


def seal(key: bytes, body: bytes, counter: int) -> bytes:
    data = body + TRAILER.pack(counter)
    return data + _mac(key, data)


def unseal(key: bytes, datagram: bytes) -> tuple[bytes, int] | str:
    """(body, counter) if the MAC holds, else why not: short, too_long, bad_auth."""
    if len(datagram) < OVERHEAD + 1:
        return "short"
    if len(datagram) > MAX_LEN:
        return "too_long"
    data, mac = datagram[:-MAC_LEN], datagram[-MAC_LEN:]
    if not hmac.compare_digest(mac, _mac(key, data)):
        return "bad_auth"
    return data[:-TRAILER.size], TRAILER.unpack(data[-TRAILER.size:])[0]


class Opener:
    """Verifies datagrams with the keys the hotwire accepts and refuses replays, per sending peer."""

    def __init__(self, key: bytes, window: ReplayWindow):
        self.keys = KeyChoice(key)
        self.window = window

    def open(self, sender: str, datagram: bytes, now_us: int) -> bytes | str:
        """The body of a genuine, fresh datagram, or why not (short, too_long, bad_auth, replay, stale)."""
        unsealed = self.keys.first(lambda k: unseal(k, datagram))
        if isinstance(unsealed, str):
            return unsealed
        body, counter = unsealed
        verdict = self.window.check(sender, counter, now_us)
        return body if verdict == "ok" else verdict

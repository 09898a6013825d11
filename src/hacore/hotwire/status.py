"""Peer status over the hotwire (UDP/3780): every advert interval each node
says who it is and what it believes it is.

It is not part of the election (that is VRRP on the HA links). It lets a node
see split brain (both master, no adverts between them), show the peer's
rank, and refuse maintenance when the peer could not take over.
Rules: pure; HMAC-sealed with the hotwire subkey (hacore.security.keys); counters
from hacore.security.replay, so a replay is refused also across restarts; decoding
returns a reason string on bad input, never raises.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass

from hacore.security.keys import KeyChoice
from hacore.security.replay import ReplayWindow

PORT = 3780
MAGIC = b"HCS1"
MAC_LEN = 16
MAX_LEN = 1024


@dataclass(frozen=True)
class Status:
    node: str
    role: str
    priority: int
    maintenance: bool
    counter: int  # from the sender's CounterSource; replays are refused
    digest: str  # shared configuration digest


def _mac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, MAGIC + body, hashlib.sha256).digest()[:MAC_LEN]


def seal(key: bytes, status: Status) -> bytes:
    body = json.dumps(asdict(status), sort_keys=True, separators=(",", ":")).encode()
    return MAGIC + body + _mac(key, body)


def unseal(key: bytes, data: bytes) -> Status | str:
    """A verified Status, or why not: short, too_long, bad_magic, bad_auth, malformed."""
    if len(data) < len(MAGIC) + 2 + MAC_LEN:
        return "short"
    if len(data) > MAX_LEN:
        return "too_long"
    if not data.startswith(MAGIC):
        return "bad_magic"
    body, mac = data[len(MAGIC) : -MAC_LEN], data[-MAC_LEN:]
    if not hmac.compare_digest(mac, _mac(key, body)):
        return "bad_auth"
    try:
        fields = json.loads(body)
        status = Status(**fields)
    except (ValueError, TypeError):
        return "malformed"
    types = {"node": str, "role": str, "priority": int, "maintenance": bool, "counter": int, "digest": str}
    if any(type(getattr(status, k)) is not t for k, t in types.items()):
        return "malformed"
    return status


class Receiver:
    """Verifies statuses and refuses replays per sending node."""

    def __init__(self, key: bytes, window: ReplayWindow):
        self.keys = KeyChoice(key)
        self.window = window

    def accept(self, data: bytes, now_us: int) -> Status | str:
        status = self.keys.first(lambda k: unseal(k, data))
        if isinstance(status, str):
            return status
        verdict = self.window.check(status.node, status.counter, now_us)
        return status if verdict == "ok" else verdict

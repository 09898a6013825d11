"""Peer status, one channel of the hotwire: every advert interval each node
says who it is and what it believes it is.

It is not part of the election (that is VRRP on the HA links). It lets a node
see split brain (both master, no adverts between them), show the peer's
rank, and refuse maintenance when the peer could not take over.

    "HCS1" | JSON object (node, role, priority, maintenance, digest)

Rules: pure; sealed, and replays refused, by the hotwire's envelope
(hacore.hotwire.envelope); decoding returns a reason string on bad input,
never raises.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

MAGIC = b"HCS1"
MAX_LEN = 1024
ROLES = ("none", "backup", "master")


@dataclass(frozen=True)
class Status:
    node: str
    role: str
    priority: int
    maintenance: bool
    digest: str  # shared configuration digest


def encode(status: Status) -> bytes:
    return MAGIC + json.dumps(asdict(status), sort_keys=True, separators=(",", ":")).encode()


def decode(body: bytes) -> Status | str:
    """A Status from an opened body, or why not: bad_magic, too_long, malformed."""
    if not body.startswith(MAGIC):
        return "bad_magic"
    if len(body) > MAX_LEN:
        return "too_long"
    try:
        status = Status(**json.loads(body[len(MAGIC):]))
    except (ValueError, TypeError):
        return "malformed"
    types = {"node": str, "role": str, "priority": int, "maintenance": bool, "digest": str}
    if any(type(getattr(status, k)) is not t for k, t in types.items()) or status.role not in ROLES:
        return "malformed"
    return status

"""A node's rank and the VRRP priority byte that carries it.

Rules: pure. The seed orders nodes by HA links with carrier first, then by
ping-check health ("Fallback in a cluster": a failing node yields, but when
both fail the priority decides), then High over Low. Encoding that order in
the priority byte lets any VRRP peer (keepalived too) compare correctly and
lets us read a peer's parts back from its adverts. Priority 0 is RFC 5798's
"resign": maintenance, cluster off, shutdown.
"""

from __future__ import annotations

from dataclasses import dataclass

from hacore.config.model import MAX_HA_INTERFACES

# 1 + 24 * MAX_HA_INTERFACES + 2 + 1 = 244: stays below 255 (RFC 5798 address owner)
_LINK_STEP = 24
_PING_STEP = 2


@dataclass(frozen=True)
class Rank:
    links_up: int
    ping_ok: bool
    high: bool

    def priority(self) -> int:
        """1..244; more links beat ping health, which beats High/Low."""
        return 1 + _LINK_STEP * min(self.links_up, MAX_HA_INTERFACES) + _PING_STEP * self.ping_ok + int(self.high)

    def parts(self) -> dict[str, object]:
        return {"links_up": self.links_up, "ping_ok": self.ping_ok, "priority_class": "high" if self.high else "low"}


def decode(priority: int) -> Rank | None:
    """The rank a hacore peer advertised; None for priority 0 (resigned)."""
    if priority == 0:
        return None
    links, rest = divmod(priority - 1, _LINK_STEP)
    return Rank(links, bool(rest // _PING_STEP), bool(rest % _PING_STEP))

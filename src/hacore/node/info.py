"""What `cluster info` says about the election: built from the state of the
machine and the parts, without touching them.

Rules: pure reads; no I/O, no clock of its own; the result is plain JSON
data (the CLI renders it, --json prints it as is).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from hacore.vrrp import rank
from hacore.vrrp.machine import Machine

if TYPE_CHECKING:
    from hacore.effects.takeover import TakeoverRunner
    from hacore.hotwire.service import PeerLink
    from hacore.hotwire.status import Status
    from hacore.vrrp.port import AdvertPort


def peer_rank(status: Status | None, age_s: float | None) -> dict[str, Any]:
    if status is None:
        return {"seen": False}
    parts = rank.decode(status.priority)
    return {"seen": True, "node": status.node, "role": status.role, "priority": status.priority,
            "maintenance": status.maintenance, "age_ms": round((age_s or 0) * 1e3, 1),
            **(parts.parts() if parts else {"resigned": True})}


def election_info(m: Machine | None, waiting: list[str], link_problems: dict[str, str], port: AdvertPort,
                  runner: TakeoverRunner, peerlink: PeerLink | None, peer: Status | None,
                  peer_age_s: float | None, counters: Counter[str], restarts: Counter[str]) -> dict[str, Any]:
    drops = {link: dict(c) for link, c in port.drops.items() if c}
    if peerlink is not None and peerlink.drops:
        drops["hotwire"] = dict(peerlink.drops)
    common = {
        "waiting_for": waiting,
        "link_problems": link_problems,
        "hotwire_error": peerlink.error if peerlink else "",
        "drops": drops,
        "advert_sender": port.sender_info(),
        "vip_failures": dict(runner.vip_failures),
        "vip_errors": dict(runner.vip_errors),
        "task_restarts": dict(restarts),
        "event_errors": counters["event_errors"],
    }
    if m is None:
        return {"cluster_state": "none", **common}
    mine = {**m.rank().parts(), "priority": m.priority(), "demotion": m.demotion() or "-", "maintenance": m.maintenance}
    return {
        "cluster_state": str(m.role),
        "rank": {"self": mine, "peer": peer_rank(peer, peer_age_s)},
        "split_brain": m.split_brain,
        "failovers": m.counters["to_master"],
        "adverts_tx": port.adverts_tx,
        "adverts_rx": m.counters["adverts_rx"],
        "carrier": dict(m.carrier),
        "advert_interval_ms": round(m.advert_interval_us / 1000, 3),
        "announcements": runner.announcements,
        "machine_counters": dict(m.counters),
        **common,
    }

"""`cluster info`, assembled in one place: from the configuration, the
running node's parts (when the cluster runs) and what the daemon itself
knows, without touching any of them.

Rules: pure reads; no I/O, no clock of its own; the result is plain JSON
data with stable keys (the CLI renders it, --json prints it as is; the
README documents them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hacore.config.model import Config
from hacore.config.parse import digest
from hacore.vrrp import rank

if TYPE_CHECKING:
    from hacore.hotwire.status import Status
    from hacore.node.root import Node


def peer_rank(status: Status | None, age_s: float | None) -> dict[str, Any]:
    if status is None:
        return {"seen": False}
    parts = rank.decode(status.priority)
    return {"seen": True, "node": status.node, "role": status.role, "priority": status.priority,
            "maintenance": status.maintenance, "age_ms": round((age_s or 0) * 1e3, 1),
            **(parts.parts() if parts else {"resigned": True})}


def _node(n: Node) -> dict[str, Any]:
    e, port, runner, hw = n.election, n.election.port, n.runner, n.hotwire
    drops: dict[str, Any] = port.counters.view("drops")
    if hw is not None and hw.counters.view("drops"):
        drops["hotwire"] = hw.counters.view("drops")
    out: dict[str, Any] = {
        "cluster_state": "none",
        "waiting_for": e.waiting,
        "link_problems": e.links.problems,
        "hotwire_error": hw.error if hw else "",
        "drops": drops,
        "advert_sender": port.sender_info(),
        "spare_loop": n.spare_loop.info(),
        "vip_failures": runner.steps.counters.view("vip_failures"),
        "vip_errors": dict(runner.steps.vip_errors),
        "task_restarts": n.restarts.view("restarts"),
        "event_errors": e.counters["event_errors"],
        **runner.info(),
        "notify": n.notifier.counters.flat(),
        "promote_secondaries": dict(e.links.promotion),
        "key_change": n.keys.describe(),
        "state_problem": n.state.problem,
        "held_back": e.machine.held_back if e.machine is not None else "",
        "advert_rx": e.rx.info(),
        "sync": n.sync.info() if n.sync else {"role": "off", "error": "conntrack sync is switched off"},
    }
    m = e.machine
    if m is None:
        return out
    mine = {**m.rank().parts(), "priority": m.priority(), "demotion": m.demotion() or "-", "maintenance": m.maintenance}
    return out | {
        "cluster_state": str(m.role),
        "rank": {"self": mine, "peer": peer_rank(n.peer_fresh(), hw.age_s() if hw else None)},
        "split_brain": m.split_brain,
        "failovers": m.counters["to_master"],
        "adverts_tx": port.adverts_tx,
        "adverts_rx": m.counters["adverts_rx"],
        "carrier": dict(m.carrier),
        "advert_interval_ms": round(m.advert_interval_us / 1000, 3),
        "announcements": runner.rounds.announcements,
        "machine_counters": m.counters.flat(),
    }


def cluster_info(cfg: Config, node: Node | None, daemon: dict[str, Any]) -> dict[str, Any]:
    """The whole answer: daemon holds what only the daemon knows (config sync, maintenance as persisted,
    loop lateness, memory lock, a disk problem of its own, bad requests, uptime)."""
    c = cfg.cluster
    election = _node(node) if node is not None else {"cluster_state": "none"}
    reason = ""
    if not c.ha_interfaces:
        reason = "no HA interfaces configured"
    elif election.get("waiting_for"):
        reason = "waiting for " + "; ".join(election["waiting_for"])
    elif not c.enabled:
        reason = "cluster is off"
    disk_problem = daemon.pop("disk_problem", "")
    return {
        **election,
        "cluster_reason": reason,
        "cluster_enabled": c.enabled,
        **daemon.pop("configsync", {}),
        "hotwire_dev": c.hotwire.interface,
        "split_brain": election.get("split_brain", False),
        "node": cfg.node.name,
        "priority": cfg.node.priority.value,
        "peers": [c.hotwire.remote_address] if c.hotwire.remote_address else [],
        "vips": {h.interface: list(h.vips) for h in c.ha_interfaces},
        "update_trigger_delay_s": c.update_trigger_delay_s,
        "auth": c.auth.value,
        "failovers": election.get("failovers", 0),
        "degraded": [why for why in (election.get("state_problem"), disk_problem) if why],
        "config_digest": digest(cfg)[:12],
        "vips_held": election.get("vips_held", {}),
        **daemon,
        "maintainance": daemon.get("maintenance", False),  # the seed's row, in the seed's spelling
    }

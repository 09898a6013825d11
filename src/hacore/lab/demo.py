"""`hacore lab demo`: build the lab, form the cluster, fail the master, and show
the outage in milliseconds and that a TCP stream through the VIPs survived."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hacore.control import request
from hacore.lab import failover, faults, netns
from hacore.lab.topology import NODES, Lab
from hacore.lab.wait import wait_until


def _role(lab: Lab, node: str) -> str:
    return request(lab.socket(node), "info")["cluster_state"]


def _takeover_time(lab: Lab) -> float | None:
    """When node2 became master (its history), once it has."""
    entries = request(lab.socket("node2"), "history")
    masters = [e["when"] for e in entries if e["new"] == "master"]
    return masters[-1] if masters and _role(lab, "node2") == "master" else None


def run(lab: Lab, delay_s: float, progress: Callable[[str], None]) -> dict[str, Any]:
    progress(f"building the lab {lab.prefix}* (update trigger delay {delay_s:g} s)")
    netns.up(lab, delay_s=delay_s)
    for node in NODES:
        netns.start_daemon(lab, node)
    wait_until(lambda: (_role(lab, "node1"), _role(lab, "node2")) == ("master", "backup"), 15 + 3 * delay_s,
               what="the cluster to form")
    wait_until(lambda: all(v in faults.addresses(lab, "node1", "lan2") for v in ("203.0.113.1/24",)), 5,
               what="the VIPs on node1")
    before = {node: request(lab.socket(node), "info") for node in NODES}
    progress("cluster formed: node1 master, node2 backup; starting 1 ms probes and a TCP stream through the VIPs")
    progress("failing node1 (power loss: its daemon is killed and every cable goes dead)")
    result = failover.measure(
        lab, fail=lambda: faults.go_dark(lab, "node1"), taken_over=lambda: _takeover_time(lab),
        expect_s=delay_s, stable=lambda: _role(lab, "node1") == "master")
    after = request(lab.socket("node2"), "info")
    history = request(lab.socket("node2"), "history")
    return {"delay_s": delay_s, "before": before, "after": after, "takeover": history[-1],
            "failover": result.as_dict()}


def text(report: dict[str, Any]) -> str:
    f = report["failover"]
    s = f["stream"]
    t = report["takeover"]
    survived = "SURVIVED" if s["survived"] else f"BROKE ({s['error'] or 'out of order'})"
    return "\n".join([
        f"update trigger delay     {report['delay_s']:g} s",
        f"node2 took over          {t['old']} -> {t['new']} ({t['reason']}), "
        f"{f['takeover_ms']:.0f} ms after the failure",
        f"outage seen by client    {f['outage_ms']:.0f} ms  (longest gap between UDP probes sent every 1 ms; "
        f"{f['probes_lost']} of {f['probes_sent']} lost)",
        f"TCP stream via the VIPs  {survived}: {s['echoed']}/{s['sent']} messages echoed in order, "
        f"longest stall {s['longest_stall_ms']:.0f} ms",
        f"VIPs now on node2        {'; '.join(f'{k}: ' + ', '.join(v) for k, v in report['after']['vips'].items())}",
    ])

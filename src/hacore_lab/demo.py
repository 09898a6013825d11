"""`hacore lab demo`: build the lab (two stateful, NATing firewalls), form the
cluster, load the master with NATed flows, fail the master, and show the
outage in milliseconds, that a TCP stream and a UDP flow through SNAT
survived, and how many conntrack entries the spare held when it took over."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from hacore.cli import render
from hacore.control.protocol import request
from hacore_lab import failover, faults, netns
from hacore_lab.topology import NODES, Lab
from hacore_lab.wait import wait_until


def _role(lab: Lab, node: str) -> str:
    return request(lab.socket(node), "info")["cluster_state"]


def _takeover_time(lab: Lab) -> float | None:
    """When node2 became master (its history), once it has."""
    entries = request(lab.socket("node2"), "history")
    masters = [e["when"] for e in entries if e["new"] == "master"]
    return masters[-1] if masters and _role(lab, "node2") == "master" else None


LOAD_FLOWS = 10_000  # NATed flows made on the master before the failure, for the spare to hold


def _conntrack_count(lab: Lab, node: str) -> int:
    return int(netns.run_in(lab, node, ["conntrack", "-C"]).stdout)


def run(lab: Lab, delay_s: float, progress: Callable[[str], None], timing: str = "") -> dict[str, Any]:
    """timing: the nodes' [node.timing] lines (real-time priority)."""
    progress(f"building the lab {lab.prefix}* (update trigger delay {delay_s:g} s{', ' + timing if timing else ''})")
    netns.up(lab, delay_s=delay_s, timing=timing)
    for node in NODES:
        netns.start_daemon(lab, node)
    wait_until(lambda: (_role(lab, "node1"), _role(lab, "node2")) == ("master", "backup"), 15 + 3 * delay_s,
               what="the cluster to form")
    wait_until(lambda: all(v in faults.addresses(lab, "node1", "lan2") for v in ("203.0.113.1/24",)), 5,
               what="the VIPs on node1")
    progress(f"loading node1's conntrack table with {LOAD_FLOWS:,} NATed flows; node2 replicates them")
    netns.run_in(lab, "node1", [sys.executable, "-m", "hacore_lab.ctfill", "--count", str(LOAD_FLOWS)])
    wait_until(lambda: (s := request(lab.socket("node2"), "info")["sync"]).get("complete")
               and s["flows"] >= LOAD_FLOWS, 60, what="node2 to hold node1's table")
    before = {node: request(lab.socket(node), "info") for node in NODES}
    progress("cluster formed: node1 master, node2 backup; starting 1 ms UDP probes and a TCP stream through SNAT")
    progress("failing node1 (power loss: its daemon is killed and every cable goes dead)")
    result = failover.measure(
        lab, fail=lambda: faults.go_dark(lab, "node1"), taken_over=lambda: _takeover_time(lab),
        expect_s=delay_s, stable=lambda: _role(lab, "node1") == "master")
    after = request(lab.socket("node2"), "info")
    wait_until(lambda: "steps" in request(lab.socket("node2"), "history")[-1], 10, what="node2's takeover steps")
    history = request(lab.socket("node2"), "history")
    return {"delay_s": delay_s, "before": before, "after": after, "takeover": history[-1],
            "failover": result.as_dict(), "replicated_flows": before["node2"]["sync"]["flows"],
            "conntrack_entries_node2": _conntrack_count(lab, "node2")}


def text(report: dict[str, Any]) -> str:
    f = report["failover"]
    s = f["stream"]
    t = report["takeover"]
    survived = "SURVIVED" if s["survived"] else f"BROKE ({s['error'] or 'out of order'})"
    udp = [x for x in f["server_saw"] if x.startswith("udp ")]
    tcp = [x for x in f["server_saw"] if x.startswith("tcp ")]
    crossed = int(s["survived"]) + int(f["probes_lost"] < f["probes_sent"] // 2 and len(udp) == 1)
    return "\n".join([
        f"update trigger delay     {report['delay_s']:g} s",
        f"node2 took over          {t['old']} -> {t['new']} ({t['reason']}), "
        f"{f['takeover_ms']:.0f} ms after the failure",
        f"takeover path            {render.steps_text(t['steps'])} (ms, from node2's decision)",
        f"outage seen by client    {f['outage_ms']:.0f} ms  (longest gap between UDP probes sent every 1 ms; "
        f"{f['probes_lost']} of {f['probes_sent']} lost)",
        f"TCP stream through SNAT  {survived}: {s['echoed']}/{s['sent']} messages echoed in order, "
        f"longest stall {s['longest_stall_ms']:.0f} ms; the server saw {', '.join(tcp + udp) or 'nobody'}",
        f"connections carried     {crossed} of 2 live flows crossed the failover (the TCP stream, the UDP probes)",
        f"replicated table        node2 held {report['replicated_flows']:,} flows from node1 when it took over "
        f"({report['conntrack_entries_node2']:,} conntrack entries in its kernel now)",
        f"VIPs now on node2        {'; '.join(f'{k}: ' + ', '.join(v) for k, v in report['after']['vips'].items())}",
    ])

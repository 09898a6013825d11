"""`hacore bench memory`: what each stack's daemons hold in memory on a
formed pair, hacore beside keepalived and conntrackd, at the same moments:
idle, with configuration sync set up (hacore's SSH endpoint), and once the
spare holds a table of flows.

Resident memory (VmRSS: what `ps` and systemd's MemoryCurrent-style views
count, shared libraries included) and proportional memory (Pss: shared
pages split among the processes mapping them), read from /proc. keepalived
is two processes (parent and VRRP child): both are counted.

Rules: one lab per stack, removed also on failure; the flow fill is bounded
by --flows.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hacore.control.protocol import request
from hacore_lab import netns
from hacore_lab.conntrackd import Conntrackd
from hacore_lab.keepalived import Keepalived, config
from hacore_lab.topology import NODES, Lab
from hacore_lab.wait import wait_until


def _kib(pid: int, path: str, field: str) -> int:
    m = re.search(rf"^{field}:\s+(\d+) kB", Path(f"/proc/{pid}/{path}").read_text(), re.M)
    return int(m.group(1)) if m else 0


def usage(pids: list[int]) -> dict[str, float]:
    """Resident and proportional memory of these processes together, MiB."""
    return {"rss_mib": round(sum(_kib(p, "status", "VmRSS") for p in pids) / 1024, 1),
            "pss_mib": round(sum(_kib(p, "smaps_rollup", "Pss") for p in pids) / 1024, 1)}


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout
    return [int(p) for p in out.split()]


def _cli(lab: Lab, node: str, *args: str, check: bool = True) -> str:
    return subprocess.run([sys.executable, "-m", "hacore", "--socket", str(lab.socket(node)), *args],
                          capture_output=True, text=True, timeout=30, check=check).stdout


def _fill(lab: Lab, flows: int) -> None:
    netns.run_in(lab, "node1", [sys.executable, "-m", "hacore_lab.ctfill", "--count", str(flows)])


def _hacore(lab: Lab, flows: int, progress: Callable[[str], None]) -> list[dict[str, Any]]:
    netns.up(lab, ipv6=False)
    pids = {node: netns.start_daemon(lab, node) for node in NODES}
    wait_until(lambda: request(lab.socket("node2"), "info")["sync"].get("complete"), 20, what="node2 complete")
    rows = [{"moment": "formed pair, idle", "node": n, **usage([p])} for n, p in pids.items()]
    progress("hacore: SSH keys for configuration sync")
    keys = {node: _cli(lab, node, "cluster", "ssh-key", "generate").strip() for node in NODES}
    for node, other in (("node1", "node2"), ("node2", "node1")):
        _cli(lab, node, "cluster", "ssh-key", "set-remote", *keys[other].split())
    wait_until(lambda: all(":" in request(lab.socket(n), "info")["sync_endpoint"] for n in NODES), 20,
               what="both SSH endpoints listening")
    _cli(lab, "node1", "system", "config", "synchronize", check=False)  # equal configurations: one exchange
    rows += [{"moment": "configuration synchronized (SSH endpoint up)", "node": n, **usage([p])}
             for n, p in pids.items()]
    progress(f"hacore: {flows:,} flows to replicate")
    base = request(lab.socket("node2"), "info")["sync"].get("flows", 0)
    _fill(lab, flows)
    wait_until(lambda: request(lab.socket("node2"), "info")["sync"].get("flows", 0) - base >= flows,
               30 + flows / 10_000, what=f"node2 holding {flows:,} more flows")
    rows += [{"moment": f"spare holds {flows:,} flows", "node": n, **usage([p])} for n, p in pids.items()]
    return rows


def _incumbents(lab: Lab, flows: int, progress: Callable[[str], None]) -> list[dict[str, Any]]:
    netns.up(lab, ipv6=False)
    cd = {n: Conntrackd(lab, n) for n in NODES}
    ka = {node: Keepalived(lab, node, config(3, prio, 1.0, links=("lan1", "lan2"), notify=str(cd[node].script)))
          for node, prio in (("node1", 200), ("node2", 100))}
    wait_until(lambda: all(k.vrrp_pidfile.exists() for k in ka.values()), 10, what="keepalived's VRRP children")
    rows = []
    for node in NODES:
        both = [ka[node].proc.pid, *_children(ka[node].proc.pid)]
        rows.append({"moment": "formed pair, idle", "node": node, "stack": "keepalived", **usage(both)})
        rows.append({"moment": "formed pair, idle", "node": node, "stack": "conntrackd", **usage([cd[node].proc.pid])})
        rows.append({"moment": "formed pair, idle", "node": node, "stack": "keepalived+conntrackd",
                     **usage([*both, cd[node].proc.pid])})
    progress(f"conntrackd: {flows:,} flows to replicate")
    base = cd["node2"].external_cache()
    _fill(lab, flows)
    wait_until(lambda: cd["node2"].external_cache() - base >= flows, 30 + flows / 10_000,
               what=f"conntrackd on node2 holding {flows:,} more flows")
    for node in NODES:
        rows.append({"moment": f"spare holds {flows:,} flows", "node": node, "stack": "conntrackd",
                     **usage([cd[node].proc.pid])})
        rows.append({"moment": f"spare holds {flows:,} flows", "node": node, "stack": "keepalived+conntrackd",
                     **usage([ka[node].proc.pid, *_children(ka[node].proc.pid), cd[node].proc.pid])})
    return rows


def run(flows: int, progress: Callable[[str], None]) -> dict[str, Any]:
    netns.require_programs("keepalived", "conntrackd")
    rows: list[dict[str, Any]] = []
    progress("hacore: a formed pair")
    lab = Lab(f"m{os.getpid()}h")
    try:
        rows += [{"stack": "hacore", **r} for r in _hacore(lab, flows, progress)]
    finally:
        netns.down(lab)
    progress("keepalived + conntrackd: a formed pair")
    lab = Lab(f"m{os.getpid()}k")
    try:
        rows += _incumbents(lab, flows, progress)
    finally:
        netns.down(lab)
    return {"flows": flows, "rows": rows}


def markdown(report: dict[str, Any]) -> str:
    ours = {(r["moment"], r["node"]): r["rss_mib"] for r in report["rows"] if r["stack"] == "hacore"}
    lines = ["| moment | node | stack | resident (VmRSS) | proportional (Pss) | hacore's resident vs this |",
             "|---|---|---|---:|---:|---:|"]
    for r in report["rows"]:
        mine = ours.get((r["moment"], r["node"]))
        ratio = f"{mine / r['rss_mib']:.2f}x" if mine and r["rss_mib"] else "-"
        lines.append(f"| {r['moment']} | {r['node']} | {r['stack']} | {r['rss_mib']:.1f} MiB | "
                     f"{r['pss_mib']:.1f} MiB | {ratio} |")
    return "\n".join(lines)

"""`hacore bench failover`: the outage a client sees when the master loses
power, hacore and keepalived side by side: same lab, same traffic, same fault.

Rules: every run builds its own lab and removes it, also on failure. Cases
pair settings with the same nominal detection time; keepalived runs only
where it is installed.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hacore.lab import failover, faults, netns
from hacore.lab.keepalived import Keepalived, config
from hacore.lab.topology import NODES, Lab
from hacore.lab.wait import wait_until

VIP_INT = "203.0.113.1/24"


@dataclass(frozen=True)
class Case:
    name: str
    delay_s: float  # hacore UPDATE_TRIGGER_DELAY
    advert_int_s: float  # keepalived advert_int (VRRPv3); master down = 3 x advert + skew


CASES = (
    Case("defaults (seed: 2 s delay; keepalived: advert_int 1)", 2.0, 1.0),
    Case("tuned (0.3 s delay; keepalived: advert_int 0.1)", 0.3, 0.1),
)


def _has_vip(lab: Lab, node: str) -> bool:
    return VIP_INT in faults.addresses(lab, node, "lan2")


def _measure(lab: Lab, expect_s: float) -> failover.Result:
    wait_until(lambda: _has_vip(lab, "node1") and not _has_vip(lab, "node2"), 15 + 5 * expect_s,
               what="node1 to hold the VIPs alone")
    return failover.measure(
        lab, fail=lambda: faults.go_dark(lab, "node1"),
        taken_over=lambda: time.time() if _has_vip(lab, "node2") else None,
        expect_s=expect_s, stable=lambda: _has_vip(lab, "node1"))


def run_hacore(lab: Lab, case: Case) -> failover.Result:
    netns.up(lab, delay_s=case.delay_s, ipv6=False)
    for node in NODES:
        netns.start_daemon(lab, node)
    return _measure(lab, case.delay_s)


def run_keepalived(lab: Lab, case: Case) -> failover.Result:
    netns.up(lab, ipv6=False)
    for node, priority in (("node1", 200), ("node2", 100)):
        Keepalived(lab, node, config(3, priority, case.advert_int_s, links=("lan1", "lan2")))
    return _measure(lab, 3.7 * case.advert_int_s)


def run(runs: int, progress: Callable[[str], None]) -> dict[str, Any]:
    impls: dict[str, Callable[[Lab, Case], failover.Result]] = {"hacore": run_hacore}
    if shutil.which("keepalived"):
        impls["keepalived"] = run_keepalived
    rows = []
    for case in CASES:
        row: dict[str, Any] = {"case": case.name}
        for impl, fn in impls.items():
            outages, stalls, survived = [], [], 0
            for n in range(runs):
                lab = Lab(f"b{os.getpid()}{impl[0]}{n}")
                progress(f"{case.name}: {impl} run {n + 1}/{runs}")
                try:
                    r = fn(lab, case)
                finally:
                    netns.down(lab)
                outages.append(r.outage_ms)
                stalls.append(r.stream["longest_stall_ms"])
                survived += bool(r.stream["survived"])
            row[impl] = {"outage_ms": outages, "median_ms": statistics.median(outages),
                         "tcp_longest_stall_ms": stalls, "tcp_survived": f"{survived}/{runs}"}
        if "keepalived" in row:
            row["keepalived_vs_hacore"] = round(row["keepalived"]["median_ms"] / row["hacore"]["median_ms"], 2)
        rows.append(row)
    return {"runs": runs, "cases": rows, "keepalived": "keepalived" in impls}


def markdown(report: dict[str, Any]) -> str:
    lines = ["| case | hacore outage (median) | keepalived outage (median) | keepalived / hacore | TCP stream "
             "survived (hacore, keepalived) |", "|---|---:|---:|---:|---|"]
    for r in report["cases"]:
        hc, ka = r["hacore"], r.get("keepalived")
        lines.append(f"| {r['case']} | {hc['median_ms']:.0f} ms | {ka['median_ms']:.0f} ms | "
                     f"{r['keepalived_vs_hacore']:.2f}x | {hc['tcp_survived']}, {ka['tcp_survived']} |" if ka else
                     f"| {r['case']} | {hc['median_ms']:.0f} ms | - | - | {hc['tcp_survived']} |")
    lines.append("")
    lines.append(f"{report['runs']} runs per cell; every outage (ms): " + "; ".join(
        f"{r['case'].split(' (')[0]} hacore {r['hacore']['outage_ms']}"
        + (f", keepalived {r['keepalived']['outage_ms']}" if "keepalived" in r else "") for r in report["cases"]))
    return "\n".join(lines)

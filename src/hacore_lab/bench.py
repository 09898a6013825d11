"""`hacore bench failover`: the outage a client sees when the master loses
power, and whether its connections live on, for three stacks side by side:
hacore, keepalived alone, and keepalived + conntrackd (FTFW over UDP on the
same hotwire, committed by conntrack-tools' notify script). Same lab (two
stateful, NATing firewalls), same traffic, same fault.

Rules: every run builds its own lab and removes it, also on failure. The
fault lands at a random phase of the master's advert cycle, so each stack's
spread is the one a real failure meets; each stack's configured master-down
time is reported beside its outage. A peer that is not installed fails the
bench before it starts.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hacore.control.protocol import request
from hacore.support.stats import percentile
from hacore.vrrp.timing import ADVERTS_PER_DELAY
from hacore_lab import failover, faults, load, netns
from hacore_lab.conntrackd import Conntrackd
from hacore_lab.keepalived import Keepalived, config
from hacore_lab.topology import NODES, REALTIME, SERVER, Lab
from hacore_lab.wait import wait_until

VIP_INT = "203.0.113.1/24"
KEEPALIVED_BACKUP_PRIORITY = 100


@dataclass(frozen=True)
class Case:
    key: str
    name: str
    delay_s: float  # hacore UPDATE_TRIGGER_DELAY
    advert_int_s: float  # keepalived advert_int (VRRPv3)
    realtime: bool = False  # hacore: topology.REALTIME (sender and spare loop); keepalived: vrrp_rt_priority
    load: bool = False  # both CPUs busy and a forwarding flood through the master, from the baseline on


CASES = (
    Case("defaults", "defaults (seed: 2 s delay; keepalived: advert_int 1)", 2.0, 1.0),
    Case("same", "same detection time (hacore 0.361 s delay; keepalived advert_int 0.1)", 0.361, 0.1),
    Case("floor", "each at its floor, real-time priority (hacore 0.01 s delay; keepalived advert_int 0.01)", 0.01,
         0.01, True),
    Case("floor-load", "each at its floor, real-time priority, both CPUs busy and a forwarding flood", 0.01, 0.01,
         True, True),
)


def master_down_s(stack: str, case: Case) -> float:
    """When the spare declares the master dead, as configured (RFC 5798: 3 x advert + skew)."""
    if stack == "hacore":
        return case.delay_s
    return 3 * case.advert_int_s + (256 - KEEPALIVED_BACKUP_PRIORITY) / 256 * case.advert_int_s


def advert_interval_s(stack: str, case: Case) -> float:
    return case.delay_s / ADVERTS_PER_DELAY if stack == "hacore" else case.advert_int_s


def has_vip(lab: Lab, node: str) -> bool:
    return VIP_INT in faults.addresses(lab, node, "lan2")


def _measure(lab: Lab, case: Case, expect_s: float, phase_s: float) -> failover.Result:
    wait_until(lambda: has_vip(lab, "node1") and not has_vip(lab, "node2"), 15 + 5 * expect_s,
               what="node1 to hold the VIPs alone")
    loads = []
    if case.load:  # bounded: they end with the measurement's traffic
        secs = failover.BASELINE_S + phase_s + expect_s + failover.AFTER_S + 5
        loads = [load.start(lab, "client", *args, seconds=secs) for args in (["busy"], ["busy"],
                                                                             ["udp", "--dst", SERVER])]
    try:
        return failover.measure(
            lab, fail=lambda: faults.go_dark(lab, "node1"),
            taken_over=lambda: time.time() if has_vip(lab, "node2") else None,
            expect_s=expect_s, stable=lambda: has_vip(lab, "node1"), extra_baseline_s=phase_s)
    finally:
        for p in loads:
            p.kill()
            p.wait()


def start_hacore(lab: Lab, case: Case) -> None:
    """The lab with hacore on both nodes, node2's copy of the conntrack table complete."""
    netns.up(lab, delay_s=case.delay_s, ipv6=False, timing=REALTIME if case.realtime else "")
    for node in NODES:
        netns.start_daemon(lab, node)
    wait_until(lambda: request(lab.socket("node2"), "info")["sync"].get("complete"), 15,
               what="node2's copy complete")


def start_keepalived(lab: Lab, case: Case, with_conntrackd: bool) -> dict[str, Keepalived]:
    """The lab with keepalived (and conntrackd, committed by its notify script) on both nodes."""
    netns.up(lab, ipv6=False)
    notify = {n: str(Conntrackd(lab, n).script) for n in NODES} if with_conntrackd else {}
    rt = "vrrp_rt_priority 50\n" if case.realtime else ""
    started = {}
    for node, priority in (("node1", 200), ("node2", KEEPALIVED_BACKUP_PRIORITY)):
        conf = config(3, priority, case.advert_int_s, links=("lan1", "lan2"), notify=notify.get(node, ""))
        started[node] = Keepalived(lab, node, conf.replace("global_defs {\n", "global_defs {\n" + rt))
    return started


def run_hacore(lab: Lab, case: Case, phase_s: float) -> failover.Result:
    start_hacore(lab, case)
    return _measure(lab, case, case.delay_s, phase_s)


def _keepalived(lab: Lab, case: Case, phase_s: float, with_conntrackd: bool) -> failover.Result:
    start_keepalived(lab, case, with_conntrackd)
    return _measure(lab, case, master_down_s("keepalived", case) + 0.2, phase_s)


STACKS: dict[str, tuple[Callable[[Lab, Case, float], failover.Result], tuple[str, ...]]] = {
    "hacore": (run_hacore, ()),
    "keepalived": (lambda lab, case, phase: _keepalived(lab, case, phase, False), ("keepalived",)),
    "keepalived+conntrackd": (lambda lab, case, phase: _keepalived(lab, case, phase, True),
                              ("keepalived", "conntrackd")),
}


def run(runs: int, progress: Callable[[str], None], seed: int | None = None,
        cases: tuple[str, ...] = tuple(c.key for c in CASES)) -> dict[str, Any]:
    rng = random.Random(seed)
    netns.require_programs(*sorted({p for _, needs in STACKS.values() for p in needs}))
    stacks = {name: fn for name, (fn, _) in STACKS.items()}
    rows = []
    for case in (c for c in CASES if c.key in cases):
        for stack, fn in stacks.items():
            outages, phases, survived, udp_kept, failed = [], [], 0, 0, []
            for n in range(runs):
                lab = Lab(f"b{os.getpid()}{list(STACKS).index(stack)}{n}")
                phase = rng.uniform(0, advert_interval_s(stack, case))
                progress(f"{case.name}: {stack} run {n + 1}/{runs} (fault at advert phase {phase * 1e3:.0f} ms)")
                try:
                    r = fn(lab, case, phase)
                except (AssertionError, TimeoutError, netns.LabError) as exc:
                    # A stack that cannot hold still before the fault is a finding, not a crash of the bench.
                    progress(f"{case.name}: {stack} run {n + 1} not measured: {exc}")
                    failed.append(str(exc))
                    continue
                finally:
                    netns.down(lab)
                outages.append(r.outage_ms)
                phases.append(round(phase * 1e3, 1))
                survived += bool(r.stream["survived"])
                udp_kept += sum(s.startswith("udp ") for s in r.server_saw) == 1
            rows.append({"case": case.name, "case_key": case.key, "stack": stack,
                         "master_down_ms": round(master_down_s(stack, case) * 1e3),
                         "outage_ms": outages, "phase_ms": phases,
                         "p50_ms": statistics.median(outages) if outages else None,
                         "p99_ms": percentile(outages, 99) if outages else None,
                         "max_ms": max(outages) if outages else None,
                         "tcp_lost": len(outages) - survived, "udp_port_kept": udp_kept, "runs": len(outages),
                         "not_measured": failed})
    for row in rows:
        base = next(r for r in rows if r["case"] == row["case"] and r["stack"] == "hacore")
        row["p50_vs_hacore"] = (round(row["p50_ms"] / base["p50_ms"], 2)
                                if row["p50_ms"] is not None and base["p50_ms"] else None)
    return {"runs": runs, "rows": rows}


def markdown(report: dict[str, Any]) -> str:
    lines = ["| case | stack | master down (configured) | outage p50 | p99 | max | p50 vs hacore | TCP connections "
             "lost | UDP flows kept their port |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    def ms(v: float | None) -> str:  # a tenth where a goal is a ms or two away
        return "-" if v is None else f"{v:.1f} ms" if v < 100 else f"{v:.0f} ms"

    for r in report["rows"]:
        failed = r.get("not_measured") or []
        stack = r["stack"] + (f" ({len(failed)} runs not measured: {failed[0]})" if failed else "")
        ratio = "-" if r["p50_vs_hacore"] is None else f"{r['p50_vs_hacore']:.2f}x"
        lines.append(f"| {r['case']} | {stack} | {r['master_down_ms']} ms | {ms(r['p50_ms'])} | "
                     f"{ms(r['p99_ms'])} | {ms(r['max_ms'])} | {ratio} | "
                     f"{r['tcp_lost']}/{r['runs']} | {r['udp_port_kept']}/{r['runs']} |")
    lines += ["", f"{report['runs']} runs per row, the fault at a random phase of the advert cycle; p99 is the "
                  "nearest-rank percentile (with few runs, the maximum)."]
    lines.append("Every outage (ms): " + "; ".join(f"{r['stack']} {r['case'].split(' (')[0]} {r['outage_ms']}"
                                                    for r in report["rows"]))
    return "\n".join(lines)

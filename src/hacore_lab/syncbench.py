"""`hacore bench sync`: conntrack replication, hacore beside conntrackd (FTFW
over UDP on the same hotwire, Debian's package), in the lab.

For each stack and table size the master's kernel gets that many NATed
flows in one burst (hacore_lab.ctfill, as fast as ctnetlink takes them);
measured are the time until the spare holds them all (flows replicated per
second), how many it still lacks at the deadline (lost in the burst), the
replication lag of small batches (p50/p99), and the time from the takeover
decision to a complete kernel table on the spare: hacore writes through, so
that is the wait for writes in flight; conntrackd keeps an external cache
that the notify script commits (`conntrackd -c`) at takeover. The pace to
beat is the spare's kernel alone: the same burst written straight into
node2's kernel in a lab of its own, no stack running (hacore_lab.ctfill's
own timing, its start-up excluded).

Rules: every run builds its own lab and removes it, also on failure; each
wait has a deadline; counts come from the kernel (`conntrack -C`) and from
conntrackd's own statistics (`conntrackd -s`).
"""

from __future__ import annotations

import json
import os
import re
import signal
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from hacore.control.protocol import request
from hacore_lab import faults, netns
from hacore_lab.bench import percentile
from hacore_lab.conntrackd import Conntrackd
from hacore_lab.topology import NODES, Lab
from hacore_lab.wait import wait_until

POLL_S = 0.01
LAG_BATCHES, LAG_BATCH = 40, 500


def _kernel_count(lab: Lab, node: str) -> int:
    return int(netns.run_in(lab, node, ["conntrack", "-C"]).stdout)


def _fill(lab: Lab, count: int, first: int) -> float:
    """Create the flows on node1; the monotonic time the first went in (the tool's start-up excluded)."""
    out = netns.run_in(lab, "node1", [sys.executable, "-m", "hacore_lab.ctfill", "--count", str(count), "--first",
                                      str(first)]).stdout
    return time.monotonic() - json.loads(out)["seconds"]


class Stack:
    name = ""

    def __init__(self, lab: Lab):
        self.lab = lab

    def held(self) -> int:
        raise NotImplementedError

    def takeover_ms(self) -> tuple[float, int]:
        """(time from the takeover decision to a complete kernel table, entries in the spare's kernel then)."""
        raise NotImplementedError


class Hacore(Stack):
    name = "hacore"

    def __init__(self, lab: Lab):
        super().__init__(lab)
        netns.up(lab, ipv6=False)
        for node in NODES:
            netns.start_daemon(lab, node)
        wait_until(lambda: request(lab.socket("node2"), "info")["sync"].get("complete"), 20,
                   what="node2's copy complete")
        self.base = _kernel_count(lab, "node2")

    def held(self) -> int:
        return _kernel_count(self.lab, "node2") - self.base

    def takeover_ms(self) -> tuple[float, int]:
        entries = _kernel_count(self.lab, "node2")
        faults.signal_daemon(self.lab, "node1", signal.SIGKILL)
        wait_until(lambda: request(self.lab.socket("node2"), "info")["cluster_state"] == "master", 10,
                   what="node2 master")
        log = (self.lab.node_dir("node2") / "daemon.log").read_text()
        waited = [float(m) for m in re.findall(r"event=sync_flushed .*waited_ms=([\d.]+)", log)]
        return (waited[-1] if waited else 0.0), entries


class ConntrackdStack(Stack):
    name = "conntrackd"

    def __init__(self, lab: Lab):
        super().__init__(lab)
        netns.up(lab, ipv6=False)
        self.cd = {n: Conntrackd(lab, n) for n in NODES}

    def held(self) -> int:
        return self.cd["node2"].external_cache()

    def takeover_ms(self) -> tuple[float, int]:
        took = self.cd["node2"].commit_seconds()  # the notify script's first step on the new master
        return took * 1e3, _kernel_count(self.lab, "node2")


def _burst(stack: Stack, flows: int, first: int, deadline_s: float) -> dict[str, Any]:
    before = stack.held()
    t0 = _fill(stack.lab, flows, first)
    created_s = time.monotonic() - t0
    done = None
    while time.monotonic() - t0 < deadline_s:
        if stack.held() - before >= flows:
            done = time.monotonic() - t0
            break
        time.sleep(POLL_S)
    held = stack.held() - before
    return {"flows": flows, "created_s": round(created_s, 3), "replicated_s": round(done, 3) if done else None,
            "flows_per_s": round(flows / done) if done else None, "lost": max(0, flows - held)}


def _lags(stack: Stack, first: int) -> list[float]:
    lags = []
    for k in range(LAG_BATCHES):
        before = stack.held()
        t0 = _fill(stack.lab, LAG_BATCH, first + k * LAG_BATCH)
        while stack.held() - before < LAG_BATCH and time.monotonic() - t0 < 5:
            time.sleep(POLL_S)
        lags.append(round((time.monotonic() - t0) * 1e3, 1))
    return lags


def _in_lab(cls: type[Stack], tag: str, work: Callable[[Stack], dict[str, Any]]) -> dict[str, Any]:
    lab = Lab(f"s{os.getpid()}{cls.name[0]}{tag}")
    try:
        return work(cls(lab))
    finally:
        netns.down(lab)


def _burst_and_takeover(stack: Stack, size: int) -> dict[str, Any]:
    burst = _burst(stack, size, 0, 20 + size / 10_000)
    took_ms, entries = stack.takeover_ms()
    return {**burst, "takeover_to_table_ms": round(took_ms, 1), "kernel_entries_at_takeover": entries}


def kernel_alone(size: int) -> dict[str, Any]:
    """The burst written straight into node2's kernel, nothing else running: what a spare could insert."""
    lab = Lab(f"s{os.getpid()}k{size // 1000}")
    try:
        netns.up(lab, ipv6=False)
        out = netns.run_in(lab, "node2", [sys.executable, "-m", "hacore_lab.ctfill", "--count", str(size)]).stdout
        seconds = json.loads(out)["seconds"]
    finally:
        netns.down(lab)
    return {"seconds": seconds, "flows_per_s": round(size / seconds)}


def run(sizes: tuple[int, ...], progress: Callable[[str], None]) -> dict[str, Any]:
    """The spare's kernel alone for each size, then each stack: the lag of small batches (a lab of its own),
    then a burst of each size (a lab each: the kernel's table holds at most nf_conntrack_max, 262,144 here,
    per namespace)."""
    netns.require_programs("conntrackd")
    stacks: list[type[Stack]] = [Hacore, ConntrackdStack]
    rows, lags = [], {}
    kernel = {}
    for size in sizes:
        progress(f"the spare's kernel alone: {size:,} flows in one burst")
        kernel[str(size)] = kernel_alone(size)
    for cls in stacks:
        progress(f"{cls.name}: replication lag of {LAG_BATCHES} batches of {LAG_BATCH} flows")
        lag = _in_lab(cls, "lag", lambda st: {"lag_ms": _lags(st, 0)})["lag_ms"]
        lags[cls.name] = {"lag_ms": lag, "p50_ms": statistics.median(lag), "p99_ms": percentile(lag, 99)}
        for size in sizes:
            progress(f"{cls.name}: {size:,} flows in one burst, then the takeover")
            rows.append({"stack": cls.name, **_in_lab(cls, str(size // 1000),
                                                     lambda st, n=size: _burst_and_takeover(st, n))})
    for row in rows:
        alone = kernel[str(row["flows"])]["flows_per_s"]
        row["vs_kernel_alone"] = round(row["flows_per_s"] / alone, 2) if row["flows_per_s"] else None
    return {"rows": rows, "lag": lags, "kernel": kernel}


def markdown(report: dict[str, Any]) -> str:
    lines = ["| flows in the burst | stack | created on the master in | on the spare in (hacore: its kernel; "
             "conntrackd: its cache) | flows/s | vs the spare's kernel alone | lost at the deadline | takeover "
             "decision -> complete kernel table | entries in the spare's kernel then |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    kernel = report.get("kernel", {})
    for size, k in kernel.items():
        lines.append(f"| {int(size):,} | the spare's kernel alone (ctnetlink, no stack) | - | {k['seconds']:.2f} s | "
                     f"{k['flows_per_s']:,} | 1.00x | - | - | - |")
    for r in report["rows"]:
        rep = f"{r['replicated_s']:.2f} s" if r["replicated_s"] else "not within the deadline"
        rate = f"{r['flows_per_s']:,}" if r["flows_per_s"] else "-"
        ratio = f"{r['vs_kernel_alone']:.2f}x" if r.get("vs_kernel_alone") else "-"
        lines.append(f"| {r['flows']:,} | {r['stack']} | {r['created_s']:.2f} s | {rep} | {rate} | {ratio} | "
                     f"{r['lost']:,} | {r['takeover_to_table_ms']:,.1f} ms | {r['kernel_entries_at_takeover']:,} |")
    lines += ["", "| stack | replication lag p50 | p99 |", "|---|---:|---:|"]
    for stack, lag in report["lag"].items():
        lines.append(f"| {stack} | {lag['p50_ms']:.0f} ms | {lag['p99_ms']:.0f} ms |")
    lines.append(f"\nLag: {LAG_BATCHES} batches of {LAG_BATCH} flows each, from the first flow's creation on the "
                 "master to the last one held by the spare; every lag (ms): " + "; ".join(
                     f"{stack} {lag['lag_ms']}" for stack, lag in report["lag"].items()))
    return "\n".join(lines)

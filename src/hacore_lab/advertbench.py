"""`hacore bench adverts`: how steady the master's adverts arrive and how
often load alone makes the spare take over, hacore beside keepalived, under
the loads a saturated appliance sees.

Every run builds its own lab (IPv4 VIPs), starts one stack on both nodes,
records on node2's lan1 the kernel arrival time of every advert from node1
(hacore_lab.advertcap) while a bounded load runs, then counts node2's role
changes (each one a false failover: nothing failed). Interval error is the
gap between two arrivals less the configured interval. Loads (hacore_lab.load):
busy = two processes spinning on the two CPUs, with CLI requests to node1's
daemon in a loop for hacore (allocation and GC inside its own process);
flood = UDP from the client through the master to the server, 64 flows, as
fast as one process sends; junk = VRRP the receive filter drops (TTL 254,
a source outside the HA subnet) from the router on the HA segment.

Stacks: hacore (its sender thread), hacore-loop (node.timing.sender =
"loop": adverts from the asyncio loop, the baseline before issue 9) and
keepalived (VRRPv3); "+rt" gives the sender real-time priority (hacore:
node.timing.realtime = "fifo"; keepalived: vrrp_rt_priority). hacore sends
every delay/4 and its spare waits the delay; keepalived sends every
advert_int and waits 3 x advert_int + skew. Rules: bounded in time; every
lab is removed, also on failure.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hacore.control.protocol import ControlError, request
from hacore.vrrp.timing import ADVERTS_PER_DELAY
from hacore_lab import faults, netns
from hacore_lab.bench import KEEPALIVED_BACKUP_PRIORITY, percentile
from hacore_lab.keepalived import Keepalived, config
from hacore_lab.topology import NODE_ADDR, NODES, SERVER, Lab
from hacore_lab.wait import wait_until

SOURCE = NODE_ADDR["node1"]["lan1"][0].split("/")[0]
VIP = "198.51.100.101/24"


@dataclass(frozen=True)
class Run:
    part: str  # interval | soak | junk
    stack: str  # hacore | hacore-loop | keepalived
    rt: bool
    delay_s: float  # hacore's UPDATE_TRIGGER_DELAY; keepalived gets the same interval rounded to 10 ms
    load: str  # idle | busy | flood | busy+flood | junk
    rx_filter: str = "auto"

    @property
    def interval_s(self) -> float:
        if self.stack.startswith("hacore"):
            return self.delay_s / ADVERTS_PER_DELAY
        return max(0.01, round(self.delay_s / 3, 2))  # keepalived: centiseconds, 10 ms at least

    @property
    def master_down_s(self) -> float:
        if self.stack.startswith("hacore"):
            return self.delay_s
        return 3 * self.interval_s + (256 - KEEPALIVED_BACKUP_PRIORITY) / 256 * self.interval_s

    @property
    def label(self) -> str:
        rx = "" if self.rx_filter == "auto" else f" filter {self.rx_filter}"
        return self.stack + ("+rt" if self.rt else "") + rx


PARTS = ("interval", "soak", "junk")


def plan(delays: tuple[float, ...], soak_s: float, interval_s: float, junk_s: float,
         parts: tuple[str, ...] = PARTS) -> list[tuple[Run, float]]:
    out: list[tuple[Run, float]] = []
    if "interval" in parts:
        for load in ("idle", "busy"):
            for stack in ("hacore", "hacore-loop", "keepalived"):
                out.append((Run("interval", stack, False, 0.03, load), interval_s))
    if "soak" in parts:
        for delay in delays:
            for load in ("busy", "flood", "busy+flood"):
                for stack in ("hacore", "keepalived"):
                    for rt in (False, True):
                        out.append((Run("soak", stack, rt, delay, load), soak_s))
    if "junk" in parts:
        for rx in ("auto", "none"):
            out.append((Run("junk", "hacore", False, 0.03, "junk", rx), junk_s))
    return out


def _has_vip(lab: Lab, node: str) -> bool:
    return VIP in faults.addresses(lab, node, "lan1")


def _py(lab: Lab, role: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(netns.exec_argv(lab, role, [sys.executable, "-m", *args]), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)


def _start(lab: Lab, run: Run) -> list[Keepalived]:
    """The stack up, node1 master; keepalived's processes (none for hacore)."""
    if run.stack == "keepalived":
        netns.up(lab, ipv6=False)
        conf = config(3, 200, run.interval_s, links=("lan1", "lan2"))
        rt = "vrrp_rt_priority 50\n" if run.rt else ""
        prios = (("node1", 200), ("node2", KEEPALIVED_BACKUP_PRIORITY))
        kas = [Keepalived(lab, node, conf.replace("global_defs {\n", "global_defs {\n" + rt).replace(
            "priority 200", f"priority {prio}")) for node, prio in prios]
        try:
            wait_until(lambda: _has_vip(lab, "node1") and not _has_vip(lab, "node2"), 20,
                       what="keepalived: node1 master")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc} ({_respawns(kas)} VRRP child respawns)") from None
        return kas
    timing = [f'receive_filter = "{run.rx_filter}"']
    timing += ['sender = "loop"'] if run.stack == "hacore-loop" else []
    timing += ['realtime = "fifo"'] if run.rt else []
    netns.up(lab, delay_s=run.delay_s, ipv6=False, timing="\n".join(timing))
    for node in NODES:
        netns.start_daemon(lab, node)
    wait_until(lambda: _roles(lab) == ("master", "backup"), 20, what="hacore: node1 master, node2 backup")
    return []


def _roles(lab: Lab) -> tuple[str, str]:
    out = []
    for node in NODES:
        try:
            out.append(request(lab.socket(node), "info")["cluster_state"])
        except ControlError:
            out.append("down")
    return out[0], out[1]


def _role_changes(lab: Lab, kas: list[Keepalived]) -> int:
    """node2's takeovers so far: each one false, nothing failed."""
    if kas:
        return len(re.findall(r"\(HA0\) Entering MASTER STATE", kas[1].log()))
    return int(request(lab.socket("node2"), "info").get("failovers", 0))


def _respawns(kas: list[Keepalived]) -> int:
    """keepalived's VRRP children that died and were started again (with vrrp_rt_priority its
    RLIMIT_RTTIME, 10 ms of CPU between blocking calls by default, can kill them under load)."""
    return sum(len(re.findall(r"VRRP child process\(\d+\) died", ka.log())) for ka in kas)


def _cli_loop(lab: Lab, until: float) -> int:
    n = 0
    while time.monotonic() < until:
        try:
            request(lab.socket("node1"), "info")
            request(lab.socket("node1"), "history")
        except ControlError:
            pass
        n += 1
    return n


def _stats(arrivals: list[int], interval_s: float, master_down_s: float) -> dict[str, Any]:
    gaps = [(b - a) / 1e6 for a, b in itertools.pairwise(arrivals)]
    err = [g - interval_s * 1e3 for g in gaps]
    if not err:
        return {"samples": 0}
    return {"samples": len(err), "p50_ms": round(statistics.median(err), 3),
            "p99_ms": round(percentile(err, 99), 3), "p999_ms": round(percentile(err, 99.9), 3),
            "max_ms": round(max(err), 3), "longest_gap_ms": round(max(gaps), 3),
            "gaps_over_wait": sum(g >= master_down_s * 1e3 for g in gaps)}


def measure(run: Run, seconds: float, lab: Lab) -> dict[str, Any]:
    kas = _start(lab, run)
    before = _role_changes(lab, kas)
    cap = _py(lab, "node2", "hacore_lab.advertcap", "--ifname", "lan1", "--src", SOURCE, "--seconds", f"{seconds}")
    loads: list[subprocess.Popen[str]] = []
    secs = f"{seconds}"
    if "busy" in run.load:
        loads += [_py(lab, "client", "hacore_lab.load", "busy", "--seconds", secs) for _ in range(2)]
    if "flood" in run.load:
        loads.append(_py(lab, "client", "hacore_lab.load", "udp", "--dst", SERVER, "--seconds", secs))
    if run.load == "junk":
        loads.append(_py(lab, "router", "hacore_lab.load", "junk", "--src", SERVER, "--ifname", "eth0",
                         "--seconds", secs))
    cli: list[int] = []
    pressure = None
    if "busy" in run.load and not kas:
        until = time.monotonic() + seconds
        pressure = threading.Thread(target=lambda: cli.append(_cli_loop(lab, until)), daemon=True)
        pressure.start()
    out, _ = cap.communicate(timeout=seconds + 60)
    done = [json.loads(p.communicate(timeout=60)[0] or "{}") for p in loads]
    if pressure is not None:
        pressure.join(timeout=60)
    row: dict[str, Any] = {
        "part": run.part, "stack": run.label, "load": run.load, "delay_s": run.delay_s, "seconds": seconds,
        "interval_ms": round(run.interval_s * 1e3, 2), "master_down_ms": round(run.master_down_s * 1e3, 1),
        **_stats(json.loads(out)["arrivals_ns"], run.interval_s, run.master_down_s),
        "role_changes": _role_changes(lab, kas) - before,
        "load_pps": round(sum(d.get("count", 0) for d in done if d.get("kind") in ("udp", "junk")) / seconds),
        "cli_requests": sum(cli)}
    if kas:
        row["keepalived_respawns"] = _respawns(kas)
    else:
        for node in NODES:
            with_info = request(lab.socket(node), "info")
            lag = with_info["loop_lateness"]
            row[f"{node}_loop_worst_ms"] = lag["worst_ms"]
            row[f"{node}_loop_p99_ms"] = lag["p99_last_minute_ms"]
        sender = request(lab.socket("node1"), "info")["advert_sender"]
        row["sender_worst_late_us"] = sender.get("worst_late_us")
        row["rx_path"] = request(lab.socket("node2"), "info")["advert_rx"]["path"]
    return row


def run(items: list[tuple[Run, float]], progress: Callable[[str], None]) -> dict[str, Any]:
    rows = []
    for n, (r, seconds) in enumerate(items):
        lab = Lab(f"v{os.getpid() % 10000}{n}")
        progress(f"[{n + 1}/{len(items)}] {r.part}: {r.label}, delay {r.delay_s:g} s, {r.load}, {seconds:g} s")
        try:
            rows.append(measure(r, seconds, lab))
        except (TimeoutError, ControlError, netns.LabError, subprocess.SubprocessError, ValueError) as exc:
            # One case that cannot run is a row that says why; the cases before and after still count.
            progress(f"[{n + 1}/{len(items)}] failed: {exc}")
            rows.append({"part": r.part, "stack": r.label, "load": r.load, "delay_s": r.delay_s,
                         "seconds": seconds, "interval_ms": round(r.interval_s * 1e3, 2),
                         "master_down_ms": round(r.master_down_s * 1e3, 1), "error": str(exc)})
        finally:
            netns.down(lab)
    for row in rows:
        rt = row["stack"].endswith("+rt")
        row["p99_vs_keepalived"] = _ratio(row, rows, lambda o, rt=rt: o["stack"].startswith("keepalived")
                                          and o["stack"].endswith("+rt") == rt)
        row["p99_vs_loop"] = _ratio(row, rows, lambda o: o["stack"] == "hacore-loop")
    return {"rows": rows}


def _ratio(row: dict[str, Any], rows: list[dict[str, Any]], pick: Callable[[dict[str, Any]], bool]) -> float | None:
    other = next((o for o in rows if o["part"] == row["part"] and o["load"] == row["load"]
                  and o["delay_s"] == row["delay_s"] and pick(o)), None)
    if other is None or not other.get("p99_ms") or row.get("samples", 0) == 0:
        return None
    return round(row["p99_ms"] / other["p99_ms"], 2)


def markdown(report: dict[str, Any]) -> str:
    lines = ["| part | delay | load | stack | interval / spare waits | samples | error p50 | p99 | p99.9 | max "
             "| p99 vs keepalived | p99 vs loop | false failovers | loop lateness worst (node1/node2) |",
             "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        def ratio(key: str, r: dict[str, Any] = r) -> str:
            return f"{r[key]:.2f}x" if r.get(key) is not None else "-"
        if "error" in r:
            lines.append(f"| {r['part']} | {r['delay_s']:g} s | {r['load']} | {r['stack']} | {r['interval_ms']:g} / "
                         f"{r['master_down_ms']:g} ms | failed: {r['error']} | | | | | | | | |")
            continue
        lag = (f"{r['node1_loop_worst_ms']:g} / {r['node2_loop_worst_ms']:g} ms" if "node1_loop_worst_ms" in r
               else "-")
        respawns = f" ({r['keepalived_respawns']} VRRP child respawns)" if r.get("keepalived_respawns") else ""
        lines.append(f"| {r['part']} | {r['delay_s']:g} s | {r['load']} | {r['stack']} | {r['interval_ms']:g} / "
                     f"{r['master_down_ms']:g} ms | {r.get('samples', 0)} | {r.get('p50_ms', 0):g} | "
                     f"{r.get('p99_ms', 0):g} | {r.get('p999_ms', 0):g} | {r.get('max_ms', 0):g} | "
                     f"{ratio('p99_vs_keepalived')} | {ratio('p99_vs_loop')} | {r['role_changes']}{respawns} | {lag} |")
    rates: dict[str, list[int]] = {}
    for r in report["rows"]:
        if r.get("load_pps"):
            rates.setdefault(f"{r['load']} ({r['stack'].split('+')[0].split()[0]})", []).append(r["load_pps"])
    lines += ["", "Interval error in ms: the gap between two adverts on the spare's wire less the configured "
                  "interval (kernel timestamps). Load rates reached, lowest-highest case (packets/s): "
              + ", ".join(f"{k} {min(v):,}-{max(v):,}" for k, v in sorted(rates.items())) + "."]
    return "\n".join(lines)

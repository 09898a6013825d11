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
cli = those CLI requests alone; flood = UDP from the client through the
master to the server, 64 flows, as fast as one process sends; churn = 40,000
new NATed conntrack entries a second on the master (each one, and its end,
replicated); all = busy + flood + churn; junk = VRRP the receive filter drops
(TTL 254, a source outside the HA subnet) from the router on the HA segment;
takeover = the first seconds of a new master: node2 holds 100,000 replicated
flows, node1's daemon is killed, node2 takes over, node1's daemon comes back
as the spare and asks for the whole table - the adverts recorded are node2's
on node1's wire, the false failovers node1's.

The floor part runs each load at the shortest delays: hacore at 0.01 s with
real-time priority, hacore at 0.03 s without, keepalived with real-time
priority at its 10 ms advert floor (36 ms master-down).

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
import signal
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
from hacore_lab import faults, netns, steal
from hacore_lab.bench import KEEPALIVED_BACKUP_PRIORITY, percentile
from hacore_lab.keepalived import Keepalived, config
from hacore_lab.topology import NODE_ADDR, NODES, REALTIME, SERVER, Lab
from hacore_lab.wait import wait_until

SOURCE = NODE_ADDR["node1"]["lan1"][0].split("/")[0]
SOURCE2 = NODE_ADDR["node2"]["lan1"][0].split("/")[0]
VIP = "198.51.100.101/24"
CHURN_RATE = 40_000
TAKEOVER_FLOWS = 100_000
FLOOR_LOADS = ("busy", "cli", "flood", "churn", "all", "takeover")


@dataclass(frozen=True)
class Run:
    part: str  # interval | soak | junk | floor
    stack: str  # hacore | hacore-loop | keepalived
    rt: bool
    delay_s: float  # hacore's UPDATE_TRIGGER_DELAY; keepalived gets the same interval rounded to 10 ms
    load: str  # idle | busy | cli | flood | churn | busy+flood | all | junk | takeover
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


PARTS = ("interval", "soak", "junk", "floor")


FLOOR_STACKS = ("hacore+rt", "hacore", "keepalived+rt")


def plan(delays: tuple[float, ...], soak_s: float, interval_s: float, junk_s: float,
         parts: tuple[str, ...] = PARTS, floor_s: float = 600, floor_loads: tuple[str, ...] = FLOOR_LOADS,
         floor_stacks: tuple[str, ...] = FLOOR_STACKS) -> list[tuple[Run, float]]:
    out: list[tuple[Run, float]] = []
    if "floor" in parts:
        for load in (lo for lo in FLOOR_LOADS if lo in floor_loads):
            runs = [Run("floor", "hacore", True, 0.01, load), Run("floor", "hacore", False, 0.03, load)]
            if load != "takeover":  # keepalived has no table to take over
                runs.append(Run("floor", "keepalived", True, 0.03, load))
            out += [(r, floor_s) for r in runs if r.label in floor_stacks]
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
    # The floor runs as `hacore lab up --realtime fifo` sets a node up: the spare's loop real-time too.
    timing += [REALTIME if run.part == "floor" else 'realtime = "fifo"'] if run.rt else []
    # takeover: the returning node1 stays the spare (no preemption inside the soak)
    hold = {"min_hold_s": 3600.0} if run.load == "takeover" else {}
    netns.up(lab, delay_s=run.delay_s, ipv6=False, timing="\n".join(timing), **hold)
    for node in NODES:
        netns.start_daemon(lab, node)
    wait_until(lambda: _roles(lab) == ("master", "backup"), 20, what="hacore: node1 master, node2 backup")
    return []


def _synced_flows(lab: Lab, node: str) -> int:
    return int(request(lab.socket(node), "info").get("sync", {}).get("flows", 0))


def _takeover(lab: Lab) -> None:
    """node2 holds node1's table; node1's daemon dies, node2 takes over, node1's comes back as the spare
    (and asks the new master for the whole table)."""
    netns.run_in(lab, "node1", [sys.executable, "-m", "hacore_lab.ctfill", "--count", str(TAKEOVER_FLOWS)])
    wait_until(lambda: _synced_flows(lab, "node2") >= TAKEOVER_FLOWS, 60, what="node2 holding node1's table")
    netns.stop_daemon(lab, "node1", signal.SIGKILL)
    wait_until(lambda: request(lab.socket("node2"), "info")["cluster_state"] == "master", 10,
               what="node2 master")
    netns.start_daemon(lab, "node1")
    wait_until(lambda: _roles(lab) == ("backup", "master"), 20, what="node1 back as the spare")


def _roles(lab: Lab) -> tuple[str, str]:
    out = []
    for node in NODES:
        try:
            out.append(request(lab.socket(node), "info")["cluster_state"])
        except ControlError:
            out.append("down")
    return out[0], out[1]


def _role_changes(lab: Lab, kas: list[Keepalived], spare: str = "node2") -> int:
    """The spare's takeovers so far: each one false, nothing failed."""
    if kas:
        return len(re.findall(r"\(HA0\) Entering MASTER STATE", kas[1].log()))
    return int(request(lab.socket(spare), "info").get("failovers", 0))


def _respawns(kas: list[Keepalived]) -> int:
    """keepalived's VRRP children that died and were started again (with vrrp_rt_priority its
    RLIMIT_RTTIME, 10 ms of CPU between blocking calls by default, can kill them under load)."""
    return sum(len(re.findall(r"VRRP child process\(\d+\) died", ka.log())) for ka in kas)


def _cli_loop(lab: Lab, node: str, until: float) -> int:
    n = 0
    while time.monotonic() < until:
        try:
            request(lab.socket(node), "info")
            request(lab.socket(node), "history")
        except ControlError:
            pass
        n += 1
    return n


# Upper edges (ms) of the advert-gap histogram the plots draw; the last bucket holds everything longer.
GAP_EDGES_MS = (1, 2, 2.25, 2.5, 2.75, 3, 3.5, 4, 5, 6, 7.5, 8.5, 9.5, 10.5, 12, 15, 20, 30, 40, 50, 75, 100,
                150, 250)


def gap_histogram(gaps_ms: list[float]) -> list[int]:
    counts = [0] * (len(GAP_EDGES_MS) + 1)
    for g in gaps_ms:
        counts[next((i for i, edge in enumerate(GAP_EDGES_MS) if g < edge), len(GAP_EDGES_MS))] += 1
    return counts


def _stats(arrivals: list[int], interval_s: float, master_down_s: float) -> dict[str, Any]:
    gaps = [(b - a) / 1e6 for a, b in itertools.pairwise(arrivals)]
    err = [g - interval_s * 1e3 for g in gaps]
    if not err:
        return {"samples": 0}
    return {"samples": len(err), "p50_ms": round(statistics.median(err), 3),
            "p99_ms": round(percentile(err, 99), 3), "p999_ms": round(percentile(err, 99.9), 3),
            "max_ms": round(max(err), 3), "longest_gap_ms": round(max(gaps), 3),
            "gaps_over_third": sum(g >= master_down_s * 1e3 / 3 for g in gaps),
            "gaps_over_wait": sum(g >= master_down_s * 1e3 for g in gaps),
            "gap_histogram": gap_histogram(gaps)}


def _steal_beside(arrivals: list[int], run: Run, stolen: steal.StealSampler) -> dict[str, Any]:
    """Steal set beside the gaps over a third of the spare's wait (issue 21's bound) and over all of it."""
    out: dict[str, Any] = {}
    for name, over_s in (("third", run.master_down_s / 3), ("wait", run.master_down_s)):
        got = steal.attribute(arrivals, int(over_s * 1e9), stolen.grew, stolen.start_ns, stolen.end_ns)
        out[f"gaps_over_{name}_with_steal"] = got["long_gaps_with_steal"]
        out[f"steal_chance_over_{name}_pct"] = got.get("steal_chance_pct")
    return out


def _loads(name: str) -> set[str]:
    parts = set(name.split("+"))
    return parts | {"busy", "flood", "churn"} if "all" in parts else parts


def measure(run: Run, seconds: float, lab: Lab) -> dict[str, Any]:
    kas = _start(lab, run)
    takeover = run.load == "takeover"
    master, spare, source = ("node2", "node1", SOURCE2) if takeover else ("node1", "node2", SOURCE)
    before = 0 if takeover else _role_changes(lab, kas)
    stolen = steal.StealSampler().start()
    cap = _py(lab, spare, "hacore_lab.advertcap", "--ifname", "lan1", "--src", source, "--seconds", f"{seconds}")
    loads: list[subprocess.Popen[str]] = []
    secs = f"{seconds}"
    kinds = _loads(run.load)
    if "busy" in kinds:
        loads += [_py(lab, "client", "hacore_lab.load", "busy", "--seconds", secs) for _ in range(2)]
    if "flood" in kinds:
        loads.append(_py(lab, "client", "hacore_lab.load", "udp", "--dst", SERVER, "--seconds", secs))
    if "churn" in kinds:
        loads.append(_py(lab, master, "hacore_lab.load", "churn", "--rate", str(CHURN_RATE), "--seconds", secs))
    if run.load == "junk":
        loads.append(_py(lab, "router", "hacore_lab.load", "junk", "--src", SERVER, "--ifname", "eth0",
                         "--seconds", secs))
    cli: list[int] = []
    pressure = None
    if kinds & {"busy", "cli"} and not kas:
        until = time.monotonic() + seconds
        pressure = threading.Thread(target=lambda: cli.append(_cli_loop(lab, master, until)), daemon=True)
        pressure.start()
    if takeover:
        _takeover(lab)
    try:
        out, _ = cap.communicate(timeout=seconds + 60)
    finally:
        stolen.stop()
    arrivals = json.loads(out)["arrivals_ns"]
    done = [json.loads(p.communicate(timeout=60)[0] or "{}") for p in loads]
    if pressure is not None:
        pressure.join(timeout=60)
    row: dict[str, Any] = {
        "part": run.part, "stack": run.label, "load": run.load, "delay_s": run.delay_s, "seconds": seconds,
        "interval_ms": round(run.interval_s * 1e3, 2), "master_down_ms": round(run.master_down_s * 1e3, 1),
        **_stats(arrivals, run.interval_s, run.master_down_s),
        "steal_ms": stolen.steal_ms(), **_steal_beside(arrivals, run, stolen),
        "role_changes": _role_changes(lab, kas, spare) - before,
        "load_pps": round(sum(d.get("count", 0) for d in done if d.get("kind") in ("udp", "junk")) / seconds),
        "churn_per_s": round(sum(d.get("count", 0) for d in done if d.get("kind") == "churn") / seconds),
        "cli_requests": sum(cli)}
    if kas:
        row["keepalived_respawns"] = _respawns(kas)
    else:
        for node in NODES:
            with_info = request(lab.socket(node), "info")
            lag = with_info["loop_lateness"]
            row[f"{node}_loop_worst_ms"] = lag["worst_ms"]
            row[f"{node}_loop_p99_ms"] = lag["p99_last_minute_ms"]
        sender = request(lab.socket(master), "info")["advert_sender"]
        row["sender_worst_late_us"] = sender.get("worst_late_us")
        row["rx_path"] = request(lab.socket(spare), "info")["advert_rx"]["path"]
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


def _steal_cell(r: dict[str, Any]) -> str:
    if "steal_ms" not in r:
        return "- | -"
    cells = []
    for name, total in (("third", r.get("gaps_over_third", 0)), ("wait", r.get("gaps_over_wait", 0))):
        chance = r.get(f"steal_chance_over_{name}_pct")
        cells.append(f"{r[f'gaps_over_{name}_with_steal']} of {total}" + (f" ({chance:g} %)" if chance is not None
                                                                           else ""))
    return " / ".join(cells) + f" | {r['steal_ms']:g} ms"


def _ratio(row: dict[str, Any], rows: list[dict[str, Any]], pick: Callable[[dict[str, Any]], bool]) -> float | None:
    other = next((o for o in rows if o["part"] == row["part"] and o["load"] == row["load"]
                  and o["delay_s"] == row["delay_s"] and pick(o)), None)
    if other is None or not other.get("p99_ms") or row.get("samples", 0) == 0:
        return None
    return round(row["p99_ms"] / other["p99_ms"], 2)


def markdown(report: dict[str, Any]) -> str:
    lines = ["| part | delay | load | stack | interval / spare waits | samples | error p50 | p99 | p99.9 | max "
             "| p99 vs keepalived | p99 vs loop | false failovers | loop lateness worst (node1/node2) "
             "| gaps with vCPU steal, over a third of the wait / over the wait (by chance) | vCPU steal |",
             "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        def ratio(key: str, r: dict[str, Any] = r) -> str:
            return f"{r[key]:.2f}x" if r.get(key) is not None else "-"
        if "error" in r:
            lines.append(f"| {r['part']} | {r['delay_s']:g} s | {r['load']} | {r['stack']} | {r['interval_ms']:g} / "
                         f"{r['master_down_ms']:g} ms | failed: {r['error']} | | | | | | | | | | |")
            continue
        lag = (f"{r['node1_loop_worst_ms']:g} / {r['node2_loop_worst_ms']:g} ms" if "node1_loop_worst_ms" in r
               else "-")
        respawns = f" ({r['keepalived_respawns']} VRRP child respawns)" if r.get("keepalived_respawns") else ""
        lines.append(f"| {r['part']} | {r['delay_s']:g} s | {r['load']} | {r['stack']} | {r['interval_ms']:g} / "
                     f"{r['master_down_ms']:g} ms | {r.get('samples', 0)} | {r.get('p50_ms', 0):g} | "
                     f"{r.get('p99_ms', 0):g} | {r.get('p999_ms', 0):g} | {r.get('max_ms', 0):g} | "
                     f"{ratio('p99_vs_keepalived')} | {ratio('p99_vs_loop')} | {r['role_changes']}{respawns} | {lag} "
                     f"| {_steal_cell(r)} |")
    rates: dict[str, list[int]] = {}
    for r in report["rows"]:
        if r.get("load_pps"):
            rates.setdefault(f"{r['load']} ({r['stack'].split('+')[0].split()[0]})", []).append(r["load_pps"])
        if r.get("churn_per_s"):
            rates.setdefault(f"conntrack churn in {r['load']}", []).append(r["churn_per_s"])
    lines += ["", "Interval error in ms: the gap between two adverts on the spare's wire less the configured "
                  "interval (kernel timestamps). Load rates reached, lowest-highest case (packets/s): "
              + ", ".join(f"{k} {min(v):,}-{max(v):,}" for k, v in sorted(rates.items())) + "."]
    return "\n".join(lines)

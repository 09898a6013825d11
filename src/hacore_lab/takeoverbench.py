"""`hacore bench takeover`: from a node's decision to become master to the
neighbours being told (its first gratuitous ARP / unsolicited NA round) -
the part of an outage that is the takeover path itself, not detection.

hacore and keepalived side by side, each switched over back and forth in
one lab (hacore: maintenance on and off; keepalived: the master stopped
and started again, so it preempts), with the lab's four VIPs.
- hacore: each takeover's own record (`cluster history` steps, one
  monotonic clock): decision -> VIPs in -> first announcement round out.
- keepalived: on the wire (tcpdump on the client's segment, kernel
  timestamps): its first advert as master -> its first gratuitous ARP. It
  sends that advert when it decides, before its VIPs, so this is a lower
  bound of its decision -> announcement time (it flatters keepalived).
- both: on the wire, the first GARP's lead over the first advert (hacore
  holds its first advert until its VIPs and announcements are out).

Rules: one lab per stack, removed also on failure; tcpdump is bounded in
time and packets and runs only in the lab's client namespace.
"""

from __future__ import annotations

import os
import re
import signal
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hacore.control.protocol import request
from hacore_lab import load, netns
from hacore_lab.bench import percentile
from hacore_lab.keepalived import Keepalived, config
from hacore_lab.topology import INT_VIP, NODES, REALTIME, Lab
from hacore_lab.wait import wait_until

CAPTURE_MAX_PACKETS = 200_000
SILENCE_S = 0.5  # a node that sent nothing for this long and speaks again has just become master
KEEPALIVED_ADVERT_S = 0.1
LINE = re.compile(r"^(\d+\.\d+) ([0-9a-f:]{17}) > .*?(ARP|VRRP)")


@dataclass(frozen=True)
class Seen:
    ts_s: float
    mac: str
    kind: str  # "advert" or "garp"


def parse(text: str, vip: str) -> list[Seen]:
    """tcpdump -e -tt lines -> adverts and gratuitous ARPs for vip, in order."""
    out = []
    for line in text.splitlines():
        m = LINE.match(line)
        if m is None:
            continue
        if m.group(3) == "VRRP":
            out.append(Seen(float(m.group(1)), m.group(2), "advert"))
        elif re.search(rf"who-has {re.escape(vip)}( \([0-9a-f:]+\))? tell {re.escape(vip)},", line):
            out.append(Seen(float(m.group(1)), m.group(2), "garp"))
    return out


def leads_ms(events: list[Seen]) -> list[float]:
    """For each takeover seen on the wire (a node speaking again after SILENCE_S): its first GARP's time
    minus its first advert's, in ms; negative when the GARP came first."""
    last: dict[str, float] = {}
    episode: dict[str, dict[str, float]] = {}
    done: list[float] = []
    for e in events:
        if e.ts_s - last.get(e.mac, float("-inf")) > SILENCE_S:
            episode[e.mac] = {}
        last[e.mac] = e.ts_s
        ep = episode[e.mac]
        if e.kind not in ep:
            ep[e.kind] = e.ts_s
            if len(ep) == 2:
                done.append(round((ep["garp"] - ep["advert"]) * 1e3, 3))
    return done


class Capture:
    def __init__(self, lab: Lab, seconds: float):
        self.path = lab.run_dir / "capture.txt"
        with open(self.path, "wb") as out:
            self.proc = subprocess.Popen(netns.exec_argv(lab, "client", [
                "timeout", str(int(seconds)), "tcpdump", "-i", "eth0", "-n", "-e", "-tt", "-l",
                "--time-stamp-precision=nano", "-c", str(CAPTURE_MAX_PACKETS), "arp or ip proto 112"]),
                stdout=out, stderr=subprocess.DEVNULL)

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=10)
        return self.path.read_text()


def _summary(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50": statistics.median(values), "p99": percentile(values, 99), "max": max(values),
            "values": values} if values else {"n": 0}


def busy(lab: Lab, seconds: float) -> list[subprocess.Popen[bytes]]:
    """Two processes spinning (this machine has two CPUs), bounded in time, in the lab's client namespace."""
    return [load.start(lab, "client", "busy", seconds=seconds) for _ in range(2)]


def run_hacore(lab: Lab, switchovers: int, progress: Callable[[str], None], spin: bool,
               rt: bool) -> dict[str, Any]:
    netns.up(lab, delay_s=0.3, min_hold_s=1.0, timing=REALTIME if rt else "")
    for node in NODES:
        netns.start_daemon(lab, node)
    state = lambda n: request(lab.socket(n), "info")["cluster_state"]  # noqa: E731
    wait_until(lambda: (state("node1"), state("node2")) == ("master", "backup"), 20, what="the cluster")
    cap = Capture(lab, 30 + 5 * switchovers)
    spinning = busy(lab, 30 + 5 * switchovers) if spin else []
    try:
        for n in range(switchovers):
            progress(f"hacore: switchover {n + 1}/{switchovers}")
            on = "1" if n % 2 == 0 else "0"
            request(lab.socket("node1"), "maintenance.set", value=on)
            want = ("backup", "master") if on == "1" else ("master", "backup")
            wait_until(lambda w=want: (state("node1"), state("node2")) == w, 20, what=f"{want}")  # type: ignore[misc]
            wait_until(lambda: all(request(lab.socket(x), "info")["vip_errors"] == {} for x in NODES), 5,
                       what="the VIPs in place")
            time.sleep(SILENCE_S * 2)  # a quiet gap on the wire between takeovers, so each is seen apart
    finally:
        _end(spinning)
        text = cap.stop()
    steps = [e["steps"] for x in NODES for e in request(lab.socket(x), "history")
             if e["new"] == "master" and "steps" in e]
    steps = steps[-switchovers:]
    keys = ("to_traffic_ms", "start_ms", "vips_ms", "announce_ms", "nat_ms", "interfaces_ms", "services_ms")
    return {"to_traffic_ms": _summary([s["to_traffic_ms"] for s in steps]),
            "steps_p50_ms": {k: statistics.median(s.get(k, 0.0) for s in steps) for k in keys},
            "garp_lead_ms": _summary(leads_ms(parse(text, INT_VIP.split("/")[0])))}


def run_keepalived(lab: Lab, switchovers: int, progress: Callable[[str], None], spin: bool,
                   rt: bool) -> dict[str, Any]:
    netns.up(lab)
    defs = "global_defs {\n" + ("vrrp_rt_priority 50\n" if rt else "")
    conf = {n: config(3, p, KEEPALIVED_ADVERT_S, links=("lan1", "lan2"), ipv6=True).replace("global_defs {\n", defs)
            for n, p in (("node1", 200), ("node2", 100))}
    ka = {n: Keepalived(lab, n, conf[n]) for n in NODES}
    vip = INT_VIP.split("/")[0]
    has = lambda n: vip in netns.ip_cmd(["-n", lab.ns(n), "addr", "show", "lan2"])  # noqa: E731
    wait_until(lambda: has("node1") and not has("node2"), 30, what="keepalived node1 master")
    cap = Capture(lab, 30 + 8 * switchovers)
    spinning = busy(lab, 30 + 8 * switchovers) if spin else []
    try:
        for n in range(switchovers):
            progress(f"keepalived: switchover {n + 1}/{switchovers}")
            if n % 2 == 0:
                ka["node1"].stop()
                wait_until(lambda: has("node2") and not has("node1"), 20, what="keepalived node2 master")
            else:
                ka["node1"] = Keepalived(lab, "node1", conf["node1"])
                wait_until(lambda: has("node1") and not has("node2"), 30, what="keepalived node1 master again")
            time.sleep(SILENCE_S * 2)  # a quiet gap on the wire between takeovers, so each is seen apart
    finally:
        _end(spinning)
        text = cap.stop()
    leads = leads_ms(parse(text, vip))
    return {"to_traffic_ms": _summary([v for v in leads if v >= 0]), "garp_lead_ms": _summary(leads)}


def _end(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.kill()
        p.wait()


def run(switchovers: int, progress: Callable[[str], None], spin: bool = False, rt: bool = False) -> dict[str, Any]:
    """spin: both CPUs kept busy by two spinning processes while the switchovers run; rt: both stacks at
    real-time priority (hacore: the sender, and the spare's loop, which takes the takeover's first steps;
    keepalived: vrrp_rt_priority)."""
    netns.require_programs("keepalived", "tcpdump")
    out: dict[str, Any] = {"switchovers": switchovers, "load": "busy" if spin else "idle", "realtime": rt}
    for name, fn in (("hacore", run_hacore), ("keepalived", run_keepalived)):
        lab = Lab(f"k{os.getpid()}{name[0]}")
        try:
            out[name] = fn(lab, switchovers, progress, spin, rt)
        finally:
            netns.down(lab)
        if not out[name]["to_traffic_ms"].get("n"):  # an empty row is no result: say so, loudly
            raise netns.LabError(f"{name}: no takeover measured in {switchovers} switchovers (see its log)")
    if out["keepalived"]["to_traffic_ms"]["n"]:
        out["p50_ratio_keepalived_over_hacore"] = round(
            out["keepalived"]["to_traffic_ms"]["p50"] / out["hacore"]["to_traffic_ms"]["p50"], 2)
    return out


def markdown(r: dict[str, Any]) -> str:
    def row(name: str, how: str, s: dict[str, Any]) -> str:
        if not s.get("n"):
            return f"| {name} | {how} | - | - | - | 0 |"
        return f"| {name} | {how} | {s['p50']:.3f} ms | {s['p99']:.3f} ms | {s['max']:.3f} ms | {s['n']} |"

    lines = ["| stack | decision -> first announcement round | p50 | p99 | max | takeovers |",
             "|---|---|---:|---:|---:|---:|",
             row("hacore", "own record: decision -> VIPs -> GARP/NA round out", r["hacore"]["to_traffic_ms"])]
    if "keepalived" in r:
        lines.append(row("keepalived", "wire: first advert as master -> first GARP (a lower bound)",
                         r["keepalived"]["to_traffic_ms"]))
    prio = "real-time priority (hacore: realtime = fifo, realtime_spare; keepalived: vrrp_rt_priority 50)" \
        if r.get("realtime") else "normal priority"
    lines.append(f"\nCPUs: {'both kept busy by two spinning processes' if r.get('load') == 'busy' else 'idle'}; "
                 f"the daemons at {prio}; {r['switchovers']} switchovers per stack.")
    if "p50_ratio_keepalived_over_hacore" in r:
        lines.append(f"\np50 keepalived / hacore: {r['p50_ratio_keepalived_over_hacore']:.2f}x")
    steps = ", ".join(f"{k.removesuffix('_ms')} {v:.3f}" for k, v in r["hacore"]["steps_p50_ms"].items())
    lines.append(f"\nhacore's steps, p50 (ms): {steps}")
    lines.append("On the wire, a new master's first GARP minus its first advert (negative: the GARP went first):")
    for name in ("hacore", "keepalived"):
        if name in r and r[name]["garp_lead_ms"].get("n"):
            g = r[name]["garp_lead_ms"]
            lines.append(f"- {name}: p50 {g['p50']:.3f} ms, max {g['max']:.3f} ms, {g['n']} takeovers")
    for name in ("hacore", "keepalived"):
        if name in r and r[name]["to_traffic_ms"].get("n"):
            lines.append(f"\nEvery {name} figure (ms): {r[name]['to_traffic_ms']['values']}")
    return "\n".join(lines)

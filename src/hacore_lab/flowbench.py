"""`hacore bench flows`: what a failover costs each of thousands of flows
crossing the stateful SNAT pair, hacore beside keepalived + conntrackd,
each at its floor with real-time priority (bench.CASES "floor": hacore
delay 0.01 s, keepalived advert_int 0.01).

Two faults: *kill* (node1 loses power: every process killed, every cable
cut, at a random phase of its advert cycle) and *switchover* (a planned
hand-over: hacore's maintenance mode; keepalived stopped, so it resigns
with priority 0). Through it, `hacore_lab.flows` runs thousands of TCP
connections and UDP flows (the UDP ones at --udp-rate datagrams/s in all).
Per run: the client's longest UDP gap (the outage), each TCP flow's longest
stall, retransmissions (both ends) and survival, the segments the new
master dropped as invalid (its firewall's counter), and the UDP flows that
kept their NAT port.

Rules: every run builds its own lab and removes it, also on failure; a
stack that cannot hold still before the fault is reported as a run not
measured, not as a result.
"""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hacore.control.protocol import request
from hacore.support.stats import percentile
from hacore_lab import bench, faults, netns
from hacore_lab.flows import PORT
from hacore_lab.topology import SERVER, Lab
from hacore_lab.wait import holds_for, wait_until

BASELINE_S = 1.0
AFTER_S = 2.0  # traffic after the takeover: a segment lost in the outage is retransmitted (RTO_min 0.2 s) within it
RTO_MIN_MS = 200.0  # Linux's TCP_RTO_MIN: a lost segment waits at least this long for its retransmission
FAULTS = ("kill", "switchover")
STACKS = ("hacore", "keepalived+conntrackd")


@dataclass(frozen=True)
class Load:
    tcp: int = 2000
    udp: int = 1000
    udp_rate: float = 10_000.0
    tcp_interval_s: float = 0.5


def _fault(lab: Lab, stack: str, fault: str, keepalived: dict[str, Any]) -> Callable[[], None]:
    if fault == "kill":
        return lambda: faults.go_dark(lab, "node1")
    if stack != "hacore":
        return keepalived["node1"].stop  # SIGTERM: keepalived resigns with priority 0

    def maintenance() -> None:
        request(lab.socket("node1"), "maintenance.set", value="1")

    return maintenance


def traffic(lab: Lab, load: Load, seconds: float, fail: Callable[[], None], expect_s: float,
             phase_s: float) -> tuple[dict[str, Any], dict[str, Any], float]:
    """Run the flows, fail node1 after the baseline; the client's and server's reports, and the takeover (ms)."""
    creport, sreport = lab.run_dir / "flows-client.json", lab.run_dir / "flows-server.json"
    ready = creport.with_suffix(".ready")
    for p in (creport, sreport, ready):
        p.unlink(missing_ok=True)
    py = [sys.executable, "-m", "hacore_lab.flows"]
    server = subprocess.Popen(netns.exec_argv(lab, "router", [*py, "serve", "--bind", SERVER, "--seconds",
                                                              str(seconds + 60), "--report", str(sreport)]))
    client = None
    try:
        wait_until(lambda: f"{SERVER}:{PORT}" in netns.run_in(lab, "router", ["ss", "-ltnH"]).stdout, 10,
                   what="the flow server to listen")
        client = subprocess.Popen(netns.exec_argv(lab, "client", [
            *py, "client", "--to", SERVER, "--tcp", str(load.tcp), "--udp", str(load.udp),
            "--udp-rate", str(load.udp_rate), "--tcp-interval", str(load.tcp_interval_s),
            "--seconds", str(seconds), "--report", str(creport)]))
        wait_until(lambda: ready.exists() or client.poll() is not None, 60, what="the flows to be up")
        if not ready.exists():
            raise netns.LabError(f"the flow client exited ({client.returncode}) before its flows were up")
        holds_for(lambda: bench.has_vip(lab, "node1"), BASELINE_S + phase_s, what="node1 holding the VIPs")
        failed_at = time.time()
        fail()
        took = float(wait_until(lambda: time.time() if bench.has_vip(lab, "node2") else None, expect_s + 10,
                                what="node2 to take over"))  # type: ignore[arg-type]
        if client.wait(timeout=seconds + 60) or not creport.exists():
            raise netns.LabError(f"the flow client failed ({client.returncode}) without its report")
    finally:
        if client is not None and client.poll() is None:
            client.kill()
            client.wait()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    if not sreport.exists():
        raise netns.LabError(f"the flow server failed ({server.returncode}) without its report")
    return (json.loads(creport.read_text()), json.loads(sreport.read_text()), round((took - failed_at) * 1e3, 1))


def invalid_dropped(lab: Lab, node: str) -> int:
    return int(netns.run_in(lab, node, [sys.executable, "-m", "hacore_lab.firewall", "invalid"]).stdout)


def summarise(client: dict[str, Any], server: dict[str, Any], invalid: int) -> dict[str, Any]:
    """One run: the figures of its flows, both ends' retransmissions added per TCP flow."""
    tcp, udp = client["tcp"], client["udp"]
    ends = [(r, server["tcp"].get(str(i), {}).get("retrans", 0)) for i, r in enumerate(tcp["retrans"])]
    retrans = [c + s for c, s in ends]
    gap = udp["longest_gap_ms"]
    return {"udp_gap_ms": gap, "stall_ms": tcp["stall_ms"], "retrans": retrans,
            "tcp_flows": tcp["flows"], "tcp_survived": sum(tcp["survived"]), "tcp_errors": tcp["errors"],
            "over_one_retrans": sum(r > 1 for r in retrans),
            "over_one_at_one_end": sum(c > 1 or s > 1 for c, s in ends),
            "beyond_rto": sum(s > RTO_MIN_MS + gap for s in tcp["stall_ms"]),
            "invalid": invalid, "udp_flows": udp["flows"], "udp_lost": sum(udp["lost"]),
            "udp_port_kept": sum(1 for n in server["udp_ports"].values() if n == 1),
            "udp_seen": len(server["udp_ports"])}


def _run_one(lab: Lab, stack: str, fault: str, load: Load, phase_s: float) -> dict[str, Any]:
    case = next(c for c in bench.CASES if c.key == "floor")
    started: dict[str, Any] = {}
    if stack == "hacore":
        bench.start_hacore(lab, case)
    else:
        started = bench.start_keepalived(lab, case, with_conntrackd=True)
    expect_s = bench.master_down_s("hacore" if stack == "hacore" else "keepalived", case)
    wait_until(lambda: bench.has_vip(lab, "node1") and not bench.has_vip(lab, "node2"), 20,
               what="node1 to hold the VIPs alone")
    seconds = BASELINE_S + phase_s + expect_s + AFTER_S + 1.0
    client, server, took_ms = traffic(lab, load, seconds, _fault(lab, stack, fault, started), expect_s + 0.2,
                                       phase_s)
    row = summarise(client, server, invalid_dropped(lab, "node2"))
    row["takeover_ms"] = took_ms
    return row


def _spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None, "max": None}
    return {"p50": statistics.median(values), "p99": percentile(values, 99), "max": max(values)}


def run(runs: int, load: Load, progress: Callable[[str], None], seed: int | None = None,
        which: tuple[str, ...] = FAULTS) -> dict[str, Any]:
    netns.require_programs("keepalived", "conntrackd")
    rng = random.Random(seed)
    case = next(c for c in bench.CASES if c.key == "floor")
    rows = []
    for fault in which:
        for si, stack in enumerate(STACKS):
            kind = "hacore" if stack == "hacore" else "keepalived"
            done, failed = [], []
            for n in range(runs):
                phase = rng.uniform(0, bench.advert_interval_s(kind, case))
                progress(f"{fault}: {stack} run {n + 1}/{runs} ({load.tcp} TCP + {load.udp} UDP flows, "
                         f"fault at advert phase {phase * 1e3:.1f} ms)")
                lab = Lab(f"f{os.getpid()}{si}{n}")
                try:
                    done.append(_run_one(lab, stack, fault, load, phase))
                except (AssertionError, TimeoutError, netns.LabError) as exc:
                    progress(f"{fault}: {stack} run {n + 1} not measured: {exc}")
                    failed.append(str(exc))
                finally:
                    netns.down(lab)
            stalls = [s for r in done for s in r["stall_ms"]]
            rows.append({
                "fault": fault, "stack": stack, "master_down_ms": round(bench.master_down_s(kind, case) * 1e3, 1),
                "runs": len(done), "not_measured": failed,
                "udp_gap_ms": [r["udp_gap_ms"] for r in done], "udp_gap": _spread([r["udp_gap_ms"] for r in done]),
                "stall": _spread(stalls), "stall_ms": stalls,
                "tcp_flows": sum(r["tcp_flows"] for r in done), "tcp_survived": sum(r["tcp_survived"] for r in done),
                "over_one_retrans": sum(r["over_one_retrans"] for r in done),
                "over_one_at_one_end": sum(r["over_one_at_one_end"] for r in done),
                "max_retrans": max((x for r in done for x in r["retrans"]), default=None),
                "beyond_rto": sum(r["beyond_rto"] for r in done), "invalid": [r["invalid"] for r in done],
                "udp_flows": sum(r["udp_flows"] for r in done), "udp_port_kept": sum(r["udp_port_kept"] for r in done),
                "takeover_ms": [r["takeover_ms"] for r in done]})
    for row in rows:
        base = next(r for r in rows if r["fault"] == row["fault"] and r["stack"] == "hacore")
        # The gap at its median; the stall at p99, since most flows have nothing in flight when the fault lands.
        for key, at in (("udp_gap", "p50"), ("stall", "p99")):
            mine, theirs = row[key][at], base[key][at]
            row[f"{key}_{at}_vs_hacore"] = round(mine / theirs, 2) if mine is not None and theirs else None
    return {"runs": runs, "load": load.__dict__, "rows": rows}


def markdown(report: dict[str, Any]) -> str:
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:,.1f} ms"

    def ratio(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}x"

    lines = ["| fault | stack | master down (configured) | client's longest UDP gap p50 | p99 | max | p50 vs hacore | "
             "TCP flows survived | per-flow longest stall p50 | p99 | max | p99 vs hacore | flows retransmitting more "
             "than once (both ends together / one end alone) | stalled beyond RTO_min + outage | dropped as invalid "
             "(per run) | UDP flows kept their port |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in report["rows"]:
        failed = r["not_measured"]
        stack = r["stack"] + (f" ({len(failed)} runs not measured: {failed[0]})" if failed else "")
        g, s = r["udp_gap"], r["stall"]
        lines.append(
            f"| {r['fault']} | {stack} | {r['master_down_ms']:g} ms | {ms(g['p50'])} | {ms(g['p99'])} | "
            f"{ms(g['max'])} | {ratio(r['udp_gap_p50_vs_hacore'])} | {r['tcp_survived']:,}/{r['tcp_flows']:,} | "
            f"{ms(s['p50'])} | {ms(s['p99'])} | {ms(s['max'])} | {ratio(r['stall_p99_vs_hacore'])} | "
            f"{r['over_one_retrans']:,} / {r.get('over_one_at_one_end', '-')} | {r['beyond_rto']:,} | {r['invalid']} | "
            f"{r['udp_port_kept']:,}/{r['udp_flows']:,} |")
    load = report["load"]
    lines += ["", f"{report['runs']} runs per row, each with {load['tcp']:,} TCP connections (a message each every "
                  f"{load['tcp_interval_s']:g} s) and {load['udp']:,} UDP flows ({load['udp_rate']:,.0f} datagrams/s "
                  "in all); the kill at a random phase of the advert cycle. UDP gap: per run; stall, "
                  "retransmissions: per TCP flow, all runs pooled. p99 is the nearest-rank percentile."]
    lines.append("Every UDP gap (ms): " + "; ".join(f"{r['fault']} {r['stack']} {r['udp_gap_ms']}"
                                                     for r in report["rows"]))
    return "\n".join(lines)

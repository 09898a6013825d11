"""The failover, measured: UDP probes every millisecond and a TCP stream from
the client to the server through the VIPs while the master fails.

Rules: traffic stays inside the lab; every process started here is bounded
in time and is also removed by `lab down`. Used by the demo and the bench.
The client and the server run at the lowest real-time priority, for every
stack alike: in the lab they share two CPUs with both firewalls, and at
normal priority they answered 2-5 ms late while the new master's takeover
ran (a capture at the switch: the probe forwarded at 12.5 ms, its echo at
15.6 ms) - the lab's CPU sharing, not the outage. Below every firewall
thread (their real-time priorities are 9 and up), and they sleep between
probes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from hacore_lab import netns
from hacore_lab.topology import SERVER, Lab
from hacore_lab.wait import holds_for, wait_until

ENDPOINT_PRIORITY = ["chrt", "--fifo", "1"]
BASELINE_S = 1.0
AFTER_S = 2.0


@dataclass
class Result:
    outage_ms: float  # the longest gap between two echoed 1 ms probes: how long the client saw nothing
    probes_sent: int
    probes_lost: int
    takeover_ms: float  # failure -> the spare's role change
    stream: dict[str, Any]
    server_saw: list[str]  # "tcp|udp address port" of each client address the server met

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure(lab: Lab, fail: Callable[[], None], taken_over: Callable[[], float | None], expect_s: float,
            stable: Callable[[], bool], extra_baseline_s: float = 0.0) -> Result:
    """Run traffic, call fail() after a baseline, wait for taken_over() (the takeover's unix time).

    expect_s: how long the takeover may take; stable: the cluster before the failure;
    extra_baseline_s: more baseline, so that the fault lands at a chosen phase of the advert cycle.
    """
    baseline_s = BASELINE_S + extra_baseline_s
    seconds = baseline_s + expect_s + AFTER_S
    report, peers = lab.run_dir / "stream.json", lab.run_dir / "stream-peers.txt"
    report.unlink(missing_ok=True)
    peers.unlink(missing_ok=True)
    py = [*ENDPOINT_PRIORITY, sys.executable, "-m", "hacore_lab.stream"]
    server = subprocess.Popen(netns.exec_argv(lab, "router", [*py, "serve", "--bind", SERVER, "--seconds",
                                                              str(seconds + 30), "--peers", str(peers)]))
    try:
        wait_until(lambda: f"{SERVER}:5001" in netns.run_in(lab, "router", ["ss", "-ltnH"]).stdout, 10,
                   what="the stream server to listen")
        client = subprocess.Popen(netns.exec_argv(lab, "client", [*py, "client", "--to", SERVER, "--seconds",
                                                                  str(seconds), "--report", str(report)]))
        holds_for(stable, baseline_s, what="the cluster before the failure")
        failed_at = time.time()
        fail()
        took = wait_until(taken_over, expect_s + 10, what="the spare to take over")
        client.wait(timeout=seconds + 60)
    finally:
        server.kill()
        server.wait()
    stream = json.loads(report.read_text())
    return Result(stream["outage_ms"], stream["probes_sent"], stream["probes_sent"] - stream["probes_echoed"],
                  round((float(took) - failed_at) * 1000, 1), stream,
                  peers.read_text().splitlines() if peers.exists() else [])

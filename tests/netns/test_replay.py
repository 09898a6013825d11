"""Adverts and peer status captured earlier cannot hold a restarted node back: the receiver keeps the
counters it has seen across restarts, and counters must keep pace with real time."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable

from hacore.hotwire import status as hotwire
from hacore_lab import faults, netns
from hacore_lab.topology import Lab
from hacore_lab.wait import wait_until
from tests.netns.conftest import hacore, info


def _tool(lab: Lab, *args: str, role: str = "router") -> subprocess.Popen[bytes]:
    return subprocess.Popen(netns.exec_argv(lab, role, [sys.executable, "-m", "tests.netns.replay", *args]))


def test_adverts_captured_before_a_restart_cannot_keep_the_node_backup(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    capture = lab.node_dir("node1") / "captured.json"
    assert _tool(lab, "capture", "--dev", "eth0", "--count", "4", "--out", str(capture)).wait(timeout=20) == 0
    assert len(json.loads(capture.read_text())) == 4  # node1's adverts, as an attacker on the segment saw them
    faults.signal_daemon(lab, "node1", signal.SIGKILL)  # node1 is gone for good
    wait_until(lambda: info(lab, "node2")["cluster_state"] == "master", 5, what="node2 takes over")
    netns.stop_daemon(lab, "node2")
    # node2 restarts while the attacker replays node1's adverts: without memory of the counters it has
    # seen, node2 would stay backup for as long as the replay lasts, and nobody would hold the VIPs.
    attacker = _tool(lab, "replay", "--dev", "eth0", "--file", str(capture), "--rounds", "40", "--interval", "0.05")
    try:
        netns.start_daemon(lab, "node2")
        wait_until(lambda: info(lab, "node2")["cluster_state"] == "master", 5,
                   what="node2 master despite the replay")
        wait_until(lambda: info(lab, "node2")["drops"].get("lan1", {}).get("replay", 0) > 0, 5,
                   what="the replays counted")
        assert info(lab, "node2")["machine_counters"].get("adverts_rx", 0) == 0  # none counted as node1 alive
    finally:
        attacker.kill()
        attacker.wait()


def test_peer_status_captured_before_a_restart_cannot_fake_a_healthy_backup(make_cluster: Callable[..., Lab]) -> None:
    """A replayed "healthy backup" status would let maintenance hand the VIPs to a dead node."""
    lab = make_cluster()
    capture = lab.node_dir("node1") / "status.json"
    sniff = _tool(lab, "capture-udp", "--dev", "lan3", "--port", "3780", "--src", "198.18.0.3", "--count", "3",
                  "--prefix", hotwire.MAGIC.decode(), "--out", str(capture), role="node1")  # statuses, not sync
    assert sniff.wait(timeout=20) == 0
    assert len(json.loads(capture.read_text())) == 3  # node2's statuses as they crossed the hotwire
    faults.signal_daemon(lab, "node2", signal.SIGKILL)  # the backup is gone
    netns.stop_daemon(lab, "node2")
    netns.stop_daemon(lab, "node1")
    attacker = _tool(lab, "replay-udp", "--src", "198.18.0.3", "--to", "198.18.0.2", "--port", "3780", "--file",
                     str(capture), "--rounds", "60", "--interval", "0.05", role="node2")
    try:
        netns.start_daemon(lab, "node1")
        wait_until(lambda: info(lab, "node1")["drops"].get("hotwire", {}).get("replay", 0) > 0, 5,
                   what="the replayed statuses counted")
        wait_until(lambda: info(lab, "node1")["cluster_state"] == "master", 5, what="node1 master alone")
        assert info(lab, "node1")["rank"]["peer"] == {"seen": False}
        proc = hacore(lab, "node1", "cluster", "maintenance", "set", "1", check=False)
        assert proc.returncode == 1 and "no status on the hotwire within" in proc.stderr
    finally:
        attacker.kill()
        attacker.wait()

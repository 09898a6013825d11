"""Connections survive failover only because their conntrack entries do: the
lab nodes filter statefully (strict TCP) and SNAT the inside to the external
VIP, so a flow the new master does not know is invalid there."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from hacore.control.protocol import request
from hacore.ctsync import wire
from hacore.hotwire import envelope
from hacore_lab import ctfill, failover, faults, flowbench, netns
from hacore_lab.topology import CLIENT, EXT_VIP, SERVER, Lab
from hacore_lab.wait import wait_until
from tests.netns.conftest import FAST, info, roles

VIP = EXT_VIP.split("/")[0]
PY = [sys.executable, "-m"]


def sync(lab: Lab, node: str) -> dict[str, Any]:
    return info(lab, node)["sync"]


def count(lab: Lab, node: str) -> int:
    return int(netns.run_in(lab, node, ["conntrack", "-C"]).stdout)


def _kill_master_and_measure(lab: Lab) -> failover.Result:
    def taken_over() -> float | None:
        if info(lab, "node2")["cluster_state"] != "master":
            return None
        return [e["when"] for e in request(lab.socket("node2"), "history") if e["new"] == "master"][-1]

    return failover.measure(lab, fail=lambda: faults.signal_daemon(lab, "node1", signal.SIGKILL),
                            taken_over=taken_over, expect_s=FAST["delay_s"],
                            stable=lambda: info(lab, "node1")["cluster_state"] == "master")


def test_without_sync_the_snat_stream_dies_at_failover(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster(conntrack_sync=False)
    result = _kill_master_and_measure(lab)
    assert any(seen.split()[:2] == ["tcp", VIP] for seen in result.server_saw), result.server_saw  # through SNAT
    assert not result.stream["survived"], result.stream
    # node2's strict tracking knew nothing of the stream: its mid-stream packets were invalid there.
    assert flowbench.invalid_dropped(lab, "node2") > 0


def test_tcp_and_udp_through_snat_survive_kill_9_and_the_high_node_returning(
        make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    wait_until(lambda: sync(lab, "node2").get("complete"), 10, what="node2 to hold the master's table")
    report, peers = lab.run_dir / "stream.json", lab.run_dir / "peers.txt"
    server = subprocess.Popen(netns.exec_argv(lab, "router", [*PY, "hacore_lab.stream", "serve", "--bind", SERVER,
                                                              "--seconds", "60", "--peers", str(peers)]))
    try:
        wait_until(lambda: f"{SERVER}:5001" in netns.run_in(lab, "router", ["ss", "-ltnH"]).stdout, 10,
                   what="the stream server")
        client = subprocess.Popen(netns.exec_argv(lab, "client", [*PY, "hacore_lab.stream", "client", "--to", SERVER,
                                                                  "--seconds", "9", "--report", str(report)]))
        wait_until(lambda: peers.exists() and len(peers.read_text().splitlines()) == 2, 5, what="both flows")
        faults.signal_daemon(lab, "node1", signal.SIGKILL)
        wait_until(lambda: roles(lab)[1] == "master", 5, what="node2 to take over")
        netns.start_daemon(lab, "node1")  # the High node returns: it preempts once it holds node2's table
        wait_until(lambda: roles(lab) == ("master", "backup"), 10, what="node1 master again")
        client.wait(timeout=60)
    finally:
        server.kill()
        server.wait()
    stream = json.loads(report.read_text())
    assert stream["survived"], (stream, sync(lab, "node1"), sync(lab, "node2"))
    # One TCP and one UDP flow, each seen from the same VIP address and port all along.
    seen = sorted(peers.read_text().splitlines())
    assert [s.split()[:2] for s in seen] == [["tcp", VIP], ["udp", VIP]], seen
    assert stream["probes_echoed"] > stream["probes_sent"] * 0.9, stream  # UDP went on after both switches
    # node1 took over only once it held node2's table.
    log = (lab.node_dir("node1") / "daemon.log").read_text()
    restart = log.rindex("event=sync_backup")
    assert log.index("event=sync_complete", restart) < log.index("new=master", restart), log[restart:]


def _udp_through(lab: Lab, sport: int) -> str:
    """Send one datagram from the client's port sport to the echo server; the server's view of the sender."""
    code = (f"import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(({CLIENT!r}, {sport})); "
            f"s.settimeout(0.5); s.sendto(b'probe', ({SERVER!r}, 5001)); print(s.recvfrom(64)[0].decode())")
    return netns.run_in(lab, "client", [sys.executable, "-c", code], check=False).stdout.strip()


def test_50000_flows_reach_the_backup_and_carry_traffic_after_takeover(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    base = count(lab, "node2")
    made = json.loads(netns.run_in(lab, "node1", [*PY, "hacore_lab.ctfill", "--count", "50000", "--probe"]).stdout)
    assert made == {"created": 50001, "seconds": made["seconds"], "requests": 50001}
    wait_until(lambda: count(lab, "node2") >= base + 50001 and sync(lab, "node2")["complete"], 60,
               what="50,001 flows on node2")
    s1, s2 = sync(lab, "node1"), sync(lab, "node2")
    assert s2["flows"] >= 50001 and s2["drops"] == {} and s1["event_overruns"] == 0
    peers = lab.run_dir / "peers.txt"
    server = subprocess.Popen(netns.exec_argv(lab, "router", [*PY, "hacore_lab.stream", "serve", "--bind", SERVER,
                                                              "--seconds", "30", "--peers", str(peers)]))
    try:
        faults.signal_daemon(lab, "node1", signal.SIGKILL)
        wait_until(lambda: roles(lab)[1] == "master", 5, what="node2 to take over")
        # The client's flow from port 40000 was only ever created on node1, NATed to VIP port 61000:
        # node2 translates it the same way (its own choice would have kept port 40000).
        wait_until(lambda: _udp_through(lab, ctfill.PROBE["sport"]) == "probe", 10, what="the probe flow echoed")
    finally:
        server.kill()
        server.wait()
    assert f"udp {VIP} {ctfill.PROBE['nat_port']}" in peers.read_text().splitlines()


def test_datagrams_lost_on_the_hotwire_are_repaired_also_right_after_a_backup_restart(
        make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    wait_until(lambda: sync(lab, "node2").get("complete"), 10, what="a complete copy")
    drop = ("table inet hacore_test_loss { chain input { type filter hook input priority -10; "
            "udp dport 3780 ip saddr 198.18.0.2 numgen random mod 10 < 3 drop; }; }")
    faults.nft(lab, "node2", drop)  # 30% of what node1 sends is lost
    netns.run_in(lab, "node1", [*PY, "hacore_lab.ctfill", "--count", "5000"])
    netns.stop_daemon(lab, "node2")  # restarted while the loss goes on: its start-up handshake suffers too
    netns.start_daemon(lab, "node2")
    netns.run_in(lab, "node1", [*PY, "hacore_lab.ctfill", "--count", "5000", "--first", "5000"])
    wait_until(lambda: (s := sync(lab, "node2")).get("complete") and s["flows"] == sync(lab, "node1")["flows"], 30,
               what="node2 complete despite the loss")
    netns.run_in(lab, "node2", ["nft", "delete", "table", "inet", "hacore_test_loss"])
    s1, s2 = sync(lab, "node1"), sync(lab, "node2")
    assert s2["flows"] >= 10000 and s2["complete"]
    assert s1["retransmits"] > 0 or s1["resyncs"] > 1, s1
    assert s2["gap_requests"] + s2["resync_requests"] > 0, s2


def test_garbage_and_forged_sync_datagrams_are_counted_and_sync_carries_on(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    wait_until(lambda: sync(lab, "node2").get("complete"), 10, what="a complete copy")
    forged = envelope.seal(b"\x00" * 32, wire.encode(wire.Data(1, 1, 1, wire.FLAG_BEGIN | wire.FLAG_END, b"")), 1)
    truncated = wire.MAGIC + b"\x01"
    code = ("import socket, sys; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            "s.bind(('198.18.0.2', 0)); [s.sendto(bytes.fromhex(h), ('198.18.0.3', 3780)) for h in sys.argv[1:]]")
    netns.run_in(lab, "node1", [sys.executable, "-c", code, forged.hex(), truncated.hex(), (b"HCT" * 300).hex()])
    # The hotwire's one envelope refuses them before the sync channel sees anything.
    wait_until(lambda: (d := info(lab, "node2")["drops"].get("hotwire", {})).get("bad_auth", 0) >= 2
               and d.get("short", 0) >= 1, 5, what="the bad datagrams counted")
    netns.run_in(lab, "node1", [*PY, "hacore_lab.ctfill", "--count", "100"])
    wait_until(lambda: sync(lab, "node2")["flows"] >= 100 and sync(lab, "node2")["complete"], 10,
               what="sync carrying on")
    assert roles(lab) == ("master", "backup")


def test_an_event_overrun_is_repaired_at_once_from_a_dump(make_cluster: Callable[..., Lab],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HACORE_CT_EVENT_RCVBUF", str(64 << 10))  # the daemons' event buffer: 64 KB
    lab = make_cluster()
    wait_until(lambda: sync(lab, "node2").get("complete"), 10, what="a complete copy")
    netns.run_in(lab, "node1", [*PY, "hacore_lab.ctfill", "--count", "20000"])  # far more than 64 KB of events
    wait_until(lambda: sync(lab, "node1")["event_overruns"] >= 1, 10, what="the overrun seen")
    try:
        wait_until(lambda: (s := sync(lab, "node2")).get("complete") and s["flows"] >= 20000, 30,
                   what="every flow on node2 after the repair")
    except TimeoutError as exc:
        raise AssertionError((sync(lab, "node1"), sync(lab, "node2"),
                              (lab.node_dir("node1") / "daemon.log").read_text()[-2500:])) from exc
    assert sync(lab, "node1")["dumps"] >= 2  # the start-up dump, and the repair's
    assert count(lab, "node2") >= 20000


def test_hundreds_of_flows_through_snat_survive_a_power_loss_and_none_is_dropped_as_invalid(
        make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    wait_until(lambda: sync(lab, "node2").get("complete"), 10, what="node2 to hold the master's table")
    load = flowbench.Load(tcp=300, udp=200, udp_rate=2000)
    client, server, _took = flowbench.traffic(lab, load, seconds=FAST["delay_s"] + 4,
                                              fail=lambda: faults.go_dark(lab, "node1"),
                                              expect_s=FAST["delay_s"], phase_s=0.0)
    run = flowbench.summarise(client, server, flowbench.invalid_dropped(lab, "node2"))
    assert roles(lab)[1] == "master"
    assert (run["tcp_survived"], run["tcp_errors"]) == (300, []), run["tcp_errors"]
    assert run["invalid"] == 0  # the new master knew every flow: strict tracking passed all their segments
    # Every UDP flow reached the server from one NAT port only: its mapping crossed with it.
    assert run["udp_seen"] == run["udp_port_kept"] == 200

"""Two real daemons elect, fail over and come back in the lab: the seed's
switching table produced by pulling cables, a switch that eats VRRP, a dead
master, stalls, maintenance, and forged adverts."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hacore.lab import faults, netns
from hacore.lab.topology import EXT_VIP, INT_VIP, NODES, Lab
from hacore.lab.wait import wait_until
from tests.netns.conftest import FAST, hacore, info, roles

VIPS = {"lan1": {"198.51.100.101/24", "2001:db8:100::101/64"}, "lan2": {"203.0.113.1/24", "2001:db8:200::1/64"}}
REPO = Path(__file__).parents[2]


def holds_vips(lab: Lab, node: str) -> bool:
    return all(vips <= faults.addresses(lab, node, dev) for dev, vips in VIPS.items())


def holds_no_vip(lab: Lab, node: str) -> bool:
    return not any(vips & faults.addresses(lab, node, dev) for dev, vips in VIPS.items())


def client_reaches_server(lab: Lab) -> bool:
    return netns.run_in(lab, "client", ["ping", "-c", "1", "-W", "1", "198.19.0.10"], check=False).returncode == 0


def steers(lab: Lab, role: str, vip: str, node: str, dev: str) -> bool:
    """role's neighbour entry for vip is node's MAC on dev."""
    return faults.neighbour_mac(lab, role, vip.split("/")[0]) == faults.mac_of(lab, node, dev)


def wait_roles(lab: Lab, expected: tuple[str, str], timeout_s: float = 10) -> None:
    wait_until(lambda: roles(lab) == expected, timeout_s, what=f"roles {expected}, have {roles(lab)}")


def test_election_by_priority(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    wait_until(lambda: holds_vips(lab, "node1"), 5, what="the VIPs on node1")
    assert holds_no_vip(lab, "node2")
    assert client_reaches_server(lab)
    wait_until(lambda: info(lab, "node2")["rank"]["peer"]["seen"], 5, what="node1's status on the hotwire")
    one, two = info(lab, "node1"), info(lab, "node2")
    assert one["rank"]["self"] == {"links_up": 2, "ping_ok": True, "priority_class": "high", "priority": 52,
                                   "demotion": "-", "maintenance": False}
    assert two["rank"]["peer"]["node"] == "node1" and two["rank"]["peer"]["role"] == "master"
    assert one["drops"] == {} and two["adverts_rx"] > 0
    history = hacore(lab, "node1", "cluster", "history", "--json").stdout
    assert '"new": "master"' in history


# The seed's table, example two HA interfaces; node1 is UTM 1 (High).
SEED_TABLE = [
    ({}, ("master", "backup"), False),
    ({("node1", "lan1")}, ("backup", "master"), False),
    ({("node1", "lan1"), ("node2", "lan1")}, ("master", "backup"), False),
    ({("node1", "lan1"), ("node2", "lan1"), ("node2", "lan2")}, ("master", "master"), True),
    ({("node1", "lan1"), ("node2", "lan1"), ("node1", "lan2"), ("node2", "lan2")}, ("master", "master"), True),
]


@pytest.mark.parametrize(("down", "expected", "split"), SEED_TABLE, ids=[f"row{i + 1}" for i in range(5)])
def test_seed_switching_table(make_cluster: Callable[..., Lab], down: set, expected: tuple[str, str],
                              split: bool) -> None:
    lab = make_cluster()
    for node, link in down:
        faults.set_port(lab, node, link, False)
    wait_roles(lab, expected)
    if split:
        wait_until(lambda: info(lab, "node1")["split_brain"] and info(lab, "node2")["split_brain"], 5,
                   what="both nodes to report split brain")
    else:
        assert not info(lab, "node1")["split_brain"] and not info(lab, "node2")["split_brain"]
    master = [n for n, r in zip(NODES, expected, strict=True) if r == "master"]
    wait_until(lambda: all(holds_vips(lab, n) for n in master), 5, what=f"VIPs on {master}")
    for node, link in down:
        faults.set_port(lab, node, link, True)
    wait_roles(lab, ("master", "backup"))
    wait_until(lambda: holds_no_vip(lab, "node2"), 5, what="node2 to give the VIPs back")
    wait_until(lambda: not info(lab, "node1")["split_brain"] and not info(lab, "node2")["split_brain"], 5,
               what="split brain declared over")


def test_link_up_but_vrrp_eaten_by_the_switch_is_split_brain(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    faults.block_vrrp(lab, True)
    wait_roles(lab, ("master", "master"))
    wait_until(lambda: info(lab, "node2")["split_brain"], 5, what="split brain on node2")
    faults.block_vrrp(lab, False)
    wait_roles(lab, ("master", "backup"))
    wait_until(lambda: not info(lab, "node2")["split_brain"], 5, what="split brain over")


def test_kill_9_of_the_master_moves_every_vip_and_the_client_follows(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    assert client_reaches_server(lab)
    faults.signal_daemon(lab, "node1", signal.SIGKILL)
    wait_until(lambda: info(lab, "node2")["cluster_state"] == "master", 5, what="node2 master")
    wait_until(lambda: holds_vips(lab, "node2"), 5, what="every VIP on node2")
    # The dead daemon left its addresses behind; GARP must still steer the neighbours to node2.
    wait_until(lambda: steers(lab, "router", EXT_VIP, "node2", "lan1"), 5, what="the router to send to node2")
    wait_until(lambda: steers(lab, "client", INT_VIP, "node2", "lan2"), 5, what="the client to send to node2")
    assert client_reaches_server(lab)
    history = info(lab, "node2")
    assert history["failovers"] == 1


def test_the_high_node_takes_the_vips_back_when_it_returns(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    faults.go_dark(lab, "node1")
    wait_until(lambda: holds_vips(lab, "node2"), 5, what="node2 holds the VIPs")
    for link in ("lan1", "lan2"):
        faults.set_port(lab, "node1", link, True)
    faults.set_hotwire(lab, True)
    netns.start_daemon(lab, "node1")  # it removes its stale VIPs, listens, then preempts after the hold
    wait_roles(lab, ("master", "backup"))
    wait_until(lambda: holds_vips(lab, "node1") and holds_no_vip(lab, "node2"), 5, what="VIPs back on node1")
    last = hacore(lab, "node2", "cluster", "history").stdout.splitlines()[-1]
    assert "master -> backup" in last and "peer priority 52 > ours 51" in last
    assert client_reaches_server(lab)
    # The stale VIPs went before the election ran, without racing a reconcile (no failure counted).
    assert "event=vips_removed_at_start" in (lab.node_dir("node1") / "daemon.log").read_text()
    assert info(lab, "node1")["vip_failures"] == {}


def test_maintenance_switchover_is_hitless_persistent_and_reversible(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    ping = subprocess.Popen(netns.exec_argv(lab, "client", ["ping", "-q", "-i", "0.001", "-c", "3000", "-W", "1",
                                                             "198.19.0.10"]), stdout=subprocess.PIPE, text=True)
    wait_until(lambda: info(lab, "node1")["adverts_tx"] > 0, 2, what="traffic under way")
    assert hacore(lab, "node1", "cluster", "maintenance", "set", "1").stdout.strip() == "OK"
    wait_roles(lab, ("backup", "master"))
    out, _ = ping.communicate(timeout=30)
    assert " 0% packet loss" in out, out
    one = info(lab, "node1")
    assert one["maintenance"] is True and one["rank"]["self"]["priority"] == 0
    assert "maintenance: peer took over" in hacore(lab, "node1", "cluster", "history").stdout
    # Idempotent, and persistent across a restart: node1 stays backup.
    hacore(lab, "node1", "cluster", "maintenance", "set", "1")
    netns.stop_daemon(lab, "node1")
    netns.start_daemon(lab, "node1")
    wait_until(lambda: info(lab, "node1")["cluster_state"] == "backup", 5, what="node1 back as backup")
    wait_until(lambda: info(lab, "node1")["uptime_s"] > 2 * FAST["min_hold_s"], 10, what="past the hold")
    assert roles(lab) == ("backup", "master")
    # The way back (node1 preempts) is hitless too.
    ping = subprocess.Popen(netns.exec_argv(lab, "client", ["ping", "-q", "-i", "0.001", "-c", "3000", "-W", "1",
                                                             "198.19.0.10"]), stdout=subprocess.PIPE, text=True)
    hacore(lab, "node1", "cluster", "maintainance", "set", "0")  # the seed's spelling works too
    wait_roles(lab, ("master", "backup"))
    out, _ = ping.communicate(timeout=30)
    assert " 0% packet loss" in out, out


def test_maintenance_is_refused_when_the_peer_cannot_take_over(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    hacore(lab, "node2", "cluster", "maintenance", "set", "1")
    wait_until(lambda: info(lab, "node1")["rank"]["peer"].get("maintenance"), 5, what="node1 to hear it")
    proc = hacore(lab, "node1", "cluster", "maintenance", "set", "1", check=False)
    assert proc.returncode == 1
    assert "the peer is not a healthy backup (backup, priority 0, in maintenance)" in proc.stderr
    assert roles(lab) == ("master", "backup")
    hacore(lab, "node1", "cluster", "maintenance", "set", "1", "--force")
    wait_roles(lab, ("backup", "backup"))
    wait_until(lambda: holds_no_vip(lab, "node1"), 5, what="no VIPs anywhere")


def test_stalled_master_comes_back_to_exactly_one_master(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    announced = info(lab, "node1")["announcements"]
    faults.signal_daemon(lab, "node1", signal.SIGSTOP)
    try:
        wait_until(lambda: info(lab, "node2")["cluster_state"] == "master", 5, what="node2 takes over")
    finally:
        faults.signal_daemon(lab, "node1", signal.SIGCONT)
    wait_roles(lab, ("master", "backup"))
    wait_until(lambda: holds_no_vip(lab, "node2"), 5, what="node2 to drop the VIPs")
    # One re-announcement round, not one per queued advert.
    per_round = sum(len(v) for v in VIPS.values())
    assert info(lab, "node1")["announcements"] - announced <= per_round * 3
    wait_until(lambda: info(lab, "node1")["uptime_s"] > 0, 1, what="node1 answers")
    assert roles(lab) == ("master", "backup")


def _forge(lab: Lab, *args: str) -> None:
    subprocess.run(netns.exec_argv(lab, "router", [sys.executable, "-m", "tests.netns.forge", "--src",
                                                   "198.51.100.1", *args]), cwd=REPO, check=True, timeout=60)


def test_forged_priority_255_cannot_take_over_in_hmac_mode(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    _forge(lab, "--trailer", "24", "--count", "30", "--interval", "0.04")
    _forge(lab, "--count", "5", "--interval", "0.01")  # without the trailer at all
    assert roles(lab) == ("master", "backup")
    drops = info(lab, "node1")["drops"]["lan1"]
    assert drops["bad_auth"] >= 30 and drops["bad_addr_count"] >= 5
    assert holds_vips(lab, "node1")


def test_forged_priority_255_takes_over_in_none_mode(make_cluster: Callable[..., Lab]) -> None:
    """Documents why hmac is the default: without it anyone on the segment wins."""
    lab = make_cluster(auth="none")
    _forge(lab, "--count", "40", "--interval", "0.03")
    assert info(lab, "node1")["machine_counters"].get("to_backup", 0) >= 1
    assert "peer priority 255" in hacore(lab, "node1", "cluster", "history").stdout


def test_malformed_adverts_are_counted_and_change_nothing(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    _forge(lab, "--malformed", "--trailer", "24", "--count", "50", "--interval", "0.005")
    _forge(lab, "--ttl", "64", "--count", "5", "--interval", "0.01")
    drops = info(lab, "node1")["drops"]["lan1"]
    assert drops["short"] >= 10 and drops["bad_checksum"] >= 10 and drops["bad_version"] >= 20
    assert drops["bad_addr_count"] >= 10
    assert drops["bad_ttl"] >= 5
    assert roles(lab) == ("master", "backup")


SEND_UDP = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
for payload in [b"", b"HC", b"XXXX" + bytes(40), b"HCS1" + bytes(40), b"HCS1{}" + bytes(16), bytes(2000)]:
    s.sendto(payload, (sys.argv[2], 3780))
"""


def test_garbage_on_the_hotwire_port_is_counted_and_ignored(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    netns.run_in(lab, "node2", [sys.executable, "-c", SEND_UDP, "198.18.0.3", "198.18.0.2"])
    wait_until(lambda: sum(info(lab, "node1")["drops"].get("hotwire", {}).values()) >= 5, 5,
               what="the hotwire drops to be counted")
    drops = info(lab, "node1")["drops"]["hotwire"]
    assert drops["short"] >= 2 and drops["bad_magic"] >= 1 and drops["bad_auth"] >= 2 and drops["too_long"] >= 1
    assert roles(lab) == ("master", "backup")
    assert info(lab, "node1")["rank"]["peer"]["seen"]  # the real peer is still heard


def test_fallback_ping_check_moves_the_master_and_back(make_cluster: Callable[..., Lab]) -> None:
    """Seed, "Fallback in a cluster": a failing ping check hands over to the spare."""
    lab = make_cluster(ping_targets=("198.19.0.10",))
    faults.drop_pings_from(lab, "router", "198.51.100.102", True)  # node1's upstream fails, node2's does not
    wait_roles(lab, ("backup", "master"), timeout_s=15)
    assert info(lab, "node1")["rank"]["self"]["demotion"] == "ping check failed 198.19.0.10"
    assert "ping check failed 198.19.0.10" in hacore(lab, "node1", "cluster", "history").stdout
    # The spare's check fails too: both equally affected, so the priority decides (node1 is High).
    faults.drop_pings_from(lab, "router", "198.51.100.103", True)
    wait_roles(lab, ("master", "backup"), timeout_s=15)
    assert not info(lab, "node1")["rank"]["self"]["ping_ok"] and not info(lab, "node2")["rank"]["self"]["ping_ok"]

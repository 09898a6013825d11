"""The VIP reconciler against the real kernel: whatever happens to the
addresses, the master ends up holding exactly the VIPs, the backup none of
them, and nothing hacore does not own is touched. Graceful stop hands over."""

from __future__ import annotations

from collections.abc import Callable

from hacore_lab import faults, netns
from hacore_lab.topology import Lab
from hacore_lab.wait import wait_until
from tests.netns.conftest import hacore, info, roles


def _ip(lab: Lab, node: str, *args: str) -> None:
    netns.run_in(lab, node, ["ip", *args])


def test_a_vip_removed_by_hand_on_the_master_comes_back(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    wait_until(lambda: "203.0.113.1/24" in faults.addresses(lab, "node1", "lan2"), 5, what="the VIP on node1")
    _ip(lab, "node1", "addr", "del", "203.0.113.1/24", "dev", "lan2")
    _ip(lab, "node1", "addr", "del", "2001:db8:100::101/64", "dev", "lan1")
    wait_until(lambda: {"203.0.113.1/24"} <= faults.addresses(lab, "node1", "lan2")
               and {"2001:db8:100::101/64"} <= faults.addresses(lab, "node1", "lan1"), 5, what="VIPs restored")
    assert roles(lab) == ("master", "backup")


def test_the_backup_removes_its_vips_but_nothing_else(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    _ip(lab, "node2", "addr", "add", "192.0.2.77/24", "dev", "lan2")  # the operator's own: not hacore's
    _ip(lab, "node2", "addr", "add", "203.0.113.1/24", "dev", "lan2")  # a VIP where it must not be
    wait_until(lambda: "203.0.113.1/24" not in faults.addresses(lab, "node2", "lan2"), 5, what="VIP removed")
    assert {"192.0.2.77/24", "192.0.2.142/24"} <= faults.addresses(lab, "node2", "lan2")


def test_graceful_stop_hands_over_with_priority_zero_and_removes_the_vips(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    netns.stop_daemon(lab, "node1")  # SIGTERM
    assert info(lab, "node2")["cluster_state"] == "master"  # taken over before node1 finished stopping
    assert "priority 0 received" in hacore(lab, "node2", "cluster", "history").stdout
    vips = {"198.51.100.101/24", "2001:db8:100::101/64", "203.0.113.1/24", "2001:db8:200::1/64"}
    left = faults.addresses(lab, "node1", "lan1") | faults.addresses(lab, "node1", "lan2")
    assert left & vips == set() and "192.0.2.141/24" in left


def test_the_hmac_counter_survives_a_restart(make_cluster: Callable[..., Lab]) -> None:
    """node1's clock ran an hour ahead and was then stepped back: node2 has seen counters from the
    future, so after a restart node1 must continue from its reserved high-water mark, not its clock."""
    lab = make_cluster()
    counter = lab.node_dir("node1") / "state" / "counter_hwm.json"
    netns.stop_daemon(lab, "node1")
    ahead = int(counter.read_text()) + 3600 * 10**6
    counter.write_text(str(ahead))
    netns.start_daemon(lab, "node1")
    wait_until(lambda: roles(lab) == ("master", "backup"), 15, what="node1 master with counters from the future")
    netns.stop_daemon(lab, "node1")  # ... and the clock is back to the truth
    assert int(counter.read_text()) > ahead  # it continued from the saved counter and saved its own
    netns.start_daemon(lab, "node1")
    wait_until(lambda: roles(lab) == ("master", "backup"), 15, what="node1 master again")
    assert "replay" not in info(lab, "node2")["drops"].get("lan1", {})

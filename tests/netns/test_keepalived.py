"""hacore and Debian's keepalived form one virtual router on a shared segment:
the higher priority wins whichever implementation it is, and the other takes
over when it is killed. VRRPv3 (auth none) and VRRPv2 (auth pass)."""

from __future__ import annotations

import os
import shutil
import signal

import pytest

from hacore.vrrp.rank import Rank
from hacore_lab import faults, netns
from hacore_lab.keepalived import Keepalived, config
from hacore_lab.topology import Lab
from hacore_lab.wait import holds_for, wait_until
from tests.conftest import is_root, need
from tests.netns.conftest import Cleanup, info

VIP = "198.51.100.101/24"
HACORE_PRIORITY = Rank(links_up=1, ping_ok=True, high=True).priority()  # node1 on one HA link


def _conf(version: int, priority: int) -> str:
    return config(version, priority, advert_int_s=1, auth_pass="insecure" if version == 2 else "")


def holds_vip(lab: Lab, node: str) -> bool:
    return VIP in faults.addresses(lab, node, "lan1")


@pytest.fixture
def mixed(cleanup: Cleanup):  # type: ignore[no-untyped-def]
    need(is_root(), "network namespace tests need root")
    need(shutil.which("keepalived") is not None, "keepalived is not installed (apt install keepalived)")
    made: list[Lab] = []

    def make(auth: str) -> Lab:
        lab = Lab(f"k{os.getpid()}x{len(made)}")
        made.append(lab)
        cleanup.add(f"lab {lab.name}", lambda: netns.down(lab))
        netns.up(lab, auth=auth, delay_s=3.0, min_hold_s=1.0, ha_links=("lan1",), ipv6=False)
        netns.start_daemon(lab, "node1")
        return lab

    return make


MODES = [("none", 3), ("pass", 2)]


@pytest.mark.parametrize(("auth", "version"), MODES, ids=["vrrpv3-none", "vrrpv2-pass"])
def test_keepalived_with_the_higher_priority_wins_and_hacore_takes_over(mixed, auth: str, version: int) -> None:  # type: ignore[no-untyped-def]
    lab = mixed(auth)
    ka = Keepalived(lab, "node2", _conf(version, HACORE_PRIORITY + 50))
    try:
        # hacore's state turns backup at its decision; its VIPs leave a moment later.
        wait_until(lambda: holds_vip(lab, "node2") and info(lab, "node1")["cluster_state"] == "backup"
                   and not holds_vip(lab, "node1"), 15, what="keepalived master, hacore backup without the VIPs")
        assert not holds_vip(lab, "node1")
        assert info(lab, "node1")["drops"] == {}
    finally:
        ka.kill()
    wait_until(lambda: info(lab, "node1")["cluster_state"] == "master" and holds_vip(lab, "node1"), 10,
               what="hacore to take over")


@pytest.mark.parametrize(("auth", "version"), MODES, ids=["vrrpv3-none", "vrrpv2-pass"])
def test_hacore_with_the_higher_priority_wins_and_keepalived_takes_over(mixed, auth: str, version: int) -> None:  # type: ignore[no-untyped-def]
    lab = mixed(auth)
    wait_until(lambda: info(lab, "node1")["cluster_state"] == "master", 10, what="hacore master")
    ka = Keepalived(lab, "node2", _conf(version, HACORE_PRIORITY - 20))
    try:
        wait_until(lambda: "Entering BACKUP STATE" in ka.log(), 10,
                   what="keepalived to start as backup")
        # Longer than keepalived's master-down interval (3 x 1 s + skew): it must stay backup.
        holds_for(lambda: not holds_vip(lab, "node2") and info(lab, "node1")["cluster_state"] == "master", 4.5,
                  what="hacore master, keepalived backup")
        faults.signal_daemon(lab, "node1", signal.SIGKILL)
        faults.set_port(lab, "node1", "lan1", False)  # its stale VIP must not answer for it
        wait_until(lambda: holds_vip(lab, "node2"), 10, what="keepalived to take over")
    finally:
        ka.kill()

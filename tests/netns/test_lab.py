"""The lab in the real kernel: topology, isolation from the host, complete removal."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from hacore_lab import netns
from hacore_lab.faults import addresses
from hacore_lab.topology import NODE_ADDR, ROLES, Lab
from tests.netns.conftest import Cleanup


def _ping(lab: Lab, role: str, target: str) -> bool:
    return netns.run_in(lab, role, ["ping", "-c", "1", "-W", "2", target], check=False).returncode == 0


def _host_links() -> list[str]:
    return sorted(link["ifname"] for link in json.loads(subprocess.check_output(["ip", "-j", "link"])))


def test_lab_builds_the_seed_topology(lab: Lab) -> None:
    assert sorted(netns.namespaces(lab.prefix)) == sorted(lab.ns(r) for r in ROLES)
    for node, devs in NODE_ADDR.items():
        for dev, addrs in devs.items():
            assert addresses(lab, node, dev) == set(addrs)
    # The hotwire is exclusive (hacore's table): SSH and UDP/3780 from the peer only, so no ping.
    assert not _ping(lab, "node1", "198.18.0.3"), "hotwire node1 -> node2 must drop ICMP"
    assert netns.run_in(lab, "node2", ["ip", "neigh", "show", "198.18.0.2", "dev", "lan3"]).stdout, \
        "the ping's ARP exchange got through: the cable works"
    assert _ping(lab, "node2", "198.51.100.1"), "node2 -> router over the external switch"
    assert _ping(lab, "node1", "192.0.2.142"), "node1 -> node2 over the internal switch"
    assert not _ping(lab, "client", "198.19.0.10"), "no VIP yet, so the client has no gateway"


def test_lab_leaves_the_host_alone(cleanup: Cleanup, lab: Lab) -> None:
    before = _host_links()
    other = Lab(lab.name + "b")
    cleanup.add("second lab", lambda: netns.down(other))
    netns.up(other)
    assert _host_links() == before
    netns.down(other)
    assert _host_links() == before


def test_down_finds_leftovers_by_prefix_after_a_crash(lab: Lab) -> None:
    # A process the lab never recorded, and the lab's own records lost.
    stray = subprocess.Popen(netns.exec_argv(lab, "router", ["sleep", "300"]), start_new_session=True)
    (lab.run_dir / "pids.json").unlink(missing_ok=True)
    removed = netns.down(lab)
    assert f"process {stray.pid} (in {lab.ns('router')})" in removed
    assert stray.wait(timeout=10) != 0
    assert netns.namespaces(lab.prefix) == []
    assert not lab.run_dir.exists()
    assert netns.down(lab) == []  # idempotent


def test_down_removes_only_its_own_lab_even_when_another_shares_the_prefix(cleanup: Cleanup, lab: Lab) -> None:
    other = Lab(lab.name + "-router")  # its namespaces start with this lab's prefix
    cleanup.add("second lab", lambda: netns.down(other))
    netns.up(other)
    netns.down(lab)
    assert netns.own_namespaces(lab) == []
    assert sorted(netns.own_namespaces(other)) == sorted(other.ns(r) for r in ROLES)


def test_building_an_existing_lab_is_refused_and_leaves_it_intact(lab: Lab) -> None:
    with pytest.raises(netns.LabError, match="already exists"):
        netns.up(lab)
    assert len(netns.namespaces(lab.prefix)) == len(ROLES)
    assert os.path.isdir(lab.run_dir)

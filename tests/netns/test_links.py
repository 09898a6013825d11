"""Interfaces that come and go under a running daemon, and effects that fail and retry."""

from __future__ import annotations

from collections.abc import Callable

from hacore_lab import faults, netns
from hacore_lab.topology import Lab
from hacore_lab.wait import wait_until
from tests.netns.conftest import info

INT_VIP = "203.0.113.1/24"


def _client_reaches_server(lab: Lab) -> bool:
    return netns.run_in(lab, "client", ["ping", "-c", "1", "-W", "1", "198.19.0.10"], check=False).returncode == 0


def test_an_ha_link_recreated_with_a_new_index_is_followed(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    faults.delete_link(lab, "node2", "lan2")
    wait_until(lambda: info(lab, "node2")["carrier"]["lan2"] is False, 5, what="node2 sees lan2 gone")
    faults.create_link(lab, "node2", "lan2")
    wait_until(lambda: info(lab, "node2")["carrier"]["lan2"] and not info(lab, "node2")["link_problems"], 5,
               what="node2 rebuilt lan2 on its new index")
    faults.go_dark(lab, "node1")
    wait_until(lambda: info(lab, "node2")["cluster_state"] == "master", 5, what="node2 takes over")
    wait_until(lambda: INT_VIP in faults.addresses(lab, "node2", "lan2"), 5, what="the internal VIP on the new lan2")
    assert info(lab, "node2")["vip_failures"] == {}
    wait_until(lambda: _client_reaches_server(lab), 5, what="the client's gateway works through node2")


def test_a_vip_whose_link_is_gone_is_retried_and_lands_when_it_returns(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    faults.delete_link(lab, "node2", "lan2")
    faults.go_dark(lab, "node1")
    wait_until(lambda: info(lab, "node2")["cluster_state"] == "master", 5, what="node2 takes over with one link")
    wait_until(lambda: info(lab, "node2")["vip_failures"].get(INT_VIP, 0) >= 1, 5, what="the lan2 VIP counted")
    data = info(lab, "node2")
    assert data["vip_errors"][INT_VIP] == "interface lan2 does not exist"
    assert "198.51.100.101/24" in faults.addresses(lab, "node2", "lan1")  # the healthy link's VIP is up
    faults.create_link(lab, "node2", "lan2")
    wait_until(lambda: INT_VIP in faults.addresses(lab, "node2", "lan2"), 10, what="the lan2 VIP once lan2 is back")
    wait_until(lambda: INT_VIP not in info(lab, "node2")["vip_errors"], 5, what="the error cleared")
    wait_until(lambda: _client_reaches_server(lab), 5, what="the client's gateway works again")


def test_advert_send_failures_are_counted_and_logged(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    # An output rule that eats VRRP: the master's adverts fail to leave, and the spare takes over.
    rules = ("table inet hacore_test { chain out { type filter hook output priority 0; "
             "meta l4proto 112 drop; }; }")
    faults.nft(lab, "node1", rules)
    wait_until(lambda: info(lab, "node1")["drops"].get("lan1", {}).get("send_error", 0) > 0, 5,
               what="send errors counted on node1")
    wait_until(lambda: info(lab, "node2")["cluster_state"] == "master", 5, what="node2 takes over")
    log = (lab.node_dir("node1") / "daemon.log").read_text()
    warnings = [line for line in log.splitlines() if "event=advert_send_failed" in line]
    assert all(" level=warning event=advert_send_failed " in f" {line} " for line in warnings)
    # Rate-limited: one line per link in the first WARN_EVERY_S, however many adverts failed.
    assert sorted(line.split(" link=")[1].split()[0] for line in warnings) == ["lan1", "lan2"]

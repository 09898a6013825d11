"""Whether a node can stand by with a configuration a synchronize would give it."""

from __future__ import annotations

from dataclasses import replace

from hacore.config.model import HaInterface
from hacore.config.parse import parse
from hacore.config.validate import vrid_moves
from hacore.configsync.standby import problems
from hacore.support.links import LinkInfo
from tests.unit.lab_config import NODE2

N2 = parse(NODE2)


def link(name: str, *v4: str) -> LinkInfo:
    return LinkInfo(name, 1, b"\0" * 6, True, v4, "fe80::1")


LINKS = {"lan1": link("lan1", "198.51.100.103"), "lan2": link("lan2", "192.0.2.142"),
         "lan3": link("lan3", "198.18.0.3")}


def with_ha(*extra: HaInterface):
    return replace(N2, cluster=replace(N2.cluster, ha_interfaces=(*N2.cluster.ha_interfaces, *extra)))


def test_a_node_with_every_link_and_address_can_stand_by() -> None:
    assert problems(N2, LINKS, N2) == []


def test_an_ha_interface_the_node_lacks_is_named() -> None:
    cfg = with_ha(HaInterface("lan4", ("192.0.2.77/24",)))
    assert problems(cfg, LINKS, N2) == ["lan4 does not exist on node2"]


def test_a_missing_hotwire_or_its_address_is_named() -> None:
    no_hotwire = {k: v for k, v in LINKS.items() if k != "lan3"}
    assert problems(N2, no_hotwire, N2) == ["the hotwire lan3 does not exist on node2"]
    assert problems(N2, LINKS | {"lan3": link("lan3")}, N2) == [
        "the hotwire address 198.18.0.3 is not on lan3 on node2"]


def test_a_vip_that_is_an_address_hacore_does_not_own_is_refused() -> None:
    links = LINKS | {"lan2": link("lan2", "192.0.2.142", "203.0.113.5")}
    cfg = with_ha()
    cfg = replace(cfg, cluster=replace(cfg.cluster, ha_interfaces=(
        cfg.cluster.ha_interfaces[0], HaInterface("lan2", ("203.0.113.5/24",)))))
    assert problems(cfg, links, N2) == ["203.0.113.5 is node2's own address on lan2: releasing the VIP would delete it"]
    # A VIP the node holds now as master is hacore's own, not the node's.
    held = LINKS | {"lan2": link("lan2", "192.0.2.142", "203.0.113.1")}
    assert problems(N2, held, N2) == []


def test_adding_a_link_in_front_moves_the_vrids_after_it_and_is_named() -> None:
    first = replace(N2, cluster=replace(N2.cluster, ha_interfaces=(
        HaInterface("lan4", ("192.0.2.77/24",)), *N2.cluster.ha_interfaces)))
    moves = [str(p) for p in vrid_moves(N2, first)]
    assert len(moves) == 2 and "lan1 would move from VRID 50 to 51" in moves[0] and "set vrid = 50" in moves[0]
    assert vrid_moves(N2, with_ha(HaInterface("lan4", ("192.0.2.77/24",)))) == []  # appended: none move
    pinned = replace(first, cluster=replace(first.cluster, ha_interfaces=(
        HaInterface("lan4", ("192.0.2.77/24",), vrid=60),
        *(replace(h, vrid=50 + n) for n, h in enumerate(N2.cluster.ha_interfaces)))))
    assert vrid_moves(N2, pinned) == []

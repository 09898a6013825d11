"""Which changes a running cluster takes live, and sync's version check."""

from __future__ import annotations

from dataclasses import replace

from hacore.config import live
from hacore.config.model import AuthMode, HaInterface, Interface
from hacore.config.parse import parse
from hacore.configsync.exchange import version_problem, versions
from tests.unit.lab_config import NODE1

BASE = parse(NODE1)


def with_cluster(**kw: object):  # type: ignore[no-untyped-def]
    return replace(BASE, cluster=replace(BASE.cluster, **kw))


def test_delay_vips_ping_targets_and_effects_are_live() -> None:
    ha = BASE.cluster.ha_interfaces
    more = (replace(ha[0], vips=(*ha[0].vips, "198.51.100.111/24")), *ha[1:])
    new = with_cluster(update_trigger_delay_s=3.0, ha_interfaces=more,
                       ping_check=replace(BASE.cluster.ping_check, targets=("198.51.100.1",)), notify=("/bin/true",))
    new = replace(new, interfaces=(*new.interfaces, Interface("wan0", addresses=("192.0.2.9/24",))))
    changed = live.changes(BASE, new)
    assert "cluster.update_trigger_delay_s" in changed and "interfaces[wan0].addresses" in changed
    assert live.needs_restart(changed, BASE, new) == []


def test_links_keys_and_the_nodes_rank_need_a_restart() -> None:
    new = with_cluster(ha_interfaces=(*BASE.cluster.ha_interfaces, HaInterface("lan9", ("192.0.2.99/24",))),
                       passphrase="other", ping_check=replace(BASE.cluster.ping_check, failures=5))
    new = replace(new, node=replace(BASE.node, priority=BASE.node.priority.opposite()),
                  interfaces=tuple(replace(i, addresses=()) if i.name == "lan1" else i for i in BASE.interfaces))
    hard = live.needs_restart(live.changes(BASE, new), BASE, new)
    assert {"cluster.ping_check.failures", "node.priority", "interfaces[lan1].addresses"} <= set(hard)
    assert any(p.startswith("cluster.ha_interfaces[lan9]") for p in hard)


def test_new_secrets_are_live_unless_the_adverts_carry_the_passphrase() -> None:
    new = with_cluster(passphrase="other", hotwire_secret="another")
    changed = live.changes(BASE, new)
    assert live.rekeys(changed) and live.needs_restart(changed, BASE, new) == []
    old_pass, new_pass = with_cluster(auth=AuthMode.PASS), with_cluster(auth=AuthMode.PASS, passphrase="other")
    assert live.needs_restart(live.changes(old_pass, new_pass), old_pass, new_pass) == ["cluster.passphrase"]
    assert "cluster.auth" in live.needs_restart(live.changes(BASE, new_pass), BASE, new_pass)


def test_a_schema_mismatch_names_the_node_to_upgrade() -> None:
    ours = versions()
    assert version_problem(ours, ours, "node2") == ""
    older = version_problem(ours, {**ours, "schema": ours["schema"] - 1}, "node2")
    assert "upgrade node2" in older and "failover and conntrack sync go on" in older
    assert "upgrade this node" in version_problem(ours, {**ours, "schema": ours["schema"] + 1}, "node2")
    assert "sync protocol" in version_problem(ours, {**ours, "protocol": 99}, "node2")
    assert version_problem(ours, None, "node2") == "the peer sent no versions"

"""Pure parts of the effects that follow the master: hacore's nftables table,
interfaces disabled in backup, applications and where they run, the timed
steps of a takeover as history keeps and shows them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from hacore.cli.render import history, steps_text
from hacore.config.model import Application, Cluster, Config, Forward, Interface, NatKind, NatRule, NetworkObject
from hacore.config.parse import parse
from hacore.effects import ruleset
from hacore.effects.ifaces import managed, plan
from hacore.effects.services import Backend, desired
from hacore.node.history import History
from tests.unit.lab_config import NODE1

BASE = parse(NODE1)
VIP = "198.51.100.101"
MAIL = Application("mailrelay", outgoing_address=VIP, user="mail", start="/bin/true", stop="/bin/true",
                   status="/bin/true")


def rules(r: ruleset.Rendered, chain: str) -> list[list[dict[str, Any]]]:
    return r.rules[chain]


def exprs_with(r: ruleset.Rendered, key: str) -> list[list[dict[str, Any]]]:
    return [e for rs in r.rules.values() for e in rs if any(key in x for x in e)]


def test_hide_nat_sends_the_inside_network_from_the_vip_on_both_nodes() -> None:
    for master in (True, False):  # replicated flows are translated on the spare only if its NAT hooks exist
        r = ruleset.render(BASE, master, {})
        assert {"prerouting", "postrouting"} <= set(r.chains)
        (snat,) = rules(r, "postrouting")
        assert snat[-1] == {"snat": {"family": "ip", "addr": VIP}}
        assert {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "lan1"}} in snat
        assert {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                          "right": {"prefix": {"addr": "203.0.113.0", "len": 24}}}} in snat


def test_a_port_forward_translates_the_vip_to_the_inside_host() -> None:
    cfg = replace(BASE, objects=(*BASE.objects, NetworkObject("web", "203.0.113.10")),
                  nat=(*BASE.nat, NatRule(NatKind.DNAT, "lan1", "", "ha-external-ip", 8080, "tcp", "web", 80)))
    (dnat,) = rules(ruleset.render(cfg, True, {}), "prerouting")
    assert dnat[-1] == {"dnat": {"family": "ip", "addr": "203.0.113.10", "port": 80}}
    assert {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": VIP}} in dnat
    assert {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8080}} in dnat


def test_the_forward_filter_exists_only_when_asked_for() -> None:
    assert "forward" not in ruleset.render(replace(BASE, forward=Forward()), True, {}).chains
    r = ruleset.render(BASE, True, {})  # the lab's: policy drop, new connections from lan2
    assert r.chains["forward"]["policy"] == "drop"
    assert [e[-1] for e in rules(r, "forward")] == [{"drop": None}, {"accept": None}, {"accept": None},
                                                    {"accept": None}]


def test_invalid_input_is_dropped_only_when_asked_for() -> None:
    assert "input" not in ruleset.render(replace(BASE, forward=Forward()), True, {}).chains
    r = ruleset.render(BASE, False, {})  # the lab's: drop_invalid_input on, on the backup as on the master
    assert r.chains["input"]["hook"] == "input"
    assert r.rules["input"] == [[{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "invalid"}},
                                 {"counter": None}, {"drop": None}]]


def test_a_rebound_application_sends_from_the_vip_only_on_the_master() -> None:
    cfg = replace(BASE, applications=(MAIL,))
    master = ruleset.render(cfg, True, {"mail": 8})
    snat = [e for e in rules(master, "postrouting") if {"match": {"op": "==", "left": {"meta": {"key": "skuid"}},
                                                                  "right": 8}} in e]
    assert snat[0][-1] == {"return": None}  # management traffic (DNS, syslog, ...) keeps the node's address
    assert set(snat[0][2]["match"]["right"]["set"]) >= {53, 514, 1812, 389}
    assert snat[1][-1] == {"snat": {"family": "ip", "addr": VIP}}
    assert not exprs_with(ruleset.render(cfg, False, {"mail": 8}), "return")  # the spare: its own address


def test_an_account_missing_on_this_node_is_reported_not_rendered() -> None:
    r = ruleset.render(replace(BASE, applications=(MAIL,)), True, {})
    assert r.skipped == ["application mailrelay: no account 'mail' on this node"]
    assert not exprs_with(r, "return")


def test_the_batch_replaces_only_hacores_table() -> None:
    cmds = ruleset.render(BASE, True, {}).commands()
    assert cmds[:3] == [{"add": {"table": {"family": "inet", "name": "hacore"}}},
                        {"delete": {"table": {"family": "inet", "name": "hacore"}}},
                        {"add": {"table": {"family": "inet", "name": "hacore"}}}]
    for cmd in cmds[3:]:
        (obj,) = cmd["add"].values()
        assert (obj["family"], obj["table"]) == ("inet", "hacore")


def test_a_listing_reads_back_as_what_was_rendered() -> None:
    want = ruleset.render(replace(BASE, forward=Forward("drop", ("lan2",))), True, {})
    listing = {"nftables": [{"metainfo": {}}, {"table": {"family": "inet", "name": "hacore", "handle": 1}}]}
    for n, (name, spec) in enumerate(want.chains.items()):
        listing["nftables"].append({"chain": {"family": "inet", "table": "hacore", "name": name, "handle": n,
                                              **spec}})
    for chain, rs in want.rules.items():
        for expr in rs:
            shown = [{"counter": {"packets": 5, "bytes": 300}} if "counter" in e else e for e in expr]
            listing["nftables"].append({"rule": {"chain": chain, "handle": 9, "expr": shown}})
    assert ruleset.observed(listing) == want


def test_interfaces_disabled_in_backup_include_the_flagged_ones() -> None:
    cfg = Config(interfaces=(Interface("wan0"), Interface("wg0", flags=("DISABLED_IF_SPARE",))),
                 cluster=Cluster(disabled_interfaces_in_backup=("wan0",)))
    assert managed(cfg) == ("wan0", "wg0")
    assert plan(True, {"wan0": False, "wg0": True}) == (["wan0"], [])
    assert plan(False, {"wan0": False, "wg0": True}) == ([], ["wg0"])
    assert plan(True, {"wan0": True}) == ([], [])  # applying twice changes nothing


def test_applications_run_on_the_master_and_in_maintenance_only_if_listed() -> None:
    apps = (Application("dhcp-server", backend="isc-dhcp-server.service"),
            Application("ipsec", start="/bin/true", stop="/bin/true", status="/bin/true"),
            Application("snmp", backend="snmpd.service"),  # not disabled in backup: runs on both
            Application("mailrelay", enabled=False, backend="postfix.service"),
            Application("http-proxy"))  # no backend: not hacore's to run
    cfg = Config(applications=apps, cluster=Cluster(maintenance_services=("ipsec",)))
    assert desired(cfg, True, False) == {"dhcp-server": True, "ipsec": True, "snmp": True, "mailrelay": False}
    assert desired(cfg, False, False) == {"dhcp-server": False, "ipsec": False, "snmp": True, "mailrelay": False}
    assert desired(cfg, True, True) == {"dhcp-server": False, "ipsec": True, "snmp": False, "mailrelay": False}
    systemd = Backend.of(apps[0])
    assert systemd is not None and systemd.status == ["systemctl", "is-active", "--quiet", "isc-dhcp-server.service"]
    quoted = Backend.of(Application("x", start="/usr/bin/app --name 'a b'", stop="kill", status="true"))
    assert quoted is not None and quoted.start == ["/usr/bin/app", "--name", "a b"]  # argv, never a shell


def test_a_changes_steps_are_kept_with_it_and_shown(tmp_path: Path) -> None:
    h = History(tmp_path / "roles.json")
    h.append(1000.5, "backup", "master", "master-down timer")
    steps = {"start_ms": 0.05, "commit_ms": 0.01, "vips_ms": 0.12, "announce_ms": 0.08, "nat_ms": 2.1,
             "to_traffic_ms": 0.26, "total_ms": 2.36}
    assert h.annotate(1000.5, steps)
    assert not h.annotate(999.0, steps)
    h.save()
    (entry,) = History(tmp_path / "roles.json").entries()
    assert entry["steps"] == steps
    text = history([entry])
    assert "to traffic 0.26; start 0.05, commit 0.01, vips 0.12, announce 0.08, nat 2.1; total 2.36" in text
    assert steps_text({}) == "-"

"""Configuration: scopes, parsing with paths, the seed's rules, canonical digest."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import pytest

from hacore.config import model
from hacore.config.parse import ConfigError, digest, from_dict, parse
from hacore.config.validate import check, validate
from tests.unit.lab_config import NODE1, NODE2, node1_data


def _dataclasses(cls: type, seen: set[type]) -> set[type]:
    if cls in seen:
        return seen
    seen.add(cls)
    for tp in typing.get_type_hints(cls).values():
        for inner in (tp, *typing.get_args(tp)):
            if dataclasses.is_dataclass(inner):
                _dataclasses(inner, seen)  # type: ignore[arg-type]
    return seen


def test_every_field_declares_shared_or_local() -> None:
    unclassified = [
        f"{cls.__name__}.{f.name}"
        for cls in _dataclasses(model.Config, set())
        for f in dataclasses.fields(cls)
        if f.metadata.get(model.SCOPE) not in (model.SHARED, model.LOCAL)
    ]
    assert unclassified == []


def test_node_unique_settings_are_local() -> None:
    scope = {f.name: f.metadata[model.SCOPE] for f in dataclasses.fields(model.Node)}
    assert scope == {"name": "local", "priority": "local", "directory_account": "local", "timing": "local",
                     "metrics": "local", "web": "local"}
    assert {f.name: f.metadata[model.SCOPE] for f in dataclasses.fields(model.Interface)}["addresses"] == "local"


def test_lab_configs_are_valid_and_share_one_digest() -> None:
    cfg1, warnings = check(NODE1)
    cfg2, _ = check(NODE2)
    assert warnings == []
    assert cfg1.node.priority != cfg2.node.priority
    assert digest(cfg1) == digest(cfg2)


def test_omitted_default_and_explicit_default_hash_equal() -> None:
    data = node1_data()
    explicit = dict(data, cluster=dict(data["cluster"], auth="hmac", vrid_offset=50))
    bare = dict(data, cluster={k: v for k, v in data["cluster"].items() if k not in ("auth", "vrid_offset")})
    assert digest(from_dict(explicit)) == digest(from_dict(bare))


def test_shared_change_changes_digest() -> None:
    data = node1_data()
    other = dict(data, cluster=dict(data["cluster"], update_trigger_delay_s=3.0))
    assert digest(from_dict(other)) != digest(from_dict(data))


def _problems(data: dict[str, Any]) -> list[str]:
    try:
        cfg = from_dict(data)
    except ConfigError as exc:
        return [str(p) for p in exc.problems]
    return [str(p) for p in validate(cfg)]


def test_type_errors_and_unknown_keys_are_all_reported_with_paths() -> None:
    data = node1_data()
    data["cluster"]["vrid_offset"] = "fifty"
    data["cluster"]["auth"] = "md5"
    data["cluster"]["ha_interfaces"][1]["vips"] = "203.0.113.1/24"
    data["node"]["colour"] = "blue"
    problems = _problems(data)
    assert "cluster.vrid_offset: expected int, got str 'fifty'" in problems
    assert "cluster.auth: must be one of 'hmac', 'pass', 'none', got 'md5'" in problems
    assert "cluster.ha_interfaces[1].vips: expected a list, got str" in problems
    assert any(p.startswith("node.colour: unknown key") for p in problems)
    assert len(problems) == 4


def test_toml_syntax_error_is_one_problem_with_the_line() -> None:
    with pytest.raises(ConfigError) as err:
        parse("[node]\nname = \n")
    assert len(err.value.problems) == 1
    assert "line 2" in str(err.value)


def _mutate(path: str, fn: typing.Callable[[dict[str, Any]], None]) -> list[str]:
    data = node1_data()
    fn(data)
    return [p for p in _problems(data) if p.startswith(path) or p.startswith(f"warning: {path}")]


def _if(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(i for i in data["interfaces"] if i["name"] == name)


# The seed's rules, one case each: (path the problem is reported at, mutation, words in the message).
RULES = [
    ("no HA interface on a DHCP client", "cluster.ha_interfaces[0].interface",
     lambda d: _if(d, "lan1").update(dhcp_client=True), "DHCP client"),
    ("DHCP server VIP in the physical broadcast domain", "cluster.ha_interfaces[1].vips[0]",
     lambda d: d["cluster"]["ha_interfaces"][1].update(vips=["192.0.2.1/24"]), "broadcast domain"),
    ("hotwire is not HA", "cluster.ha_interfaces[0].interface",
     lambda d: d["cluster"]["ha_interfaces"][0].update(interface="lan3"), "exclusive"),
    ("no NAT on the hotwire", "nat[0].interface",
     lambda d: d["nat"][0].update(interface="lan3"), "exclusive"),
    ("no DHCP server on the hotwire", "dhcp_server[0].interface",
     lambda d: d["dhcp_server"][0].update(interface="lan3"), "exclusive"),
    ("VRID within 1..255", "cluster.vrid_offset",
     lambda d: d["cluster"].update(vrid_offset=255), "VRID 256"),
    ("VRID not 0", "cluster.vrid_offset",
     lambda d: d["cluster"].update(vrid_offset=0), "VRID 0"),
    ("referenced interface exists", "cluster.ha_interfaces[0].interface",
     lambda d: d["cluster"]["ha_interfaces"][0].update(interface="lan9"), "unknown interface 'lan9'"),
    ("referenced object exists", "nat[0].source",
     lambda d: d["nat"][0].update(source="nowhere"), "unknown object 'nowhere'"),
    ("NAT via HA interface uses a unique VIP object", "nat[0].to",
     lambda d: d["objects"][0].update(address="198.51.100.102"), "unique object"),
    ("NAT via HA interface needs an object at all", "nat[0].to",
     lambda d: d["nat"][0].update(to=""), "unique object"),
    ("hotwire remote in the hotwire network", "cluster.hotwire.remote_address",
     lambda d: d["cluster"]["hotwire"].update(remote_address="198.51.100.9"), "hotwire network"),
    ("passphrase required with hmac", "cluster.passphrase",
     lambda d: d["cluster"].update(passphrase=""), "required"),
    ("pass mode key fits VRRPv2", "cluster.passphrase",
     lambda d: d["cluster"].update(auth="pass", passphrase="much-too-long", update_trigger_delay_s=3.0), "8 bytes"),
    ("pass mode delay in whole advert seconds", "cluster.update_trigger_delay_s",
     lambda d: d["cluster"].update(auth="pass", update_trigger_delay_s=2.0), "multiple of 3"),
    ("delay not absurd", "cluster.update_trigger_delay_s",
     lambda d: d["cluster"].update(update_trigger_delay_s=500.0), "between"),
    ("delay below the floor warns", "cluster.update_trigger_delay_s",
     lambda d: d["cluster"].update(update_trigger_delay_s=0.5), "safe floor"),
    ("a VIP is not on two interfaces", "cluster.ha_interfaces",
     lambda d: d["cluster"]["ha_interfaces"][1]["vips"].append("198.51.100.101/24"), "virtual IP '198.51.100.101'"),
    ("VIP needs a prefix", "cluster.ha_interfaces[0].vips[0]",
     lambda d: d["cluster"]["ha_interfaces"][0].update(vips=["198.51.100.101"]), "prefix"),
    ("cluster on needs a hotwire", "cluster.hotwire.interface",
     lambda d: d["cluster"]["hotwire"].update(interface=""), "required"),
    ("HA interfaces cannot be disabled on the spare", "cluster.disabled_interfaces_in_backup[0]",
     lambda d: d["cluster"].update(disabled_interfaces_in_backup=["lan1"]), "spare"),
    ("application sends from a VIP or own address", "applications[0].outgoing_address",
     lambda d: d.update(applications=[{"name": "mailrelay", "outgoing_address": "198.51.100.77"}]), "neither"),
    ("a port forward needs its inside host", "nat[1].target",
     lambda d: d["nat"].append({"kind": "dnat", "interface": "lan1", "to": "ha-external-ip", "port": 80}),
     "required for dnat"),
    ("a port forward is tcp or udp", "nat[1].protocol",
     lambda d: d["nat"].append({"kind": "dnat", "interface": "lan1", "to": "ha-external-ip", "port": 80,
                                "protocol": "sctp", "target": "internal-net"}), "tcp or udp"),
    ("hide NAT has no ports", "nat[0]", lambda d: d["nat"][0].update(port=25), "belong to dnat"),
    ("commands come as three", "applications[0]",
     lambda d: d.update(applications=[{"name": "dhcp-server", "start": "/usr/sbin/dhcpd"}]), "missing stop, status"),
    ("a unit or commands", "applications[0].backend",
     lambda d: d.update(applications=[{"name": "x", "backend": "x.service", "start": "a", "stop": "b",
                                       "status": "c"}]), "not both"),
    ("a command line that parses", "applications[0].status",
     lambda d: d.update(applications=[{"name": "x", "start": "a", "stop": "b", "status": "c 'd"}]),
     "not a command line"),
    ("notify hooks by absolute path", "cluster.notify[0]", lambda d: d["cluster"].update(notify=["hook.sh"]),
     "absolute path"),
    ("the forward policy", "forward.policy", lambda d: d.update(forward={"policy": "reject"}), "accept or drop"),
    ("a flagged HA interface", "interfaces[0].flags",
     lambda d: d["interfaces"][0].update(flags=["DISABLED_IF_SPARE"]), "not disableable"),
    ("a VIP is not the node's own address", "cluster.ha_interfaces[0].vips[0]",
     lambda d: d["cluster"]["ha_interfaces"][0].update(vips=["198.51.100.102/24"]), "own address on lan1"),
    ("a VIP is not in the hotwire network", "cluster.ha_interfaces[0].vips[0]",
     lambda d: d["cluster"]["ha_interfaces"][0].update(vips=["198.18.0.9/24"]), "hotwire network"),
    ("a VIP is not the hotwire address", "cluster.ha_interfaces[0].vips[0]",
     lambda d: d["cluster"]["ha_interfaces"][0].update(vips=["198.18.0.2/24"]), "own address on lan3"),
    ("an application disabled in backup is known", "cluster.disabled_applications_in_backup[1]",
     lambda d: d["cluster"].update(disabled_applications_in_backup=["dhcp-server", "dhcp-sever"]),
     "unknown application 'dhcp-sever' (known: "),
    ("interface names unique", "interfaces",
     lambda d: d["interfaces"].append({"name": "lan1"}), "defined 2 times"),
    ("metrics not on an HA link", "node.metrics.address",
     lambda d: d["node"]["metrics"].update(address="198.51.100.102"), "on lan1, a cluster link"),
    ("the console not on an HA link", "node.web.address",
     lambda d: d["node"].update(web={"address": "198.51.100.102"}), "would reach the console"),
    ("metrics not on the hotwire", "node.metrics.address",
     lambda d: d["node"]["metrics"].update(address="198.18.0.2"), "on lan3, a cluster link"),
    ("metrics not on a VIP", "node.metrics.address",
     lambda d: d["node"]["metrics"].update(address="203.0.113.1"), "is a virtual IP"),
    ("metrics on an address of this node", "node.metrics.address",
     lambda d: d["node"]["metrics"].update(address="192.0.2.77"), "not an address of this node"),
    ("metrics on an IP address", "node.metrics.address",
     lambda d: d["node"]["metrics"].update(address="localhost"), "not an IP address"),
    ("metrics on a port", "node.metrics.port", lambda d: d["node"]["metrics"].update(port=0), "not a port"),
]


@pytest.mark.parametrize(("rule", "path", "mutate", "words"), RULES, ids=[r[0] for r in RULES])
def test_seed_rule(rule: str, path: str, mutate: typing.Callable[[dict[str, Any]], None], words: str) -> None:
    found = _mutate(path, mutate)
    assert len(found) == 1, found
    assert words in found[0]


def test_metrics_are_off_by_default_and_on_a_cluster_link_only_when_asked() -> None:
    data = node1_data()
    del data["node"]["metrics"]
    assert from_dict(data).node.metrics.address == ""
    data["node"]["metrics"] = {"address": "198.51.100.102", "on_ha_address": True}
    assert not [p for p in validate(from_dict(data)) if p.path.startswith("node.metrics")]


@pytest.mark.parametrize(("mutate", "path", "words"), [
    (lambda d: d["cluster"].pop("key_salt"), "cluster.key_salt", "set a random key_salt on both nodes"),
    (lambda d: d["cluster"]["hotwire"].update(local_address="198.18.0.9/24"), "cluster.hotwire.local_address",
     "not among lan3's addresses (198.18.0.2/24)"),
])
def test_config_check_warns_where_a_working_file_is_fragile(mutate: typing.Callable[[dict[str, Any]], None],
                                                            path: str, words: str) -> None:
    data = node1_data()
    mutate(data)
    _, warnings = check(__import__("tomli_w").dumps(data))
    assert [(w.path, words in w.message) for w in warnings] == [(path, True)]


def test_a_tested_low_delay_can_be_acknowledged_in_the_file_and_a_lower_one_warns_again() -> None:
    data = node1_data()
    data["cluster"].update(update_trigger_delay_s=0.3, delay_warn_below_s=0.3)
    assert check(__import__("tomli_w").dumps(data))[1] == []
    data["cluster"]["update_trigger_delay_s"] = 0.2
    warnings = check(__import__("tomli_w").dumps(data))[1]
    assert [w.path for w in warnings] == ["cluster.update_trigger_delay_s"]
    assert "cluster.delay_warn_below_s = 0.2 acknowledges it" in warnings[0].message


def test_all_errors_are_reported_at_once() -> None:
    data = node1_data()
    data["cluster"]["vrid_offset"] = 255
    data["nat"][0]["interface"] = "lan3"
    data["dhcp_server"][0]["start"] = "not-an-ip"
    with pytest.raises(ConfigError) as err:
        check(__import__("tomli_w").dumps(data))
    paths = {p.path for p in err.value.problems}
    assert {"cluster.vrid_offset", "nat[0].interface", "dhcp_server[0].start"} <= paths


def test_cluster_off_needs_no_hotwire() -> None:
    assert validate(from_dict({"node": {"name": "solo"}})) == []
    assert "node.name: required" in [str(p) for p in validate(from_dict({}))]


def test_lab_text_parses_to_the_seed_values() -> None:
    cfg = parse(NODE1)
    assert cfg.cluster.hotwire.interface == "lan3"
    assert [h.interface for h in cfg.cluster.ha_interfaces] == ["lan1", "lan2"]
    assert cfg.cluster.update_trigger_delay_s == model.DEFAULT_UPDATE_TRIGGER_DELAY_S
    assert "dhcp-server" in cfg.cluster.disabled_applications_in_backup


def test_timing_settings_are_checked_and_off_by_default() -> None:
    assert model.Timing() == model.Timing(sender=model.SenderKind.THREAD, realtime=model.Realtime.OFF,
                                          lock_memory=False, cpu_affinity=(), receive_filter=model.RxFilter.AUTO)

    def bad_kind(data: dict[str, Any]) -> None:
        data["node"]["timing"] = {"receive_filter": "xdp"}

    def bad_values(data: dict[str, Any]) -> None:
        data["node"]["timing"] = {"realtime": "fifo", "realtime_priority": 0, "cpu_affinity": [1, -2]}

    assert _mutate("node.timing", bad_kind) == [
        "node.timing.receive_filter: must be one of 'auto', 'bpf', 'socket', 'none', got 'xdp'"]
    assert _mutate("node.timing", bad_values) == [
        "node.timing.realtime_priority: must be 1..99 (SCHED_FIFO/RR), got 0",
        "node.timing.cpu_affinity[1]: not a CPU number: -2"]


def test_the_spare_loop_at_real_time_priority_needs_the_sender_there_and_room_below_it() -> None:
    assert model.Timing().realtime_spare is False

    def no_sender_rt(data: dict[str, Any]) -> None:
        data["node"]["timing"] = {"realtime_spare": True}

    def no_room(data: dict[str, Any]) -> None:
        data["node"]["timing"] = {"realtime": "fifo", "realtime_priority": 1, "realtime_spare": True}

    assert _mutate("node.timing", no_sender_rt) == [
        'node.timing.realtime_spare: needs node.timing.realtime = "fifo" or "rr" (the loop runs one priority '
        "below the sender thread)"]
    assert _mutate("node.timing", no_room) == [
        "node.timing.realtime_priority: must be 2..99 with realtime_spare (the spare's loop runs one below the "
        "sender)"]


def test_a_delay_under_three_centiseconds_needs_the_sender_at_real_time_priority() -> None:
    data = node1_data()
    data["cluster"].update(update_trigger_delay_s=0.01, delay_warn_below_s=0.01)
    with pytest.raises(ConfigError, match=r'0.01 s needs node.timing.realtime = "fifo" on this node'):
        check(__import__("tomli_w").dumps(data))
    data["node"]["timing"] = {"realtime": "fifo"}
    cfg, warnings = check(__import__("tomli_w").dumps(data))
    assert cfg.cluster.update_trigger_delay_s == 0.01 and warnings == []

"""The seed's wizard as data: each step checked against the host and the configuration's rules, the file
it makes (valid, and the spare's able to take the master's synchronize), an existing file kept."""

from __future__ import annotations

import tomllib

import pytest

from hacore.config import wizard as wz
from hacore.config.validate import check
from hacore.configsync import merge

HOST = wz.Host({"lan1": ("198.51.100.102/24",), "lan2": ("192.0.2.141/24",), "lan3": ("198.18.0.2/24",),
                "wan0": ()}, frozenset({"isc-dhcp-server.service", "squid.service", "nginx.service"}))
SPARE_HOST = wz.Host({"lan1": ("198.51.100.103/24",), "lan2": ("192.0.2.142/24",), "lan3": ("198.18.0.3/24",),
                      "wan0": ()})


def master() -> wz.Answers:
    return wz.Answers(node="fw1", hotwire="lan3", local="198.18.0.2/24", remote="198.18.0.3",
                      ha={"lan2": ["203.0.113.1/24", "203.0.113.2/24"]}, disabled_interfaces=["wan0"],
                      priority="high", passphrase="insecure", key_salt="ab12")


def test_a_complete_master_answer_makes_a_valid_file_with_the_seeds_steps() -> None:
    a = master()
    assert [check_(a, HOST) for check_ in wz.CHECKS] == [[], [], [], [], []]
    cfg, warnings = check(wz.text(a, HOST))
    assert warnings == []
    c = cfg.cluster
    assert (c.hotwire.interface, c.hotwire.local_address, c.hotwire.remote_address) == (
        "lan3", "198.18.0.2/24", "198.18.0.3")
    assert [(h.interface, h.vips) for h in c.ha_interfaces] == [("lan2", ("203.0.113.1/24", "203.0.113.2/24"))]
    assert c.disabled_interfaces_in_backup == ("wan0",) and not c.enabled
    assert cfg.node.priority == "high" and c.passphrase == "insecure"
    # The seed's default list, mapped to this host's units where it has them.
    assert {app.name: app.backend for app in cfg.applications} == {"dhcp-server": "isc-dhcp-server.service",
                                                                   "http-proxy": "squid.service"}
    assert "mailrelay" in c.disabled_applications_in_backup


@pytest.mark.parametrize(("step", "change", "words"), [
    (0, {"hotwire": "eth9"}, "hotwire interface 'eth9' does not exist here"),
    (0, {"local": "198.18.0.9/24"}, "198.18.0.9/24 is not an address of lan3"),
    (0, {"remote": "10.0.0.3"}, "must be another address in 198.18.0.0/24"),
    (1, {"ha": {"lan3": ["198.18.0.10/24"]}}, "'lan3' is the hotwire"),
    (1, {"ha": {"wan0": ["203.0.113.1/24"]}}, "wan0 has no IPv4 address of its own"),
    (1, {"ha": {"lan2": ["192.0.2.141/24"]}}, "own address on lan2"),
    (2, {"disabled_interfaces": ["lan2"]}, "carries the cluster"),
    (3, {"applications": ["dhcp-server", "fortune"]}, "unknown application 'fortune'"),
    (4, {"passphrase": ""}, "a passphrase"),
])
def test_each_step_refuses_what_cannot_work_here(step: int, change: dict, words: str) -> None:
    a = master()
    for k, v in change.items():
        setattr(a, k, v)
    found = wz.CHECKS[step](a, HOST)
    assert any(words in p for p in found), found


def test_a_unit_of_this_host_can_be_named_as_an_application() -> None:
    apps, problems = wz.applications(["nginx"], HOST)
    assert apps == [{"name": "nginx", "backend": "nginx.service"}] and problems == []


def test_the_spares_file_takes_the_masters_synchronize() -> None:
    spare = wz.Answers(node="fw2", spare=True, hotwire="lan3", local="198.18.0.3/24", remote="198.18.0.2",
                       priority="low", applications=[])
    assert wz.hotwire_problems(spare, SPARE_HOST) == [] and wz.final_problems(spare, SPARE_HOST) == []
    mine, _ = check(wz.text(spare, SPARE_HOST))
    merged, _, _ = merge.stage(wz.text(master(), HOST), mine)
    assert merged.node.name == "fw2" and merged.node.priority == "low"
    assert merged.interface("lan2").addresses == ("192.0.2.142/24",)  # its own address, the master's VIPs
    assert merged.cluster.hotwire.local_address == "198.18.0.3/24"


def test_an_existing_file_keeps_its_other_settings_and_comments() -> None:
    before = '# my firewall\n[[objects]]\nname = "web"\naddress = "192.0.2.10"\n'
    host = wz.Host(HOST.interfaces, HOST.units, before)
    after = wz.text(master(), host)
    assert after.startswith("# my firewall") and tomllib.loads(after)["objects"][0]["name"] == "web"
    check(after)


def test_a_master_holding_its_vips_is_not_told_they_are_its_own_addresses() -> None:
    held = wz.Host({**HOST.interfaces, "lan2": ("192.0.2.141/24", "203.0.113.1/24")}, HOST.units,
                   vips=frozenset({"203.0.113.1/24"}))
    a = master()
    assert wz.ha_problems(a, held) == []
    cfg, _ = check(wz.text(a, held))
    assert cfg.interface("lan2").addresses == ("192.0.2.141/24",)


def test_answers_from_a_form_or_file_go_over_the_running_ones_and_bad_ones_are_named() -> None:
    cfg, _ = check(wz.text(master(), HOST))
    base = wz.from_config(cfg)
    a = wz.answers_from({"ha": {"lan2": ["203.0.113.9/24"]}, "passphrase": ""}, base)
    assert a.ha == {"lan2": ["203.0.113.9/24"]} and a.passphrase == "insecure" and a.hotwire == "lan3"
    with pytest.raises(ValueError, match="unknown answers colour"):
        wz.answers_from({"colour": "red"}, base)
    with pytest.raises(ValueError, match="answer 'ha': expected dict"):
        wz.answers_from({"ha": "lan2=203.0.113.9/24"}, base)
    assert wz.problems(wz.answers_from({"hotwire": "eth9"}, base), HOST).startswith(
        "step 1 (hotwire): hotwire interface 'eth9' does not exist here")


def test_a_spare_answered_from_a_form_is_checked_on_its_two_steps_only() -> None:
    base = wz.Answers(node="node2", priority="high")
    a = wz.answers_from({"spare": True, "hotwire": "lan3", "local": "198.18.0.3/24", "remote": "198.18.0.2"}, base)
    assert a.spare and a.priority == "low" and a.applications == []
    assert wz.problems(a, SPARE_HOST) == ""  # no HA interfaces, no passphrase: the master's synchronize brings them
    a.local = "198.18.0.9/24"
    assert wz.problems(a, SPARE_HOST).startswith("step 1 (hotwire): 198.18.0.9/24 is not an address of lan3")
    a.local, a.node = "198.18.0.3/24", ""
    assert wz.problems(a, SPARE_HOST) == "step 5 (priority and passphrase): a node name"
    with pytest.raises(ValueError, match="answer 'spare': expected true or false"):
        wz.answers_from({"spare": "yes"}, base)


def test_a_running_cluster_stays_on_when_its_wizard_changes_it() -> None:
    on = wz.text(master(), HOST).replace("enabled = false", "enabled = true")
    again = wz.text(master(), wz.Host(HOST.interfaces, HOST.units, on))
    assert check(again)[0].cluster.enabled

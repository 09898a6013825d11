"""The web console in a real browser on the lab's client: two hosts made a pair by the pages alone, log in,
watch the pair, hand over from the page with no probe lost, exchange keys, change the delay and synchronize
it from the pages; a wrong password, an ended session and a forged post refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hacore_lab import netns, webconsole
from hacore_lab.topology import NODES, SERVER, Lab, unformed_config
from hacore_lab.wait import wait_until
from tests.conftest import need
from tests.netns.conftest import config_path, hacore, info, roles

BROWSER = Path(__file__).with_name("browser.py")


@pytest.fixture
def consoles(make_cluster: Callable[..., Lab]) -> tuple[Lab, dict[str, dict[str, str]]]:
    need(shutil.which("chromium") is not None, "Debian's chromium is not installed (tools/setup.sh --peers)")
    lab = make_cluster()
    return lab, {node: webconsole.start(lab, node) for node in NODES}


def browse(lab: Lab, scenario: str, console: dict[str, str], **extra: str) -> dict[str, Any]:
    """The scenario in a browser on the client, which reaches either node's console by its management
    address on the inside segment (VIPs or none)."""
    out = netns.run_in(lab, "client", [sys.executable, str(BROWSER), scenario, json.dumps(console | extra)])
    return json.loads(out.stdout)


HA = "lan1 = 198.51.100.101/24, 2001:db8:100::101/64\nlan2 = 203.0.113.1/24, 2001:db8:200::1/64"


def test_two_hosts_become_a_pair_by_the_pages_alone(lab: Lab) -> None:
    """The seed's set-up in a browser: the wizard on the master, then on the spare, the keys exchanged,
    one synchronize, the cluster switched on on both - node1 master, node2 backup, no line typed."""
    need(shutil.which("chromium") is not None, "Debian's chromium is not installed (tools/setup.sh --peers)")
    for node in NODES:
        config_path(lab, node).write_text(unformed_config(lab, node))
        netns.start_daemon(lab, node)
    web = {node: webconsole.start(lab, node) for node in NODES}
    assert info(lab, "node1")["cluster_reason"] == "no HA interfaces configured"

    master = browse(lab, "set_up", web["node1"], node_is="master", hotwire="lan3", local="198.18.0.2/24",
                    remote="198.18.0.3", ha=HA, passphrase="insecure")
    assert '"203.0.113.1/24"' in master["diff"] and 'priority = "high"' in master["diff"], master["diff"]
    assert "this node's public SSH key is made: ssh-ed25519" in master["applied"], master["applied"]
    spare = browse(lab, "set_up", web["node2"], node_is="spare", hotwire="lan3", local="198.18.0.3/24",
                   remote="198.18.0.2")
    assert '+cluster.hotwire.interface = "lan3"' in spare["diff"] and "203.0.113.1" not in spare["diff"], spare
    assert info(lab, "node2")["priority"] == "low"
    assert spare["applied"].startswith("the wizard's configuration runs"), spare["applied"]
    assert info(lab, "node2")["cluster_reason"] == "no HA interfaces configured"  # they come with the master's

    one = browse(lab, "keys", web["node1"])["own"]
    two = browse(lab, "keys", web["node2"], remote=one)
    assert two["message"].startswith("the peer's key is set"), two
    assert browse(lab, "keys", web["node1"], remote=two["own"])["message"].startswith("the peer's key is set")
    wait_until(lambda: all(":" in info(lab, n)["sync_endpoint"] for n in NODES), 20, what="both SSH endpoints")
    sent = browse(lab, "synchronize", web["node1"])
    assert "203.0.113.1/24" in sent["dry_run"] and sent["synchronize"].startswith("synchronized"), sent
    assert info(lab, "node2")["vips"] == info(lab, "node1")["vips"]

    for node in NODES:
        on = browse(lab, "cluster_on", web[node])
        assert on["button"] == "cluster on" and on["message"].startswith("cluster on: "), on
    wait_until(lambda: roles(lab) == ("master", "backup"), 20, what="node1 master, node2 backup")
    seen = browse(lab, "status", web["node2"])  # the spare's own page, reached without the VIPs
    assert seen["cluster_state"] == "backup" and seen["peer"].startswith("node1 master"), seen


def test_the_console_shows_the_pair_and_hands_over_from_the_page_losing_no_probe(consoles: Any) -> None:
    lab, web = consoles
    one = browse(lab, "status", web["node1"])
    assert one["cluster_state"] == "master" and one["peer"].startswith("node2 backup")
    assert one["sync_state_class"] == "error"  # no keys exchanged yet: the seed's red
    assert one["external_requests"] == []  # nothing but the console itself: no CDN
    drawn = browse(lab, "history", web["node1"])  # the history as a timeline, the reasons on hover
    assert drawn["changes"] >= 2 and drawn["histograms"] >= 2
    assert "backup -> master: no peer heard within the delay" in drawn["reasons"], drawn["reasons"]
    ping = subprocess.Popen(netns.exec_argv(lab, "client", ["ping", "-q", "-i", "0.002", "-c", "1500", "-W", "1",
                                                             SERVER]), stdout=subprocess.PIPE, text=True)
    done = browse(lab, "maintenance", web["node1"])
    assert done["message"] == "maintenance on: handed over to the spare" and done["cluster_state"] == "backup"
    assert roles(lab) == ("backup", "master")
    out, _ = ping.communicate(timeout=30)
    assert " 0% packet loss" in out, out
    log = (lab.node_dir("node1") / "daemon.log").read_text()
    assert "event=maintenance on=True who=\"root (sudo: web:admin)\"" in log  # the change names its user


def test_keys_a_delay_and_a_synchronize_from_the_pages_reach_the_spare(consoles: Any) -> None:
    lab, web = consoles
    for node in NODES:
        hacore(lab, node, "cluster", "ssh-key", "generate")
    spare_key = hacore(lab, "node2", "cluster", "ssh-key", "show").stdout.strip()
    page = browse(lab, "keys", web["node1"], remote=spare_key)  # node1's key shown, node2's set, on the page
    assert page["message"].startswith("the peer's key is set")
    hacore(lab, "node2", "cluster", "ssh-key", "set-remote", *page["own"].split())
    wait_until(lambda: all(":" in info(lab, n)["sync_endpoint"] for n in NODES), 20, what="both SSH endpoints")
    done = browse(lab, "delay_and_synchronize", web["node1"], delay="3")
    assert done["delay"] == "UPDATE_TRIGGER_DELAY is 3 s"
    assert "update_trigger_delay_s" in done["dry_run"]  # the dry run showed the change before it was sent
    assert done["synchronize"].startswith("synchronized"), done
    assert info(lab, "node2")["update_trigger_delay_s"] == 3
    events = browse(lab, "history", web["node1"])["events"]  # the configuration's events on the timeline
    assert any(e.startswith("synchronized") for e in events), events
    assert any("replaced by extc set UPDATE_TRIGGER_DELAY (root (sudo: web:admin))" in e for e in events), events


def test_a_wrong_password_an_ended_session_and_a_forged_post_are_refused(consoles: Any) -> None:
    lab, web = consoles
    out = browse(lab, "refusals", web["node1"])
    assert out["wrong_password"] == "wrong user or password"
    assert out["forged"][0] == 403 and "CSRF token does not match" in out["forged"][1]
    assert out["wrong_token"] == 403
    assert out["ended_session_lands_on"].endswith("/login")
    assert info(lab, "node1")["maintenance"] is False and roles(lab) == ("master", "backup")


def test_the_wizard_on_the_page_refuses_as_the_cli_does_and_applies_a_previewed_change(consoles: Any) -> None:
    lab, web = consoles
    ha = "lan1 = 198.51.100.101/24, 2001:db8:100::101/64\nlan2 = 203.0.113.1/24, 203.0.113.2/24, 2001:db8:200::1/64"
    out = browse(lab, "wizard", web["node1"], ha=ha)
    assert out["prefilled"].startswith("lan1 = 198.51.100.101/24")  # it starts from what runs
    assert out["refused"].startswith("step 2 (ha interfaces): HA interface 'eth9' does not exist here")
    assert "203.0.113.2/24" in out["diff"]  # previewed before it was applied
    assert out["applied"].startswith("the wizard's configuration runs: applied live"), out["applied"]
    now = info(lab, "node1")
    assert now["vips"]["lan2"] == ["203.0.113.1/24", "203.0.113.2/24", "2001:db8:200::1/64"]
    wait_until(lambda: "203.0.113.2/24" in info(lab, "node1")["vips_held"].get("lan2", []), 5,
               what="the new VIP held by the master")
    assert roles(lab) == ("master", "backup") and now["cluster_state"] == "master"


def test_a_session_left_unused_ends_in_the_browser(make_cluster: Callable[..., Lab]) -> None:
    need(shutil.which("chromium") is not None, "Debian's chromium is not installed (tools/setup.sh --peers)")
    lab = make_cluster()
    console = webconsole.start(lab, "node1", session_idle_s=2)
    out = browse(lab, "expiry", console, idle_s="2")
    assert out["logged_in_at"].endswith("/keys") and out["after_idle_lands_on"].endswith("/login")

"""Two real daemons in the lab, driven through the CLI and the control socket."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys

import pytest

from hacore.config.validate import check
from hacore.control.protocol import request
from hacore_lab import netns
from hacore_lab.faults import addresses
from hacore_lab.topology import NODES, Lab
from hacore_lab.wait import wait_until
from tests.netns.conftest import config_path, hacore


@pytest.fixture
def cluster(lab: Lab) -> Lab:
    for node in NODES:
        netns.start_daemon(lab, node)
    return lab


def info(lab: Lab, node: str) -> dict:
    return json.loads(hacore(lab, node, "cluster", "info", "--json").stdout)


def test_cluster_info_of_both_nodes(cluster: Lab) -> None:
    one, two = info(cluster, "node1"), info(cluster, "node2")
    assert {k: one[k] for k in ("node", "priority", "hotwire_dev", "maintenance", "peers")} == {
        "node": "node1", "priority": "high", "hotwire_dev": "lan3", "maintenance": False, "peers": ["198.18.0.3"]}
    assert two["priority"] == "low" and two["peers"] == ["198.18.0.2"]
    assert one["sync_state"] == two["sync_state"] == "error"  # no SSH keys exchanged yet
    assert one["config_digest"] == two["config_digest"]  # node-local settings do not count
    assert one["vips"] == {"lan1": ["198.51.100.101/24", "2001:db8:100::101/64"],
                           "lan2": ["203.0.113.1/24", "2001:db8:200::1/64"]}
    wait_until(lambda: info(cluster, "node1")["cluster_state"] == "master", 15, what="node1 master")
    held = info(cluster, "node1")["vips_held"]
    assert held == one["vips"] and info(cluster, "node2")["vips_held"] == {}  # held, beside configured
    assert one["maintainance"] is one["maintenance"] is False  # the seed's key beside hacore's
    assert one["advert_rx"]["path"] in ("bpf", "socket-filter")  # bpf where bcc works (CI: tests/netns/test_timing)
    assert one["advert_sender"]["kind"] == "thread" and one["advert_sender"]["running"]


def test_table_output_starts_like_the_seed(cluster: Lab) -> None:
    lines = hacore(cluster, "node1", "cluster", "info").stdout.splitlines()
    assert lines[0].startswith("attribute") and lines[0].endswith("|value")
    assert [line.split("|")[0].strip() for line in lines[2:6]] == [
        "cluster_state", "sync_state", "hotwire_dev", "maintainance"]  # the seed's names, its spelling too
    assert "\x1b" not in "\n".join(lines)  # piped: no colour codes


def test_socket_is_root_only(cluster: Lab) -> None:
    st = os.stat(cluster.socket("node1"))
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0


def test_update_trigger_delay_is_live_and_persisted(cluster: Lab) -> None:
    assert hacore(cluster, "node1", "extc", "set", "UPDATE_TRIGGER_DELAY", "3").stdout.strip() == "OK"
    assert json.loads(hacore(cluster, "node1", "extc", "get", "UPDATE_TRIGGER_DELAY", "--json").stdout)["value"] == 3
    assert check(config_path(cluster, "node1").read_text())[0].cluster.update_trigger_delay_s == 3.0
    assert info(cluster, "node2")["update_trigger_delay_s"] == 2  # node-local until synchronized
    netns.stop_daemon(cluster, "node1")
    netns.start_daemon(cluster, "node1")
    assert hacore(cluster, "node1", "extc", "get", "UPDATE_TRIGGER_DELAY").stdout.strip() == "Value |3"
    # The seed's own lines, verbatim.
    seed = ("application", "securepoint_firewall", "variable", "UPDATE_TRIGGER_DELAY")
    assert hacore(cluster, "node1", "extc", "value", "set", *seed, "value", "2").stdout.strip() == "OK"
    assert hacore(cluster, "node1", "extc", "value", "get", *seed).stdout.strip() == "Value |2"


def test_a_delay_set_live_paces_the_hotwire_too_so_maintenance_hands_over(cluster: Lab) -> None:
    """extc set fed the new delay to the election alone: the node kept sending its hotwire status at the
    old pace (every 0.67 s for 2 s) while judging the peer's by the new delay (0.1 s), so the master
    refused maintenance for want of a fresh status from a healthy backup."""
    wait_until(lambda: (info(cluster, "node1")["cluster_state"], info(cluster, "node2")["cluster_state"])
               == ("master", "backup"), 15, what="node1 master, node2 backup")
    for node in NODES:
        hacore(cluster, node, "extc", "set", "UPDATE_TRIGGER_DELAY", "0.1")
    assert hacore(cluster, "node1", "cluster", "maintenance", "set", "1").returncode == 0
    wait_until(lambda: info(cluster, "node2")["cluster_state"] == "master", 10, what="node2 to take over")


def _is_up(lab: Lab, node: str, link: str) -> bool:
    out = netns.run_in(lab, node, ["ip", "-j", "link", "show", "dev", link]).stdout
    return "UP" in json.loads(out)[0]["flags"]


def test_the_seeds_interface_flag_line_takes_a_wireguard_link_down_on_the_spare(cluster: Lab) -> None:
    wait_until(lambda: info(cluster, "node2")["cluster_state"] == "backup", 15, what="node2 backup")
    netns.run_in(cluster, "node2", ["ip", "link", "add", "wg0", "type", "veth", "peer", "name", "wg0-peer"])
    netns.run_in(cluster, "node2", ["ip", "link", "set", "wg0", "up"])
    before = config_path(cluster, "node2").read_text()
    bad = hacore(cluster, "node2", "interface", "set", "name", "wg0", "flags", "DISABLED_IF_BOGUS", check=False)
    assert bad.returncode == 1 and "unknown flag 'DISABLED_IF_BOGUS'" in bad.stderr
    ha = hacore(cluster, "node2", "interface", "set", "name", "lan1", "flags", "DISABLED_IF_SPARE", check=False)
    assert ha.returncode == 1 and "carries the cluster" in ha.stderr
    assert config_path(cluster, "node2").read_text() == before  # refused before anything was written
    assert hacore(cluster, "node2", "interface", "set", "name", "wg0", "flags", "DISABLED_IF_SPARE").stdout.strip() \
        == "OK"
    assert check(config_path(cluster, "node2").read_text())[0].interface("wg0").flags == ("DISABLED_IF_SPARE",)
    wait_until(lambda: not _is_up(cluster, "node2", "wg0"), 10, what="wg0 down on the spare")
    hacore(cluster, "node2", "interface", "set", "name", "wg0", "flags", "")
    assert check(config_path(cluster, "node2").read_text())[0].interface("wg0").flags == ()


@pytest.mark.parametrize(("value", "message"), [
    ("-1", "not a plain decimal number of seconds: '-1'"),
    ("0", "must be between 0.01 and 122.85 seconds"),
    ("0.02", "0.02 s needs node.timing.realtime = \"fifo\" on this node"),
    ("abc", "not a plain decimal number of seconds: 'abc'"),
    ("nan", "not a plain decimal number of seconds: 'nan'"),
    ("1e9", "not a plain decimal number of seconds: '1e9'"),
    ("1_0", "not a plain decimal number of seconds: '1_0'"),
    (" 3", "not a plain decimal number of seconds: ' 3'"),
    ("200", "must be between 0.01 and 122.85 seconds"),
])
def test_bad_delays_are_refused_and_change_nothing(cluster: Lab, value: str, message: str) -> None:
    before = config_path(cluster, "node1").read_text()
    proc = hacore(cluster, "node1", "extc", "set", "UPDATE_TRIGGER_DELAY", value, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("hacore: error: UPDATE_TRIGGER_DELAY") and message in proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    assert config_path(cluster, "node1").read_text() == before
    assert info(cluster, "node1")["update_trigger_delay_s"] == 2


def test_low_delay_warns_but_applies(cluster: Lab) -> None:
    out = hacore(cluster, "node1", "extc", "set", "UPDATE_TRIGGER_DELAY", "0.6").stdout
    assert "below the safe floor of 2 s" in out
    assert info(cluster, "node1")["update_trigger_delay_s"] == 0.6


def test_unknown_variable_is_refused(cluster: Lab) -> None:
    proc = hacore(cluster, "node1", "extc", "get", "NO_SUCH", check=False)
    assert proc.returncode == 1 and "unknown variable 'NO_SUCH'" in proc.stderr


def test_named_configurations_save_list_diff_load(cluster: Lab) -> None:
    assert hacore(cluster, "node1", "system", "config", "save", "--name", "base").stdout.startswith("saved base")
    hacore(cluster, "node1", "extc", "set", "UPDATE_TRIGGER_DELAY", "4")
    assert hacore(cluster, "node1", "system", "config", "save", "name", "slow").stdout.startswith("saved slow")  # seed
    rows = json.loads(hacore(cluster, "node1", "system", "config", "list", "--json").stdout)
    # The configuration extc set replaced is kept as revision @1, beside the named ones.
    assert {r["name"]: r["start"] for r in rows} == {"base": False, "slow": True, "@1": False}
    assert all(r["who"] == "root" for r in rows)
    assert [r["what"] for r in rows if r["name"] == "@1"] == ["replaced by extc set UPDATE_TRIGGER_DELAY"]
    diff = hacore(cluster, "node1", "system", "config", "diff", "base", "slow").stdout
    assert "-cluster.update_trigger_delay_s = 2.0" in diff and "+cluster.update_trigger_delay_s = 4.0" in diff
    assert "loaded base" in hacore(cluster, "node1", "system", "config", "load", "base").stdout
    assert info(cluster, "node1")["update_trigger_delay_s"] == 2
    assert check(config_path(cluster, "node1").read_text())[0].cluster.update_trigger_delay_s == 2.0
    proc = hacore(cluster, "node1", "system", "config", "load", "nope", check=False)
    assert proc.returncode == 1 and "no configuration named 'nope'" in proc.stderr


def _raw(lab: Lab, node: str, payload: bytes) -> bytes:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(str(lab.socket(node)))
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    return data


def test_bad_requests_are_answered_counted_and_survived(cluster: Lab) -> None:
    bad = [b"not json\n", b"[1,2]\n", b'{"cmd": 5}\n', b'{"cmd": "nope"}\n', b'{"cmd": "info", "args": 3}\n',
           b'{"cmd": "extc.get", "args": {"bogus": 1}}\n', b"\n", b"x" * 200_000 + b"\n", b'{"cmd":',
           b"[" * 100_000 + b"\n", b'{"cmd": "info", "extra": 1}\n']
    for payload in bad:
        reply = json.loads(_raw(cluster, "node1", payload))
        assert reply["ok"] is False and reply["error"] and "internal error" not in reply["error"]
    data = request(cluster.socket("node1"), "info")
    assert data["control_bad_requests"] == len(bad)
    assert data["node"] == "node1"


@pytest.mark.parametrize(("args", "message"), [
    ({"variable": "UPDATE_TRIGGER_DELAY", "value": True}, "argument 'value' must be a str, got bool"),
    ({"variable": "UPDATE_TRIGGER_DELAY", "value": 1}, "argument 'value' must be a str, got int"),
    ({"variable": ["UPDATE_TRIGGER_DELAY"], "value": "3"}, "argument 'variable' must be a str, got list"),
    ({"variable": {"a": {"b": {"c": 1}}}, "value": "3"}, "argument 'variable' must be a str, got dict"),
    ({"value": "3"}, "argument 'variable' is required"),
])
def test_requests_that_do_not_fit_the_schema_are_refused_in_one_line(cluster: Lab, args: dict, message: str) -> None:
    reply = json.loads(_raw(cluster, "node1", json.dumps({"cmd": "extc.set", "args": args}).encode() + b"\n"))
    assert reply == {"ok": False, "error": f"extc.set: {message}"}
    assert info(cluster, "node1")["update_trigger_delay_s"] == 2


def test_invalid_start_config_is_refused_with_its_path(lab: Lab) -> None:
    cfg = config_path(lab, "node2")
    cfg.write_text(cfg.read_text().replace("vrid_offset = 50", "vrid_offset = 255"))
    proc = subprocess.run(netns.exec_argv(lab, "node2", [
        sys.executable, "-m", "hacore", "--socket", str(lab.socket("node2")), "daemon", "-c", str(cfg),
        "--state-dir", str(lab.node_dir("node2") / "state")]), capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "event=config_invalid path=cluster.vrid_offset" in proc.stderr
    assert not lab.socket("node2").exists()


def test_a_missing_ha_interface_is_waited_for_and_the_election_starts_when_it_appears(lab: Lab) -> None:
    cfg = config_path(lab, "node1")
    cfg.write_text(cfg.read_text().replace('"lan2"', '"lan9"'))
    netns.start_daemon(lab, "node1")
    data = info(lab, "node1")
    assert data["cluster_state"] == "none"
    assert data["cluster_reason"] == "waiting for interface lan9"
    assert "cluster_reason: waiting for interface lan9" in hacore(lab, "node1", "cluster", "info").stdout
    # The network configuration brings the interface up under its configured name: no restart needed.
    for cmd in ("set lan2 down", "set lan2 name lan9", "set lan9 up"):
        netns.run_in(lab, "node1", ["ip", "link", *cmd.split()])
    wait_until(lambda: info(lab, "node1")["cluster_state"] == "master", 10, what="node1 master once lan9 exists")
    assert addresses(lab, "node1", "lan9") >= {"203.0.113.1/24"}
    assert info(lab, "node1")["cluster_reason"] == ""


def test_a_second_daemon_on_the_same_state_directory_is_refused(cluster: Lab) -> None:
    state = cluster.node_dir("node1") / "state"
    proc = subprocess.run(netns.exec_argv(cluster, "node1", [
        sys.executable, "-m", "hacore", "--socket", str(cluster.node_dir("node1") / "second.sock"), "daemon",
        "-c", str(config_path(cluster, "node1")), "--state-dir", str(state)]),
        capture_output=True, text=True, timeout=30)
    pid = netns.recorded_pids(cluster)["node1"]
    assert proc.returncode == 2
    assert f'error="another hacore daemon (pid {pid}) holds {state}"' in proc.stderr
    assert info(cluster, "node1")["node"] == "node1"  # the first one still serves on its socket


def test_a_corrupt_runtime_file_is_set_aside_not_fatal(lab: Lab) -> None:
    state = lab.node_dir("node1") / "state"
    state.mkdir(parents=True, exist_ok=True)
    (state / "runtime.json").write_text('{"maintenance": tr')  # torn by a crash on a bad disk
    netns.start_daemon(lab, "node1")
    assert info(lab, "node1")["maintenance"] is False
    assert (state / "runtime.json.corrupt").read_text() == '{"maintenance": tr'
    assert info(lab, "node1")["control_bad_requests"] == 0


def test_under_systemd_it_says_ready_once_the_election_runs_and_pings_the_watchdog(lab: Lab, tmp_path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(20)
        netns.start_daemon(lab, "node1", env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000"})
        first = sock.recv(4096).decode()
        assert first.startswith("READY=1") and "election running" in first
        assert request(lab.socket("node1"), "info")["cluster_state"] in ("backup", "master")  # it runs
        wait_until(lambda: sock.recv(4096) == b"WATCHDOG=1", 10, what="a watchdog ping")
        netns.stop_daemon(lab, "node1")
        wait_until(lambda: sock.recv(4096) == b"STOPPING=1", 10, what="STOPPING=1 on the way out")

"""Configuration sync over SSH on the hotwire, as the seed's set-up walks
through it: keys exchanged with the CLI, sync_state error -> pending ->
synchronized, a change on the master reaching the spare with the spare's own
settings kept, priority inversion, and what an attacker or a cut cable
cannot do."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from collections.abc import Callable

import asyncssh
import tomli_w

from hacore.config.store import set_value
from hacore.config.validate import check
from hacore_lab import faults, netns
from hacore_lab.topology import Lab
from hacore_lab.wait import wait_until
from tests.netns.conftest import FAST, config_path, hacore, info, roles

HOTWIRE = {"node1": "198.18.0.2", "node2": "198.18.0.3"}
WAIT_S = 15  # a bound on a hang, not a speed requirement


def exchange_keys(lab: Lab) -> None:
    keys = {}
    for node in ("node1", "node2"):
        keys[node] = hacore(lab, node, "cluster", "ssh-key", "generate").stdout.strip()
        assert keys[node].startswith("ssh-ed25519 ")
        assert hacore(lab, node, "cluster", "ssh-key", "show").stdout.strip() == keys[node]
    for node, other in (("node1", "node2"), ("node2", "node1")):
        hacore(lab, node, "cluster", "ssh-key", "set-remote", *keys[other].split())


def state(lab: Lab, node: str) -> dict:
    return json.loads(hacore(lab, node, "system", "config", "sync-state", "--json").stdout)


def change_delay_on(lab: Lab, node: str, seconds: float) -> None:
    hacore(lab, node, "extc", "set", "UPDATE_TRIGGER_DELAY", str(seconds))


def test_the_seeds_walkthrough_keys_state_and_sync(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    first = state(lab, "node2")
    assert first["sync_state"] == "error" and "SSH keys not exchanged" in first["sync_reason"]
    assert info(lab, "node1")["sync_state"] == "error"
    exchange_keys(lab)
    key_file = lab.node_dir("node1") / "state" / "ssh" / "id_hacore"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert info(lab, "node1")["ssh_keys"] == {"local": True, "remote": True}

    change_delay_on(lab, "node1", 0.9)  # a change on the master: the nodes now differ
    pending = state(lab, "node1")
    assert pending["sync_state"] == "pending" and "cluster.update_trigger_delay_s" in pending["sync_reason"]

    dry = json.loads(hacore(lab, "node1", "system", "config", "synchronize", "--dry-run", "--json").stdout)
    assert "+cluster.update_trigger_delay_s = 0.9" in dry["diff"] and "insecure" not in dry["diff"]
    assert check(config_path(lab, "node2").read_text())[0].cluster.update_trigger_delay_s == FAST["delay_s"]

    before = check(config_path(lab, "node2").read_text())[0]
    out = hacore(lab, "node1", "system", "config", "synchronize").stdout
    assert "synchronized: node2" in out and "priority low" in out
    after = check(config_path(lab, "node2").read_text())[0]
    assert after.cluster.update_trigger_delay_s == 0.9  # arrived
    assert after.interfaces == before.interfaces and after.node == before.node  # its own addresses, name, rank
    assert after.cluster.hotwire == before.cluster.hotwire
    for node in ("node1", "node2"):
        assert state(lab, node)["sync_state"] == "synchronized"
        assert info(lab, node)["update_trigger_delay_s"] == 0.9
    assert roles(lab) == ("master", "backup")  # taken live: no switchover
    assert [e["new"] for e in json.loads(hacore(lab, "node2", "cluster", "history", "--json").stdout)] == ["backup"]
    # The other direction, and the seed's role swap: the spare set to High synchronises; the master turns Low.
    netns.stop_daemon(lab, "node2")  # the administrator sets the spare to High (a node-local setting)
    text = set_value(config_path(lab, "node2").read_text(), ("node", "priority"), "high")
    config_path(lab, "node2").write_text(text)
    netns.start_daemon(lab, "node2")
    wait_until(lambda: roles(lab) == ("master", "backup"), WAIT_S, what="node2 back as backup (node1 holds)")
    out = hacore(lab, "node2", "system", "config", "synchronize").stdout
    assert "node1" in out and "priority low" in out
    assert check(config_path(lab, "node1").read_text())[0].node.priority.value == "low"
    wait_until(lambda: roles(lab) == ("backup", "master"), WAIT_S, what="the roles to swap")


def test_a_wrong_key_a_bad_config_and_a_cut_transfer_change_nothing(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    exchange_keys(lab)
    start2 = config_path(lab, "node2").read_text()
    # A stranger's key is refused, with a line that says what to do.
    stranger = lab.run_dir / "stranger"
    stranger.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
    proc = run_client(lab, stranger, "hacore-sync hello", b"{}")
    assert proc["error"] == "PermissionDenied"
    # node1 with the wrong remote key pinned: its CLI says the peer's host key is not the pinned one.
    wrong = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    hacore(lab, "node1", "cluster", "ssh-key", "set-remote", *wrong.split())
    bad = hacore(lab, "node1", "system", "config", "synchronize", check=False)
    assert bad.returncode == 1 and "not the pinned remote key" in bad.stderr
    # With the right key: an invalid configuration is rejected there, nothing changes.
    node1_key = lab.node_dir("node1") / "state" / "ssh" / "id_hacore"
    req = {"text": "[cluster]\nvrid_offset = 300\n", "digest": "x", "node": "mallory"}
    reply = run_client(lab, node1_key, "hacore-sync apply", body(req))
    assert reply["ok"] is False and "invalid" in reply["error"]
    # A transfer cut short (half the request, then the connection closes) is never applied.
    good = body({"text": start2.replace("0.6", "0.9"), "digest": "y", "node": "node1"})
    cut = run_client(lab, node1_key, "hacore-sync apply", good[: len(good) // 2])
    assert cut["ok"] is False and "cut short" in cut["error"]
    # Only the sync operations: no shell.
    shell = run_client(lab, node1_key, None, b"")
    assert shell["exit_status"] == 2
    assert config_path(lab, "node2").read_text() == start2
    assert roles(lab) == ("master", "backup")
    # A peer whose firewall eats the SSH handshake: the CLI names the step that got no answer.
    faults.nft(lab, "node2", "table inet hacore_test { chain in { type filter hook input priority -10; "
                             "tcp dport 22 drop; }; }")
    silent = hacore(lab, "node1", "system", "config", "synchronize", check=False)
    assert silent.returncode == 1 and "198.18.0.3:22 did not answer within" in silent.stderr
    assert "(connecting)" in silent.stderr


def test_the_hotwire_admits_only_ssh_and_3780(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    exchange_keys(lab)  # the endpoint listens once the node has its key
    listener = subprocess.Popen(netns.exec_argv(lab, "node2", [sys.executable, "-c", LISTEN, HOTWIRE["node2"]]),
                                stdout=subprocess.PIPE, text=True)
    try:
        assert listener.stdout is not None and listener.stdout.readline().strip() == "listening"
        assert not connects(lab, "node1", HOTWIRE["node2"], 2222)  # dropped on the hotwire
        assert connects(lab, "node1", HOTWIRE["node2"], 22)  # the sync endpoint
    finally:
        listener.kill()
        listener.wait()


LISTEN = """
import socket, sys, time
s = socket.create_server((sys.argv[1], 2222)); print("listening", flush=True); time.sleep(60)
"""


def connects(lab: Lab, node: str, host: str, port: int) -> bool:
    code = (f"import socket\ntry:\n socket.create_connection(({host!r}, {port}), timeout=1).close(); print('yes')\n"
            "except OSError:\n print('no')")
    return netns.run_in(lab, node, [sys.executable, "-c", code]).stdout.strip() == "yes"


def body(req: dict) -> bytes:
    from hacore.configsync.exchange import versions

    return json.dumps({**req, "versions": versions(), "length": len(req["text"])}).encode()


CLIENT = """
import asyncio, json, sys, asyncssh
async def main():
    key, host, command = sys.argv[1], sys.argv[2], sys.argv[3]
    data = sys.stdin.buffer.read()
    try:
        async with asyncssh.connect(host, 22, username="hacore", client_keys=[key], known_hosts=None,
                                    config=(), agent_path=None) as conn:
            done = await conn.run(None if command == "-" else command, input=data, encoding=None, check=False)
    except asyncssh.Error as exc:
        print(json.dumps({"error": type(exc).__name__})); return
    try:
        out = json.loads(done.stdout)
    except ValueError:
        out = {}
    print(json.dumps({**out, "exit_status": done.exit_status}))
asyncio.run(main())
"""


def run_client(lab: Lab, key: object, command: str | None, data: bytes) -> dict:
    """An SSH client of our own from node1, as an attacker or a broken peer would be."""
    proc = subprocess.run(netns.exec_argv(lab, "node1", [sys.executable, "-c", CLIENT, str(key), HOTWIRE["node2"],
                                                         command or "-"]),
                          input=data, capture_output=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)



def test_a_new_vip_and_ping_target_apply_live_and_both_changed_is_a_conflict(
        make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    exchange_keys(lab)
    hacore(lab, "node1", "system", "config", "synchronize")
    # A configuration placed in node1's store (its documented layout) with one more VIP and a ping target.
    data = tomllib.loads(config_path(lab, "node1").read_text())
    data["cluster"]["ping_check"]["targets"] = ["198.51.100.1"]
    data["cluster"]["ha_interfaces"][0]["vips"].append("198.51.100.111/24")
    (lab.node_dir("node1") / "state" / "configs" / "morevip.toml").write_text(tomli_w.dumps(data))
    out = hacore(lab, "node1", "system", "config", "load", "morevip").stdout
    assert "applied live" in out, out
    wait_until(lambda: "198.51.100.111/24" in netns.ip_cmd(["-n", lab.ns("node1"), "addr", "show", "lan1"]),
               WAIT_S, what="the new VIP on the master")
    assert roles(lab) == ("master", "backup")
    assert [e["new"] for e in json.loads(hacore(lab, "node1", "cluster", "history", "--json").stdout)] == [
        "backup", "master"]  # no switchover: the start, nothing since
    # node2 changed too, on its own: a sync from node1 would overwrite that, so it needs --force.
    change_delay_on(lab, "node2", 0.9)
    conflict = hacore(lab, "node1", "system", "config", "synchronize", check=False)
    assert conflict.returncode == 1 and "conflict" in conflict.stderr and "--force" in conflict.stderr
    hacore(lab, "node1", "system", "config", "synchronize", "--force")
    got = check(config_path(lab, "node2").read_text())[0]
    assert got.cluster.update_trigger_delay_s == FAST["delay_s"] and got.cluster.ping_check.targets == (
        "198.51.100.1",)
    assert roles(lab) == ("master", "backup")

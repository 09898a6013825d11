"""A configuration change never costs the cluster: a synchronize the spare
could not stand by with is refused before anything changes, no unloaded
edit is lost, every replaced configuration is kept, a synchronize never
reverts the peer's newer change, the hotwire answers only the peer, and a
release never takes an own address with it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable

from hacore.config.validate import check
from hacore_lab import faults, netns
from hacore_lab.topology import SERVER, Lab
from hacore_lab.wait import wait_until
from tests.conftest import is_root, need
from tests.netns.conftest import FAST, Cleanup, config_path, hacore, info, roles
from tests.netns.test_configsync import exchange_keys, state
from tests.netns.test_election import holds_vips, wait_roles

WAIT_S = 15  # a bound on a hang, not a speed requirement


def delay_of(lab: Lab, node: str) -> float:
    return check(config_path(lab, node).read_text())[0].cluster.update_trigger_delay_s


def add_ha_link(text: str, link: str, address: str, vip: str) -> str:
    return text + f'\n[[interfaces]]\nname = "{link}"\naddresses = ["{address}"]\n' \
                  f'\n[[cluster.ha_interfaces]]\ninterface = "{link}"\nvips = ["{vip}"]\n'


def test_a_synchronize_the_spare_cannot_stand_by_with_is_refused_and_it_still_takes_over(
        make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    exchange_keys(lab)
    hacore(lab, "node1", "system", "config", "synchronize")
    before = config_path(lab, "node2").read_text()
    # node1 gets an HA interface node2 does not have.
    netns.run_in(lab, "node1", ["ip", "link", "add", "lan4", "type", "veth", "peer", "name", "lan4p"])
    netns.run_in(lab, "node1", ["ip", "addr", "add", "198.18.5.2/24", "dev", "lan4"])
    for dev in ("lan4", "lan4p"):
        netns.run_in(lab, "node1", ["ip", "link", "set", dev, "up"])
    config_path(lab, "node1").write_text(add_ha_link(config_path(lab, "node1").read_text(), "lan4",
                                                     "198.18.5.2/24", "198.18.5.1/24"))
    hacore(lab, "node1", "system", "config", "load", "start")
    wait_roles(lab, ("master", "backup"), WAIT_S)
    dry = hacore(lab, "node1", "system", "config", "synchronize", "--dry-run", check=False)
    assert dry.returncode == 1 and "lan4 does not exist on node2" in dry.stderr, dry.stderr
    sync = hacore(lab, "node1", "system", "config", "synchronize", check=False)
    assert sync.returncode == 1 and "node2 could not stand by with it: lan4 does not exist on node2" in sync.stderr
    assert config_path(lab, "node2").read_text() == before  # nothing changed there
    now = state(lab, "node1")
    assert now["sync_state"] == "error" and "lan4 does not exist on node2" in now["sync_reason"]
    # A VIP that is the spare's own address is refused by the spare.
    own = config_path(lab, "node1").read_text().replace('"198.51.100.101/24", "2001:db8:100::101/64"',
                                                        '"198.51.100.101/24", "198.51.100.103/24"')
    config_path(lab, "node1").write_text(own)
    hacore(lab, "node1", "system", "config", "load", "start")
    refused = hacore(lab, "node1", "system", "config", "synchronize", "--force", check=False)
    assert refused.returncode == 1 and "198.51.100.103 is this node's own address on lan1" in refused.stderr
    assert config_path(lab, "node2").read_text() == before
    # The master dies: the spare, still on a configuration it can run, takes over.
    faults.go_dark(lab, "node1")
    wait_until(lambda: roles(lab)[1] == "master" and holds_vips(lab, "node2"), WAIT_S,
               what="node2 to take over with the VIPs")


def test_an_unloaded_edit_survives_extc_set_and_every_replaced_configuration_is_kept(
        make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    path = config_path(lab, "node1")
    edited = path.read_text().replace("targets = []", "targets = []\ninterval_s = 2.0  # the core switch is slow")
    path.write_text(edited)  # an edit, not loaded yet
    refused = hacore(lab, "node1", "extc", "set", "UPDATE_TRIGGER_DELAY", "0.9", check=False)
    assert refused.returncode == 1 and "holds edits that are not loaded" in refused.stderr
    assert path.read_text() == edited and info(lab, "node1")["update_trigger_delay_s"] == 0.6
    hacore(lab, "node1", "system", "config", "load", "start")
    hacore(lab, "node1", "extc", "set", "UPDATE_TRIGGER_DELAY", "0.9")
    after = path.read_text()
    assert "interval_s = 2.0  # the core switch is slow" in after and "update_trigger_delay_s = 0.9" in after
    rows = json.loads(hacore(lab, "node1", "system", "config", "list", "--json").stdout)
    revs = {r["name"]: r for r in rows if r["name"].startswith("@")}
    assert set(revs) == {"@1", "@2"}
    assert revs["@1"]["what"] == "replaced by config load start" and revs["@1"]["who"]
    assert revs["@2"]["what"] == "replaced by extc set UPDATE_TRIGGER_DELAY"
    hacore(lab, "node1", "system", "config", "rollback")  # back to before the extc set
    assert info(lab, "node1")["update_trigger_delay_s"] == 0.6 and delay_of(lab, "node1") == 0.6
    assert "# the core switch is slow" in path.read_text()
    assert roles(lab) == ("master", "backup")


def test_a_synchronize_never_reverts_newer_changes_and_crossed_forces_never_cross(
        make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    exchange_keys(lab)
    hacore(lab, "node1", "system", "config", "synchronize")
    hacore(lab, "node2", "extc", "set", "UPDATE_TRIGGER_DELAY", "0.9")  # a change on the spare
    stale = hacore(lab, "node1", "system", "config", "synchronize", check=False)
    assert stale.returncode == 1 and "node2 has a newer configuration than node1" in stale.stderr, stale.stderr
    assert delay_of(lab, "node2") == 0.9
    hacore(lab, "node2", "system", "config", "synchronize")
    assert delay_of(lab, "node1") == 0.9
    # Equal content reached on both sides is never a conflict.
    for node in ("node1", "node2"):
        hacore(lab, node, "extc", "set", "UPDATE_TRIGGER_DELAY", "1.2")
    hacore(lab, "node1", "system", "config", "synchronize")
    # Both change, both force at once: one wins whole, or both are refused; never crossed.
    hacore(lab, "node1", "extc", "set", "UPDATE_TRIGGER_DELAY", "0.8")
    hacore(lab, "node2", "extc", "set", "UPDATE_TRIGGER_DELAY", "0.7")
    procs = {node: subprocess.Popen([sys.executable, "-m", "hacore", "--socket", str(lab.socket(node)), "system",
                                     "config", "synchronize", "--force"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for node in ("node1", "node2")}
    done = {node: p.communicate(timeout=60) for node, p in procs.items()}
    mine = {"node1": 0.8, "node2": 0.7}
    won = [node for node, p in procs.items() if p.returncode == 0]
    final = {node: delay_of(lab, node) for node in ("node1", "node2")}
    if won:  # one configuration, whole, on both (a second "win" only sent back what it had just received)
        assert final["node1"] == final["node2"] and final["node1"] in {mine[n] for n in won}, (won, done)
        revisions = {out.split("revision ")[1].split()[0] for node, (out, _err) in done.items() if node in won}
        assert len(revisions) == 1, done
    else:
        assert final == mine, done
    for node, (_out, err) in done.items():
        if node not in won:
            assert "busy" in err or "conflict" in err or "newer" in err, err


def test_the_hotwire_answers_only_the_peer_and_is_not_replicated(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    exchange_keys(lab)
    assert state(lab, "node2")["sync_state"] == "synchronized"  # the peer reaches node1's endpoint
    probe = ("import socket,sys\ns=socket.socket(); s.settimeout(2)\n"
             "try:\n s.connect(('198.18.0.2', 22)); print('answered', s.recv(64))\n"
             "except OSError as e:\n print('no answer', type(e).__name__)\n")
    out = netns.run_in(lab, "client", [sys.executable, "-c", probe]).stdout
    assert out.startswith("no answer"), out  # the LAN, routed through the master, gets nothing
    netns.run_in(lab, "router", ["ip", "route", "add", "198.18.0.0/24", "via", "198.51.100.101"])
    out = netns.run_in(lab, "router", [sys.executable, "-c", probe]).stdout
    assert out.startswith("no answer"), out  # nor does the outside, even with a route
    for node in ("node1", "node2"):
        flows = netns.run_in(lab, node, ["conntrack", "-L", "-d", "198.18.0.2"], check=False).stdout
        assert "dport=22" not in flows and "dport=3780" not in flows, flows


def test_an_own_address_re_added_as_secondary_survives_the_release(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    wait_until(lambda: holds_vips(lab, "node1"), WAIT_S, what="the VIPs on node1")
    assert info(lab, "node1")["promote_secondaries"]["lan1"].startswith("on")
    netns.run_in(lab, "node1", ["ip", "addr", "del", "198.51.100.102/24", "dev", "lan1"])
    netns.run_in(lab, "node1", ["ip", "addr", "add", "198.51.100.102/24", "dev", "lan1"])  # now a secondary
    faults.signal_daemon(lab, "node1", signal.SIGTERM)  # releases every VIP, the primary among them
    wait_until(lambda: roles(lab)[1] == "master", WAIT_S, what="node2 to take over")
    assert "198.51.100.102/24" in faults.addresses(lab, "node1", "lan1")


def test_a_passphrase_change_done_the_documented_way_never_makes_both_nodes_master(
        make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    exchange_keys(lab)
    hacore(lab, "node1", "system", "config", "synchronize")
    ping = subprocess.Popen(netns.exec_argv(lab, "client", ["ping", "-q", "-i", "0.002", "-c", "2500", "-W", "1",
                                                             SERVER]), stdout=subprocess.PIPE, text=True)
    path = config_path(lab, "node1")
    path.write_text(path.read_text().replace('passphrase = "insecure"', 'passphrase = "a new one"'))
    assert "applied live" in hacore(lab, "node1", "system", "config", "load", "start").stdout
    assert "until the peer has the new ones" in info(lab, "node1")["key_change"]
    # Three whole delays with only node1 on the new passphrase: node2 still takes its adverts, nobody moves.
    heard = info(lab, "node2")["adverts_rx"]
    wait_until(lambda: info(lab, "node2")["adverts_rx"] > heard + 12, WAIT_S,
               what="node2 to accept three delays of adverts")
    assert roles(lab) == ("master", "backup") and not info(lab, "node2")["split_brain"]
    assert "cluster.passphrase" in state(lab, "node1")["sync_reason"]  # pending: the passphrase differs
    hacore(lab, "node1", "system", "config", "synchronize")
    wait_until(lambda: info(lab, "node1")["key_change"] == "" and info(lab, "node2")["key_change"] == "", WAIT_S,
               what="both nodes on the new keys alone")
    out, _ = ping.communicate(timeout=60)
    assert " 0% packet loss" in out, out
    assert roles(lab) == ("master", "backup")
    assert [e["new"] for e in json.loads(hacore(lab, "node2", "cluster", "history", "--json").stdout)] == ["backup"]
    # The old passphrase no longer opens anything: a restart of node2 on the new one is heard as before.
    netns.stop_daemon(lab, "node2")
    netns.start_daemon(lab, "node2")
    wait_until(lambda: roles(lab) == ("master", "backup"), WAIT_S, what="node2 back as backup")


def test_a_spare_on_another_passphrase_says_why_and_leaves_the_live_master_alone(
        make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    netns.stop_daemon(lab, "node2")  # edited by hand and restarted: no rotation to carry it over
    path = config_path(lab, "node2")
    path.write_text(path.read_text().replace('passphrase = "insecure"', 'passphrase = "a typo"'))
    netns.start_daemon(lab, "node2")
    wait_until(lambda: "adverts fail authentication" in info(lab, "node2")["held_back"], WAIT_S,
               what="node2 to say why it does not take over")
    refused = info(lab, "node2")["drops"]["lan1"]["bad_auth"]
    wait_until(lambda: info(lab, "node2")["drops"]["lan1"]["bad_auth"] > refused + 12, WAIT_S,
               what="three delays of refused adverts")
    assert roles(lab) == ("master", "backup") and holds_vips(lab, "node1")
    assert not any(a.startswith("203.0.113.1/") for a in faults.addresses(lab, "node2", "lan2"))
    faults.go_dark(lab, "node1")  # a dead master is still taken over from
    wait_until(lambda: roles(lab)[1] == "master" and holds_vips(lab, "node2"), WAIT_S, what="node2 to take over")


def test_a_high_node_returning_without_the_hotwire_leaves_the_traffic_where_the_connections_are(
        make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    faults.go_dark(lab, "node1")
    wait_until(lambda: roles(lab)[1] == "master" and holds_vips(lab, "node2"), WAIT_S, what="node2 to take over")
    for link in ("lan1", "lan2"):
        faults.set_port(lab, "node1", link, True)  # back on the LANs, the hotwire still cut: no table
    path = config_path(lab, "node1")
    path.write_text(path.read_text().replace("conntrack = true", "conntrack = true\npreempt_hold_s = 1.0"))
    netns.start_daemon(lab, "node1")
    wait_until(lambda: "connection table" in info(lab, "node1")["held_back"], WAIT_S,
               what="node1 to say it waits for the table")
    heard = info(lab, "node1")["adverts_rx"]  # past min_hold_s and preempt_hold_s, several times over
    wait_until(lambda: info(lab, "node1")["adverts_rx"] > heard + 30, WAIT_S, what="node1 to hear node2 a while")
    assert roles(lab) == ("backup", "master") and holds_vips(lab, "node2")
    faults.set_hotwire(lab, True)  # the table arrives: now it takes the traffic back
    wait_until(lambda: roles(lab) == ("master", "backup") and holds_vips(lab, "node1"), 3 * WAIT_S,
               what="node1 to preempt with the whole table")


def test_a_full_state_directory_is_a_clear_error_and_nothing_is_half_written(cleanup: Cleanup) -> None:
    need(is_root(), "network namespace tests need root")
    lab = Lab(f"t{os.getpid()}disk")
    cleanup.add(f"lab {lab.name}", lambda: netns.down(lab))
    netns.up(lab, **FAST)
    state_dir = lab.node_dir("node1") / "state"
    state_dir.mkdir(mode=0o700)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(state_dir)], check=True)
    cleanup.add("the small state directory", lambda: subprocess.run(["umount", "-l", str(state_dir)], check=True))
    for node in ("node1", "node2"):
        netns.start_daemon(lab, node)
    wait_until(lambda: roles(lab) == ("master", "backup"), WAIT_S, what="node1 master, node2 backup")
    with open(state_dir / "filler", "wb") as f:
        for _ in range(64):  # 1 MiB in 16 KiB chunks at most: the tmpfs is full well before
            try:
                f.write(b"\0" * 16384)
                f.flush()
            except OSError:
                break
    saved = hacore(lab, "node1", "system", "config", "save", "--name", "before", check=False)
    assert saved.returncode == 1 and "No space left on device" in saved.stderr, saved.stderr
    assert "nothing was changed" in saved.stderr and "internal error" not in saved.stderr
    held = hacore(lab, "node1", "cluster", "maintenance", "set", "1", check=False)
    assert held.returncode == 1 and "No space left on device" in held.stderr, held.stderr
    assert info(lab, "node1")["maintenance"] is False
    wait_until(lambda: any("No space left" in why for why in info(lab, "node1")["degraded"]), WAIT_S,
               what="cluster info to say the node is degraded")
    assert not [p for p in state_dir.rglob("*") if ".tmp." in p.name]  # nothing half-written stays
    assert roles(lab) == ("master", "backup")  # the election goes on
    assert "persist" not in info(lab, "node1")["task_restarts"]  # the state-saving task did not crash
    (state_dir / "filler").unlink()
    assert hacore(lab, "node1", "system", "config", "save", "--name", "before").stdout.startswith("saved before")
    wait_until(lambda: info(lab, "node1")["degraded"] == [], WAIT_S, what="the node to recover")


SLOW_CLIENTS = """
import json, socket, time
conns, closed_at_once = [], 0
for _ in range(15):
    s = socket.create_connection(("198.18.0.2", 22), timeout=5)
    s.settimeout(2)
    try:
        banner = s.recv(64)
    except OSError:
        banner = b""
    if banner.startswith(b"SSH-"):
        conns.append(s)
    else:
        closed_at_once += 1
        s.close()
kept, deadline = len(conns), time.monotonic() + 20
while conns and time.monotonic() < deadline:  # never authenticating: each must be closed by the server
    for s in list(conns):
        s.settimeout(0.5)
        try:
            if s.recv(4096) == b"":
                conns.remove(s)
        except TimeoutError:
            pass
        except OSError:
            conns.remove(s)
print(json.dumps({"kept": kept, "closed_at_once": closed_at_once, "still_open": len(conns)}))
"""


def test_unauthenticated_ssh_connections_are_bounded_in_number_and_time(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    exchange_keys(lab)
    out = json.loads(netns.run_in(lab, "node2", [sys.executable, "-c", SLOW_CLIENTS]).stdout)
    assert out == {"kept": 10, "closed_at_once": 5, "still_open": 0}, out
    assert state(lab, "node2")["sync_state"] == "synchronized"  # the peer itself still gets in


def test_a_lost_reply_is_no_conflict(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    exchange_keys(lab)
    hacore(lab, "node1", "system", "config", "synchronize")
    record = lab.node_dir("node1") / "state" / "configsync.json"
    before = record.read_bytes()
    hacore(lab, "node1", "extc", "set", "UPDATE_TRIGGER_DELAY", "0.9")
    hacore(lab, "node1", "system", "config", "synchronize")
    record.write_bytes(before)  # node2 applied it, but node1 never heard so (the reply was lost)
    hacore(lab, "node2", "extc", "set", "UPDATE_TRIGGER_DELAY", "1.2")
    out = hacore(lab, "node2", "system", "config", "synchronize", check=False)
    assert out.returncode == 0, out.stderr  # node1 has nothing node2 has not seen: not a conflict
    assert delay_of(lab, "node1") == 1.2

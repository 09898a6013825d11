"""Everything follows the master: NAT to the VIPs, interfaces and applications
disabled in backup, applications rebound to the VIP, and notify hooks that
never hold a takeover - checked from the outside (who the server sees, which
links are up, which processes run) before and after a failover."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hacore_lab import netns
from hacore_lab.topology import CLIENT, EXT_VIP, SERVER, Lab
from hacore_lab.wait import wait_until
from tests.conftest import is_root, need
from tests.netns.conftest import FAST, Cleanup, hacore, info, roles

VIP = EXT_VIP.split("/")[0]
OWN = {"node1": "198.51.100.102", "node2": "198.51.100.103"}
ROUTER = "198.51.100.1"
PY = [sys.executable, "-m"]
FORWARD_PORT = 5003
WAIT_S = 15  # a bound on a hang, not a speed requirement


def config(lab: Lab) -> dict[str, str]:
    app = f"{sys.executable} -m hacore_lab.app {{}} --pidfile {lab.run_dir}/apps/dhcp"
    return {
        "cluster_extra": f'''disabled_interfaces_in_backup = ["wan0"]
notify = ["{lab.run_dir}/hang.sh", "{lab.run_dir}/record.sh"]
notify_timeout_s = 2
''',
        "extra": f'''
[[interfaces]]
name = "wan0"

[[interfaces]]
name = "wg0"
flags = ["DISABLED_IF_SPARE"]

[[objects]]
name = "client-host"
address = "{CLIENT}"

[[nat]]
kind = "dnat"
interface = "lan1"
to = "ha-external-ip"
port = {FORWARD_PORT}
target = "client-host"

[[applications]]
name = "dhcp-server"
start = "{app.format("start")}"
stop = "{app.format("stop")}"
status = "{app.format("status")}"

[[applications]]
name = "mailrelay"
outgoing_address = "{VIP}"
user = "nobody"
'''}


def write_hooks(lab: Lab) -> tuple[Path, Path]:
    hang, record = lab.run_dir / "hang.log", lab.run_dir / "record.log"
    for name, body in (("hang.sh", f'echo "$HACORE_NODE $1" >> {hang}\nexec sleep 600\n'),
                       ("record.sh", f'echo "$HACORE_NODE $HACORE_OLD_STATE $1 $2" >> {record}\n')):
        path = lab.run_dir / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(0o755)
    return hang, record


@pytest.fixture
def cluster(cleanup: Cleanup) -> Iterator[Lab]:
    need(is_root(), "network namespace tests need root")
    lab = Lab(f"t{os.getpid()}f")
    cleanup.add(f"lab {lab.name}", lambda: netns.down(lab))
    netns.up(lab, **FAST, **config(lab))
    for node in ("node1", "node2"):  # a dial-in and a tunnel: both up, until hacore says otherwise
        for dev in ("wan0", "wg0"):
            netns.ip_cmd(["-n", lab.ns(node), "link", "add", dev, "type", "veth", "peer", "name", f"{dev}p"])
            netns.ip_cmd(["-n", lab.ns(node), "link", "set", dev, "up"])
    write_hooks(lab)
    for node in ("node1", "node2"):
        netns.start_daemon(lab, node)
    wait_until(lambda: roles(lab) == ("master", "backup"), WAIT_S, what="node1 master, node2 backup")
    yield lab


def up(lab: Lab, node: str, dev: str) -> bool:
    (link,) = json.loads(netns.ip_cmd(["-n", lab.ns(node), "-j", "link", "show", dev]))
    return "UP" in link["flags"]


def app_running(lab: Lab, node: str) -> bool:
    for pid in netns.ip_cmd(["netns", "pids", lab.ns(node)]).split():
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"hacore_lab.app" in argv and b"run" in argv:
            return True
    return False


def serve(lab: Lab, role: str, bind: str, port: int, cleanup: Cleanup) -> None:
    proc = subprocess.Popen(netns.exec_argv(lab, role, [*PY, "hacore_lab.whoami", "serve", "--bind", bind,
                                                        "--port", str(port), "--seconds", "120"]))
    cleanup.add(f"whoami in {role}", lambda: (proc.kill(), proc.wait()))
    wait_until(lambda: f"{bind}:{port}" in netns.run_in(lab, role, ["ss", "-ltnH"]).stdout, 10,
               what=f"whoami on {bind}:{port}")


def seen_from(lab: Lab, role: str, to: str, port: int = 5002, user: str | None = None) -> str:
    """The source address the far end saw for a connection made in role's namespace."""
    argv = [*PY, "hacore_lab.whoami", "ask", "--to", to, "--port", str(port)]
    if user is not None:
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
    return netns.run_in(lab, role, argv).stdout.split()[0]


def where(lab: Lab, master: str, backup: str) -> None:
    """What only the master may have is on master, and none of it on backup."""
    wait_until(lambda: all(up(lab, master, d) for d in ("wan0", "wg0")), WAIT_S, what=f"wan0, wg0 up on {master}")
    wait_until(lambda: not any(up(lab, backup, d) for d in ("wan0", "wg0")), WAIT_S,
               what=f"wan0, wg0 down on {backup}")
    wait_until(lambda: app_running(lab, master) and not app_running(lab, backup), WAIT_S,
               what=f"the DHCP server running on {master} only")
    assert seen_from(lab, "client", SERVER) == VIP  # hide NAT: the inside leaves from the VIP
    assert seen_from(lab, "router", VIP, FORWARD_PORT) == ROUTER  # the port forward reaches the inside host
    assert seen_from(lab, master, SERVER, user="65534") == VIP  # the rebound application, from the VIP
    assert seen_from(lab, master, SERVER) == OWN[master]  # everything else keeps the node's own address
    assert seen_from(lab, backup, SERVER, user="65534") == OWN[backup]  # on the spare too


def test_everything_follows_the_master(cluster: Lab, cleanup: Cleanup) -> None:
    lab = cluster
    serve(lab, "router", SERVER, 5002, cleanup)
    serve(lab, "client", CLIENT, FORWARD_PORT, cleanup)
    where(lab, "node1", "node2")
    services = {s["name"]: s for s in json.loads(hacore(lab, "node1", "cluster", "services", "--json").stdout)}
    assert services["dhcp-server"] | {"error": ""} == {"name": "dhcp-server", "backend": "commands",
                                                       "desired": True, "running": True, "error": ""}
    assert services["mailrelay"]["desired"] is None  # no backend: not hacore's to run
    text = hacore(lab, "node2", "cluster", "services").stdout
    assert "dhcp-server" in text and "stop" in text and "stopped" in text

    hang, record = lab.run_dir / "hang.log", lab.run_dir / "record.log"
    hacore(lab, "node1", "cluster", "maintenance", "set", "1")
    wait_until(lambda: roles(lab) == ("backup", "master"), WAIT_S, what="node2 master")
    # The first hook hangs; the VIPs did not wait for it: node2 holds them while the hook still sleeps.
    wait_until(lambda: hang.exists() and "node2 master" in hang.read_text(), WAIT_S, what="node2's hook to start")
    assert VIP in netns.ip_cmd(["-n", lab.ns("node2"), "addr", "show", "lan1"])
    assert "node2 backup master" not in (record.read_text() if record.exists() else "")
    where(lab, "node2", "node1")
    # The hanging hook was killed after its timeout; the next hook ran, in order.
    wait_until(lambda: record.exists() and "node2 backup master" in record.read_text(), WAIT_S,
               what="the recording hook after the hanging one")
    assert info(lab, "node2")["notify"]["failed"] >= 1
    (took,) = [e for e in json.loads(hacore(lab, "node2", "cluster", "history", "--json").stdout)
               if e["new"] == "master"]
    assert {"vips_ms", "announce_ms", "nat_ms", "interfaces_ms", "services_ms", "to_traffic_ms"} <= set(took["steps"])
    assert "to traffic" in hacore(lab, "node2", "cluster", "history").stdout
    # A master killed outright releases nothing itself; `hacore cleanup` (the unit's ExecStopPost=) does.
    netns.stop_daemon(lab, "node2", signal.SIGKILL)
    assert app_running(lab, "node2") and up(lab, "node2", "wan0")  # left as the master had them
    d = lab.node_dir("node2")
    proc = netns.run_in(lab, "node2", [*PY, "hacore", "cleanup", "-c", str(d / "hacore.toml"), "--state-dir",
                                       str(d / "state"), "--json"])
    done = json.loads(proc.stdout)
    assert done["stopped"] == ["dhcp-server stopped"] and sorted(done["interfaces_down"]) == ["wan0", "wg0"]
    assert done["nat_rules_rewritten"] and done["failed"] == {}
    assert not app_running(lab, "node2") and not up(lab, "node2", "wan0")
    assert seen_from(lab, "node2", SERVER, user="65534") == OWN["node2"]  # no rule sends from the VIP now

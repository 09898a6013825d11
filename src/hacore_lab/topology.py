"""The lab's topology: the seed's "External router" example on documentation
and benchmarking ranges only (RFC 5737, RFC 2544, RFC 3849).

Rules: pure data and text; nothing here touches the kernel. Names are
prefixed `hacore-<lab>-` so that leftovers are found by name after a crash.

    server 198.19.0.10 (on the router's loopback)
         router  eth0 198.51.100.1
            |
        [br-ext] (switch namespace)          external: 198.51.100.0/24, VIP .101
        /      \\
   node1 lan1  node2 lan1   .102 / .103
   node1 lan3 ===== node2 lan3   hotwire 198.18.0.2 / .3 (direct veth)
   node1 lan2  node2 lan2   192.0.2.141 / .142 (unique), VIP 203.0.113.1
        \\      /
        [br-int]
            |
         client 203.0.113.10, default gateway the internal VIP;
                192.0.2.10 its management address (reaches both nodes' consoles)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

RUN_ROOT = Path("/run/hacore-lab")
PREFIX = "hacore-"
NODES = ("node1", "node2")
ROLES = ("sw", "router", "node1", "node2", "client")
METRICS_PORT = 9780  # each node serves metrics on its own namespace's loopback
WEB_PORT = 9443  # `hacore lab up --web`: each node's console on its own inside address

ROUTER_EXT = "198.51.100.1"
ROUTER_EXT6 = "2001:db8:100::1"
SERVER = "198.19.0.10"
EXT_VIP = "198.51.100.101/24"
EXT_VIP6 = "2001:db8:100::101/64"
INT_VIP = "203.0.113.1/24"
INT_VIP6 = "2001:db8:200::1/64"
CLIENT = "203.0.113.10"
CLIENT6 = "2001:db8:200::10"
# [node.timing] at real-time priority: the sender thread, and the spare's election loop one below it.
REALTIME = 'realtime = "fifo"\nrealtime_spare = true'
CLIENT_MGMT = "192.0.2.10/24"  # on the inside segment: both nodes' own addresses, VIPs or none
NODE_ADDR = {
    "node1": {"lan1": ["198.51.100.102/24", "2001:db8:100::102/64"], "lan2": ["192.0.2.141/24"],
              "lan3": ["198.18.0.2/24"]},
    "node2": {"lan1": ["198.51.100.103/24", "2001:db8:100::103/64"], "lan2": ["192.0.2.142/24"],
              "lan3": ["198.18.0.3/24"]},
}


@dataclass(frozen=True)
class Lab:
    name: str = "lab"

    @property
    def prefix(self) -> str:
        return f"{PREFIX}{self.name}-"

    def ns(self, role: str) -> str:
        return f"{self.prefix}{role}"

    @property
    def run_dir(self) -> Path:
        return RUN_ROOT / self.name

    def node_dir(self, node: str) -> Path:
        return self.run_dir / node

    def socket(self, node: str) -> Path:
        return self.node_dir(node) / "control.sock"


def sysctls(role: str) -> list[str]:
    """Forwarding on the routers; no IPv6 DAD, so addresses work at once."""
    base = ["net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"]
    if role in ("router", *NODES):
        base += ["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]
    return base


def batches(lab: Lab) -> list[tuple[str, list[str]]]:
    """`ip -batch` scripts in the order to run them: (namespace, lines)."""
    ns = lab.ns
    sw = ["link set lo up", "link add br-ext type bridge mcast_snooping 0",
          "link add br-int type bridge mcast_snooping 0"]
    ports = [("n1-ext", "lan1", "node1", "br-ext"), ("n2-ext", "lan1", "node2", "br-ext"),
             ("rt-ext", "eth0", "router", "br-ext"), ("n1-int", "lan2", "node1", "br-int"),
             ("n2-int", "lan2", "node2", "br-int"), ("cl-int", "eth0", "client", "br-int")]
    for port, peer, role, bridge in ports:
        sw += [f"link add {port} type veth peer name {peer} netns {ns(role)}",
               f"link set {port} master {bridge}", f"link set {port} up"]
    sw += ["link set br-ext up", "link set br-int up"]
    out = [(ns("sw"), sw)]
    for node in NODES:
        lines = ["link set lo up"]
        if node == "node1":  # the hotwire: a direct cable, no switch (seed)
            lines.append(f"link add lan3 type veth peer name lan3 netns {ns('node2')}")
        for dev, addrs in NODE_ADDR[node].items():
            lines += [f"addr add {a} dev {dev}" + (" nodad" if ":" in a else "") for a in addrs]
        lines += [f"link set {dev} up" for dev in NODE_ADDR[node]]
        lines.append(f"route add default via {ROUTER_EXT}")
        out.append((ns(node), lines))
    out.append((ns("router"), [
        "link set lo up", f"addr add {SERVER}/32 dev lo",
        f"addr add {ROUTER_EXT}/24 dev eth0", f"addr add {ROUTER_EXT6}/64 dev eth0 nodad", "link set eth0 up",
        f"route add 203.0.113.0/24 via {EXT_VIP.split('/')[0]}",
        f"route add 2001:db8:200::/64 via {EXT_VIP6.split('/')[0]}",
    ]))
    out.append((ns("client"), [
        "link set lo up", f"addr add {CLIENT}/24 dev eth0", f"addr add {CLIENT6}/64 dev eth0 nodad",
        f"addr add {CLIENT_MGMT} dev eth0",
        "link set eth0 up", f"route add default via {INT_VIP.split('/')[0]}",
        f"route add ::/0 via {INT_VIP6.split('/')[0]}",
    ]))
    return out


def _web(addr: dict[str, list[str]]) -> str:
    return f'''[node.web]               # the console (`hacore lab up --web` starts it): the node's own inside address,
address = "{addr["lan2"][0].split("/")[0]}"
port = {WEB_PORT}
on_ha_address = true     # no management network of its own: the client's management address shares lan2
'''


def unformed_config(lab: Lab, node: str) -> str:
    """A host before the set-up wizard: its name, interfaces and console; no cluster yet (off, no hotwire,
    no HA interfaces) - what the wizard's steps fill in."""
    ifaces = "".join(f'\n[[interfaces]]\nname = "{dev}"\naddresses = {json.dumps(addrs)}\n'
                     for dev, addrs in NODE_ADDR[node].items())
    return f'''# hacore lab {lab.name}: {node}, not yet in a cluster
[node]
name = "{node}"

{_web(NODE_ADDR[node])}{ifaces}
[cluster]
enabled = false
key_salt = "{lab.name}"
'''


# The switch port each node interface is plugged into (in the switch namespace).
PORTS = {("node1", "lan1"): "n1-ext", ("node2", "lan1"): "n2-ext",
         ("node1", "lan2"): "n1-int", ("node2", "lan2"): "n2-int"}
HA_VIPS = {"lan1": (EXT_VIP, EXT_VIP6), "lan2": (INT_VIP, INT_VIP6)}


def node_config(lab: Lab, node: str, *, auth: str = "hmac", delay_s: float = 2.0, min_hold_s: float = 5.0,
                ha_links: tuple[str, ...] = ("lan1", "lan2"), ipv6: bool = True,
                ping_targets: tuple[str, ...] = (), conntrack_sync: bool = True, extra: str = "",
                cluster_extra: str = "", timing: str = "") -> str:
    """The start configuration of a lab node, as the wizard would write it.

    The keyword arguments make the variants tests need: another auth mode,
    a shorter delay, fewer HA links, no IPv6 VIPs (VRRPv2 has none);
    extra is TOML appended as it is (applications, port forwards), cluster_extra
    goes into the [cluster] table (interfaces disabled in backup, hooks),
    timing into [node.timing] (sender, receive filter, real-time settings).
    """
    other = NODES[1 - NODES.index(node)]
    addr = NODE_ADDR[node]
    has = ""
    for link in ha_links:
        vips = [v for v in HA_VIPS[link] if ipv6 or ":" not in v]
        has += f'\n[[cluster.ha_interfaces]]\ninterface = "{link}"\nvips = {json.dumps(vips)}\n'
    nat = "" if "lan1" not in ha_links else '''
[[nat]]
kind = "hide"
interface = "lan1"
source = "internal-net"
to = "ha-external-ip"
'''
    dhcp = "" if "lan2" not in ha_links else '''
[[dhcp_server]]
interface = "lan2"
start = "203.0.113.100"
end = "203.0.113.200"
'''
    ifaces = "".join(
        f'\n[[interfaces]]\nname = "{dev}"\naddresses = {json.dumps(addrs)}\n'
        for dev, addrs in addr.items()
    )
    return f'''# hacore lab {lab.name}: {node}
[node]
name = "{node}"
priority = "{"high" if node == "node1" else "low"}"
directory_account = "fw-{node}"

[node.timing]
{timing}

[node.metrics]
address = "127.0.0.1"    # inside the node's namespace: curl it with `ip netns exec`
port = {METRICS_PORT}

{_web(addr)}{ifaces}
[cluster]
enabled = true
passphrase = "insecure"
hotwire_secret = "lab hotwire secret"
key_salt = "{lab.name}"
auth = "{auth}"
vrid_offset = 50
update_trigger_delay_s = {delay_s}
min_hold_s = {min_hold_s}
{cluster_extra}

[cluster.hotwire]
interface = "lan3"
local_address = "{addr["lan3"][0]}"
remote_address = "{NODE_ADDR[other]["lan3"][0].split("/")[0]}"

[cluster.ping_check]
targets = {json.dumps(list(ping_targets))}

[cluster.sync]
conntrack = {"true" if conntrack_sync else "false"}
{has}
[forward]
policy = "drop"
new_from = ["lan2"]
drop_invalid_input = true

[[objects]]
name = "ha-external-ip"
address = "{EXT_VIP.split("/")[0]}"

[[objects]]
name = "internal-net"
address = "203.0.113.0/24"
{nat}{dhcp}{extra}'''

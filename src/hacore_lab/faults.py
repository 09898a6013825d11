"""Faults the lab injects as a technician would meet them: a pulled cable, a
switch that eats VRRP, a node that goes dark, a stalled process.

Rules: each fault acts only inside the lab's namespaces and is undone by its
counterpart or by `lab down`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess

from hacore_lab.netns import LabError, ip_cmd, recorded_pids, run_in
from hacore_lab.topology import NODE_ADDR, PORTS, Lab

_FAULT_TABLE = "hacore_fault"


def set_port(lab: Lab, node: str, link: str, up: bool) -> None:
    """Carrier of node's link, switched at the switch port (as pulling the cable would)."""
    ip_cmd(["-n", lab.ns("sw"), "link", "set", PORTS[(node, link)], "up" if up else "down"])


def delete_link(lab: Lab, node: str, link: str) -> None:
    """Node's HA link vanishes (a VLAN or bond torn down, a driver unloaded): both veth ends go."""
    ip_cmd(["-n", lab.ns("sw"), "link", "del", PORTS[(node, link)]])


def create_link(lab: Lab, node: str, link: str) -> None:
    """The link comes back under its old name, with a new index, its addresses and carrier."""
    port, bridge = PORTS[(node, link)], "br-ext" if link == "lan1" else "br-int"
    ip_cmd(["-n", lab.ns("sw"), "link", "add", port, "type", "veth", "peer", "name", link, "netns", lab.ns(node)])
    ip_cmd(["-n", lab.ns("sw"), "link", "set", port, "master", bridge, "up"])
    for addr in NODE_ADDR[node][link]:
        ip_cmd(["-n", lab.ns(node), "addr", "add", addr, "dev", link, *(["nodad"] if ":" in addr else [])])
    ip_cmd(["-n", lab.ns(node), "link", "set", link, "up"])


def set_hotwire(lab: Lab, up: bool) -> None:
    ip_cmd(["-n", lab.ns("node1"), "link", "set", "lan3", "up" if up else "down"])


def block_vrrp(lab: Lab, on: bool) -> None:
    """The switch drops IP protocol 112 while links stay up (the seed's broken switch)."""
    if on:
        nft(lab, "sw", f"table bridge {_FAULT_TABLE} {{ chain forward {{ type filter hook forward priority 0; "
                        "ip protocol 112 drop; ip6 nexthdr 112 drop; }; }")
    else:
        run_in(lab, "sw", ["nft", "delete", "table", "bridge", _FAULT_TABLE], check=False)


def drop_pings_from(lab: Lab, role: str, src: str, on: bool) -> None:
    """role stops answering pings from src (an upstream that fails for one node only)."""
    table = f"{_FAULT_TABLE}_icmp_{src.replace('.', '_')}"
    if on:
        rules = (f"table inet {table} {{ chain input {{ type filter hook input priority 0; "
                 f"ip saddr {src} icmp type echo-request drop; }}; }}")
        nft(lab, role, rules)
    else:
        run_in(lab, role, ["nft", "delete", "table", "inet", table], check=False)


def nft(lab: Lab, role: str, rules: str) -> None:
    proc = subprocess.run(["ip", "netns", "exec", lab.ns(role), "nft", "-f", "-"], input=rules, text=True,
                          capture_output=True, check=False)
    if proc.returncode:
        raise LabError(f"nft: {proc.stderr.strip()}")


def signal_daemon(lab: Lab, node: str, sig: int) -> int:
    pid = recorded_pids(lab)[node]
    os.kill(pid, sig)
    return pid


def go_dark(lab: Lab, node: str) -> None:
    """A node that loses power: all its traffic and adverts stop in one instant, then its cables go dead and
    every process in it dies.

    The instant is one nftables commit at the switch that drops every frame to or from the node's ports:
    cutting the ports one `ip` call each let the traffic cross for ms after the adverts had stopped (every
    outage looked shorter), and even one `ip -batch` downs them in turn - the node saw lan1 go, and sent a
    lowered priority on lan2 before it went too: a failover the node announced, not a power loss. Its
    processes are frozen right after (the hotwire is a direct cable, out of the switch's reach: a daemon
    still running told the new master "I am master" on it and made a split brain out of a power loss),
    then carrier goes, the processes die, and the drop table goes last.
    """
    ports = [port for (n, _), port in PORTS.items() if n == node]
    table = f"{_FAULT_TABLE}_dark_{node}"
    pids = [int(p) for p in ip_cmd(["netns", "pids", lab.ns(node)]).split()]
    nft(lab, "sw", f"table bridge {table} {{ chain forward {{ type filter hook forward priority -300; "
                   f"iifname {{ {', '.join(ports)} }} drop; oifname {{ {', '.join(ports)} }} drop; }}; }}")
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
    ip_cmd(["-n", lab.ns("sw"), "-batch", "-"], "".join(f"link set {port} down\n" for port in ports))
    set_hotwire(lab, False)
    for pid in {*pids, *(int(p) for p in ip_cmd(["netns", "pids", lab.ns(node)]).split())}:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    run_in(lab, "sw", ["nft", "delete", "table", "bridge", table])


def neighbour_mac(lab: Lab, role: str, ip: str) -> str | None:
    """The MAC role's neighbour table holds for ip (who it sends that address's traffic to)."""
    out = run_in(lab, role, ["ip", "-j", "neigh", "show", "to", ip]).stdout
    entries = [e for e in json.loads(out or "[]") if e.get("lladdr")]
    return entries[0]["lladdr"] if entries else None


def mac_of(lab: Lab, role: str, dev: str) -> str:
    return json.loads(run_in(lab, role, ["ip", "-j", "link", "show", "dev", dev]).stdout)[0]["address"]


def addresses(lab: Lab, role: str, dev: str) -> set[str]:
    """Global addresses on dev, as CIDR."""
    out = run_in(lab, role, ["ip", "-j", "addr", "show", "dev", dev]).stdout
    return {f"{a['local']}/{a['prefixlen']}" for a in json.loads(out)[0]["addr_info"] if a["scope"] == "global"}

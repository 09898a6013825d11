"""Whether a node can stand by with a configuration: the receiver of a
synchronize asks this before it changes anything, so that a synchronize
never leaves the spare unable to take over.

Rules: problems() is pure (the kernel's facts come in as LinkInfo); facts()
only reads. A problem is one line naming the node and what it lacks.
"""

from __future__ import annotations

from ipaddress import ip_interface

from hacore.config.model import Config
from hacore.support import links
from hacore.support.links import LinkInfo


def problems(cfg: Config, found: dict[str, LinkInfo], before: Config) -> list[str]:
    """Why this node (cfg.node.name) could not stand by with cfg, given its links now and the configuration
    it runs (before): every HA interface and the hotwire exist with the addresses the election needs, and
    no VIP is an address of this node that hacore does not own (releasing it would delete it)."""
    node = cfg.node.name
    out = []
    hw = cfg.cluster.hotwire
    if hw.interface:
        info = found.get(hw.interface)
        local = str(ip_interface(hw.local_address).ip) if hw.local_address else ""
        if info is None:
            out.append(f"the hotwire {hw.interface} does not exist on {node}")
        elif local and ip_interface(hw.local_address).version == 4 and local not in info.ipv4:
            out.append(f"the hotwire address {local} is not on {hw.interface} on {node}")
    owned = {str(ip_interface(v).ip) for h in before.cluster.ha_interfaces for v in h.vips}
    for ha in cfg.cluster.ha_interfaces:
        info = found.get(ha.interface)
        if info is None:
            out.append(f"{ha.interface} does not exist on {node}")
            continue
        versions = {ip_interface(v).version for v in ha.vips}
        if 4 in versions and not set(info.ipv4) - owned:
            out.append(f"{ha.interface} on {node} has no IPv4 address of its own to advertise from")
        if 6 in versions and info.ipv6_link_local is None:
            out.append(f"{ha.interface} on {node} has no IPv6 link-local address to advertise from")
        for vip in ha.vips:
            ip = str(ip_interface(vip).ip)
            if ip in info.ipv4 and ip not in owned:
                out.append(f"{ip} is {node}'s own address on {ha.interface}: releasing the VIP would delete it")
    return out


async def facts(cfg: Config) -> dict[str, LinkInfo]:
    names = [h.interface for h in cfg.cluster.ha_interfaces] + [cfg.cluster.hotwire.interface]
    return await links.lookup(sorted({n for n in names if n}))

"""The seed's rules about addresses and NAT over a parsed Config, used by
hacore.config.validate: address syntax, the node's own addresses, the DHCP
broadcast-domain rule, NAT through the cluster's virtual IPs, where metrics
may listen.

Rules: pure; no I/O; problems are appended to the list given, each with its
path.
"""

from __future__ import annotations

from ipaddress import ip_address, ip_interface

from hacore.config.model import Config, NatKind
from hacore.config.parse import Problem


def check_cidr(value: str, path: str, out: list[Problem], need_prefix: bool = True) -> bool:
    if not is_cidr(value) or (need_prefix and "/" not in value):
        out.append(Problem(path, f"not an address with prefix (e.g. 192.0.2.1/24): {value!r}"))
        return False
    return True


def check_ip(value: str, path: str, out: list[Problem]) -> bool:
    try:
        ip_address(value)
    except ValueError:
        out.append(Problem(path, f"not an IP address: {value!r}"))
        return False
    return True


def is_cidr(value: str) -> bool:
    try:
        ip_interface(value)
    except ValueError:
        return False
    return True


def check_dhcp_broadcast_domain(cfg: Config, out: list[Problem]) -> None:
    """Seed: with a DHCP server on an HA interface, its VIP must not share the
    broadcast domain of the physical address, or leases follow the spare's MAC."""
    served = {r.interface for r in cfg.dhcp_server}
    for n, ha in enumerate(cfg.cluster.ha_interfaces):
        iface = cfg.interface(ha.interface)
        if ha.interface not in served or iface is None:
            continue
        physical = [ip_interface(a).network for a in iface.addresses if is_cidr(a)]
        for k, vip in enumerate(ha.vips):
            if not is_cidr(vip):
                continue
            vnet = ip_interface(vip).network
            for net in physical:
                if vnet.version == net.version and vnet.overlaps(net):
                    out.append(Problem(f"cluster.ha_interfaces[{n}].vips[{k}]",
                                       f"{vip} shares the broadcast domain {net} of {ha.interface}'s own address, "
                                       "and a DHCP server runs there: use a separate network for the VIP (seed)"))


def check_nat(cfg: Config, ha_ifs: set[str], vips: set[str], out: list[Problem]) -> None:
    hw = cfg.cluster.hotwire.interface
    ifnames = {i.name for i in cfg.interfaces}
    for n, rule in enumerate(cfg.nat):
        path = f"nat[{n}]"
        if rule.interface not in ifnames:
            out.append(Problem(f"{path}.interface", f"unknown interface {rule.interface!r}"))
        elif rule.interface == hw:
            out.append(Problem(f"{path}.interface", "the hotwire is exclusive: no NAT on it"))
        for key in ("source", "to"):
            name = getattr(rule, key)
            if name and cfg.object(name) is None:
                out.append(Problem(f"{path}.{key}", f"unknown object {name!r}"))
        for key in ("port", "target_port"):
            if not 0 <= getattr(rule, key) <= 65535:
                out.append(Problem(f"{path}.{key}", "must be 0..65535"))
        if rule.kind == NatKind.DNAT:
            if not rule.target:
                out.append(Problem(f"{path}.target", "required for dnat: the object of the inside host"))
            elif cfg.object(rule.target) is None:
                out.append(Problem(f"{path}.target", f"unknown object {rule.target!r}"))
            if rule.protocol not in ("tcp", "udp"):
                out.append(Problem(f"{path}.protocol", f"must be tcp or udp, got {rule.protocol!r}"))
            if rule.target_port and not rule.port:
                out.append(Problem(f"{path}.target_port", "needs port: a forward of all ports keeps them"))
        elif rule.target or rule.target_port or rule.port:
            out.append(Problem(path, "port, target and target_port belong to dnat rules"))
        if not rule.to and rule.interface not in ha_ifs:  # on HA interfaces the check below says more
            out.append(Problem(f"{path}.to", "required: the object whose address is used"))
        if rule.interface in ha_ifs:
            obj = cfg.object(rule.to) if rule.to else None
            if obj is None or not is_cidr(obj.address) or str(ip_interface(obj.address).ip) not in vips:
                out.append(Problem(f"{path}.to", f"NAT via HA interface {rule.interface!r} must use a unique object "
                                                 "holding one of the cluster's virtual IPs, not the interface address "
                                                 "(seed: NAT in the cluster configuration)"))


def own_addresses(cfg: Config) -> dict[str, str]:
    """This node's own addresses (interfaces and hotwire), address -> interface."""
    out = {str(ip_interface(a).ip): i.name for i in cfg.interfaces for a in i.addresses if is_cidr(a)}
    hw = cfg.cluster.hotwire
    if is_cidr(hw.local_address):
        out[str(ip_interface(hw.local_address).ip)] = hw.interface or "the hotwire"
    return out


def check_listener(cfg: Config, section: str, out: list[Problem]) -> None:
    """A management endpoint of this node (node.metrics, node.web): on one of its own addresses or loopback,
    never a VIP, and on a cluster link only when its on_ha_address says so."""
    m = getattr(cfg.node, section)
    path, what = f"node.{section}", {"metrics": "the metrics", "web": "the console"}[section]
    if not 1 <= m.port <= 65535:
        out.append(Problem(f"{path}.port", f"not a port: {m.port}"))
    if not m.address:
        return
    try:
        addr = ip_address(m.address)
    except ValueError:
        out.append(Problem(f"{path}.address", f"not an IP address: {m.address!r}"))
        return
    vips = {ip_interface(v).ip for h in cfg.cluster.ha_interfaces for v in h.vips if is_cidr(v)}
    if addr in vips:
        out.append(Problem(f"{path}.address", f"{addr} is a virtual IP: it moves with the master; use an "
                                              "address of this node's own"))
        return
    if addr.is_loopback:
        return
    owner = own_addresses(cfg).get(str(addr))
    if owner is None:
        out.append(Problem(f"{path}.address", f"{addr} is not an address of this node (interfaces, hotwire) nor "
                                              "loopback"))
    elif owner in {cfg.cluster.hotwire.interface, *(h.interface for h in cfg.cluster.ha_interfaces)} \
            and not m.on_ha_address:
        out.append(Problem(f"{path}.address", f"{addr} is on {owner}, a cluster link: the protected networks or "
                                              f"the peer would reach {what}; use a management address, or set "
                                              f"{path}.on_ha_address = true"))

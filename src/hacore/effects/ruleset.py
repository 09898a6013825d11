"""hacore's own nftables table, rendered from the configuration and the role:
the hotwire's guard, the forward filter, NAT to the virtual IPs, and
rebinding of applications to their outgoing VIP.

Rules: pure (nftables JSON in, nftables JSON out); only table TABLE of family
FAMILY is ever named, so rules hacore does not own are never touched. The NAT
chains exist on both nodes, master or not: a flow replicated to the spare
carries its NAT binding, and the kernel translates it only where the NAT
hooks are registered. Rules that send from a VIP on the node's own behalf
(rebinding) exist only on the master, where the VIP is: on the spare an
application keeps the node's own address, as everything else does.

Rebinding is source NAT of the application's own packets, matched by its
account (meta skuid), rather than ip_nonlocal_bind plus the application's
own setting: it needs nothing from the application (many have no such
setting), survives the VIP moving without a restart, and cannot strand a
socket bound to an address the node no longer holds. A cgroup match would
be finer, but nftables resolves a cgroup path when the rule is loaded, so a
service not yet started could not be named.

The hotwire is exclusive (seed): from the peer's hotwire address only SSH
(config sync) and UDP/3780 (peer status, conntrack sync) come in, plus
replies to what this node opened and ICMPv6 (neighbour discovery); the rest
arriving on it is counted and dropped, and so is anything addressed to the
hotwire address that arrives on another interface (a LAN host routed
through the master). Hotwire traffic is not tracked (a raw-priority
notrack, conntrackd's advice for its dedicated link): the node-local SSH
and sync flows never enter the table that conntrack sync replicates, so
the rules above match them statelessly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import ip_interface
from typing import Any

from hacore.config.model import Config, NatKind
from hacore.hotwire.envelope import PORT as HOTWIRE_PORT

TABLE = "hacore"
FAMILY = "inet"
# Management traffic keeps the node's own address even from a rebound application (seed: syslog,
# DNS, RADIUS/LDAP reach their servers from the management IPs of both nodes).
MANAGEMENT_PORTS = (53, 88, 123, 389, 514, 636, 1812, 1813)
NAT_HOOKS = (("prerouting", -100), ("postrouting", 100))


@dataclass(frozen=True)
class Rendered:
    chains: dict[str, dict[str, Any]]  # name -> type, hook, prio, policy
    rules: dict[str, list[list[dict[str, Any]]]]  # chain -> the expr list of each rule, in order
    skipped: list[str] = field(default_factory=list, compare=False)  # what could not be rendered, and why

    def commands(self) -> list[dict[str, Any]]:
        """One atomic batch that replaces the table (add first, so the delete never fails)."""
        t = {"family": FAMILY, "name": TABLE}
        cmds: list[dict[str, Any]] = [{"add": {"table": t}}, {"delete": {"table": t}}, {"add": {"table": t}}]
        for name, spec in self.chains.items():
            cmds.append({"add": {"chain": {"family": FAMILY, "table": TABLE, "name": name, **spec}}})
        for chain, rules in self.rules.items():
            for expr in rules:
                cmds.append({"add": {"rule": {"family": FAMILY, "table": TABLE, "chain": chain, "expr": expr}}})
        return cmds

    def rule_count(self) -> int:
        return sum(len(r) for r in self.rules.values())


def _meta(key: str, value: Any, op: str = "==") -> dict[str, Any]:
    return {"match": {"op": op, "left": {"meta": {"key": key}}, "right": value}}


def _ct(key: str, value: Any) -> dict[str, Any]:
    return {"match": {"op": "in", "left": {"ct": {"key": key}}, "right": value}}


def _addr(proto: str, fld: str, cidr: str) -> dict[str, Any]:
    net = ip_interface(cidr).network
    right: Any = (str(net.network_address) if net.prefixlen == net.max_prefixlen
                  else {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}})
    return {"match": {"op": "==", "left": {"payload": {"protocol": proto, "field": fld}}, "right": right}}


def _port(proto: str, port: int, fld: str = "dport") -> dict[str, Any]:
    return {"match": {"op": "==", "left": {"payload": {"protocol": proto, "field": fld}}, "right": port}}


def _nfproto(fam: str) -> dict[str, Any]:
    return _meta("nfproto", "ipv4" if fam == "ip" else "ipv6")


def _family(cidr: str) -> str:
    return "ip" if ip_interface(cidr).version == 4 else "ip6"


def render(cfg: Config, master: bool, uids: dict[str, int]) -> Rendered:
    """The table as it must be. uids: the application accounts that exist on this node."""
    chains: dict[str, dict[str, Any]] = {}
    rules: dict[str, list[list[dict[str, Any]]]] = {}
    skipped: list[str] = []
    if cfg.forward.policy == "drop":
        chains["forward"] = {"type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}
        rules["forward"] = [
            [_ct("state", "invalid"), {"counter": None}, {"drop": None}],
            [_ct("state", ["established", "related"]), {"accept": None}],
            [_ct("status", "dnat"), {"accept": None}],  # port forwards: admitted by their NAT rule
            *([_meta("iifname", name), _ct("state", "new"), {"accept": None}] for name in cfg.forward.new_from),
        ]
    if cfg.forward.drop_invalid_input:
        chains["input"] = {"type": "filter", "hook": "input", "prio": 0, "policy": "accept"}
        rules["input"] = [[_ct("state", "invalid"), {"counter": None}, {"drop": None}]]
    hw = cfg.cluster.hotwire
    if hw.interface and hw.remote_address:
        fam = _family(hw.remote_address)
        iif, peer = _meta("iifname", hw.interface), _addr(fam, "saddr", hw.remote_address)
        ssh = cfg.cluster.sync.ssh_port
        chains["hotwire_notrack_in"] = {"type": "filter", "hook": "prerouting", "prio": -300, "policy": "accept"}
        rules["hotwire_notrack_in"] = [[iif, {"notrack": None}]]
        chains["hotwire_notrack_out"] = {"type": "filter", "hook": "output", "prio": -300, "policy": "accept"}
        rules["hotwire_notrack_out"] = [[_meta("oifname", hw.interface), {"notrack": None}]]
        chains["hotwire"] = {"type": "filter", "hook": "input", "prio": 0, "policy": "accept"}
        rules["hotwire"] = [
            [iif, peer, _port("tcp", ssh), {"accept": None}],
            [iif, peer, _port("tcp", ssh, "sport"), {"accept": None}],  # replies to this node's own sync
            [iif, peer, _port("udp", HOTWIRE_PORT), {"accept": None}],
            [iif, _meta("l4proto", "ipv6-icmp"), {"accept": None}],
            [iif, {"counter": None}, {"drop": None}],
        ]
        if hw.local_address:
            rules["hotwire"].append([_meta("iifname", hw.interface, "!="), _meta("iifname", "lo", "!="),
                                     _addr(fam, "daddr", str(ip_interface(hw.local_address).ip)),
                                     {"counter": None}, {"drop": None}])
    for name, prio in NAT_HOOKS:
        chains[name] = {"type": "nat", "hook": name, "prio": prio, "policy": "accept"}
        rules[name] = []
    for n, rule in enumerate(cfg.nat):
        to = cfg.object(rule.to)
        src = cfg.object(rule.source) if rule.source else None
        if to is None:
            skipped.append(f"nat[{n}]: no object {rule.to!r}")
            continue
        fam = _family(to.address)
        if src is not None and _family(src.address) != fam:
            skipped.append(f"nat[{n}]: {src.name} and {to.name} are of different address families")
            continue
        match = [_addr(fam, "saddr", src.address)] if src is not None else []
        addr = str(ip_interface(to.address).ip)
        if rule.kind == NatKind.HIDE:
            rules["postrouting"].append([_meta("oifname", rule.interface), *(match or [_nfproto(fam)]),
                                         {"snat": {"family": fam, "addr": addr}}])
            continue
        target = cfg.object(rule.target)
        if target is None or _family(target.address) != fam:
            skipped.append(f"nat[{n}]: target {rule.target!r} is not an object of {to.name}'s address family")
            continue
        dport = [_port(rule.protocol, rule.port)] if rule.port else []
        dnat: dict[str, Any] = {"family": fam, "addr": str(ip_interface(target.address).ip)}
        if rule.port and rule.target_port:
            dnat["port"] = rule.target_port
        rules["prerouting"].append([_meta("iifname", rule.interface), _addr(fam, "daddr", addr), *match, *dport,
                                    {"dnat": dnat}])
    vips = {str(ip_interface(v).ip) for h in cfg.cluster.ha_interfaces for v in h.vips}
    for app in cfg.applications:
        if not (app.enabled and app.outgoing_address and app.user):
            continue
        if app.outgoing_address in vips and not master:
            continue
        uid = uids.get(app.user)
        if uid is None:
            skipped.append(f"application {app.name}: no account {app.user!r} on this node")
            continue
        fam = _family(app.outgoing_address)
        who = _meta("skuid", uid)
        rules["postrouting"] += [
            [who, _meta("l4proto", {"set": ["tcp", "udp"]}),
             {"match": {"op": "==", "left": {"payload": {"protocol": "th", "field": "dport"}},
                        "right": {"set": list(MANAGEMENT_PORTS)}}}, {"return": None}],
            [who, _meta("oifname", "lo", "!="), _nfproto(fam),
             {"snat": {"family": fam, "addr": app.outgoing_address}}],
        ]
    return Rendered(chains, rules, skipped)


def observed(listing: dict[str, Any]) -> Rendered:
    """What `list table` shows, in render()'s shape: handles dropped, counters as bare counters."""
    chains: dict[str, dict[str, Any]] = {}
    rules: dict[str, list[list[dict[str, Any]]]] = {}
    for item in listing.get("nftables", []):
        if "chain" in item:
            c = item["chain"]
            chains[c["name"]] = {k: c[k] for k in ("type", "hook", "prio", "policy") if k in c}
            rules.setdefault(c["name"], [])
        elif "rule" in item:
            r = item["rule"]
            rules.setdefault(r["chain"], []).append([{"counter": None} if "counter" in e else e for e in r["expr"]])
    return Rendered(chains, rules)

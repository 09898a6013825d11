"""The seed's Cluster Setup Wizard, as data: the answers of its five steps
(and the spare's own set-up), checked against this host and the
configuration's own rules, and the configuration file they make.

Rules: pure - the host (its interfaces with their addresses, its systemd
units) is passed in. Each step is checked on its own as soon as it is
answered (problems name the step's answers), and the whole file once more
before it is shown. Applications are the seed's names mapped to the units
this host has, or units of this host by name; anything else is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import ip_address, ip_interface
from typing import Any

import tomlkit

from hacore.config.model import DEFAULT_DISABLED_APPS, Config
from hacore.config.parse import ConfigError, Problem
from hacore.config.rules import is_cidr
from hacore.config.validate import check

# The seed's step-4 applications, and the Debian units that implement each (the first one present wins).
SEED_UNITS: dict[str, tuple[str, ...]] = {
    "clientless-vpn": ("guacd.service",),
    "dhcp-server": ("isc-dhcp-server.service", "kea-dhcp4-server.service"),
    "greylisting": ("postgrey.service",),
    "http-proxy": ("squid.service",),
    "ipsec": ("strongswan-starter.service", "strongswan.service", "ipsec.service"),
    "l2tp": ("xl2tpd.service",),
    "mailrelay": ("postfix.service", "exim4.service"),
    "pop3-proxy": ("perdition.service",),
    "routing": ("frr.service", "bird.service"),
    "spf-filter": ("postfix-policyd-spf-python.service",),
    "ssl-vpn": ("openvpn.service",),
    "spamfilter": ("rspamd.service", "spamassassin.service"),
    "wlan-server": ("hostapd.service",),
}
assert set(SEED_UNITS) == set(DEFAULT_DISABLED_APPS)
STEPS = ("hotwire", "ha interfaces", "interfaces disabled in backup", "applications disabled in backup",
         "priority and passphrase")


@dataclass(frozen=True)
class Host:
    interfaces: dict[str, tuple[str, ...]]  # name -> own addresses (CIDR), loopback left out
    units: frozenset[str] = frozenset()
    config: str = ""  # the start configuration already there: the wizard's answers go into it
    vips: frozenset[str] = frozenset()  # the running cluster's virtual IPs: a master holds them, not its own

    def own(self, name: str) -> tuple[str, ...]:
        """The interface's own addresses: what it holds but the running cluster's virtual IPs (an answered VIP
        that is an own address stays one, and is refused as such)."""
        vips = {str(ip_interface(v).ip) for v in self.vips if is_cidr(v)}
        return tuple(c for c in self.interfaces.get(name, ()) if str(ip_interface(c).ip) not in vips)


@dataclass
class Answers:
    node: str = ""
    spare: bool = False
    hotwire: str = ""
    local: str = ""  # CIDR on the hotwire interface
    remote: str = ""
    ha: dict[str, list[str]] = field(default_factory=dict)  # interface -> virtual IPs (CIDR)
    disabled_interfaces: list[str] = field(default_factory=list)
    applications: list[str] = field(default_factory=lambda: list(DEFAULT_DISABLED_APPS))
    priority: str = ""  # high on the master, low on the spare (the seed's step 5)
    passphrase: str = ""
    key_salt: str = ""  # made by the caller (random), shared by both nodes through synchronize


def from_config(cfg: Config) -> Answers:
    """A running configuration as the wizard's answers (what a console's wizard starts from)."""
    c = cfg.cluster
    return Answers(node=cfg.node.name, hotwire=c.hotwire.interface, local=c.hotwire.local_address,
                   remote=c.hotwire.remote_address, ha={h.interface: list(h.vips) for h in c.ha_interfaces},
                   disabled_interfaces=list(c.disabled_interfaces_in_backup),
                   applications=list(c.disabled_applications_in_backup), priority=cfg.node.priority.value,
                   passphrase=c.passphrase, key_salt=c.key_salt)


def answers_from(raw: Any, base: Answers) -> Answers:
    """base with raw's answers (an answers file's or a form's: the Answers' names) over it; ValueError with
    the one line to show for an unknown name or a value of the wrong kind. An empty answer keeps base's."""
    if not isinstance(raw, dict):
        raise ValueError("answers are an object of the wizard's names")
    fields = Answers.__dataclass_fields__
    unknown = sorted(set(raw) - set(fields) - {"spare"})
    if unknown:
        raise ValueError(f"unknown answers {', '.join(unknown)} (known: {', '.join(sorted(fields))})")
    out = Answers(**base.__dict__)
    if "spare" in raw:
        if not isinstance(raw["spare"], bool):
            raise ValueError(f"answer 'spare': expected true or false, got {type(raw['spare']).__name__}")
        out.spare = raw["spare"]
        if out.spare:
            out.priority, out.applications = "low", []  # the spare's rank; its applications come with the master's
    for key, value in raw.items():
        want = {"ha": dict, "disabled_interfaces": list, "applications": list}.get(key, str)
        if key == "spare" or value in ("", None):
            continue
        if not isinstance(value, want) or (want is dict and not all(
                isinstance(v, list) and all(isinstance(x, str) for x in v) for v in value.values())) or (
                want is list and not all(isinstance(x, str) for x in value)):
            raise ValueError(f"answer {key!r}: expected {want.__name__} of text, got {type(value).__name__}")
        setattr(out, key, value)
    return out


def problems(a: Answers, host: Host) -> str:
    """The first step that is refused, as one line ("" when every step is answered well). A spare answers
    two: its hotwire, and its name and rank (the rest comes with the master's first synchronize)."""
    steps = [(1, STEPS[0], hotwire_problems), (5, STEPS[4], final_problems)] if a.spare else \
        [(n, step, check_step) for n, (step, check_step) in enumerate(zip(STEPS, CHECKS, strict=True), 1)]
    for n, step, check_step in steps:
        found = check_step(a, host)
        if found:
            return f"step {n} ({step}): " + "; ".join(found)
    return ""


def hotwire_problems(a: Answers, host: Host) -> list[str]:
    out = _exists(host, a.hotwire, "hotwire interface")
    if out:
        return out
    if not is_cidr(a.local):
        return [f"local address {a.local!r}: an address with its prefix, e.g. 192.168.180.2/24"]
    if ip_interface(a.local) not in {ip_interface(c) for c in host.interfaces[a.hotwire]}:
        have = ", ".join(host.interfaces[a.hotwire]) or "none"
        return [f"{a.local} is not an address of {a.hotwire} (it has: {have})"]
    try:
        remote = ip_address(a.remote)
    except ValueError:
        return [f"remote address {a.remote!r}: the peer's address on the hotwire, e.g. 192.168.180.3"]
    if remote not in ip_interface(a.local).network or remote == ip_interface(a.local).ip:
        return [f"remote address {remote} must be another address in {ip_interface(a.local).network}"]
    return []


def ha_problems(a: Answers, host: Host) -> list[str]:
    if not a.ha:
        return ["at least one HA interface, with its virtual IP addresses"]
    out = []
    for name, vips in a.ha.items():
        out += _exists(host, name, "HA interface")
        own = host.own(name)
        if name != a.hotwire and name in host.interfaces and not any(ip_interface(c).version == 4 for c in own):
            out.append(f"{name} has no IPv4 address of its own (VRRP sends from it)")
        if not vips:
            out.append(f"{name}: at least one virtual IP address")
    return out + _rule_problems(a, host, ("cluster.ha_interfaces", "dhcp_server"))


def disabled_problems(a: Answers, host: Host) -> list[str]:
    out = [p for name in a.disabled_interfaces for p in _exists(host, name, "interface")]
    carrying = {a.hotwire, *a.ha}
    out += [f"{n} carries the cluster (hotwire or HA): not disableable on the spare"
            for n in a.disabled_interfaces if n in carrying]
    return out


def applications(names: list[str], host: Host) -> tuple[list[dict[str, str]], list[str]]:
    """The [[applications]] entries these names make on this host, and the problems (unknown names)."""
    apps, out = [], []
    for name in names:
        if name in SEED_UNITS:
            unit = next((u for u in SEED_UNITS[name] if u in host.units), "")
            if unit:
                apps.append({"name": name, "backend": unit})
        elif name in host.units or f"{name}.service" in host.units:
            unit = name if name in host.units else f"{name}.service"
            apps.append({"name": unit.removesuffix(".service"), "backend": unit})
        else:
            out.append(f"unknown application {name!r}: not one of the seed's ({', '.join(SEED_UNITS)}) nor a "
                       "systemd unit of this host")
    return apps, out


def application_problems(a: Answers, host: Host) -> list[str]:
    return applications(a.applications, host)[1]


def final_problems(a: Answers, host: Host) -> list[str]:
    if a.priority not in ("high", "low"):
        return [f"priority {a.priority!r}: high (the master) or low (the spare)"]
    if not a.spare and not a.passphrase:
        return ["a passphrase: the key of the adverts on the HA interfaces (the same on both nodes)"]
    if not a.node:
        return ["a node name"]
    return _rule_problems(a, host, ("",))


CHECKS = (hotwire_problems, ha_problems, disabled_problems, application_problems, final_problems)


def data(a: Answers, host: Host) -> dict[str, Any]:
    """The configuration as TOML data. The spare's holds what it needs to receive the master's first
    synchronize: its name, rank, hotwire and own addresses (every interface of the host)."""
    if a.spare:
        names = sorted(host.interfaces)
    else:
        names = [a.hotwire, *a.ha, *(n for n in a.disabled_interfaces if n not in a.ha)]
    cluster: dict[str, Any] = {
        "enabled": False,  # the seed: on only once both nodes have each other's keys (`hacore cluster on`)
        "hotwire": {"interface": a.hotwire, "local_address": a.local, "remote_address": a.remote}}
    out: dict[str, Any] = {"node": {"name": a.node, "priority": a.priority},
                           "interfaces": [{"name": n, "addresses": list(host.own(n))}
                                          for n in dict.fromkeys(names)]}
    if not a.spare:
        apps, _ = applications(a.applications, host)
        cluster |= {"passphrase": a.passphrase, "key_salt": a.key_salt,
                    "disabled_interfaces_in_backup": list(a.disabled_interfaces),
                    "disabled_applications_in_backup": [n.removesuffix(".service") for n in a.applications],
                    "ha_interfaces": [{"interface": n, "vips": list(v)} for n, v in a.ha.items()]}
        if apps:
            out["applications"] = apps
    out["cluster"] = cluster
    return out


def text(a: Answers, host: Host) -> str:
    """The file: the answers written into the configuration already there (its NAT, objects, DHCP ranges,
    comments and other settings stay), or a new one."""
    doc = tomlkit.parse(host.config) if host.config.strip() else tomlkit.document()
    if not host.config.strip():
        doc.add(tomlkit.comment(f"hacore: made by `hacore cluster wizard{' --spare' if a.spare else ''}` for "
                                f"{a.node}; " + ("the master's synchronize brings the shared settings" if a.spare
                                                 else "synchronize sends the shared settings to the spare")))
    new = data(a, host)
    _update(doc, "node", new["node"])
    ifaces = doc.setdefault("interfaces", tomlkit.aot())
    for entry in new["interfaces"]:
        same = next((i for i in ifaces if i.get("name") == entry["name"]), None)
        if same is None:
            ifaces.append(tomlkit.item(entry))
        else:
            same["addresses"] = entry["addresses"]
    hotwire = new["cluster"].pop("hotwire")
    if "enabled" in doc.get("cluster", {}):
        del new["cluster"]["enabled"]  # a running cluster stays on (or off) whatever the wizard changes
    _update(doc, "cluster", new["cluster"])
    _update(doc["cluster"], "hotwire", hotwire)
    if new.get("applications"):
        apps = doc.setdefault("applications", tomlkit.aot())
        have = {app.get("name") for app in apps}
        for app in new["applications"]:
            if app["name"] not in have:
                apps.append(tomlkit.item(app))
    return tomlkit.dumps(doc)


def _update(doc: Any, key: str, values: dict[str, Any]) -> None:
    table = doc.setdefault(key, tomlkit.table())
    for k, v in values.items():
        table[k] = v


def _exists(host: Host, name: str, what: str) -> list[str]:
    if not name:
        return [f"a {what}"]
    if name not in host.interfaces:
        return [f"{what} {name!r} does not exist here (interfaces: {', '.join(sorted(host.interfaces))})"]
    return []


def _rule_problems(a: Answers, host: Host, paths: tuple[str, ...]) -> list[str]:
    """The configuration's own rules, on the file these answers make, for paths under these prefixes."""
    probe = Answers(**{**a.__dict__, "node": a.node or "probe", "priority": a.priority or "high",
                       "passphrase": a.passphrase or "probe", "applications": [
                           n for n in a.applications if not applications([n], host)[1]]})
    try:
        _, warnings = check(text(probe, host))
        found: list[Problem] = warnings
    except ConfigError as exc:
        found = [p for p in exc.problems if not p.warning]
    return [str(p) for p in found if not p.warning and p.path.startswith(paths)]

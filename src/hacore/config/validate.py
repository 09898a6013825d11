"""The seed's rules over a parsed Config: every problem at once, each with its path.

Rules: pure; no I/O. Errors make a config unusable; warnings are shown and
accepted. A bad config never reaches the kernel (the store refuses it).
"""

from __future__ import annotations

import shlex
from collections import Counter
from ipaddress import ip_address, ip_interface

from hacore.config.model import DEFAULT_DISABLED_APPS, INTERFACE_FLAGS, MAX_HA_INTERFACES, AuthMode, Config, Realtime
from hacore.config.parse import ConfigError, Problem, load_toml, parse_partial
from hacore.config.rules import (
    check_cidr,
    check_dhcp_broadcast_domain,
    check_ip,
    check_listener,
    check_nat,
    is_cidr,
    own_addresses,
)

# Max Adver Int is 12 bits of centiseconds and master-down = 3 x advert, so
# the delay is representable up to 3 x 4095 cs. Below 3 cs the adverts
# announce their 1 cs floor and the pair relies on its shared delay; there
# the sender must preempt whatever else runs: real-time priority.
UTD_MIN_S = 0.01
UTD_MIN_WITHOUT_RT_S = 0.03
UTD_MAX_S = 122.85
UTD_SAFE_FLOOR_S = 2.0  # seed: "default 2 seconds and should not be set lower"
PASS_KEY_MAX = 8  # VRRPv2 PASS carries 8 bytes


def check_update_trigger_delay(value: float, auth: AuthMode, path: str,
                               warn_below_s: float = UTD_SAFE_FLOOR_S, realtime: bool = False) -> list[Problem]:
    """Problems with a failover delay; shared by validation and `extc set`. warn_below_s: the floor the
    operator acknowledged (cluster.delay_warn_below_s), the seed's 2 s unless lowered; realtime: this
    node's sender runs with real-time priority (node.timing.realtime)."""
    if not UTD_MIN_S <= value <= UTD_MAX_S:
        return [Problem(path, f"must be between {UTD_MIN_S} and {UTD_MAX_S} seconds, got {value:g}")]
    if value < UTD_MIN_WITHOUT_RT_S and not realtime:
        return [Problem(path, f"{value:g} s needs node.timing.realtime = \"fifo\" on this node (below "
                              f"{UTD_MIN_WITHOUT_RT_S:g} s a sender without real-time priority can be held "
                              "longer than the spare waits)")]
    if auth == AuthMode.PASS and round(value * 100) % 300:
        return [Problem(path, f"auth 'pass' (VRRPv2) advertises in whole seconds: use a multiple of 3, not {value:g}")]
    if value < min(warn_below_s, UTD_SAFE_FLOOR_S):
        return [Problem(path, f"{value:g} s is below the safe floor of {UTD_SAFE_FLOOR_S:g} s: a loaded appliance "
                              f"may fail over without a fault (tested it? cluster.delay_warn_below_s = {value:g} "
                              "acknowledges it)", warning=True)]
    return []


def _dupes(names: list[str], path: str, what: str, out: list[Problem]) -> None:
    for name, n in Counter(names).items():
        if n > 1 and name:
            out.append(Problem(path, f"{what} {name!r} is defined {n} times"))


def validate(cfg: Config) -> list[Problem]:
    """All problems of cfg, errors and warnings, in file order."""
    out: list[Problem] = []
    ifnames = {i.name for i in cfg.interfaces}
    c = cfg.cluster
    hw = c.hotwire.interface
    ha_names = [h.interface for h in c.ha_interfaces]

    def need_if(name: str, path: str) -> bool:
        if name not in ifnames:
            out.append(Problem(path, f"unknown interface {name!r}"))
            return False
        return True

    if not cfg.node.name:
        out.append(Problem("node.name", "required"))
    t = cfg.node.timing
    if not 1 <= t.realtime_priority <= 99:
        out.append(Problem("node.timing.realtime_priority",
                           f"must be 1..99 (SCHED_FIFO/RR), got {t.realtime_priority}"))
    elif t.realtime_spare and t.realtime_priority < 2:
        out.append(Problem("node.timing.realtime_priority",
                           "must be 2..99 with realtime_spare (the spare's loop runs one below the sender)"))
    if t.realtime_spare and t.realtime == Realtime.OFF:
        out.append(Problem("node.timing.realtime_spare", 'needs node.timing.realtime = "fifo" or "rr" (the loop '
                                                         "runs one priority below the sender thread)"))
    for k, cpu in enumerate(t.cpu_affinity):
        if not 0 <= cpu < 4096:
            out.append(Problem(f"node.timing.cpu_affinity[{k}]", f"not a CPU number: {cpu}"))
    check_listener(cfg, "metrics", out)
    check_listener(cfg, "web", out)
    _dupes([i.name for i in cfg.interfaces], "interfaces", "interface", out)
    for n, iface in enumerate(cfg.interfaces):
        if not iface.name:
            out.append(Problem(f"interfaces[{n}].name", "required"))
        for k, addr in enumerate(iface.addresses):
            check_cidr(addr, f"interfaces[{n}].addresses[{k}]", out)

    if c.enabled and not hw:
        out.append(Problem("cluster.hotwire.interface", "required while the cluster is on"))
    if c.enabled and not c.ha_interfaces:
        out.append(Problem("cluster.ha_interfaces", "at least one HA interface is required while the cluster is on"))
    if hw and need_if(hw, "cluster.hotwire.interface"):
        if cfg.interface(hw).dhcp_client:  # type: ignore[union-attr]
            out.append(Problem("cluster.hotwire.interface",
                               f"{hw!r} is a DHCP client; the hotwire needs fixed addresses"))
        local_ok = check_cidr(c.hotwire.local_address, "cluster.hotwire.local_address", out)
        if check_ip(c.hotwire.remote_address, "cluster.hotwire.remote_address", out) and local_ok:
            net = ip_interface(c.hotwire.local_address).network
            remote = ip_address(c.hotwire.remote_address)
            if remote not in net or remote == ip_interface(c.hotwire.local_address).ip:
                out.append(Problem("cluster.hotwire.remote_address",
                                   f"{remote} must be another address in the hotwire network {net}"))
        hw_if = cfg.interface(hw)
        if local_ok and hw_if is not None and hw_if.addresses and ip_interface(c.hotwire.local_address) not in {
                ip_interface(a) for a in hw_if.addresses if is_cidr(a)}:
            out.append(Problem("cluster.hotwire.local_address", f"{c.hotwire.local_address} is not among "
                               f"{hw}'s addresses ({', '.join(hw_if.addresses)}): the peer sends to it there",
                               warning=True))
    if c.auth != AuthMode.NONE and c.ha_interfaces and not c.key_salt:
        out.append(Problem("cluster.key_salt", "not set: the keys are salted with the hotwire addresses and the "
                                               "VRID offset, so another cluster with this passphrase on the same "
                                               "addresses shares them; set a random key_salt on both nodes",
                           warning=True))
    if c.auth != AuthMode.NONE and not c.passphrase and (c.enabled or c.ha_interfaces):
        out.append(Problem("cluster.passphrase", f"required with auth {c.auth.value!r}"))
    if c.auth == AuthMode.PASS and len(c.passphrase.encode()) > PASS_KEY_MAX:
        out.append(Problem("cluster.passphrase", f"auth 'pass' carries at most {PASS_KEY_MAX} bytes"))
    if c.auth == AuthMode.PASS and c.hotwire.interface and (not c.hotwire_secret or c.hotwire_secret == c.passphrase):
        out.append(Problem("cluster.hotwire_secret", "required with auth 'pass', and not the passphrase: "
                                                     "VRRPv2 sends the passphrase in clear text"))
    out += check_update_trigger_delay(c.update_trigger_delay_s, c.auth, "cluster.update_trigger_delay_s",
                                      c.delay_warn_below_s, cfg.node.timing.realtime != Realtime.OFF)
    if not UTD_MIN_S <= c.delay_warn_below_s <= UTD_SAFE_FLOOR_S:
        out.append(Problem("cluster.delay_warn_below_s", f"must be between {UTD_MIN_S} and {UTD_SAFE_FLOOR_S:g} "
                                                         f"seconds, got {c.delay_warn_below_s:g}"))

    _dupes(ha_names, "cluster.ha_interfaces", "HA interface", out)
    if len(ha_names) > MAX_HA_INTERFACES:
        out.append(Problem("cluster.ha_interfaces", f"at most {MAX_HA_INTERFACES} HA interfaces (the rank must fit "
                                                    "the VRRP priority byte)"))
    if c.min_hold_s < 0:
        out.append(Problem("cluster.min_hold_s", "must not be negative"))
    if not 1 <= c.garp_repeat <= 100:
        out.append(Problem("cluster.garp_repeat", "must be 1..100"))
    if not 0 < c.garp_interval_s <= 10:
        out.append(Problem("cluster.garp_interval_s", "must be more than 0 and at most 10 seconds"))
    if not 1 <= c.sync.ssh_port <= 65535 or c.sync.ssh_port == 3780:
        out.append(Problem("cluster.sync.ssh_port", "must be 1..65535 and not 3780 (peer status and conntrack sync)"))
    if not 0 <= c.sync.preempt_hold_s <= 3600:
        out.append(Problem("cluster.sync.preempt_hold_s", "must be 0..3600 seconds"))
    all_vips: list[str] = []
    own = own_addresses(cfg)
    hw_net = ip_interface(c.hotwire.local_address).network if is_cidr(c.hotwire.local_address) else None
    for n, ha in enumerate(c.ha_interfaces):
        path = f"cluster.ha_interfaces[{n}]"
        vrid = ha.vrid or c.vrid_offset + n
        if not 1 <= vrid <= 255:
            out.append(Problem(f"{path}.vrid" if ha.vrid else "cluster.vrid_offset",
                               f"VRID {vrid} of {path} is outside 1..255"))
        if need_if(ha.interface, f"{path}.interface"):
            if ha.interface == hw:
                out.append(Problem(f"{path}.interface", f"{hw!r} is the hotwire, which is exclusive: it cannot be HA"))
            if cfg.interface(ha.interface).dhcp_client:  # type: ignore[union-attr]
                out.append(Problem(f"{path}.interface",
                                   f"{ha.interface!r} is a DHCP client: no HA interface on a DHCP client (seed)"))
        if not ha.vips:
            out.append(Problem(f"{path}.vips", "at least one virtual IP is required"))
        for k, vip in enumerate(ha.vips):
            if check_cidr(vip, f"{path}.vips[{k}]", out):
                ip = ip_interface(vip).ip
                all_vips.append(str(ip))
                # Releasing a VIP deletes that address: an own address would go with it.
                if str(ip) in own:
                    out.append(Problem(f"{path}.vips[{k}]", f"{ip} is this node's own address on {own[str(ip)]}: "
                                                            "a virtual IP must be an address of its own"))
                elif hw_net is not None and ip.version == hw_net.version and ip in hw_net:
                    out.append(Problem(f"{path}.vips[{k}]", f"{ip} is inside the hotwire network {hw_net}, "
                                                            "which belongs to the two nodes alone"))
                if c.auth == AuthMode.PASS and ip_interface(vip).version == 6:
                    out.append(Problem(f"{path}.vips[{k}]", "auth 'pass' is VRRPv2, which has no IPv6: "
                                                            "use auth 'hmac' or 'none' for IPv6 VIPs"))
    _dupes(all_vips, "cluster.ha_interfaces", "virtual IP", out)
    _dupes([str(v) for v in c.vrids().values()], "cluster.ha_interfaces", "VRID", out)
    check_dhcp_broadcast_domain(cfg, out)

    for n, name in enumerate(c.disabled_interfaces_in_backup):
        path = f"cluster.disabled_interfaces_in_backup[{n}]"
        if need_if(name, path) and (name == hw or name in ha_names):
            out.append(Problem(path, f"{name!r} carries the cluster (hotwire or HA): not disableable on the spare"))
    apps = {a.name for a in cfg.applications}
    known = sorted(apps | set(DEFAULT_DISABLED_APPS))
    for n, name in enumerate(c.disabled_applications_in_backup):
        if name not in known:  # a typo here would leave the application running on both nodes
            out.append(Problem(f"cluster.disabled_applications_in_backup[{n}]",
                               f"unknown application {name!r} (known: {', '.join(known)})"))
    for n, name in enumerate(c.maintenance_services):
        if name not in apps:
            out.append(Problem(f"cluster.maintenance_services[{n}]", f"unknown application {name!r}"))
    for n, hook in enumerate(c.notify):
        if not hook.startswith("/"):
            out.append(Problem(f"cluster.notify[{n}]", f"an absolute path to an executable, not {hook!r}"))
    if not 0 < c.notify_timeout_s <= 600:
        out.append(Problem("cluster.notify_timeout_s", "must be more than 0 and at most 600 seconds"))
    for n, iface in enumerate(cfg.interfaces):
        for k, flag in enumerate(iface.flags):
            if flag not in INTERFACE_FLAGS:
                out.append(Problem(f"interfaces[{n}].flags[{k}]", f"unknown flag {flag!r} (known: "
                                                                  f"{', '.join(INTERFACE_FLAGS)})"))
        if "DISABLED_IF_SPARE" in iface.flags and (iface.name == hw or iface.name in ha_names):
            out.append(Problem(f"interfaces[{n}].flags", f"{iface.name!r} carries the cluster (hotwire or HA): "
                                                         "not disableable on the spare"))
    if cfg.forward.policy not in ("accept", "drop"):
        out.append(Problem("forward.policy", f"must be accept or drop, got {cfg.forward.policy!r}"))
    for n, name in enumerate(cfg.forward.new_from):
        need_if(name, f"forward.new_from[{n}]")
    for n, target in enumerate(c.ping_check.targets):
        check_ip(target, f"cluster.ping_check.targets[{n}]", out)
    if c.ping_check.interval_s <= 0:
        out.append(Problem("cluster.ping_check.interval_s", "must be positive"))
    if c.ping_check.failures < 1:
        out.append(Problem("cluster.ping_check.failures", "must be at least 1"))

    _dupes([o.name for o in cfg.objects], "objects", "object", out)
    for n, obj in enumerate(cfg.objects):
        check_cidr(obj.address, f"objects[{n}].address", out, need_prefix=False)
        if obj.interface:
            need_if(obj.interface, f"objects[{n}].interface")
    check_nat(cfg, set(ha_names), set(all_vips), out)

    _dupes([a.name for a in cfg.applications], "applications", "application", out)
    for n, app in enumerate(cfg.applications):
        path = f"applications[{n}]"
        commands: list[str] = [k for k in ("start", "stop", "status") if getattr(app, k)]
        if commands and len(commands) < 3:
            missing = ", ".join(k for k in ("start", "stop", "status") if k not in commands)
            out.append(Problem(path, f"start, stop and status go together: missing {missing}"))
        if commands and app.backend:
            out.append(Problem(f"{path}.backend", "a systemd unit or start/stop/status commands, not both"))
        for cmd in commands:
            try:
                if not shlex.split(getattr(app, cmd)):
                    raise ValueError("empty")
            except ValueError as exc:
                out.append(Problem(f"{path}.{cmd}", f"not a command line ({exc})"))
        if app.user and not app.outgoing_address:
            out.append(Problem(f"{path}.user", "only used to send the application's traffic from its "
                                               "outgoing_address, which is not set"))
        addr = app.outgoing_address
        if addr and check_ip(addr, f"applications[{n}].outgoing_address", out) and addr not in set(own) | set(all_vips):
            out.append(Problem(f"applications[{n}].outgoing_address",
                                   f"{app.outgoing_address} is neither a virtual IP nor an address of this node"))

    for n, rng in enumerate(cfg.dhcp_server):
        path = f"dhcp_server[{n}]"
        if need_if(rng.interface, f"{path}.interface") and rng.interface == hw:
            out.append(Problem(f"{path}.interface", "the hotwire is exclusive: no DHCP server on it"))
        if check_ip(rng.start, f"{path}.start", out) and check_ip(rng.end, f"{path}.end", out):
            a, b = ip_address(rng.start), ip_address(rng.end)
            if a.version != b.version or a > b:  # type: ignore[operator]  # same family: the first test
                out.append(Problem(f"{path}.end", f"{b} must be of the family of {a} and not before it"))
    return out


def vrid_moves(old: Config, new: Config) -> list[Problem]:
    """HA links in both configurations whose VRID the new one changes: until the peer runs the new one
    too, the two nodes would not hear each other on that link and both become master there."""
    before, after = old.cluster.vrids(), new.cluster.vrids()
    return [Problem("cluster.ha_interfaces", f"{name} would move from VRID {before[name]} to {vrid} while the "
                                             f"peer still uses {before[name]}: set vrid = {before[name]} on it, "
                                             "or add new HA interfaces after the existing ones")
            for name, vrid in after.items() if name in before and before[name] != vrid]


def check(text: str) -> tuple[Config, list[Problem]]:
    """Parse and validate; raises ConfigError with every error, type and rule errors together (and the
    warnings). A rule is not judged on a value that was already refused for its type."""
    cfg, problems = parse_partial(load_toml(text))
    refused = [p.path for p in problems]
    problems += [r for r in validate(cfg) if not any(r.path == t or r.path.startswith((t + ".", t + "["))
                                                     for t in refused)]
    if any(not p.warning for p in problems):
        raise ConfigError(problems)
    return cfg, problems

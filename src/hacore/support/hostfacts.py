"""What this host has, for the set-up wizard: its interfaces with their own
addresses (netlink) and its systemd units (unit files, so it works without
a running systemd).

Rules: blocking reads (call them on a thread from a loop); loopback and
IPv6 link-local addresses are left out - they are never a node's own
address in a configuration.
"""

from __future__ import annotations

from pathlib import Path

from pyroute2 import IPRoute

UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")


def interfaces() -> dict[str, tuple[str, ...]]:
    """name -> own addresses (CIDR), every interface but loopback."""
    with IPRoute() as ipr:
        names = {m["index"]: m.get("ifname") for m in ipr.get_links()}
        out: dict[str, list[str]] = {n: [] for n in names.values() if n != "lo"}
        for a in ipr.get_addr():
            name, ip = names.get(a["index"]), a.get("address")
            if name in out and ip and not ip.startswith("fe80"):
                out[name].append(f"{ip}/{a['prefixlen']}")
    return {n: tuple(v) for n, v in out.items()}


def units() -> frozenset[str]:
    return frozenset(p.name for d in UNIT_DIRS if Path(d).is_dir() for p in Path(d).iterdir())

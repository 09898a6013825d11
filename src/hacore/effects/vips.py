"""The virtual IPs: present on the HA interfaces while master, absent otherwise.

Rules: observe -> plan (pure) -> apply; applying twice changes nothing. Only
addresses hacore owns (the configured VIPs) are ever removed; IPv6 VIPs are
added without duplicate address detection, so they work at once. Each VIP
is applied on its own: one that fails (its interface gone, netlink refusing)
is reported and never stops the others.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from ipaddress import ip_interface

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_NODAD


@dataclass(frozen=True, order=True)
class Vip:
    ifname: str
    cidr: str  # normalised: compressed address / prefix length

    @classmethod
    def of(cls, ifname: str, value: str) -> Vip:
        return cls(ifname, ip_interface(value).with_prefixlen)


def _order(vip: Vip) -> tuple[int, str, str]:
    """IPv4 first: on takeover the IPv4 path is usually the one under load."""
    return (ip_interface(vip.cidr).version, vip.ifname, vip.cidr)


@dataclass(frozen=True)
class Plan:
    add: tuple[Vip, ...]
    remove: tuple[Vip, ...]
    failed: dict[Vip, str] = field(default_factory=dict, compare=False)  # after apply: what did not take

    def __bool__(self) -> bool:
        return bool(self.add or self.remove)


def plan(desired: set[Vip], present: set[Vip], owned: set[Vip]) -> Plan:
    """What to change so that exactly `desired` of the owned addresses are present."""
    return Plan(tuple(sorted(desired - present, key=_order)), tuple(sorted((present & owned) - desired, key=_order)))


class VipReconciler:
    def __init__(self, owned: set[Vip], index: dict[str, int]):
        self.owned = owned
        self.index = index  # ifname -> ifindex of the HA interfaces that exist now (kept current by the caller)

    async def observe(self, ipr: AsyncIPRoute) -> set[Vip]:
        """Owned addresses that are on their interfaces now (one dump for all of them)."""
        names = {i: n for n, i in self.index.items()}
        present: set[Vip] = set()
        async for a in await ipr.addr("dump"):
            name = names.get(a["index"])
            if name is not None:
                vip = Vip.of(name, f"{a.get('address')}/{a['prefixlen']}")
                if vip in self.owned:
                    present.add(vip)
        return present

    async def apply(self, desired: set[Vip]) -> Plan:
        async with AsyncIPRoute() as ipr:
            todo = plan(desired, await self.observe(ipr), self.owned)
            for verb, vips in (("add", todo.add), ("del", todo.remove)):
                for vip in vips:
                    index = self.index.get(vip.ifname)
                    if index is None:
                        todo.failed[vip] = f"interface {vip.ifname} does not exist"
                        continue
                    iface = ip_interface(vip.cidr)
                    flags = IFA_F_NODAD if iface.version == 6 and verb == "add" else 0
                    try:
                        await ipr.addr(verb, index=index, address=str(iface.ip),
                                       prefixlen=iface.network.prefixlen, **({"flags": flags} if flags else {}))
                    except NetlinkError as exc:
                        if exc.code != (errno.EEXIST if verb == "add" else errno.EADDRNOTAVAIL):
                            todo.failed[vip] = f"{verb}: {exc}"  # else it is already as desired
                    except OSError as exc:
                        todo.failed[vip] = f"{verb}: {exc}"
        return todo

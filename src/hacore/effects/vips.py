"""The virtual IPs: present on the HA interfaces while master, absent otherwise.

Rules: observe -> plan (pure) -> apply; applying twice changes nothing. Only
addresses hacore owns (the configured VIPs) are ever removed; IPv6 VIPs are
added without duplicate address detection, so they work at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_interface

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_NODAD


@dataclass(frozen=True, order=True)
class Vip:
    ifname: str
    cidr: str  # normalised: compressed address / prefix length

    @classmethod
    def of(cls, ifname: str, value: str) -> Vip:
        return cls(ifname, ip_interface(value).with_prefixlen)


@dataclass(frozen=True)
class Plan:
    add: tuple[Vip, ...]
    remove: tuple[Vip, ...]

    def __bool__(self) -> bool:
        return bool(self.add or self.remove)


def plan(desired: set[Vip], present: set[Vip], owned: set[Vip]) -> Plan:
    """What to change so that exactly `desired` of the owned addresses are present."""
    return Plan(tuple(sorted(desired - present)), tuple(sorted((present & owned) - desired)))


class VipReconciler:
    def __init__(self, owned: set[Vip]):
        self.owned = owned

    async def observe(self, ipr: AsyncIPRoute) -> set[Vip]:
        """Owned addresses that are on their interfaces now."""
        present: set[Vip] = set()
        for ifname in sorted({v.ifname for v in self.owned}):
            found = await ipr.link_lookup(ifname=ifname)
            if not found:
                continue
            async for a in await ipr.addr("dump", index=found[0]):
                vip = Vip.of(ifname, f"{a.get('address')}/{a['prefixlen']}")
                if vip in self.owned:
                    present.add(vip)
        return present

    async def apply(self, desired: set[Vip]) -> Plan:
        async with AsyncIPRoute() as ipr:
            todo = plan(desired, await self.observe(ipr), self.owned)
            for vip in todo.add:
                iface = ip_interface(vip.cidr)
                index = (await ipr.link_lookup(ifname=vip.ifname))[0]
                flags = IFA_F_NODAD if iface.version == 6 else 0
                await ipr.addr("add", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen,
                               flags=flags)
            for vip in todo.remove:
                iface = ip_interface(vip.cidr)
                index = (await ipr.link_lookup(ifname=vip.ifname))[0]
                await ipr.addr("del", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen)
        return todo

"""Facts about network interfaces from the kernel, and their events (pyroute2).

Rules: reading only; nothing here changes the kernel. Carrier and address
changes come from netlink events, never from polling. Links are known by
name: one deleted and re-created (a VLAN or bond rebuilt, a driver reload)
comes back with a new index, and that is an event of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.rtnl import RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR, RTMGRP_LINK

IFF_UP = 0x1
IFF_LOWER_UP = 0x10000
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_NEWADDR = 20
RTM_DELADDR = 21
logger = logging.getLogger("hacore.links")


@dataclass(frozen=True)
class LinkInfo:
    ifname: str
    index: int
    mac: bytes
    carrier: bool
    ipv4: tuple[str, ...]  # addresses without prefix, in kernel order (primary first)
    ipv6_link_local: str | None
    mtu: int = 1500


def _carrier(msg: object) -> bool:
    flags = msg["flags"]  # type: ignore[index]
    return bool(flags & IFF_UP and flags & IFF_LOWER_UP)


async def lookup(names: list[str]) -> dict[str, LinkInfo]:
    """Index, MAC, carrier and addresses of each named interface that exists (missing ones are left out)."""
    out: dict[str, LinkInfo] = {}
    async with AsyncIPRoute() as ipr:
        links = {m.get("ifname"): m async for m in await ipr.link("dump")}
        for name in names:
            if name not in links:
                continue
            m = links[name]
            addrs = [a async for a in await ipr.addr("dump", index=m["index"])]
            v4 = tuple(a.get("address") for a in addrs if a["family"] == 2)
            v6 = [a.get("address") for a in addrs if a["family"] == 10]
            ll = next((a for a in v6 if a.startswith("fe80")), None)
            mac = bytes.fromhex((m.get("address") or "00:00:00:00:00:00").replace(":", ""))
            out[name] = LinkInfo(name, m["index"], mac, _carrier(m), v4, ll, m.get("IFLA_MTU") or 1500)
    return out


async def watch(names: set[str], on_link: Callable[[str, int | None, bool], None],
                on_address: Callable[[str], None]) -> None:
    """Until cancelled: on_link(ifname, index, carrier) when a named link appears, changes index or
    carrier, on_link(ifname, None, False) when it is deleted; on_address(ifname) for every address
    added to or removed from it."""
    last: dict[str, tuple[int, bool]] = {}
    by_index: dict[int, str] = {}
    async with AsyncIPRoute() as ipr:
        await ipr.bind(groups=RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)
        # After bind, so nothing falls between the dump and the first event.
        async for m in await ipr.link("dump"):
            if m.get("ifname") in names:
                last[m.get("ifname")] = (m["index"], _carrier(m))
                by_index[m["index"]] = m.get("ifname")
        while True:
            async for msg in ipr.get():
                kind = msg["header"]["type"]
                if kind in (RTM_NEWLINK, RTM_DELLINK):
                    name = msg.get("ifname") or by_index.get(msg["index"])
                    if name not in names:
                        continue
                    if kind == RTM_DELLINK:
                        by_index.pop(msg["index"], None)
                        if last.pop(name, None) is not None:
                            on_link(name, None, False)
                        continue
                    state = (msg["index"], _carrier(msg))
                    by_index[msg["index"]] = name
                    if last.get(name) != state:
                        last[name] = state
                        on_link(name, *state)
                elif kind in (RTM_NEWADDR, RTM_DELADDR):
                    name = by_index.get(msg["index"])
                    if name is not None:
                        on_address(name)
            await asyncio.sleep(0)

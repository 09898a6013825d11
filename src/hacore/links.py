"""Facts about network interfaces from the kernel, and their events (pyroute2).

Rules: reading only; nothing here changes the kernel. Carrier and address
changes come from netlink events, never from polling.
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


def _carrier(msg: object) -> bool:
    flags = msg["flags"]  # type: ignore[index]
    return bool(flags & IFF_UP and flags & IFF_LOWER_UP)


async def lookup(names: list[str]) -> dict[str, LinkInfo]:
    """Index, MAC, carrier and addresses of each named interface; KeyError names a missing one."""
    out: dict[str, LinkInfo] = {}
    async with AsyncIPRoute() as ipr:
        links = {m.get("ifname"): m async for m in await ipr.link("dump")}
        for name in names:
            if name not in links:
                raise KeyError(f"interface {name!r} does not exist")
            m = links[name]
            addrs = [a async for a in await ipr.addr("dump", index=m["index"])]
            v4 = tuple(a.get("address") for a in addrs if a["family"] == 2)
            v6 = [a.get("address") for a in addrs if a["family"] == 10]
            ll = next((a for a in v6 if a.startswith("fe80")), None)
            mac = bytes.fromhex((m.get("address") or "00:00:00:00:00:00").replace(":", ""))
            out[name] = LinkInfo(name, m["index"], mac, _carrier(m), v4, ll)
    return out


async def watch(index: dict[str, int], on_carrier: Callable[[str, bool], None],
                on_address: Callable[[str], None]) -> None:
    """Until cancelled: on_carrier(ifname, up) for every carrier change of the named links,
    on_address(ifname) for every address added to or removed from them."""
    names = {i: n for n, i in index.items()}
    last: dict[str, bool] = {}
    async with AsyncIPRoute() as ipr:
        await ipr.bind(groups=RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)
        while True:
            async for msg in ipr.get():
                kind, name = msg["header"]["type"], names.get(msg["index"])
                if name is None:
                    continue
                if kind == RTM_NEWLINK:
                    up = _carrier(msg)
                    if last.get(name) != up:
                        last[name] = up
                        on_carrier(name, up)
                elif kind in (RTM_NEWADDR, RTM_DELADDR):
                    on_address(name)
            await asyncio.sleep(0)

"""Facts about network interfaces from the kernel, and carrier events (pyroute2).

Rules: reading only; nothing here changes the kernel. Carrier follows netlink
link events, never polling.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from pyroute2 import AsyncIPRoute

IFF_UP = 0x1
IFF_LOWER_UP = 0x10000
RTM_NEWLINK = 16
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


async def watch_carrier(names: set[str], on_change: Callable[[str, bool], None]) -> None:
    """Call on_change(ifname, carrier) for every carrier change of the named links, until cancelled."""
    last: dict[str, bool] = {}
    async with AsyncIPRoute() as ipr:
        await ipr.bind()
        while True:
            async for msg in ipr.get():
                if msg["header"]["type"] != RTM_NEWLINK or msg.get("ifname") not in names:
                    continue
                name, up = msg.get("ifname"), _carrier(msg)
                if last.get(name) != up:
                    last[name] = up
                    on_change(name, up)
            await asyncio.sleep(0)

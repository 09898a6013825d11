"""Which receive filter guards the HA links' VRRP sockets, and its counters:
the tc program (bcc), else a classic socket filter, else the plain raw
socket - never no election for lack of BPF.

Rules: the choice is made once per election (node.timing.receive_filter);
compiling runs in a child, waited for on a thread (bcc's clang takes about a second). A filter
that cannot attach on one link falls back on that link and says so. Either
way the daemon still authenticates every advert that passes.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Awaitable, Callable
from ipaddress import IPv4Network, ip_interface
from typing import TYPE_CHECKING, Any

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError

from hacore.config.model import Config, RxFilter
from hacore.support.logfmt import log
from hacore.vrrp import sockfilter
from hacore.vrrp.drops import Drop
from hacore.vrrp.rxprogram import RxProgram

if TYPE_CHECKING:
    from hacore.vrrp.sockets import Instance

logger = logging.getLogger("hacore.rxfilter")
BPF, SOCKET, RAW = "bpf", "socket-filter", "raw-socket"


class ReceiveFilter:
    """The classic filter goes on every receive socket as it opens (a floor, in force at once); where the
    tc program loaded, it is attached to the link's ingress as well and drops junk first, counted."""

    PRIO = 49  # the tc filter's priority on clsact ingress: how hacore finds its own

    def __init__(self, cfg: Config, version: int, spawn: Callable[[Awaitable[None]], None]):
        self.cfg = cfg
        self.version = version
        self.spawn = spawn
        self.mode = cfg.node.timing.receive_filter
        self.path = RAW
        self.reason = "not started"
        self.prepared = False
        self.program: RxProgram | None = None
        self.links: dict[int, str] = {}  # ifindex -> link, where the tc program is attached
        self.created: set[int] = set()  # ifindexes whose clsact qdisc hacore added
        self.pending: set[int] = set()
        self.problems: dict[str, str] = {}  # link -> why it has less than the chosen filter

    async def prepare(self) -> None:
        if self.prepared:
            return
        self.prepared = True
        if self.mode == RxFilter.NONE:
            self.path, self.reason = RAW, "configured (node.timing.receive_filter = \"none\")"
            return
        if self.mode == RxFilter.SOCKET:
            self.path, self.reason = SOCKET, "configured (node.timing.receive_filter = \"socket\")"
            return
        try:
            self.program = await asyncio.to_thread(RxProgram)
        except OSError as exc:
            self.path, self.reason = SOCKET, f"BPF unavailable, classic socket filter instead: {exc}"
            log(logger, "rx_filter_fallback", logging.WARNING, reason=str(exc))
            return
        self.path, self.reason = BPF, "tc ingress program on every HA link, classic socket filter behind it"

    def subnet(self, link: str) -> IPv4Network | None:
        iface = self.cfg.interface(link)
        nets = [ip_interface(a).network for a in (iface.addresses if iface else ()) if ip_interface(a).version == 4]
        return nets[0] if nets and isinstance(nets[0], IPv4Network) else None

    def attach(self, link: str, ifindex: int, instances: list[Instance]) -> None:
        """Guard the link's freshly opened sockets (and its ingress, once)."""
        if not instances or self.path == RAW:
            return
        vrid = instances[0].vrid
        for inst in instances:
            prog = (sockfilter.ipv4(self.version, vrid, self.subnet(link)) if inst.family == socket.AF_INET
                    else sockfilter.ipv6(self.version, vrid))
            try:
                sockfilter.attach(inst.sockets.rx, prog)
            except OSError as exc:
                self.problems[link] = f"no socket filter ({exc.strerror}): plain raw socket"
        if self.program is None:
            return
        net = self.subnet(link)
        self.program.configure(ifindex, self.version, vrid, net.network_address.packed if net else bytes(4),
                               net.netmask.packed if net else bytes(4))
        if ifindex not in self.links and ifindex not in self.pending:
            self.pending.add(ifindex)
            self.spawn(self._attach_tc(link, ifindex))

    async def _attach_tc(self, link: str, ifindex: int) -> None:
        assert self.program is not None
        try:
            async with AsyncIPRoute() as ipr:
                try:
                    await ipr.tc("add", "clsact", ifindex)
                    self.created.add(ifindex)
                except NetlinkError as exc:
                    if exc.code != errno.EEXIST:
                        raise
                spec = {"fd": self.program.fd, "name": self.program.name, "parent": "ffff:fff2", "classid": 1,
                        "direct_action": True, "prio": self.PRIO}
                try:
                    await ipr.tc("add-filter", "bpf", ifindex, ":1", **spec)
                except NetlinkError as exc:
                    # A daemon killed before it could remove its filter left it there, with a map nobody
                    # reads: ours to replace. Anyone else's filter at this priority is left alone.
                    if exc.code != errno.EEXIST or not await self._ours_there(ipr, ifindex):
                        raise
                    await ipr.tc("replace-filter", "bpf", ifindex, ":1", **spec)
            self.links[ifindex] = link
            self.problems.pop(link, None)
        except (NetlinkError, OSError) as exc:
            self.problems[link] = f"tc program not attached ({exc}): classic socket filter only"
            log(logger, "rx_filter_fallback", logging.WARNING, link=link, reason=str(exc))
        finally:
            self.pending.discard(ifindex)

    async def _ours_there(self, ipr: AsyncIPRoute, ifindex: int) -> bool:
        """A tc program by hacore's name holds hacore's priority on this link's ingress."""
        assert self.program is not None
        async for f in await ipr.get_filters(ifindex, parent=0xFFFFFFF2):
            if f["info"] >> 16 == self.PRIO and f.get_nested("TCA_OPTIONS", "TCA_BPF_NAME") == self.program.name:
                return True
        return False

    def forget(self, link: str) -> None:
        """The link was deleted: its filters went with it."""
        for ifindex in [i for i, name in self.links.items() if name == link]:
            del self.links[ifindex]
            self.created.discard(ifindex)
            if self.program is not None:
                self.program.forget(ifindex)

    async def close(self) -> None:
        """Remove hacore's tc filters (and a clsact qdisc hacore added that holds nothing else)."""
        if self.program is None:
            return
        async with AsyncIPRoute() as ipr:
            for ifindex in list(self.links):
                try:
                    await ipr.tc("del-filter", "bpf", ifindex, ":1", parent="ffff:fff2", prio=self.PRIO)
                    left = [f async for f in await ipr.get_filters(ifindex, parent=0xFFFFFFF2)]
                    if ifindex in self.created and not left:
                        await ipr.tc("del", "clsact", ifindex)
                except NetlinkError:  # the link is gone, and its filters with it
                    pass
        self.links.clear()
        self.program.close()
        self.program = None

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "reason": self.reason, "configured": str(self.mode)}
        if self.problems:
            out["problems"] = dict(self.problems)
        if self.program is not None:
            passed: dict[str, int] = {}
            dropped: dict[str, int] = {}
            for (ifindex, vrid, reason), n in self.program.counts().items():
                where = f"{self.links.get(ifindex, f'ifindex {ifindex}')} vrid {vrid}"
                if reason == Drop.OK:
                    passed[where] = passed.get(where, 0) + n
                else:
                    name = Drop(reason).name.lower() if reason in Drop._value2member_map_ else str(reason)
                    dropped[f"{where} {name}"] = n
            out |= {"tc_links": sorted(self.links.values()), "passed": passed, "dropped": dropped}
        return out

"""The HA links as the election uses them: what netlink knows of each, the
advert sockets and receive filter on it, and why one cannot carry adverts
now.

Rules: I/O on sockets and the receive filter only; a link is tracked by
name, and a link re-created with a new index gets new sockets; an address
that is missing is recorded as a problem, never raised past rebuild().
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from hacore.effects.vips import keep_own_addresses
from hacore.support import links
from hacore.support.logfmt import log
from hacore.vrrp.port import AdvertPort
from hacore.vrrp.rxfilter import ReceiveFilter
from hacore.vrrp.sockets import Instance

logger = logging.getLogger("hacore.election")


class HaLinks:
    def __init__(self, names: list[str], port: AdvertPort, rx: ReceiveFilter,
                 on_readable: Callable[[Instance], None]):
        self.names = names
        self.port = port
        self.rx = rx
        self.on_readable = on_readable
        self.infos: dict[str, links.LinkInfo] = {}  # shared with the takeover runner
        self.problems: dict[str, str] = {}  # HA link -> why its adverts cannot run now
        self.promotion: dict[str, str] = {}  # HA link -> promote_secondaries in force (own addresses kept)
        self._rebuilds: dict[str, asyncio.Lock] = {}  # HA link -> its rebuilds, one at a time

    async def open_all(self) -> list[str]:
        """Every HA link opened, or what is missing before the election can start (nothing opened then)."""
        self.infos.update(await links.lookup(self.names))
        missing = [m for n in self.names for m in self.port.missing(n, self.infos.get(n))]
        if missing:
            return missing
        await self.rx.prepare()
        try:
            for name in self.names:
                self.open(self.infos[name])
        except OSError as exc:
            self.close_all()
            return [str(exc.strerror)]
        return []

    def open(self, info: links.LinkInfo) -> None:
        loop = asyncio.get_running_loop()
        self.close(info.ifname)
        self.promotion[info.ifname] = keep_own_addresses(info.ifname)
        self.port.open(info, lambda inst: loop.add_reader(inst.sockets.fileno(), self.on_readable, inst))
        self.rx.attach(info.ifname, info.index, self.port.instances.get(info.ifname, []))
        self.problems.pop(info.ifname, None)

    def close(self, name: str) -> None:
        loop = asyncio.get_running_loop()
        for inst in self.port.instances.get(name, []):
            loop.remove_reader(inst.sockets.fileno())
        self.port.close(name)

    def close_all(self) -> None:
        for name in list(self.port.instances):
            self.close(name)

    def reopen_all(self) -> None:
        """The adverts carry new VIPs (a live change): every open link gets new sockets."""
        for name in self.names:
            if name in self.infos and name in self.port.instances:
                self.open(self.infos[name])

    def deleted(self, name: str) -> None:
        log(logger, "link_deleted", link=name)
        self.close(name)
        self.rx.forget(name)
        self.infos.pop(name, None)
        self.problems[name] = f"interface {name} does not exist"

    async def rebuild(self, name: str) -> links.LinkInfo | None:
        """A link that appeared again, maybe with a new index: its sockets anew, or the reason why not
        in .problems. None if it is gone again. Each netlink event asks for one; they run one at a time
        in the order asked, so the last reads the link as the last event left it (run side by side, an
        older one could finish last and leave a stale reason that no further event clears)."""
        async with self._rebuilds.setdefault(name, asyncio.Lock()):
            return await self._rebuild_now(name)

    async def _rebuild_now(self, name: str) -> links.LinkInfo | None:
        info = (await links.lookup([name])).get(name)
        if info is None:
            return None
        log(logger, "link_rebuilt", link=name, index=info.index)
        self.infos[name] = info
        missing = self.port.missing(name, info)
        try:
            if missing:
                raise OSError(0, "; ".join(missing))
            self.open(info)
        except OSError as exc:
            self.close(name)
            self.problems[name] = f"waiting for {exc.strerror}"
            log(logger, "link_not_ready", logging.WARNING, link=name, reason=exc.strerror)
        return info

    async def close_filter(self) -> None:
        self.close_all()
        await self.rx.close()

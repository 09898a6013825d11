"""The announcement rounds of a takeover: gratuitous ARP / unsolicited NA
for every VIP, the first round at once (traffic flows from here), the
repeats beside the later steps, and the sockets made ahead.

Rules: a round skips a VIP whose last step failed (it is not there to
announce); the repeats stop at once when the node is no longer master
(wake()); a failed frame is counted and logged, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address

from hacore.config.model import Config
from hacore.effects import desired
from hacore.effects.announce import Announcer
from hacore.effects.vips import Vip
from hacore.support.links import LinkInfo
from hacore.support.logfmt import log

logger = logging.getLogger("hacore.takeover")


class Rounds:
    def __init__(self, cfg: Config, infos: dict[str, LinkInfo], owned: set[Vip], is_master: Callable[[], bool],
                 failed: Callable[[str], bool]):
        self.cfg = cfg
        self.infos = infos  # ifname -> LinkInfo, kept current by the election
        self.is_master = is_master
        self.failed = failed  # a VIP (cidr) that is not where the role wants it
        self.announcer = Announcer()
        self.owned = owned
        self._order = desired.announce_order(owned)
        self.announcements = 0
        self.announce_errors = 0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def set_vips(self, owned: set[Vip]) -> None:
        self.owned = owned
        self._order = desired.announce_order(owned)

    def once(self) -> None:
        for vip, addr in self._order:
            self._announce(vip, addr)

    def start(self) -> None:
        """The repeated rounds; a new takeover's rounds replace the old ones."""
        if self._task is not None:
            self._task.cancel()
        if self.cfg.cluster.garp_repeat > 1:
            self._task = asyncio.create_task(self._more())

    def wake(self) -> None:
        """The node may no longer be master: the repeats look now, not at their next round."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _more(self) -> None:
        c = self.cfg.cluster
        for _ in range(c.garp_repeat - 1):
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), c.garp_interval_s)
            if not self.is_master():
                return
            self.once()

    def _announce(self, vip: Vip, addr: IPv4Address | IPv6Address) -> None:
        info = self.infos.get(vip.ifname)
        if info is None or self.failed(vip.cidr):
            return
        try:
            if addr.version == 4:
                self.announcer.garp(vip.ifname, info.mac, addr.packed)
            else:
                self.announcer.na(vip.ifname, info.mac, addr.packed)
            self.announcements += 1
        except OSError as exc:
            self.announce_errors += 1
            log(logger, "announce_failed", logging.WARNING, vip=vip.cidr, error=exc)

    def warm(self) -> None:
        """The packet sockets a takeover needs, made ahead."""
        for ifname in {v.ifname for v in self.owned}:
            if ifname in self.infos:
                try:
                    self.announcer.open(ifname)
                except OSError as exc:  # the takeover opens it again, and counts a failure there
                    log(logger, "announce_open_failed", logging.WARNING, link=ifname, error=exc)

    def forget_link(self, ifname: str) -> None:
        """The link was deleted or re-created: its packet socket is bound to the old index."""
        self.announcer.forget(ifname)

    def close(self) -> None:
        self.announcer.close()

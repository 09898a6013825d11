"""The takeover runner: makes the kernel follow the role - VIPs, then
gratuitous ARP / unsolicited NA - and keeps it there.

Rules: effects are reconciled against the role as it is when they run,
never replayed from the event that asked for them, so a yield that lands
mid-takeover simply reconciles back - at once: a kick after a yield wakes
the announcement rounds, which stop, and the VIPs go. A VIP that does not take is retried
with backoff (RETRY_FIRST_S doubling to RETRY_MAX_S) and every VIP is
checked again every RECONCILE_S while the daemon runs; failures are counted
per VIP. The new master's first advert is held until its VIPs are up and
the first announcement round is out (the old master yields on hearing it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from ipaddress import ip_interface

from hacore.config.model import Config
from hacore.effects.announce import Announcer
from hacore.effects.vips import Vip, VipReconciler
from hacore.links import LinkInfo
from hacore.logfmt import log

logger = logging.getLogger("hacore.takeover")
RETRY_FIRST_S = 0.1
RETRY_MAX_S = 5.0
RECONCILE_S = 10.0


class TakeoverRunner:
    def __init__(self, cfg: Config, vips: VipReconciler, infos: dict[str, LinkInfo], is_master: Callable[[], bool],
                 release_adverts: Callable[[], None], prepare: Callable[[], Awaitable[None]] | None = None):
        self.cfg = cfg
        self.prepare = prepare  # before VIPs are added: what must be in place first (the conntrack table)
        self.vips = vips
        self.infos = infos  # ifname -> LinkInfo, kept current by the election
        self.is_master = is_master
        self.release_adverts = release_adverts
        self.announcer = Announcer()
        self.vip_failures: Counter[str] = Counter()  # cidr -> failed attempts
        self.vip_errors: dict[str, str] = {}  # cidr -> the latest error, while it lasts
        self.announcements = 0
        self.announce_errors = 0
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._announce_pending = False
        self._retry: asyncio.TimerHandle | None = None
        self._backoff_s = RETRY_FIRST_S
        self._wake = asyncio.Event()  # set by a kick that finds us no longer master

    def kick(self, announce: bool) -> None:
        """Reconcile now (after the run in progress, if any); announce too if master."""
        self._announce_pending |= announce
        if not self.is_master():
            self._wake.set()
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.create_task(self._run())

    async def periodic(self) -> None:
        while True:
            await asyncio.sleep(RECONCILE_S)
            self.kick(announce=False)

    async def stop(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        self.announcer.close()

    async def _run(self) -> None:
        try:
            await self._settle()
        finally:
            self.release_adverts()  # also when netlink failed: silence would look like a dead node

    async def _settle(self) -> None:
        while True:
            self._again = False
            master = self.is_master()
            t0 = time.monotonic()
            if master and self.prepare is not None:
                await self.prepare()
                master = self.is_master()
            try:
                todo = await self.vips.apply(set(self.vips.owned) if master else set())
            except Exception as exc:  # netlink itself unusable: count every VIP, retry
                todo = None
                for vip in self.vips.owned:
                    self._failed(vip.cidr, f"netlink: {exc}")
            t1 = time.monotonic()
            if todo is not None:
                for vip, error in todo.failed.items():
                    self._failed(vip.cidr, error)
                # Every VIP this pass did not report is where the role wants it: its old error is over.
                for cidr in set(self.vip_errors) - {v.cidr for v in todo.failed}:
                    del self.vip_errors[cidr]
                if todo:
                    log(logger, "vips", add=",".join(v.cidr for v in todo.add) or "-",
                        remove=",".join(v.cidr for v in todo.remove) or "-",
                        failed=",".join(v.cidr for v in todo.failed) or "-", took_ms=round((t1 - t0) * 1e3, 2))
                if todo.add and master and set(todo.add) - set(todo.failed):
                    self._announce_pending = True  # a VIP that landed late needs its own announcement
            self._schedule_retry(failed=todo is None or bool(todo.failed))
            if master and self._announce_pending:
                self._announce_pending = False
                await self._announce(t0, t1)
            if not self._again:
                return

    def _failed(self, cidr: str, error: str) -> None:
        self.vip_failures[cidr] += 1
        if self.vip_errors.get(cidr) != error:
            log(logger, "vip_failed", logging.ERROR, vip=cidr, error=error, retry="with backoff")
        self.vip_errors[cidr] = error

    def _schedule_retry(self, failed: bool) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if not failed:
            self._backoff_s = RETRY_FIRST_S
            return
        self._retry = asyncio.get_running_loop().call_later(self._backoff_s, self.kick, False)
        self._backoff_s = min(RETRY_MAX_S, self._backoff_s * 2)

    async def _announce(self, t0: float, t1: float) -> None:
        c = self.cfg.cluster
        for n in range(c.garp_repeat):
            if not self.is_master():
                return
            for vip in sorted(self.vips.owned, key=lambda v: (ip_interface(v.cidr).version, v.ifname)):
                self._announce_one(vip)
            if n == 0:
                t2 = time.monotonic()
                log(logger, "takeover_steps", vips_ms=round((t1 - t0) * 1e3, 2),
                    first_announce_ms=round((t2 - t1) * 1e3, 2), total_ms=round((t2 - t0) * 1e3, 2))
                self.release_adverts()
            if n + 1 < c.garp_repeat:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), c.garp_interval_s)

    def _announce_one(self, vip: Vip) -> None:
        info = self.infos.get(vip.ifname)
        if info is None or vip.cidr in self.vip_errors:
            return
        addr = ip_interface(vip.cidr).ip
        try:
            if addr.version == 4:
                self.announcer.garp(vip.ifname, info.mac, str(addr))
            else:
                self.announcer.na(vip.ifname, info.index, info.mac, str(addr))
            self.announcements += 1
        except OSError as exc:
            self.announce_errors += 1
            log(logger, "announce_failed", logging.WARNING, vip=vip.cidr, error=exc)

    def forget_link(self, ifname: str) -> None:
        """The link was deleted or re-created: its packet socket is bound to the old index."""
        self.announcer.forget(ifname)

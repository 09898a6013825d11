"""The takeover runner: makes the node follow its role, in the order that
shortens the outage, and keeps it there.

Takeover: conntrack commit (the replicated table is in the kernel), VIPs,
the first gratuitous ARP / unsolicited NA round (traffic flows from here:
the new master's first advert is held until now), NAT, interfaces, services;
the remaining announcement rounds run beside the later steps. Release, on
becoming backup, in reverse: services, interfaces, NAT, VIPs - except that
the services are only asked to stop first, not waited for, so a stop command
that hangs never leaves the VIPs on two nodes.

Rules: effects are reconciled against the role as it is when they run,
never replayed from the event that asked for them, so a yield that lands
mid-takeover simply reconciles back - at once: a kick after a yield wakes
the announcement rounds, which stop, and the VIPs go. Each step is timed;
the pass after a role change reports its steps (history, log, notify
hooks). A step that fails is retried with backoff (RETRY_FIRST_S doubling
to RETRY_MAX_S) and everything is checked again every RECONCILE_S; failures
are counted per VIP and kept per step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_interface
from typing import Any

from hacore.config.model import Config
from hacore.effects.announce import Announcer
from hacore.effects.ifaces import IfReconciler
from hacore.effects.nft import NftError, NftReconciler
from hacore.effects.services import Services
from hacore.effects.vips import Plan, Vip, VipReconciler
from hacore.support.links import LinkInfo
from hacore.support.logfmt import log

logger = logging.getLogger("hacore.takeover")
RETRY_FIRST_S = 0.1
RETRY_MAX_S = 5.0
RECONCILE_S = 10.0


@dataclass
class Effects:
    """What follows the role besides the VIPs; a runner without them moves only addresses."""

    nft: NftReconciler
    ifaces: IfReconciler
    services: Services


@dataclass(frozen=True)
class Change:
    old: str
    role: str
    reason: str
    at_s: float  # time.monotonic() of the decision
    key: float  # the history entry's timestamp, to attach the steps to


class Stopwatch:
    def __init__(self, start_s: float):
        self.last_s = start_s
        self.steps: dict[str, float] = {}

    def lap(self, step: str) -> None:
        now = time.monotonic()
        self.steps[f"{step}_ms"] = round((now - self.last_s) * 1e3, 3)
        self.last_s = now


class TakeoverRunner:
    def __init__(self, cfg: Config, vips: VipReconciler, infos: dict[str, LinkInfo], is_master: Callable[[], bool],
                 release_adverts: Callable[[], None], prepare: Callable[[], Awaitable[None]] | None = None,
                 effects: Effects | None = None, is_maintenance: Callable[[], bool] = lambda: False,
                 on_steps: Callable[[Change, dict[str, float]], None] | None = None,
                 ready: Callable[[], bool] = lambda: True):
        self.cfg = cfg
        self.prepare = prepare  # before VIPs are added: what must be in place first (the conntrack table)
        self.vips = vips
        self.effects = effects
        self.infos = infos  # ifname -> LinkInfo, kept current by the election
        self.is_master = is_master
        self.is_maintenance = is_maintenance
        self.release_adverts = release_adverts
        self.on_steps = on_steps
        self.ready = ready  # prepare() would not wait: a takeover may put the VIPs up at once
        self.announcer = Announcer()
        # The announcement order (IPv4 first), parsed once: a round runs inside the takeover's critical path.
        self._round = [(vip, ip_interface(vip.cidr).ip) for vip in
                       sorted(vips.owned, key=lambda v: (ip_interface(v.cidr).version, v.ifname))]
        self.vip_failures: Counter[str] = Counter()  # cidr -> failed attempts
        self.vip_errors: dict[str, str] = {}  # cidr -> the latest error, while it lasts
        self.step_errors: dict[str, str] = {}  # nat / interfaces / services -> the latest error, while it lasts
        self.interfaces: dict[str, str] = {}  # managed interface -> up / down / missing
        self.nat_rules = 0
        self.last_steps: dict[str, float] = {}
        self.announcements = 0
        self.announce_errors = 0
        self._task: asyncio.Task[None] | None = None
        self._rounds: asyncio.Task[None] | None = None
        self._again = False
        self._announce_pending = False
        self._change: Change | None = None
        self._early: dict[str, float] = {}  # steps a takeover already took at the decision itself
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

    def changed(self, old: str, role: str, reason: str, key: float) -> None:
        """The role changed: the next pass reports its steps for this change.

        A takeover with nothing to wait for puts the VIPs up and sends the first announcement
        round here, within the decision's own call: a task would start only after whatever else
        the loop has ready (2-16 ms measured in the lab). The pass that follows does the rest.
        """
        change = self._change = Change(old, role, reason, time.monotonic(), key)
        self._early = {}
        if self.is_master() and self.ready():
            clock = Stopwatch(change.at_s)
            try:
                self._vip_result(self.vips.apply_now(set(self.vips.owned)), master=True)
            except Exception as exc:  # the pass below tries again, and counts it
                log(logger, "vips_at_decision_failed", logging.WARNING, error=repr(exc))
                self.kick(announce=True)
                return
            clock.lap("vips")
            self._announce_pending = False
            self._announce_round()
            clock.lap("announce")
            self.release_adverts()
            self._start_rounds()
            self._early = clock.steps
        self.kick(announce=self.is_master() and not self._early)

    async def periodic(self) -> None:
        while True:
            await asyncio.sleep(RECONCILE_S)
            self.kick(announce=False)

    async def stop(self) -> None:
        """Finish the pass in progress, then release everything, whatever the role: the daemon is going."""
        if self._retry is not None:
            self._retry.cancel()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if self._rounds is not None:
            self._rounds.cancel()
            await asyncio.gather(self._rounds, return_exceptions=True)
        await self._release(Stopwatch(time.monotonic()))
        self.announcer.close()
        self.vips.close()

    async def _run(self) -> None:
        try:
            await self._settle()
        finally:
            self.release_adverts()  # also when a step failed: silence would look like a dead node

    async def _settle(self) -> None:
        while True:
            self._again = False
            change, self._change = self._change, None
            master = self.is_master()
            early = self._early if change is not None else {}
            clock = Stopwatch(change.at_s if change is not None and not early else time.monotonic())
            if change is not None and not early:
                clock.lap("start")  # from the decision to this pass: the loop's own delay
            failed = False
            if master and self.prepare is not None:
                await self.prepare()
                clock.lap("commit")
                master = self.is_master()
            failed |= await (self._take(clock) if master else self._release(clock))
            self._schedule_retry(failed)
            if change is not None:
                self._early = {}
                self._report(change, master, clock.steps, early)
            if not self._again:
                return

    async def _take(self, clock: Stopwatch) -> bool:
        failed = await self._vips(True)
        clock.lap("vips")
        if self._announce_pending and self.is_master():
            self._announce_pending = False
            self._announce_round()
            clock.lap("announce")
            self.release_adverts()
            self._start_rounds()
        failed |= await self._nat(True)
        clock.lap("nat")
        failed |= await self._ifaces(True)
        clock.lap("interfaces")
        failed |= await self._services(True)
        clock.lap("services")
        return failed

    async def _release(self, clock: Stopwatch) -> bool:
        stopping = asyncio.create_task(self._services(False))
        failed = await self._ifaces(False)
        clock.lap("interfaces")
        failed |= await self._nat(False)
        clock.lap("nat")
        failed |= await self._vips(False)
        clock.lap("vips")
        failed |= await stopping
        clock.lap("services")
        return failed

    def _report(self, change: Change, master: bool, later: dict[str, float], early: dict[str, float]) -> None:
        """early: the steps taken at the decision; later: this pass's (its check of VIPs already up is
        not a step of the takeover)."""
        skip = {"commit_ms", *early} if early else set()
        steps = early | {k: v for k, v in later.items() if k not in skip}
        if master:
            keys = ("start_ms", "commit_ms", "vips_ms", "announce_ms")
            steps["to_traffic_ms"] = round(sum(steps.get(k, 0.0) for k in keys), 3)
        steps["total_ms"] = round(sum(v for k, v in steps.items() if k != "to_traffic_ms"), 3)
        self.last_steps = steps
        log(logger, "takeover_steps" if master else "release_steps", role=change.role, **steps)
        if self.on_steps is not None:
            self.on_steps(change, steps)

    # -- the steps: each returns whether it failed ------------------------------------------

    async def _vips(self, master: bool) -> bool:
        try:
            done: Plan = await self.vips.apply(set(self.vips.owned) if master else set())
        except Exception as exc:  # netlink itself unusable: count every VIP, retry
            for vip in self.vips.owned:
                self._failed(vip.cidr, f"netlink: {exc}")
            return True
        return self._vip_result(done, master)

    def _vip_result(self, done: Plan, master: bool) -> bool:
        for vip, error in done.failed.items():
            self._failed(vip.cidr, error)
        # Every VIP this pass did not report is where the role wants it: its old error is over.
        for cidr in set(self.vip_errors) - {v.cidr for v in done.failed}:
            del self.vip_errors[cidr]
        if done or done.failed:
            log(logger, "vips", add=",".join(v.cidr for v in done.add) or "-",
                remove=",".join(v.cidr for v in done.remove) or "-",
                failed=",".join(v.cidr for v in done.failed) or "-")
        if done.add and master:
            self._announce_pending = True  # a VIP that landed late needs its own announcement
        return bool(done.failed)

    async def _nat(self, master: bool) -> bool:
        if self.effects is None:
            return False
        try:
            res = await self.effects.nft.apply(master)
        except NftError as exc:
            return self._step_failed("nat", str(exc))
        self.nat_rules = res.rules
        if res.changed:
            log(logger, "nat_applied", rules=res.rules, master=master)
        if res.skipped:
            return self._step_failed("nat", "; ".join(res.skipped))
        self.step_errors.pop("nat", None)
        return False

    async def _ifaces(self, master: bool) -> bool:
        if self.effects is None:
            return False
        try:
            res = await self.effects.ifaces.apply(master)
        except OSError as exc:
            return self._step_failed("interfaces", f"netlink: {exc}")
        self.interfaces = res.state
        if res.up or res.down:
            log(logger, "interfaces", up=",".join(res.up) or "-", down=",".join(res.down) or "-")
        if res.failed:
            return self._step_failed("interfaces", "; ".join(res.failed.values()))
        self.step_errors.pop("interfaces", None)
        return False

    async def _services(self, master: bool) -> bool:
        if self.effects is None:
            return False
        svc = self.effects.services
        changed = await svc.apply(master, self.is_maintenance())
        if changed:
            log(logger, "services", changed=",".join(changed))
        errors = [f"{s.name}: {s.error}" for s in svc.states.values() if s.error]
        if errors:
            return self._step_failed("services", "; ".join(errors))
        self.step_errors.pop("services", None)
        return False

    def _step_failed(self, step: str, error: str) -> bool:
        if self.step_errors.get(step) != error:
            log(logger, "step_failed", logging.ERROR, step=step, error=error, retry="with backoff")
        self.step_errors[step] = error
        return True

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

    # -- announcements ----------------------------------------------------------------------

    def _announce_round(self) -> None:
        for vip, addr in self._round:
            self._announce_one(vip, addr)

    def _start_rounds(self) -> None:
        """The repeated rounds, beside the later steps; a new takeover's rounds replace the old ones."""
        if self._rounds is not None:
            self._rounds.cancel()
        if self.cfg.cluster.garp_repeat > 1:
            self._rounds = asyncio.create_task(self._more_rounds())

    async def _more_rounds(self) -> None:
        c = self.cfg.cluster
        for _ in range(c.garp_repeat - 1):
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), c.garp_interval_s)
            if not self.is_master():
                return
            self._announce_round()

    def _announce_one(self, vip: Vip, addr: IPv4Address | IPv6Address) -> None:
        info = self.infos.get(vip.ifname)
        if info is None or vip.cidr in self.vip_errors:
            return
        try:
            if addr.version == 4:
                self.announcer.garp(vip.ifname, info.mac, str(addr))
            else:
                self.announcer.na(vip.ifname, info.index, info.mac, str(addr))
            self.announcements += 1
        except OSError as exc:
            self.announce_errors += 1
            log(logger, "announce_failed", logging.WARNING, vip=vip.cidr, error=exc)

    def set_vips(self, owned: set[Vip]) -> None:
        """A live change of the VIPs: those no longer configured go at once, the new ones come with the
        next pass (announced, if master)."""
        gone = self.vips.owned - owned
        if gone:
            keep = owned & self.vips.owned if self.is_master() else set()
            self._vip_result(self.vips.apply_now(keep), master=self.is_master())
        self.vips.owned = set(owned)
        for cidr in [c for c in self.vip_errors if c not in {v.cidr for v in owned}]:
            del self.vip_errors[cidr]
        self._round = [(vip, ip_interface(vip.cidr).ip) for vip in
                       sorted(owned, key=lambda v: (ip_interface(v.cidr).version, v.ifname))]
        self.warm()
        self.kick(announce=self.is_master())

    def warm(self) -> None:
        """Everything a takeover needs made ahead: the netlink requests and the announcement sockets."""
        self.vips.warm()
        for ifname in {v.ifname for v in self.vips.owned}:
            info = self.infos.get(ifname)
            if info is not None:
                try:
                    self.announcer.open(ifname, info.index, any(":" in v.cidr for v in self.vips.owned
                                                                if v.ifname == ifname))
                except OSError as exc:  # the takeover opens it again, and counts a failure there
                    log(logger, "announce_open_failed", logging.WARNING, link=ifname, error=exc)

    def forget_link(self, ifname: str) -> None:
        """The link was deleted or re-created: its packet socket is bound to the old index."""
        self.announcer.forget(ifname)

    def info(self) -> dict[str, Any]:
        """What the effects look like now, for `cluster info`."""
        out: dict[str, Any] = {"takeover_steps": self.last_steps}
        if self.effects is not None:
            out["nat_rules"] = self.nat_rules
            out["managed_interfaces"] = self.interfaces
            out["effect_errors"] = dict(self.step_errors)
        return out

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
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from hacore.config.model import Config
from hacore.effects import desired
from hacore.effects.rounds import Rounds
from hacore.effects.steps import Effects, Steps
from hacore.effects.vips import Plan, Vip, VipReconciler, order
from hacore.support.links import LinkInfo
from hacore.support.logfmt import log

logger = logging.getLogger("hacore.takeover")
RETRY_FIRST_S = 0.1
RETRY_MAX_S = 5.0
RECONCILE_S = 10.0


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


class Host(Protocol):
    """What the runner asks of the node it runs on (the composition root answers)."""

    syncs: bool  # a replicated conntrack table is committed before the VIPs move

    def is_master(self) -> bool: ...

    def in_maintenance(self) -> bool: ...

    def flows_in_kernel(self) -> bool:
        """Nothing replicated is still being written: a takeover may put the VIPs up at once."""

    async def commit(self) -> None:
        """Wait (bounded) until the replicated flows are in the kernel."""

    def announced(self) -> None:
        """The VIPs and the first announcement round are out: a new master may advertise."""

    def steps_taken(self, change: Change, steps: dict[str, float]) -> None: ...


class TakeoverRunner:
    def __init__(self, cfg: Config, vips: VipReconciler, infos: dict[str, LinkInfo], host: Host,
                 effects: Effects | None = None):
        self.cfg = cfg
        self.vips = vips
        self.steps = Steps(vips, effects)
        self.infos = infos  # ifname -> LinkInfo, kept current by the election
        self.host = host
        self.rounds = Rounds(cfg, infos, set(vips.owned), host.is_master, lambda cidr: cidr in self.steps.vip_errors)
        self.last_steps: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._announce_pending = False
        self._change: Change | None = None
        self._early: dict[str, float] = {}  # steps a takeover already took at the decision itself
        self._retry: asyncio.TimerHandle | None = None
        self._backoff_s = RETRY_FIRST_S

    def kick(self, announce: bool) -> None:
        """Reconcile now (after the run in progress, if any); announce too if master."""
        self._announce_pending |= announce
        if not self.host.is_master():
            self.rounds.wake()
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.create_task(self._run())

    def changed(self, old: str, role: str, reason: str, key: float) -> None:
        """The role changed: the next pass reports its steps for this change.

        A takeover with nothing to wait for puts the VIPs up and sends the first announcement
        round here, within the decision's own call: a task would start only after whatever else
        the loop has ready (2-16 ms measured in the lab). The pass that follows does the rest. The
        VIPs are logged once the round is out: logged before it, the line's cost was part of the time
        to traffic (bench/README.md, the takeover).
        """
        change = self._change = Change(old, role, reason, time.monotonic(), key)
        self._early = {}
        if self.host.is_master() and self.host.flows_in_kernel():
            clock = Stopwatch(change.at_s)
            try:
                done = self.vips.apply_now(set(self.vips.owned))
                self.steps.record_vips(done)
            except Exception as exc:  # the pass below tries again, and counts it
                log(logger, "vips_at_decision_failed", logging.WARNING, error=repr(exc))
                self.kick(announce=True)
                return
            clock.lap("vips")
            self._announce_pending = False
            self.rounds.once()
            clock.lap("announce")
            self.host.announced()
            self.steps.log_vips(done)
            self.rounds.start()
            self._early = clock.steps
        self.kick(announce=self.host.is_master() and not self._early)

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
        await self.rounds.stop()
        await self._release(Stopwatch(time.monotonic()))
        self.rounds.close()
        self.vips.close()

    async def _run(self) -> None:
        try:
            await self._settle()
        finally:
            self.host.announced()  # also when a step failed: silence would look like a dead node

    async def _settle(self) -> None:
        while True:
            self._again = False
            change, self._change = self._change, None
            master = self.host.is_master()
            early = self._early if change is not None else {}
            clock = Stopwatch(change.at_s if change is not None and not early else time.monotonic())
            if change is not None and not early:
                clock.lap("start")  # from the decision to this pass: the loop's own delay
            failed = False
            if master and self.host.syncs:
                await self.host.commit()
                clock.lap("commit")
                master = self.host.is_master()
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
        if self._announce_pending and self.host.is_master():
            self._announce_pending = False
            self.rounds.once()
            clock.lap("announce")
            self.host.announced()
            self.rounds.start()
        failed |= await self.steps.nat(True)
        clock.lap("nat")
        failed |= await self.steps.ifaces(True)
        clock.lap("interfaces")
        failed |= await self.steps.services(True, self.host.in_maintenance())
        clock.lap("services")
        return failed

    async def _release(self, clock: Stopwatch) -> bool:
        return await desired.release(lambda: self.steps.services(False, self.host.in_maintenance()),
                                     lambda: self.steps.ifaces(False), lambda: self.steps.nat(False),
                                     lambda: self._vips(False), clock.lap)

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
        log(logger, "takeover_steps" if master else "release_steps", logging.INFO, role=change.role, **steps)
        self.host.steps_taken(change, steps)

    # -- the VIPs: the announcement follows what was added ------------------------------------

    async def _vips(self, master: bool) -> bool:
        failed, done = await self.steps.vips_to(master)
        if done is not None and done.add and master:
            self._announce_pending = True  # a VIP that landed late needs its own announcement
        return failed

    def _vip_result(self, done: Plan, master: bool) -> bool:
        if done.add and master:
            self._announce_pending = True
        return self.steps.vip_result(done)

    def _schedule_retry(self, failed: bool) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if not failed:
            self._backoff_s = RETRY_FIRST_S
            return
        self._retry = asyncio.get_running_loop().call_later(self._backoff_s, self.kick, False)
        self._backoff_s = min(RETRY_MAX_S, self._backoff_s * 2)

    def set_vips(self, owned: set[Vip]) -> None:
        """A live change of the VIPs: those no longer configured go at once, the new ones come with the
        next pass (announced, if master)."""
        gone = self.vips.owned - owned
        if gone:
            keep = owned & self.vips.owned if self.host.is_master() else set()
            self._vip_result(self.vips.apply_now(keep), master=self.host.is_master())
        self.vips.owned = set(owned)
        self.steps.forget_vips({v.cidr for v in owned})
        self.rounds.set_vips(set(owned))
        self.warm()
        self.kick(announce=self.host.is_master())

    def warm(self) -> None:
        """Everything a takeover needs made ahead: the netlink requests and the announcement sockets."""
        self.vips.warm()
        self.rounds.warm()

    def info(self) -> dict[str, Any]:
        """What the effects look like now, for `cluster info`."""
        held: dict[str, list[str]] = {}
        for vip in sorted(self.vips.held, key=lambda v: (v.ifname, order(v))):
            held.setdefault(vip.ifname, []).append(vip.cidr)
        return {"takeover_steps": self.last_steps, "vips_held": held, **self.steps.info()}
